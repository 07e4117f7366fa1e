// guest_memfd: the file that backs private memory. Source: virt/kvm/guest_memfd.c
// (kvm_gmem_create, kvm_gmem_bind, kvm_gmem_unbind, kvm_gmem_get_pfn, kvm_gmem_fallocate,
// kvm_gmem_punch_hole, kvm_gmem_allocate, kvm_gmem_release); kvm-mmu.md §2.8.
//
// This file holds the file's own state and checks; invalidation of the MMU (which needs the
// VM) is done by the VM, which calls `bindingsIn` to find the GFN ranges to zap. Pages are
// 4 KiB folios (max_order 0, as in 6.16/6.17): allocated zeroed on first use, freed on punch
// or release.

import { FrameOwner, type FramePool, NO_FRAME } from '@kvmx/paging';
import { GmemPages, type GmemPreparedSet } from './gmem-pages.js';
import type { Memslot } from './memslot.js';

export interface GmemBinding {
  /** First file page offset bound (inclusive). */
  readonly start: number;
  /** End page offset (exclusive). */
  readonly end: number;
  readonly slot: Memslot;
}

export class GuestMemfd {
  /** The fd number userspace sees. */
  readonly fd: number;
  /** The VM this file belongs to (gmem->kvm); it holds a reference on it. */
  readonly vmId: number;
  readonly size: number;
  readonly flags: number;
  /** Page offset → host PFN of the allocated folio. */
  readonly pages = new GmemPages();
  /** Pages already handed to KVM once (folio "prepared": vendor gmem_prepare done). */
  readonly prepared: GmemPreparedSet = this.pages.prepared;
  /** Set by allocatePfn(): the last page it returned was allocated by that call. */
  fresh = false;
  bindings: GmemBinding[] = [];
  closed = false;
  /**
   * Injected bug `no-zero-on-accept`: folios are not cleared before their first hand-out.
   * The page allocator then returns what the last freed frame held (`dirty`, most recent
   * last), as it does when nothing zeroes a recycled page.
   */
  noZero = false;
  private readonly dirty: Uint8Array[] = [];
  /**
   * Pages handed out for the first time while not all zeros (invariant `gmem-zeroed`): the
   * model's init_on_alloc check at the moment of allocation; cleared when the page is dropped.
   */
  readonly handedDirty = new Set<number>();

  constructor(fd: number, vmId: number, size: number, flags: number) {
    this.fd = fd;
    this.vmId = vmId;
    this.size = size;
    this.flags = flags;
  }

  get npages(): number {
    return this.size / 4096;
  }

  /** True when some binding covers a page of [start, end) (xa_find over gmem->bindings). */
  overlapsBinding(start: number, end: number): boolean {
    return this.bindings.some((b) => b.start < end && start < b.end);
  }

  /** Bindings intersecting [start, end) (xa_for_each_range). */
  bindingsIn(start: number, end: number): GmemBinding[] {
    return this.bindings.filter((b) => b.start < end && start < b.end);
  }

  /** kvm_gmem_get_folio(): the page at `index`, allocated zeroed if absent. */
  getOrAllocate(pool: FramePool, index: number): { pfn: number; fresh: boolean } {
    const pfn = this.allocatePfn(pool, index);
    return { pfn, fresh: this.fresh };
  }

  /**
   * getOrAllocate() without a result object (the fault path): the PFN or NO_FRAME; `fresh`
   * tells whether this call allocated it.
   */
  allocatePfn(pool: FramePool, index: number): number {
    const existing = this.pages.pfnAt(index);
    this.fresh = false;
    if (existing !== -1) return existing;
    const pfn = pool.alloc(FrameOwner.GUEST_MEMFD, this.fd);
    if (pfn === NO_FRAME) return NO_FRAME;
    // models guest_memfd.c: kvm_gmem_prepare_folio() — clear_highpage() of a folio that is
    // not uptodate yet; with `no-zero-on-accept` it is skipped and the stale bytes stay.
    const stale = this.noZero ? this.dirty.pop() : undefined;
    if (stale !== undefined) pool.write(pfn, 0, stale);
    if (!pool.isZero(pfn)) this.handedDirty.add(index);
    this.pages.set(index, pfn);
    this.fresh = true;
    return pfn;
  }

  /** truncate_inode_pages_range(): drop the folios of [start, end); returns their PFNs. */
  truncate(pool: FramePool, start: number, end: number): number[] {
    // In the order the pages were added (the order a Map iterates), which decides the order
    // the pool's free list hands the frames out again.
    const indexes = this.pages.indexesIn(start, end);
    const freed: number[] = [];
    for (const index of indexes) freed.push(this.pages.pfnAt(index));
    for (const pfn of freed) {
      // Injected bug: remember what the freed frame held, for the next unzeroed hand-out.
      if (this.noZero && !pool.isZero(pfn)) this.dirty.push(pool.read(pfn, 0, 4096));
      pool.free(pfn);
    }
    if (this.handedDirty.size !== 0) {
      for (const index of [...this.handedDirty]) {
        if (index >= start && index < end) this.handedDirty.delete(index);
      }
    }
    for (const index of indexes) this.pages.delete(index);
    this.prepared.deleteRange(start, end);
    return freed;
  }
}
