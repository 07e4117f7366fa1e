// The live shadow pages by table PFN: sptep_to_sp() / to_shadow_page() (mmu_internal.h), which
// the kernel answers from the table page's struct page (page->private). The walk of
// kvm_tdp_mmu_map() asks it once per level of every fault, so the lookup is a typed array
// indexed by PFN (the pool's frame index) into a dense array of the pages — no hashing —
// while iteration keeps the insertion order of the Map this replaced (the whole-VM invariant
// checker reports violations in that order).

import type { ShadowPage } from './tdp-mmu.js';

export class ShadowPages {
  /** Lowest PFN the index covers (the pool's first frame). */
  private readonly base: number;
  /** (pfn - base) → 1 + slot in `list`, 0 for none. Grown by doubling. */
  private slotOf = new Int32Array(1024);
  private readonly list: Array<ShadowPage | null> = [];
  private readonly freeSlots: number[] = [];
  /** Insertion order (the Map's iteration order). */
  private readonly order = new Map<number, ShadowPage>();

  constructor(basePfn: number) {
    this.base = basePfn;
  }

  get size(): number {
    return this.order.size;
  }

  /** The shadow page whose table is `pfn`. */
  get(pfn: number): ShadowPage | undefined {
    const i = pfn - this.base;
    if (i >= 0 && i < this.slotOf.length) {
      const s = this.slotOf[i] as number;
      if (s !== 0) return this.list[s - 1] as ShadowPage;
      return undefined;
    }
    // Outside the typed index (a PFN not from the pool): the Map has it, if anyone does.
    return this.order.get(pfn);
  }

  has(pfn: number): boolean {
    return this.get(pfn) !== undefined;
  }

  set(pfn: number, sp: ShadowPage): this {
    this.order.set(pfn, sp);
    const i = pfn - this.base;
    if (!(i >= 0 && Number.isInteger(i) && i < 2 ** 30)) return this;
    if (i >= this.slotOf.length) {
      let cap = this.slotOf.length;
      while (cap <= i) cap *= 2;
      const grown = new Int32Array(cap);
      grown.set(this.slotOf);
      this.slotOf = grown;
    }
    const s = this.slotOf[i] as number;
    if (s !== 0) {
      this.list[s - 1] = sp;
      return this;
    }
    const free = this.freeSlots.pop();
    if (free === undefined) {
      this.list.push(sp);
      this.slotOf[i] = this.list.length;
    } else {
      this.list[free] = sp;
      this.slotOf[i] = free + 1;
    }
    return this;
  }

  delete(pfn: number): boolean {
    const had = this.order.delete(pfn);
    const i = pfn - this.base;
    if (i >= 0 && i < this.slotOf.length) {
      const s = this.slotOf[i] as number;
      if (s !== 0) {
        this.slotOf[i] = 0;
        this.list[s - 1] = null;
        this.freeSlots.push(s - 1);
      }
    }
    return had;
  }

  values(): IterableIterator<ShadowPage> {
    return this.order.values();
  }

  keys(): IterableIterator<number> {
    return this.order.keys();
  }

  entries(): IterableIterator<[number, ShadowPage]> {
    return this.order.entries();
  }

  [Symbol.iterator](): IterableIterator<[number, ShadowPage]> {
    return this.order.entries();
  }
}
