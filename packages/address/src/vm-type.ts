// VM types as KVM_CREATE_VM takes them.
// Source: arch/x86/include/uapi/asm/kvm.h (KVM_X86_DEFAULT_VM … KVM_X86_TDX_VM); kvm-mmu.md §2.1.

export const KVM_X86_DEFAULT_VM = 0;
export const KVM_X86_SW_PROTECTED_VM = 1;
export const KVM_X86_SEV_VM = 2;
export const KVM_X86_SEV_ES_VM = 3;
export const KVM_X86_SNP_VM = 4;
export const KVM_X86_TDX_VM = 5;

/** The names kvmx uses everywhere (CONTRACTS: `default` … `tdx`), in KVM_X86_*_VM order. */
export const VM_TYPE_NAMES = ['default', 'sw_protected', 'sev', 'sev_es', 'snp', 'tdx'] as const;
export type VmTypeName = (typeof VM_TYPE_NAMES)[number];

/** True for one of the six names. */
export function isVmTypeName(value: unknown): value is VmTypeName {
  return typeof value === 'string' && (VM_TYPE_NAMES as readonly string[]).includes(value);
}

/** KVM_X86_*_VM number of a type name. */
export function vmTypeNumber(name: VmTypeName): number {
  return VM_TYPE_NAMES.indexOf(name);
}

/** Type name of a KVM_X86_*_VM number, or undefined for an unknown number. */
export function vmTypeName(value: number): VmTypeName | undefined {
  return VM_TYPE_NAMES[value];
}

/** SEV, SEV-ES and SNP: the types whose guests choose encryption with the C-bit. */
export function usesCbit(name: VmTypeName): boolean {
  return name === 'sev' || name === 'sev_es' || name === 'snp';
}
