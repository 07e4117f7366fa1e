// The part of `struct kvm_x86_ops` that KVM's MMU and private-memory code call, plus the
// per-VM state the vendor sets in vm_init (`kvm->arch.*`).
// Source: arch/x86/include/asm/kvm_host.h (struct kvm_x86_ops, struct kvm_arch),
// arch/x86/include/asm/kvm-x86-ops.h (OPTIONAL / OPTIONAL_RET0 members); kvm-mmu.md §1.6, §2.1.
//
// One object per VM: it carries the vendor's per-VM state the way `struct kvm_tdx` embeds
// `struct kvm`. Hooks return 0 or a negative errno, as the kernel's do. Optional members are
// the KVM_X86_OP_OPTIONAL ones; KVM checks for NULL before calling them (the external S-EPT
// hooks exist only for TDX, the gmem hooks only for SNP).

import type { VmTypeName } from '@kvmx/address';
import type { FramePool } from '@kvmx/paging';
import type { KvmInjectionName } from './injections.js';

/** `kvm->arch` fields that vendor VM init decides (kvm_host.h struct kvm_arch). */
export interface VmArch {
  /** kvm_arch_has_private_mem(): guest_memfd-backed private memory and memory attributes. */
  hasPrivateMem: boolean;
  /** Register state is protected (SEV-ES, SNP, TDX): no register ioctls, no readonly slots. */
  hasProtectedState: boolean;
  /** KVM_PRE_FAULT_MEMORY allowed now (TDX: only after KVM_TDX_FINALIZE_VM). */
  preFaultAllowed: boolean;
  /** kvm_gfn_direct_bits(): 0, or the TDX shared bit in GFN space. */
  gfnDirectBits: number;
  /** kvm->arch.shadow_mmio_value: EPT's W|X misconfig value, 0 for TDX (the TD gets a #VE). */
  shadowMmioValue: number;
}

/** A fault as the hardware reports it, before vendor classification. */
export interface HwFault {
  /** The faulting GPA as reported (a TD's shared bit still in it). */
  readonly gpa: number;
  /** Hardware error-code bits (PFERR_*). */
  readonly errorCode: number;
  /** SNP: the guest's effective C-bit (the NPF error code's ENC bit). */
  readonly enc?: boolean;
}

/** Events vendor code emits: SEAMCALLs it makes, RMP updates, guest TDCALL outcomes. */
export type VendorEvent =
  | {
      readonly type: 'seamcall';
      readonly leaf: string;
      readonly status: string;
      readonly code: string;
      readonly gpa?: string;
      readonly level?: number;
      readonly pfn?: string;
    }
  | {
      /** A guest TDCALL (TDG.MEM.PAGE.ACCEPT, TDG.VP.VMCALL) or a #VE the guest takes. */
      readonly type: 'tdcall';
      readonly leaf: string;
      /** ACCEPT: the page; a #VE: the faulting page; VMCALL<MapGPA>: R12. Absent otherwise. */
      readonly gpa?: string;
      readonly status: string;
    }
  | {
      /** An RMP change (SNP): one per entry RMPUPDATE, PSMASH, PVALIDATE or RMPADJUST wrote. */
      readonly type: 'rmp';
      readonly op: string;
      readonly pfn: string;
      readonly gfn?: string;
      readonly assigned: boolean;
      readonly level: number;
      readonly gpa?: string;
      /** RMP page size as a PG_LEVEL (1 = 4K, 2 = 2M). */
      readonly pageSize?: number;
      readonly validated?: boolean;
      readonly asid?: number;
      readonly immutable?: boolean;
      readonly vmsa?: boolean;
      /** The kernel function that made the change (rmp_make_private …), null for the guest. */
      readonly by?: string | null;
    };

/** What the vendor needs from KVM. */
export interface VendorContext {
  readonly pool: FramePool;
  /** Emit an event; `null` when nobody listens (vendor code then builds no event objects). */
  readonly emit: ((e: VendorEvent) => void) | null;
  /** kvm_make_all_cpus_request(kvm, KVM_REQ_OUTSIDE_GUEST_MODE): force vCPUs out of the guest. */
  kickAllVcpus(): void;
  /** KVM_BUG_ON(): the VM is marked bugged (its ioctls then fail with -EIO). */
  bug(message: string): void;
  /** Injected KVM bugs switched on for this VM (see injections.ts); empty normally. */
  readonly injected?: ReadonlySet<KvmInjectionName>;
}

/** The vendor operations of one VM. */
export interface KvmX86Ops {
  readonly vmType: VmTypeName;
  /** The per-VM flags; read by common code, changed only by the vendor (e.g. at finalize). */
  readonly arch: VmArch;

  /**
   * The error code the MMU sees: the hardware bits plus PFERR_PRIVATE_ACCESS when the vendor
   * classifies the access as private (TDX: shared bit clear; SNP: ENC set; SW_PROTECTED: the
   * attributes say private — upstream does that one in common kvm_mmu_page_fault()).
   */
  faultErrorCode(fault: HwFault, memIsPrivate: (gfn: number) => boolean): number;

  /** link_external_spt: a mirror non-leaf SPTE at `level` now points to a new table. */
  linkExternalSpt?(gfn: number, level: number, externalSpt: number): number;
  /** set_external_spte: a mirror leaf becomes present. */
  setExternalSpte?(gfn: number, level: number, pfn: number): number;
  /** remove_external_spte: a present mirror leaf is zapped (write mmu_lock). */
  removeExternalSpte?(gfn: number, level: number, pfn: number): number;
  /** free_external_spt: a mirror table was removed; its external page goes back. */
  freeExternalSpt?(gfn: number, level: number, externalSpt: number): number;

  /** private_max_mapping_level (OPTIONAL_RET0): 0 means no vendor limit. */
  privateMaxMappingLevel(pfn: number): number;
  /** gmem_prepare: guest_memfd hands a private page to KVM for the first time. */
  gmemPrepare?(pfn: number, gfn: number, maxOrder: number): number;
  /** gmem_invalidate: guest_memfd frees [startPfn, endPfn). */
  gmemInvalidate?(startPfn: number, endPfn: number): void;

  /** Start or stop reporting vendor events (SEAMCALLs) to VendorContext.emit. */
  setTracing?(on: boolean): void;
  /** vcpu_free (TDX: reclaim the vCPU's TDVPR and TDCX pages). */
  vcpuFree?(vcpuId: number): void;
  /** vm_pre_destroy (TDX: release the HKID). */
  vmPreDestroy?(): void;
  /** vm_destroy (TDX: reclaim the TD's control pages). */
  vmDestroy?(): void;
}
