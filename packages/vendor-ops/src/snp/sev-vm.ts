// The SEV family of VM types — SEV (2), SEV-ES (3), SNP (4) — and the per-VM facts KVM
// derives from the type, the C-bit and the ASID.
//
// Sources: arch/x86/include/uapi/asm/kvm.h (KVM_X86_SEV_VM …), arch/x86/kvm/svm/svm.c
// svm_vm_init() (has_private_mem = type == KVM_X86_SNP_VM; pre_fault_allowed =
// !has_private_mem; need_init for every type other than DEFAULT/SW_PROTECTED),
// arch/x86/kvm/x86.c (has_protected_state for SEV-ES and SNP), arch/x86/kvm/svm/sev.c
// sev_hardware_setup() (CPUID 0x8000001F: C-bit, max/min SEV ASID), sev_asid_new();
// arch/x86/include/asm/svm.h (SVM_SEV_FEAT_*); sev-snp.md A.0, A.4, A.8; kvm-mmu.md §2.1.
//
// SEV and SEV-ES guests encrypt memory, but that memory is not "private" in KVM's sense:
// there is no guest_memfd, no memory attributes, and no fault is ever private. Encryption is
// a property of the guest's page tables (the C-bit), invisible to the MMU.

import {
  cbitMask,
  DEFAULT_CBIT,
  isValidCbit,
  KVM_X86_SEV_ES_VM,
  KVM_X86_SEV_VM,
  KVM_X86_SNP_VM,
  testBit,
  type VmTypeName,
} from '@kvmx/address';
import { EBUSY } from './errno.js';

/** The three SEV VM types. */
export type SevVmType = 'sev' | 'sev_es' | 'snp';

export function isSevVmType(type: VmTypeName): type is SevVmType {
  return type === 'sev' || type === 'sev_es' || type === 'snp';
}

/** KVM_X86_*_VM number of a SEV type. */
export function sevVmTypeNumber(type: SevVmType): number {
  if (type === 'sev') return KVM_X86_SEV_VM;
  return type === 'sev_es' ? KVM_X86_SEV_ES_VM : KVM_X86_SNP_VM;
}

/** SVM_SEV_FEAT_SNP_ACTIVE: set in vmsa_features for SNP guests by __sev_guest_init(). */
export const SVM_SEV_FEAT_SNP_ACTIVE = 1 << 0;
/** SVM_SEV_FEAT_DEBUG_SWAP (32): the one feature sev_init2_tests exercises. */
export const SVM_SEV_FEAT_DEBUG_SWAP = 1 << 5;

/** The per-VM flags svm_vm_init() and kvm_arch_init_vm() set for a SEV type. */
export interface SevVmFlags {
  /** kvm_arch_has_private_mem(): guest_memfd and memory attributes — SNP only. */
  readonly hasPrivateMem: boolean;
  /** Register state lives in the encrypted VMSA — SEV-ES and SNP. */
  readonly hasProtectedState: boolean;
  /** KVM_SEV_INIT2 must come before vCPUs are created (every SEV type). */
  readonly needInit: true;
  /** KVM_PRE_FAULT_MEMORY allowed at creation: !has_private_mem (SNP: after LAUNCH_FINISH). */
  readonly preFaultAllowed: boolean;
  /** Guest memory is encrypted with the VM's key when the guest sets the C-bit. */
  readonly memoryEncrypted: true;
  /** The SNP RMP checks apply to this guest. */
  readonly snpActive: boolean;
}

/** The flags of a SEV type (svm_vm_init / kvm_arch_init_vm). */
export function sevVmFlags(type: SevVmType): SevVmFlags {
  const snp = type === 'snp';
  return {
    hasPrivateMem: snp,
    hasProtectedState: type !== 'sev',
    needInit: true,
    preFaultAllowed: !snp,
    memoryEncrypted: true,
    snpActive: snp,
  };
}

/** The C-bit as KVM learns it from CPUID 0x8000001F EBX[5:0] (sev_enc_bit, sev_me_mask). */
export interface SevCbit {
  readonly position: number;
  /** sev_me_mask: 1 << position, as a number. */
  readonly meMask: number;
}

/** The C-bit at `position` (default 51); undefined when the position is out of range. */
export function sevCbit(position: number = DEFAULT_CBIT): SevCbit | undefined {
  if (!isValidCbit(position)) return undefined;
  return { position, meMask: cbitMask(position) };
}

/**
 * A guest page-table address split into the GPA KVM sees and the encryption the guest asked
 * for. The GPA of an #NPF never carries the C-bit (the hardware reports it as the ENC error
 * code bit instead), and KVM strips nothing from it (sev-snp.md A.4).
 */
export function splitCbit(addr: number, cbit: SevCbit): { gpa: number; enc: boolean } {
  const enc = testBit(addr, cbit.meMask) === 1;
  return { gpa: enc ? addr - cbit.meMask : addr, enc };
}

/** The guest page-table address for `gpa` with the C-bit set (`enc`) or clear. */
export function withCbit(gpa: number, enc: boolean, cbit: SevCbit): number {
  const has = testBit(gpa, cbit.meMask) === 1;
  if (enc === has) return gpa;
  return enc ? gpa + cbit.meMask : gpa - cbit.meMask;
}

/**
 * sev_vcpu_after_set_cpuid(): the C-bit is removed from the guest's reserved physical-address
 * bits, so a guest PTE with it is legal. True when `addr` (a guest PTE's address field, with
 * MAXPHYADDR 52) has no reserved bit set once the C-bit is allowed; `guestMaxPhyAddr` is the
 * guest CPUID's physical-address width.
 */
export function guestPteAddrLegal(addr: number, guestMaxPhyAddr: number, cbit: SevCbit): boolean {
  return splitCbit(addr, cbit).gpa < 2 ** guestMaxPhyAddr;
}

/** ASID ranges from CPUID 0x8000001F (ECX = max SEV ASID, EDX = min SEV ASID). */
export interface SevAsidConfig {
  readonly maxSevAsid: number;
  readonly minSevAsid: number;
}

/**
 * The model's default ASID space (an EPYC-like 509 ASIDs, the first 99 for SEV-ES/SNP). Real
 * values come from CPUID and differ per part; every rule below depends only on min/max.
 */
export const DEFAULT_SEV_ASIDS: SevAsidConfig = { maxSevAsid: 509, minSevAsid: 100 };

/**
 * ASID allocation per sev_asid_new(): SEV guests use [min_sev_asid, max_sev_asid], SEV-ES and
 * SNP guests [1, min_sev_asid − 1]. Lowest free first, as the kernel's bitmap search.
 */
export class SevAsidAllocator {
  readonly config: SevAsidConfig;
  private readonly used: Uint8Array;

  constructor(config: SevAsidConfig = DEFAULT_SEV_ASIDS) {
    this.config = config;
    this.used = new Uint8Array(config.maxSevAsid + 1);
  }

  /** The range [min, max] a type draws from. */
  range(type: SevVmType): readonly [number, number] {
    return type === 'sev'
      ? [this.config.minSevAsid, this.config.maxSevAsid]
      : [1, this.config.minSevAsid - 1];
  }

  /** A free ASID for `type`, or -EBUSY when the range is exhausted (sev_asid_new). */
  alloc(type: SevVmType): number {
    const [min, max] = this.range(type);
    for (let a = min; a <= max; a++) {
      if (this.used[a] === 0) {
        this.used[a] = 1;
        return a;
      }
    }
    return -EBUSY;
  }

  free(asid: number): void {
    if (asid > 0 && asid < this.used.length) this.used[asid] = 0;
  }
}
