// KVM_X86_SW_PROTECTED_VM: private memory without encryption, for testing.
// Source: arch/x86/kvm/x86.c kvm_arch_init_vm() (`has_private_mem = type ==
// KVM_X86_SW_PROTECTED_VM`), arch/x86/kvm/mmu/mmu.c kvm_mmu_page_fault() (adds
// PFERR_PRIVATE_ACCESS when the GFN's attributes say private and the fault is not RSVD);
// sev-snp.md A.5, kvm-mmu.md §2.1.

import type { VmTypeName } from '@kvmx/address';
import { VMX_EPT_MISCONFIG_WX_VALUE } from '@kvmx/paging';
import type { HwFault, KvmX86Ops, VmArch } from './ops.js';
import { PFERR_PRIVATE_ACCESS, PFERR_RSVD_MASK, pferrHas, pferrSet } from './pferr.js';

export class SwProtectedOps implements KvmX86Ops {
  readonly vmType: VmTypeName = 'sw_protected';
  readonly arch: VmArch = {
    hasPrivateMem: true,
    hasProtectedState: false,
    preFaultAllowed: true,
    gfnDirectBits: 0,
    shadowMmioValue: VMX_EPT_MISCONFIG_WX_VALUE,
  };

  /**
   * models mmu.c: kvm_mmu_page_fault() for KVM_X86_SW_PROTECTED_VM — the attributes are the
   * truth, so a fault is private exactly when its GFN is; RSVD (MMIO) faults never are. The
   * GPA carries no alias bits (no direct bits), so gfn = gpa >> 12.
   */
  faultErrorCode(fault: HwFault, memIsPrivate: (gfn: number) => boolean): number {
    if (pferrHas(fault.errorCode, PFERR_RSVD_MASK)) return fault.errorCode;
    if (!memIsPrivate(Math.floor(fault.gpa / 4096))) return fault.errorCode;
    return pferrSet(fault.errorCode, PFERR_PRIVATE_ACCESS);
  }

  /** No vendor limit (OPTIONAL_RET0): guest_memfd's folio order alone caps the level. */
  privateMaxMappingLevel(): number {
    return 0;
  }
}
