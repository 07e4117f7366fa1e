// The VMM's address space: the shared half of guest memory (a memslot's userspace_addr
// side). Pages come into existence zeroed on first touch, like anonymous memory, as frames
// of the pool owned by VMM_SHARED. A region may be backed by 2 MiB huge pages (hugetlbfs /
// THP), which lets KVM map shared memory with 2M leaves (host_pfn_mapping_level()).
// Keyed by HVA page, so a memslot move (same userspace_addr) keeps the bytes, as it does
// for a real VMM.

import { FrameOwner, type FramePool, NO_FRAME } from '@kvmx/paging';

const HPAGE_PAGES = 512;

export class VmmMemory {
  private readonly pool: FramePool;
  /** HVA page number → host PFN. */
  private readonly pages = new Map<number, number>();
  /** 2 MiB HVA chunk numbers backed by one huge page. */
  private readonly hugeChunks = new Set<number>();
  /** HVA chunk ranges [start, end) that are huge-page backed. */
  private readonly hugeRegions: Array<{ start: number; end: number }> = [];
  private nextHva = 0x7f0000000000;

  constructor(pool: FramePool) {
    this.pool = pool;
  }

  /**
   * mmap(): reserve `size` bytes of VMM address space whose offset within 1 GiB equals
   * `gpa`'s, so huge host pages can line up with huge guest pages.
   */
  mmap(size: number, gpa: number, hugePages = false): number {
    const GiB = 2 ** 30;
    const base = Math.ceil(this.nextHva / GiB) * GiB + (gpa % GiB);
    this.nextHva = base + size + GiB;
    if (hugePages) {
      this.hugeRegions.push({
        start: Math.floor(base / 2 ** 21),
        end: Math.ceil((base + size) / 2 ** 21),
      });
    }
    return base;
  }

  /** The frame behind an HVA page, allocating (zeroed) on first touch; NO_FRAME when full. */
  pfnFor(hvaPage: number): number {
    const existing = this.pages.get(hvaPage);
    if (existing !== undefined) return existing;
    const chunk = Math.floor(hvaPage / HPAGE_PAGES);
    if (this.isHugeChunk(chunk)) {
      const first = this.pool.allocContiguous(HPAGE_PAGES, FrameOwner.VMM_SHARED, HPAGE_PAGES);
      if (first === NO_FRAME) return NO_FRAME;
      const base = chunk * HPAGE_PAGES;
      for (let i = 0; i < HPAGE_PAGES; i++) this.pages.set(base + i, first + i);
      this.hugeChunks.add(chunk);
      return first + (hvaPage - base);
    }
    const pfn = this.pool.alloc(FrameOwner.VMM_SHARED);
    if (pfn === NO_FRAME) return NO_FRAME;
    this.pages.set(hvaPage, pfn);
    return pfn;
  }

  /** The frame behind an HVA page if it was touched. */
  peek(hvaPage: number): number | undefined {
    return this.pages.get(hvaPage);
  }

  /** Every frame the VMM's memory holds. */
  frames(): IterableIterator<number> {
    return this.pages.values();
  }

  /** host_pfn_mapping_level(): 2 (2M) for a huge-page-backed chunk, else 1 (4K). */
  hostMappingLevel(hvaPage: number): number {
    return this.hugeChunks.has(Math.floor(hvaPage / HPAGE_PAGES)) ? 2 : 1;
  }

  /** True when `pfn` is one of this VMM's frames. */
  owns(pfn: number): boolean {
    return this.pool.owner(pfn) === FrameOwner.VMM_SHARED;
  }

  private isHugeChunk(chunk: number): boolean {
    for (const r of this.hugeRegions) if (chunk >= r.start && chunk < r.end) return true;
    return false;
  }
}
