// KVM_X86_DEFAULT_VM: no private memory, one direct root, EPT's MMIO value.
// Source: arch/x86/kvm/x86.c kvm_arch_init_vm() (has_private_mem only for SW_PROTECTED,
// pre_fault_allowed true for non-CoCo VMs), spte.c kvm_mmu_set_ept_masks() (mmio value W|X);
// kvm-mmu.md §2.1, §3.3.

import type { VmTypeName } from '@kvmx/address';
import { VMX_EPT_MISCONFIG_WX_VALUE } from '@kvmx/paging';
import type { HwFault, KvmX86Ops, VmArch } from './ops.js';

/** EPT's MMIO SPTE value (W|X), defined by @kvmx/paging; re-exported for vendor code. */
export { VMX_EPT_MISCONFIG_WX_VALUE };

/** The vendor ops of a VM without private memory (default; SEV and SEV-ES until #7). */
export class DefaultOps implements KvmX86Ops {
  readonly vmType: VmTypeName;
  readonly arch: VmArch;

  constructor(vmType: VmTypeName = 'default') {
    this.vmType = vmType;
    this.arch = {
      hasPrivateMem: false,
      hasProtectedState: vmType === 'sev_es',
      preFaultAllowed: true,
      gfnDirectBits: 0,
      shadowMmioValue: VMX_EPT_MISCONFIG_WX_VALUE,
    };
  }

  /** Never private: nothing sets PFERR_PRIVATE_ACCESS for these types. */
  faultErrorCode(fault: HwFault): number {
    return fault.errorCode;
  }

  privateMaxMappingLevel(): number {
    return 0;
  }
}
