// Which vendor implements a VM type: kvm_x86_ops is VMX's or SVM's, and within it the
// VM type selects the private-memory behaviour (kvm_arch_init_vm(), vt_vm_init(),
// svm_vm_init()). Types whose vendor code is not modelled yet are not offered, the way
// KVM_CAP_VM_TYPES leaves out types the host cannot run: KVM_CREATE_VM then fails.

import type { Gpaw, VmTypeName } from '@kvmx/address';
import { TdxModule } from '@kvmx/tdx-module';
import { DefaultOps } from './default-ops.js';
import type { KvmX86Ops, VendorContext } from './ops.js';
import { type SevHost, SevOps } from './snp/sev-ops.js';
import { sevCbit } from './snp/sev-vm.js';
import { SwProtectedOps } from './sw-protected-ops.js';
import { TdxOps } from './tdx-ops.js';

export interface VendorVmOptions {
  /** TDX: guest physical-address width. */
  readonly gpaw?: Gpaw;
  /** TDX: TD attribute SEPT_VE_DISABLE. */
  readonly septVeDisable?: boolean;
  /** TDX: the host's TDX module (one per host, shared by its TDs); a fresh one by default. */
  readonly tdxModule?: TdxModule;
  /** SEV/SEV-ES/SNP: the C-bit position (CPUID 0x8000001F EBX[5:0]), 51 by default. */
  readonly cbit?: number;
  /** SEV/SEV-ES/SNP: the host's RMP and ASID space; sevHost(ctx.pool) by default. */
  readonly sevHost?: SevHost;
}

/** The VM types this build supports (KVM_CAP_VM_TYPES, as names). */
export function supportedVmTypes(): VmTypeName[] {
  return ['default', 'sw_protected', 'sev', 'sev_es', 'snp', 'tdx'];
}

/** The vendor ops of a new VM, or null when the type is not supported. */
export function createVendorOps(
  vmType: VmTypeName,
  ctx: VendorContext,
  options: VendorVmOptions = {},
): KvmX86Ops | null {
  switch (vmType) {
    case 'default':
      return new DefaultOps('default');
    case 'sw_protected':
      return new SwProtectedOps();
    case 'tdx': {
      const module = options.tdxModule ?? new TdxModule({ pool: ctx.pool });
      if (module.pool !== ctx.pool) return null;
      return new TdxOps(ctx, module, options.gpaw ?? 48, options.septVeDisable ?? false);
    }
    case 'sev':
    case 'sev_es':
    case 'snp': {
      // models svm.c: svm_vm_init() for the SEV types; a C-bit the CPU cannot have is refused.
      if (options.cbit !== undefined && sevCbit(options.cbit) === undefined) return null;
      return new SevOps(vmType, ctx, {
        ...(options.cbit !== undefined ? { cbit: options.cbit } : {}),
        ...(options.sevHost !== undefined ? { host: options.sevHost } : {}),
      });
    }
    default:
      return null;
  }
}
