// Pre-order iteration over a paging tree, step for step as KVM's tdp_iter
// (arch/x86/kvm/mmu/tdp_iter.c, tdp_iter.h): the iterator yields every entry (present or
// not) from the root down to a minimum level, descending into present tables, over a GFN
// range. `gfn` is alias-free; the root's gfn_bits are ORed in only to compute indexes.
//
//   const it = new TdpIter(tree);
//   for (it.start(PG_LEVEL_4K, start, end); it.ok(); it.next()) { … it.gfn, it.level, it.lo … }
//
// No allocation per step: one iterator object is reused.

import { type PgLevel, pagesPerHpage } from '@kvmx/address';
import { orGfn, type PagingTree } from './paging-tree.js';
import { spteToPfn } from './spte.js';
import { PAGING_OK } from './status.js';

const TWO27 = 134217728;

export class TdpIter {
  readonly tree: PagingTree;
  /** iter->gfn: the first GFN the current entry maps (alias-free). */
  gfn = 0;
  /** iter->level. */
  level = 0;
  /** iter->old_spte, as words. */
  lo = 0;
  hi = 0;
  /** PFN of the table holding the current entry, and the entry's index in it. */
  table = 0;
  index = 0;
  /** iter->valid. */
  valid = false;
  /** iter->yielded: set by yield() so the next step restarts the walk from the root. */
  yielded = false;
  /** iter->next_last_level_gfn. */
  nextLastLevelGfn = 0;
  /** iter->yielded_gfn. */
  yieldedGfn = 0;
  minLevel = 1;
  gfnBits = 0;
  /** Exclusive end of the range (the loop condition of for_each_tdp_pte). */
  end = 0;

  private readonly ptPfn = new Float64Array(6);

  constructor(tree: PagingTree) {
    this.tree = tree;
  }

  /**
   * tdp_iter_start() for for_each_tdp_pte_min_level(): entries at levels ≥ minLevel over
   * [start, end), indexes computed with `gfnBits` (default the tree's kvm_gfn_root_bits).
   */
  start(minLevel: number, start: number, end: number, gfnBits = this.tree.gfnBits): this {
    this.minLevel = minLevel;
    this.nextLastLevelGfn = start;
    this.gfnBits = gfnBits;
    this.end = end;
    this.ptPfn[this.tree.rootLevel] = this.tree.root;
    this.restart();
    return this;
  }

  /** for_each_tdp_pte_min_level_all(): the whole root, gfn_bits 0 (used to zap a root). */
  startAll(minLevel: number): this {
    return this.start(minLevel, 0, this.tree.gfnLimit, 0);
  }

  /** The loop condition: iter.valid && iter.gfn < end. */
  ok(): boolean {
    return this.valid && this.gfn < this.end;
  }

  /** tdp_iter_restart(): back to the root, at next_last_level_gfn. */
  restart(): void {
    this.yielded = false;
    this.yieldedGfn = this.nextLastLevelGfn;
    this.level = this.tree.rootLevel;
    this.gfn = roundForLevel(this.nextLastLevelGfn, this.level);
    this.refreshSptep();
    this.valid = true;
  }

  /** tdp_iter_next(). Returns ok(). */
  next(): boolean {
    if (this.yielded) {
      this.restart();
      return this.ok();
    }
    if (this.tryStepDown()) return this.ok();
    do {
      if (this.tryStepSide()) return this.ok();
    } while (this.tryStepUp());
    this.valid = false;
    return false;
  }

  /** Mark that the walk gave up the lock (tdp_mmu_iter_cond_resched()): the next step restarts. */
  yield(): void {
    this.yielded = true;
  }

  /** Write the current entry through the tree's write path (tdp_mmu_iter_set_spte()). */
  set(lo: number, hi: number): number {
    const r = this.tree.writeEntry(this.table, this.index, this.gfn, this.level, lo, hi);
    if (r === PAGING_OK) {
      this.lo = lo | 0;
      this.hi = hi | 0;
    }
    return r;
  }

  /**
   * Atomic update of the current entry from the value the iterator read (old_spte), as
   * tdp_mmu_set_spte_atomic(): -EBUSY when it is FROZEN or changed, with lo/hi refreshed.
   */
  cmpxchg(lo: number, hi: number): number {
    const t = this.tree;
    const r = t.cmpxchgEntry(
      this.table,
      this.index,
      this.gfn,
      this.level,
      this.lo,
      this.hi,
      lo,
      hi,
    );
    this.lo = t.foundLo;
    this.hi = t.foundHi;
    return r;
  }

  /** Re-read the current entry (kvm_tdp_mmu_read_spte()). */
  reread(): void {
    this.lo = this.tree.readLo(this.table, this.index);
    this.hi = this.tree.readHi(this.table, this.index);
  }

  private indexOf(gfn: number, level: number): number {
    const ig = orGfn(gfn, this.gfnBits);
    const shift = 2 ** ((level - 1) * 9);
    if (level <= 3) {
      const top = Math.floor(ig / TWO27);
      return Math.floor((ig - top * TWO27) / shift) & 511;
    }
    return Math.floor(ig / shift) & 511;
  }

  /** tdp_iter_refresh_sptep(). */
  private refreshSptep(): void {
    this.table = this.ptPfn[this.level] as number;
    this.index = this.indexOf(this.gfn, this.level);
    this.reread();
  }

  /** try_step_down(): into the child table of a present non-leaf entry above minLevel. */
  private tryStepDown(): boolean {
    if (this.level === this.minLevel) return false;
    if (this.level <= 1 || !this.tree.isTableEntry(this.lo, this.hi, this.level)) return false;
    const child = spteToPfn(this.lo, this.hi);
    if (this.tree.tableBase(child) === 0) return false;
    this.level--;
    this.ptPfn[this.level] = child;
    this.gfn = roundForLevel(this.nextLastLevelGfn, this.level);
    this.refreshSptep();
    return true;
  }

  /** try_step_side(): the next entry of the same table, unless this was entry 511. */
  private tryStepSide(): boolean {
    if (this.index === 511) return false;
    this.gfn += pagesPerHpage(this.level as PgLevel);
    this.nextLastLevelGfn = this.gfn;
    this.index++;
    this.reread();
    return true;
  }

  /** try_step_up(): back to the parent entry, unless at the root. */
  private tryStepUp(): boolean {
    if (this.level === this.tree.rootLevel) return false;
    this.level++;
    this.gfn = roundForLevel(this.gfn, this.level);
    this.refreshSptep();
    return true;
  }
}

/** gfn_round_for_level(). */
function roundForLevel(gfn: number, level: number): number {
  const p = pagesPerHpage(level as PgLevel);
  return Math.floor(gfn / p) * p;
}
