// The TDX GPA shared bit and the helpers built on it: the seed patch's API ("KVM: x86/mmu:
// Add address conversion functions for TDX shared bit of GPA": kvm_gfn_shared_mask(),
// kvm_is_private_gpa(), kvm_gfn_to_shared(), kvm_gfn_to_private()) and upstream's
// replacement (kvm_gfn_direct_bits(), kvm_is_addr_direct(), kvm_is_gfn_alias(),
// kvm_gfn_root_bits()). Sources: arch/x86/kvm/vmx/tdx.c (TDX_SHARED_BIT_PWL_4/5,
// tdx_td_init), arch/x86/kvm/mmu.h, arch/x86/kvm/mmu/tdp_mmu.h; kvm-mmu.md §1.3, §2.3, §4.

import { clearBit, setBit, testBit } from './bits.js';
import { PAGE_SHIFT, PAGE_SIZE } from './levels.js';
import type { Gfn, Gpa } from './phys.js';
import type { VmTypeName } from './vm-type.js';

/** Guest physical-address widths a TD may have: CPUID 0x80000008 EAX[23:16]. */
export type Gpaw = 48 | 52;
export const GPAW_VALUES: readonly Gpaw[] = [48, 52];

export function isGpaw(value: unknown): value is Gpaw {
  return value === 48 || value === 52;
}

/** TDX_SHARED_BIT_PWL_4 = gpa_to_gfn(BIT_ULL(47)): GFN bit 35, for GPAW 48 (4-level EPT). */
export const TDX_SHARED_BIT_PWL_4 = 2 ** (47 - PAGE_SHIFT);
/** TDX_SHARED_BIT_PWL_5 = gpa_to_gfn(BIT_ULL(51)): GFN bit 39, for GPAW 52 (5-level EPT). */
export const TDX_SHARED_BIT_PWL_5 = 2 ** (51 - PAGE_SHIFT);

/** The GPA bit that marks a TD address shared: GPAW − 1 (47 or 51). */
export function tdxSharedBit(gpaw: Gpaw): 47 | 51 {
  return gpaw === 52 ? 51 : 47;
}

/** The TDP root level a TD uses: 5-level EPT exactly when GPAW is 52 (tdx_td_init). */
export function tdxRootLevel(gpaw: Gpaw): 4 | 5 {
  return gpaw === 52 ? 5 : 4;
}

/** What the address helpers need to know about a VM. */
export interface VmAddressing {
  readonly vmType: VmTypeName;
  /** Guest physical-address width; for TDX it selects the shared bit. */
  readonly gpaw: Gpaw;
}

// ---- the seed's API (2022–2024), kept because the project grew from its review ----

/**
 * kvm_gfn_shared_mask(): the shared bit in GFN space for a TD, 0 for every other VM type.
 * In the seed this mask doubled as the "is this a TD" test that reviewers objected to.
 */
export function gfnSharedMask(vm: VmAddressing): number {
  if (vm.vmType !== 'tdx') return 0;
  return vm.gpaw === 52 ? TDX_SHARED_BIT_PWL_5 : TDX_SHARED_BIT_PWL_4;
}

/**
 * kvm_is_private_gpa(): true iff the VM has a shared mask and the GPA's shared bit is clear.
 * Always false for SEV-SNP, where the C-bit in the guest's page tables, not the GPA, decides;
 * this is Kai Huang's objection to the seed (kvm-mmu.md §4.2).
 */
export function isPrivateGpa(vm: VmAddressing, addr: Gpa | number): boolean {
  const mask = gfnSharedMask(vm);
  return mask !== 0 && testBit(Math.floor(addr / PAGE_SIZE), mask) === 0;
}

/** kvm_gfn_to_shared(): the GFN with the shared bit set (unchanged without a mask). */
export function gfnToShared(vm: VmAddressing, frame: Gfn | number): Gfn {
  return setBit(frame, gfnSharedMask(vm)) as Gfn;
}

/** kvm_gfn_to_private(): the GFN with the shared bit cleared. */
export function gfnToPrivate(vm: VmAddressing, frame: Gfn | number): Gfn {
  return clearBit(frame, gfnSharedMask(vm)) as Gfn;
}

// ---- upstream's design (6.14+): common MMU code never sees the shared bit ----

/**
 * kvm_gfn_direct_bits(): GFN bits that select the direct (shared) root. The TDX shared bit
 * for a TD, 0 otherwise. Same value as the seed's mask; the difference is who may use it.
 */
export function gfnDirectBits(vm: VmAddressing): number {
  return gfnSharedMask(vm);
}

/** kvm_is_addr_direct(): true when the VM has no direct bits or the GPA has them set. */
export function isAddrDirect(vm: VmAddressing, addr: Gpa | number): boolean {
  const bits = gfnDirectBits(vm);
  return bits === 0 || testBit(Math.floor(addr / PAGE_SIZE), bits) === 1;
}

/** kvm_is_gfn_alias(): true when the GFN carries direct bits (must never reach the MMU). */
export function isGfnAlias(vm: VmAddressing, frame: Gfn | number): boolean {
  return testBit(frame, gfnDirectBits(vm)) === 1;
}

/**
 * kvm_gfn_root_bits(): bits the TDP iterator ORs into a GFN when indexing a root — 0 for a
 * mirror root, the direct bits for a direct root.
 */
export function gfnRootBits(vm: VmAddressing, isMirrorRoot: boolean): number {
  return isMirrorRoot ? 0 : gfnDirectBits(vm);
}

/**
 * The canonical GFN a fault on `addr` resolves to:
 * `gpa_to_gfn(addr) & ~kvm_gfn_direct_bits(kvm)` (kvm_mmu_do_page_fault()).
 */
export function canonicalGfn(vm: VmAddressing, addr: Gpa | number): Gfn {
  return clearBit(Math.floor(addr / PAGE_SIZE), gfnDirectBits(vm)) as Gfn;
}
