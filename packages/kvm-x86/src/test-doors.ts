// Test-only doors that break the model on purpose, so each invariant can be seen firing.
// Not exported from the package: nothing but tests may open them.

import { FrameOwner, makeSpte } from '@kvmx/paging';
import { SUCCESS_STATUS } from '@kvmx/tdx-module';
import type { Kvm } from './kvm.js';
import { KVM_MEMORY_ATTRIBUTE_PRIVATE } from './uapi.js';

/** Install a direct-root leaf for `gfn` that maps `pfn` (bypassing the fault path). */
export function doorMapDirect(kvm: Kvm, gfn: number, pfn: number): void {
  const leaf = makeSpte(pfn, { level: 1 });
  kvm.mmu.allocRoots();
  kvm.mmu.map({
    gfn,
    mirror: false,
    goalLevel: 1,
    leafLo: leaf.lo | 0,
    leafHi: leaf.hi | 0,
    mmio: false,
    write: true,
    prefetch: false,
  });
}

/** Change the attribute store without the pre/post hooks (no zap, no MIXED update). */
export function doorSetAttributesWithoutZap(
  kvm: Kvm,
  gfn: number,
  npages: number,
  priv: boolean,
): void {
  kvm.attributes.set(gfn, gfn + npages, priv ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0);
}

/** A hostile host removes a private page in the module behind KVM's back. */
export function doorRemoveBehindKvm(kvm: Kvm, gpa: number): void {
  const tdx = kvm.tdx;
  if (tdx === null) throw new Error('not a TD');
  tdx.module.memRangeBlock(tdx.tdr, gpa, 0);
  tdx.module.memTrack(tdx.tdr);
  tdx.module.memPageRemove(tdx.tdr, gpa, 0);
}

/** Forget the PAMT entry of a page. */
export function doorClearPamt(kvm: Kvm, pfn: number): void {
  kvm.tdx?.module.pamt.clear(pfn, 0);
}

/** Put a guest_memfd frame into the VMM's address space (the host could then read it). */
export function doorLeakPrivateToHost(kvm: Kvm, pfn: number): void {
  if (kvm.pool.owner(pfn) !== FrameOwner.GUEST_MEMFD) throw new Error('not a guest_memfd frame');
  const pages = (kvm.vmm as unknown as { pages: Map<number, number> }).pages;
  pages.set(0x7fffffff0, pfn);
}

/** KVM "forgets" TDH.MEM.TRACK: the wrapper returns success without calling the module. */
export function doorSkipTrack(kvm: Kvm): void {
  const tdx = kvm.tdx;
  if (tdx === null) throw new Error('not a TD');
  tdx.module.memTrack = () => SUCCESS_STATUS;
}

/** A non-atomic present write to a mirror SPTE (what KVM_BUG_ON guards against). */
export function doorPresentWriteToMirror(kvm: Kvm, gfn: number, pfn: number): void {
  const root = kvm.mmu.mirrorRoot;
  if (root === null) throw new Error('no mirror root');
  const w = kvm.mmu.walk(root, gfn);
  const leaf = makeSpte(pfn, { level: 1 });
  kvm.mmu.setSpte(w.sp, w.index, leaf.lo | 0, leaf.hi | 0);
}
