// A 4- or 5-level EPT paging structure whose tables are frames of a FramePool.
//
// One tree models one root: a KVM TDP MMU root (direct or mirror) or the TDX module's
// Secure-EPT of a TD. Tables are 4 KiB frames holding 512 64-bit entries as (lo, hi) int32
// words in the pool's shared store, bit-exact with what the CPU or the module would read.
// Non-leaf entries hold the child table's real PFN (make_nonleaf_spte()).
//
// Addressing: every GFN passed in or reported is alias-free (KVM never keeps the TDX shared
// bit in a GFN). A direct root's `gfnBits` (kvm_gfn_root_bits()) are ORed in only to compute
// table indexes, exactly as tdp_iter does (tdp_iter.h: SPTE_INDEX((gfn | gfn_bits) << 12)).
//
// One write path: every entry change goes through writeSpte(), which updates the statistics,
// reports (tree, gfn, level, old, new) to `onChange` when set, and — when a present table
// entry is replaced — tears the child table down the way handle_removed_pt() does (each
// present child entry becomes FROZEN_SPTE and is reported, then the frame is freed and
// reported to `onTableRemoved`). cmpxchgSpte() is the atomic variant.
//
// Entry meaning is pluggable so the same tree serves the S-EPT, whose entry states live in
// software bits (tdx-module.md §3.1) and whose present bit is not KVM's bit 11: pass
// `isTable` / `isLeaf` predicates, and `freeTables: false` when tables are pages the host
// donated (TDH.MEM.SEPT.ADD) and reclaims itself.

import {
  PG_LEVEL_1G,
  type PgLevel,
  PT64_ROOT_4LEVEL,
  PT64_ROOT_5LEVEL,
  pagesPerHpage,
  type RootLevel,
} from '@kvmx/address';
import { FrameOwner } from './frame-owner.js';
import { FRAME_WORDS, type FramePool, NO_FRAME } from './frame-pool.js';
import {
  makeHugeSpte,
  makeSmallSpte,
  NONLEAF_ATTRS_HI,
  NONLEAF_ATTRS_LO,
  pfnHi,
  pfnLo,
  spteToPfn,
} from './spte.js';
import {
  FROZEN_SPTE_HI,
  FROZEN_SPTE_LO,
  PT_PAGE_SIZE_MASK,
  SHADOW_NONPRESENT_VALUE_HI,
  SHADOW_NONPRESENT_VALUE_LO,
  SPTE_MMU_PRESENT_MASK,
} from './spte-bits.js';
import { EBUSY, EEXIST, EFAULT, EINVAL, ENOENT, ENOMEM, PAGING_OK } from './status.js';

/** Called for every entry change: the alias-free GFN the entry maps and its level. */
export type SpteChangeListener = (
  tree: PagingTree,
  gfn: number,
  level: number,
  oldLo: number,
  oldHi: number,
  newLo: number,
  newHi: number,
) => void;

/** Called when a table leaves the tree: `level` is the level of its entries. */
export type TableRemovedListener = (
  tree: PagingTree,
  tablePfn: number,
  gfn: number,
  level: number,
  freed: boolean,
) => void;

/** Says what an entry at `level` is. */
export type EntryPredicate = (lo: number, hi: number, level: number) => boolean;

export interface PagingTreeOptions {
  /** 4 or 5 (PT64_ROOT_4LEVEL / PT64_ROOT_5LEVEL). Default 4. */
  readonly rootLevel?: RootLevel;
  /** Owner tag of the tables this tree allocates. Default KVM_PAGE_TABLE. */
  readonly tableOwner?: FrameOwner;
  /** The 32-bit tag put on the tree's table frames. */
  readonly tag?: number;
  /** A name for traces and pictures: 'direct', 'mirror', 'sept', … */
  readonly name?: string;
  /** Value of an empty entry, written into new tables. Default SHADOW_NONPRESENT_VALUE. */
  readonly emptyLo?: number;
  readonly emptyHi?: number;
  /** Attribute bits of the non-leaf entries the tree creates (the PFN is ORed in). */
  readonly nonleafLo?: number;
  readonly nonleafHi?: number;
  /** kvm_gfn_root_bits(): ORed into GFNs only to compute indexes. Default 0. */
  readonly gfnBits?: number;
  /** Present non-leaf test. Default KVM's: bit 11 set, level > 1, page-size bit clear. */
  readonly isTable?: EntryPredicate;
  /** Present leaf test. Default KVM's: bit 11 set and (level 1 or page-size bit). */
  readonly isLeaf?: EntryPredicate;
  /** Free table frames that leave the tree (default true). */
  readonly freeTables?: boolean;
  /** Use this frame (already allocated, its entries initialised) as the root table. */
  readonly rootPfn?: number;
}

/** The entries a walk read, root first; reusable so a walk allocates nothing. */
export class WalkPath {
  /** Table PFN per level (index = level). */
  readonly table = new Float64Array(6);
  readonly index = new Int32Array(6);
  readonly lo = new Int32Array(6);
  readonly hi = new Int32Array(6);
  /** The level of the last entry read (where the walk stopped). */
  level = 0;
  /** That entry is a present leaf (its level is `level`). */
  leaf = false;
}

export interface PagingTreeStats {
  readonly rootLevel: number;
  /** Tables per level of their entries (index = level; [1] = page tables). */
  readonly tables: readonly number[];
  /** Present leaves per level. */
  readonly leaves: readonly number[];
  readonly tableCount: number;
  /** 4 KiB pages mapped by the leaves. */
  readonly mappedPages: number;
  /** Bytes of table memory: tableCount × 4096. */
  readonly bytesUsed: number;
}

const TWO27 = 134217728;
const TWO20 = 1048576;

function defaultIsTable(lo: number, level: number): boolean {
  return (lo & (SPTE_MMU_PRESENT_MASK | PT_PAGE_SIZE_MASK)) === SPTE_MMU_PRESENT_MASK && level > 1;
}

function defaultIsLeaf(lo: number, level: number): boolean {
  return (lo & SPTE_MMU_PRESENT_MASK) !== 0 && (level === 1 || (lo & PT_PAGE_SIZE_MASK) !== 0);
}

/** Index into a table at `level` from the GFN split as top = gfn / 2^27, low = gfn mod 2^27. */
function indexAt(top: number, low: number, level: number): number {
  switch (level) {
    case 1:
      return low & 511;
    case 2:
      return (low >>> 9) & 511;
    case 3:
      return low >>> 18;
    case 4:
      return top & 511;
    default:
      return (top >>> 9) & 511;
  }
}

/** `a | b` for non-negative integers below 2^53. */
export function orGfn(a: number, b: number): number {
  if (b === 0) return a;
  const ta = Math.floor(a / TWO27);
  const tb = Math.floor(b / TWO27);
  return ((ta | tb) >>> 0) * TWO27 + (((a - ta * TWO27) | (b - tb * TWO27)) >>> 0);
}

/** The first GFN of the entry at `level` that maps `gfn`. */
function alignGfn(gfn: number, level: number): number {
  const p = pagesPerHpage(level as PgLevel);
  return Math.floor(gfn / p) * p;
}

/**
 * The loop of PagingTree.zapPtDefault() when nobody listens: entries at words w..end (step
 * 2) of a page table with KVM's entry meaning; every present one (bit 11, 0x800 as a
 * literal) becomes (emptyLo, emptyHi). Returns how many. A function of its own with no call
 * inside, so the compiler keeps the store's bounds and base in registers.
 *
 * Sixteen entries (two 64-byte lines) at a time: their present bits are gathered into one
 * 16-bit mask (entry k's bit 11 moved to bit k) with no branch, and only the set bits are
 * visited (lowest first, so the writes are in entry order). A sparse table then costs about
 * one predictable branch per 16 entries plus one per present entry, where a test per entry
 * mispredicts at almost every present one (the profile of the 1 GiB zap: most of its time).
 */
function zapPresent(
  store: Int32Array,
  w: number,
  end: number,
  emptyLo: number,
  emptyHi: number,
): number {
  let n = 0;
  for (; w + 30 <= end; w += 32) {
    let m =
      (((store[w] as number) & 0x800) >>> 11) |
      (((store[w + 2] as number) & 0x800) >>> 10) |
      (((store[w + 4] as number) & 0x800) >>> 9) |
      (((store[w + 6] as number) & 0x800) >>> 8) |
      (((store[w + 8] as number) & 0x800) >>> 7) |
      (((store[w + 10] as number) & 0x800) >>> 6) |
      (((store[w + 12] as number) & 0x800) >>> 5) |
      (((store[w + 14] as number) & 0x800) >>> 4) |
      (((store[w + 16] as number) & 0x800) >>> 3) |
      (((store[w + 18] as number) & 0x800) >>> 2) |
      (((store[w + 20] as number) & 0x800) >>> 1) |
      ((store[w + 22] as number) & 0x800) |
      (((store[w + 24] as number) & 0x800) << 1) |
      (((store[w + 26] as number) & 0x800) << 2) |
      (((store[w + 28] as number) & 0x800) << 3) |
      (((store[w + 30] as number) & 0x800) << 4);
    while (m !== 0) {
      const x = (w + ((31 - Math.clz32(m & -m)) << 1)) | 0;
      store[x] = emptyLo;
      store[x + 1] = emptyHi;
      n++;
      m &= m - 1;
    }
  }
  for (; w <= end; w += 2) {
    if (((store[w] as number) & 0x800) === 0) continue;
    store[w] = emptyLo;
    store[w + 1] = emptyHi;
    n++;
  }
  return n;
}

/** Whether any entry of the table at word base `base` has bit 11 (KVM's present bit). */
function anyPresent(store: Int32Array, base: number): boolean {
  let acc = 0;
  for (let w = base, end = base + 1024; w < end; w += 2) acc |= store[w] as number;
  return (acc & 0x800) !== 0;
}

export class PagingTree {
  readonly pool: FramePool;
  readonly rootLevel: RootLevel;
  readonly name: string;
  readonly tableOwner: FrameOwner;
  readonly tag: number;
  readonly gfnBits: number;
  readonly emptyLo: number;
  readonly emptyHi: number;
  readonly nonleafLo: number;
  readonly nonleafHi: number;
  readonly freeTables: boolean;
  /** One past the highest GFN the tree can index: 2^(9·rootLevel), at most 2^40. */
  readonly gfnLimit: number;
  /** The root table's PFN. */
  readonly root: number;
  /** Word base of the root table in pool.store (its slot never changes while allocated). */
  private readonly rootBase: number;
  /** 4-level, KVM's entry meaning, no gfnBits: map() may take the unrolled 4K path. */
  private readonly fast4: boolean;
  /** Reported every entry change; null = nobody listens (nothing is allocated). */
  onChange: SpteChangeListener | null = null;
  /** Reported when a table leaves the tree. */
  onTableRemoved: TableRemovedListener | null = null;
  /** The value found by the last lookup()/readAt(), and where it sits. */
  foundLo = 0;
  foundHi = 0;
  foundIndex = 0;
  /** foundTable as the words of an entry pointing at it (ints, so the hot path stores no double). */
  private foundTableLo = 0;
  private foundTableHi = 0;
  /** PFN of the table holding the entry found last. */
  get foundTable(): number {
    return spteToPfn(this.foundTableLo, this.foundTableHi);
  }
  set foundTable(pfn: number) {
    this.foundTableLo = pfnLo(pfn);
    this.foundTableHi = pfnHi(pfn);
  }

  private readonly isTableFn: EntryPredicate | null;
  private readonly isLeafFn: EntryPredicate | null;
  private readonly tablesPerLevel = new Float64Array(6);
  private readonly leavesPerLevel = new Float64Array(6);
  private readonly baseHi: number;
  private readonly baseLo: number;
  private destroyed = false;
  /** Set by zapLeafs() when the table being unlinked is known to hold no present entry. */
  private childKnownEmpty = false;

  constructor(pool: FramePool, options: PagingTreeOptions = {}) {
    this.pool = pool;
    const rootLevel = options.rootLevel ?? PT64_ROOT_4LEVEL;
    if (rootLevel !== PT64_ROOT_4LEVEL && rootLevel !== PT64_ROOT_5LEVEL) {
      throw new RangeError(`root level must be 4 or 5: ${rootLevel}`);
    }
    this.rootLevel = rootLevel;
    this.name = options.name ?? 'tdp';
    this.tableOwner = options.tableOwner ?? FrameOwner.KVM_PAGE_TABLE;
    this.tag = options.tag ?? 0;
    this.gfnBits = options.gfnBits ?? 0;
    this.emptyLo = (options.emptyLo ?? SHADOW_NONPRESENT_VALUE_LO) | 0;
    this.emptyHi = (options.emptyHi ?? SHADOW_NONPRESENT_VALUE_HI) | 0;
    this.nonleafLo = (options.nonleafLo ?? NONLEAF_ATTRS_LO) | 0;
    this.nonleafHi = (options.nonleafHi ?? NONLEAF_ATTRS_HI) | 0;
    this.freeTables = options.freeTables ?? true;
    this.isTableFn = options.isTable ?? null;
    this.isLeafFn = options.isLeaf ?? null;
    this.gfnLimit = Math.min(2 ** (9 * rootLevel), 2 ** 40);
    if (!Number.isSafeInteger(this.gfnBits) || this.gfnBits < 0 || this.gfnBits >= this.gfnLimit) {
      throw new RangeError(`gfnBits 0x${this.gfnBits.toString(16)} outside the tree`);
    }
    if (this.gfnBits !== 0 && 2 ** Math.floor(Math.log2(this.gfnBits)) !== this.gfnBits) {
      throw new RangeError('gfnBits must be 0 or one bit (the TDX shared bit in GFN space)');
    }
    this.baseHi = Math.floor(pool.basePfn / TWO20);
    this.baseLo = pool.basePfn - this.baseHi * TWO20;
    if (options.rootPfn !== undefined) {
      if (!pool.isAllocated(options.rootPfn))
        throw new RangeError('rootPfn is not an allocated frame');
      pool.wordBase(options.rootPfn);
      this.root = options.rootPfn;
      this.countLinkedTable(options.rootPfn, rootLevel);
    } else {
      const r = this.allocTable(rootLevel);
      if (r === NO_FRAME) throw new RangeError('no frame for the root table');
      this.root = r;
    }
    this.rootBase = this.tableBase(this.root);
    this.fast4 =
      rootLevel === PT64_ROOT_4LEVEL &&
      this.gfnBits === 0 &&
      this.isTableFn === null &&
      this.isLeafFn === null;
  }

  // ---- entry meaning -----------------------------------------------------------------

  /** The tree's present-non-leaf test. */
  isTableEntry(lo: number, hi: number, level: number): boolean {
    const f = this.isTableFn;
    return f === null ? defaultIsTable(lo, level) : f(lo, hi, level);
  }

  /** The tree's present-leaf test. */
  isLeafEntry(lo: number, hi: number, level: number): boolean {
    const f = this.isLeafFn;
    return f === null ? defaultIsLeaf(lo, level) : f(lo, hi, level);
  }

  /** True when `gfn` is an integer the tree can index (with its gfnBits). */
  validGfn(gfn: number): boolean {
    return Number.isSafeInteger(gfn) && gfn >= 0 && gfn < this.gfnLimit;
  }

  /** The GFN used for indexing: gfn | gfnBits (tdp_iter's rule for direct roots). */
  indexGfn(gfn: number): number {
    return orGfn(gfn, this.gfnBits);
  }

  // ---- tables ------------------------------------------------------------------------

  /** Word index in pool.store of table `pfn`'s entry 0; 0 when it is not a table frame. */
  tableBase(pfn: number): number {
    const pool = this.pool;
    const idx = pfn - pool.basePfn;
    if (!(idx >= 0 && idx < pool.slots.length)) return 0;
    return ((pool.slots[idx] as number) | 0) * FRAME_WORDS;
  }

  /** Word base of the table a non-leaf entry points at (0 if not a frame with contents). */
  childBase(lo: number, hi: number): number {
    const dh = (hi & 0xfffff) - this.baseHi;
    const idx = (dh << 20) + ((lo >>> 12) - this.baseLo);
    const slots = this.pool.slots;
    if (dh >>> 0 >= 1024 || idx >>> 0 >= slots.length) return 0;
    return ((slots[idx] as number) | 0) * FRAME_WORDS;
  }

  /** Allocate and initialise a table for entries at `level`. */
  private allocTable(level: number): number {
    const pfn = this.pool.allocFilled(this.tableOwner, this.emptyLo, this.emptyHi, this.tag);
    if (pfn === NO_FRAME) return NO_FRAME;
    // A table always has a contents slot, even when its empty value is 0.
    if (!this.pool.hasContents(pfn)) this.pool.wordBase(pfn);
    this.tablesPerLevel[level] = (this.tablesPerLevel[level] as number) + 1;
    return pfn;
  }

  /**
   * Count a caller-supplied table frame and the leaves already in it: `leaves` when the
   * caller knows it (linkTable()'s hint), else found by a scan. A frame that holds only the
   * tree's empty value (a table just filled, as TDH.MEM.SEPT.ADD's are) is recognised by a
   * tight compare loop, without asking the entry predicates 512 times.
   */
  private countLinkedTable(pfn: number, level: number, leaves = -1): void {
    this.tablesPerLevel[level] = (this.tablesPerLevel[level] as number) + 1;
    if (leaves >= 0) {
      this.leavesPerLevel[level] = (this.leavesPerLevel[level] as number) + leaves;
      return;
    }
    const base = this.tableBase(pfn);
    const store = this.pool.store;
    const elo = this.emptyLo;
    const ehi = this.emptyHi;
    let first = 0;
    while (first < 512 && store[base + 2 * first] === elo && store[base + 2 * first + 1] === ehi) {
      first++;
    }
    if (first === 512 && !this.isLeafEntry(elo, ehi, level)) return;
    for (let i = first === 512 ? 0 : first; i < 512; i++) {
      const lo = store[base + 2 * i] as number;
      const hi = store[base + 2 * i + 1] as number;
      if (this.isLeafEntry(lo, hi, level)) {
        this.leavesPerLevel[level] = (this.leavesPerLevel[level] as number) + 1;
      }
    }
  }

  // ---- the write path ------------------------------------------------------------------

  /**
   * Write entry `index` of the table at word base `base` — the one place entries change.
   * Models kvm_tdp_mmu_write_spte() + handle_changed_spte()'s structural part.
   */
  private writeAtBase(
    base: number,
    index: number,
    gfn: number,
    level: number,
    lo: number,
    hi: number,
  ): void {
    const store = this.pool.store;
    const w = base + 2 * index;
    const oldLo = store[w] as number;
    const oldHi = store[w + 1] as number;
    store[w] = lo;
    store[w + 1] = hi;
    this.account(oldLo, oldHi, lo | 0, hi | 0, level);
    const listener = this.onChange;
    if (listener !== null) listener(this, gfn, level, oldLo, oldHi, lo | 0, hi | 0);
    // handle_changed_spte(): a present table replaced by a leaf, a non-present value or a
    // different table is removed (handle_removed_pt()).
    if (level > 1 && this.isTableEntry(oldLo, oldHi, level)) {
      const oldPfn = spteToPfn(oldLo, oldHi);
      if (!this.isTableEntry(lo, hi, level) || spteToPfn(lo, hi) !== oldPfn) {
        this.removeTable(oldPfn, level - 1, this.stripBits(gfn));
      }
    }
  }

  /** An indexed GFN without the root's gfnBits (KVM's sp->gfn is alias-free). */
  private stripBits(gfn: number): number {
    const b = this.gfnBits;
    return b !== 0 && (Math.floor(gfn / b) & 1) === 1 ? gfn - b : gfn;
  }

  private account(oldLo: number, oldHi: number, lo: number, hi: number, level: number): void {
    if (this.isLeafFn === null) {
      const d = (defaultIsLeaf(lo, level) ? 1 : 0) - (defaultIsLeaf(oldLo, level) ? 1 : 0);
      if (d !== 0) this.leavesPerLevel[level] = (this.leavesPerLevel[level] as number) + d;
    } else {
      const d =
        (this.isLeafFn(lo, hi, level) ? 1 : 0) - (this.isLeafFn(oldLo, oldHi, level) ? 1 : 0);
      if (d !== 0) this.leavesPerLevel[level] = (this.leavesPerLevel[level] as number) + d;
    }
  }

  /**
   * Models tdp_mmu.c: handle_removed_pt() for a table unlinked from the tree: every present
   * entry becomes FROZEN_SPTE and is reported (recursing into child tables); then the frame
   * is freed. With freeTables off the entries are left as they are (the owner — the TDX
   * module for the S-EPT — decides), and only the statistics forget the subtree.
   */
  private removeTable(pfn: number, level: number, baseGfn: number): void {
    const base = this.tableBase(pfn);
    if (base === 0) return;
    if (this.freeTables) {
      const scan = !this.childKnownEmpty;
      const step = scan ? pagesPerHpage(level as PgLevel) : 0;
      this.childKnownEmpty = false;
      for (let i = 0; scan && i < 512; i++) {
        const store = this.pool.store;
        const lo = store[base + 2 * i] as number;
        const hi = store[base + 2 * i + 1] as number;
        if (!this.isPresentEntry(lo, hi, level)) continue;
        this.writeAtBase(base, i, baseGfn + i * step, level, FROZEN_SPTE_LO, FROZEN_SPTE_HI);
      }
      this.tablesPerLevel[level] = (this.tablesPerLevel[level] as number) - 1;
      this.onTableRemoved?.(this, pfn, baseGfn, level, true);
      this.pool.free(pfn);
    } else {
      this.forgetSubtree(base, level);
      this.onTableRemoved?.(this, pfn, baseGfn, level, false);
    }
  }

  private forgetSubtree(base: number, level: number): void {
    const store = this.pool.store;
    for (let i = 0; i < 512; i++) {
      const lo = store[base + 2 * i] as number;
      const hi = store[base + 2 * i + 1] as number;
      if (this.isLeafEntry(lo, hi, level)) {
        this.leavesPerLevel[level] = (this.leavesPerLevel[level] as number) - 1;
      } else if (level > 1 && this.isTableEntry(lo, hi, level)) {
        const child = this.childBase(lo, hi);
        if (child !== 0) this.forgetSubtree(child, level - 1);
      }
    }
    this.tablesPerLevel[level] = (this.tablesPerLevel[level] as number) - 1;
  }

  /** A present entry: a leaf or a table (KVM: is_shadow_present_pte()). */
  isPresentEntry(lo: number, hi: number, level: number): boolean {
    if (this.isLeafFn === null && this.isTableFn === null)
      return (lo & SPTE_MMU_PRESENT_MASK) !== 0;
    return this.isLeafEntry(lo, hi, level) || (level > 1 && this.isTableEntry(lo, hi, level));
  }

  // ---- raw entry access by (table, index) ----------------------------------------------

  /** Low word of entry `index` of table `pfn`. */
  readLo(table: number, index: number): number {
    return this.pool.readLo(table, index);
  }

  /** High word of entry `index` of table `pfn`. */
  readHi(table: number, index: number): number {
    return this.pool.readHi(table, index);
  }

  /**
   * Write entry `index` of table `table` through the write path. `gfn` and `level` are what
   * the entry maps (they are reported; the caller knows them from its walk).
   */
  writeEntry(
    table: number,
    index: number,
    gfn: number,
    level: number,
    lo: number,
    hi: number,
  ): number {
    const base = this.tableBase(table);
    if (base === 0 || !(index >= 0 && index < 512)) return -EINVAL;
    this.writeAtBase(base, index | 0, gfn, level, lo | 0, hi | 0);
    return PAGING_OK;
  }

  /**
   * Atomic compare-and-exchange of one entry (try_cmpxchg64 in tdp_mmu_set_spte_atomic()):
   * fails with -EBUSY when the entry is FROZEN_SPTE or no longer (oldLo, oldHi). On failure
   * foundLo/foundHi hold the current value (KVM refreshes iter->old_spte).
   */
  cmpxchgEntry(
    table: number,
    index: number,
    gfn: number,
    level: number,
    oldLo: number,
    oldHi: number,
    newLo: number,
    newHi: number,
  ): number {
    const base = this.tableBase(table);
    if (base === 0 || !(index >= 0 && index < 512)) return -EINVAL;
    const store = this.pool.store;
    const curLo = store[base + 2 * index] as number;
    const curHi = store[base + 2 * index + 1] as number;
    this.foundLo = curLo;
    this.foundHi = curHi;
    if (curLo === FROZEN_SPTE_LO && curHi === FROZEN_SPTE_HI) return -EBUSY;
    if (curLo !== (oldLo | 0) || curHi !== (oldHi | 0)) return -EBUSY;
    this.writeAtBase(base, index, gfn, level, newLo | 0, newHi | 0);
    this.foundLo = newLo | 0;
    this.foundHi = newHi | 0;
    return PAGING_OK;
  }

  // ---- walks --------------------------------------------------------------------------

  /**
   * Walk from the root towards `gfn`, recording each entry read, and stop at the first
   * entry that is not a present table (by `isTable`, default the tree's predicate) or at
   * level 1. Returns the level where it stopped; path.leaf says whether that entry is a
   * present leaf. Returns 0 for a GFN the tree cannot index.
   */
  walk(gfn: number, path: WalkPath = new WalkPath(), isTable?: EntryPredicate): number {
    path.level = 0;
    path.leaf = false;
    if (!this.validGfn(gfn)) return 0;
    const ig = this.indexGfn(gfn);
    const top = Math.floor(ig / TWO27);
    const low = ig - top * TWO27;
    let table = this.root;
    let base = this.tableBase(table);
    for (let level = this.rootLevel as number; level >= 1; level--) {
      const index = indexAt(top, low, level);
      const store = this.pool.store;
      const lo = store[base + 2 * index] as number;
      const hi = store[base + 2 * index + 1] as number;
      path.table[level] = table;
      path.index[level] = index;
      path.lo[level] = lo;
      path.hi[level] = hi;
      path.level = level;
      const goesDown =
        level > 1 &&
        (isTable !== undefined ? isTable(lo, hi, level) : this.isTableEntry(lo, hi, level));
      if (!goesDown) {
        path.leaf = this.isLeafEntry(lo, hi, level);
        return level;
      }
      table = spteToPfn(lo, hi);
      base = this.childBase(lo, hi);
      if (base === 0) return level; // points outside the pool: a corrupt entry
    }
    return path.level;
  }

  /**
   * The translation of `gfn`: the level of the present leaf that maps it, or 0. The leaf's
   * value and position are left in foundLo/foundHi/foundTable/foundIndex. Allocation-free.
   */
  lookup(gfn: number): number {
    // Kept small so V8 inlines it (and lookup4()) into the caller's loop: a call per lookup
    // costs more instructions than the walk, and fewer instructions per lookup let the CPU
    // keep more lookups' cache misses in flight (performance.md B.2). `gfn >>> 0 === gfn`
    // takes the integers 0..2^32-1 (a 16 TiB guest) and nothing else; a caller passing an
    // int32 makes it one compare.
    if (this.fast4 === true && gfn >>> 0 === gfn) {
      const r = this.lookup4(gfn);
      if (r >= 0) return r;
    }
    return this.lookupGeneral(gfn);
  }

  /** lookup() for everything but the 4-level fast path's common cases. */
  private lookupGeneral(gfn: number): number {
    if (!(gfn >= 0 && gfn < this.gfnLimit) || !Number.isInteger(gfn)) return 0;
    const ig = this.gfnBits === 0 ? gfn : orGfn(gfn, this.gfnBits);
    const top = Math.floor(ig / TWO27);
    const low = (ig - top * TWO27) | 0;
    if (this.isTableFn === null && this.isLeafFn === null) {
      return this.lookupDefault(top, low);
    }
    const store = this.pool.store;
    let base = this.tableBase(this.root);
    let plo = 0;
    let phi = 0;
    for (let level = this.rootLevel as number; level >= 1; level--) {
      const index = indexAt(top, low, level);
      const w = base + 2 * index;
      const lo = store[w] as number;
      const hi = store[w + 1] as number;
      if (level > 1 && this.isTableEntry(lo, hi, level)) {
        base = this.childBase(lo, hi);
        if (base === 0) return 0;
        plo = lo;
        phi = hi;
        continue;
      }
      if (this.isLeafEntry(lo, hi, level)) {
        this.foundLo = lo;
        this.foundHi = hi;
        this.foundIndex = index;
        this.foundTable = level === this.rootLevel ? this.root : spteToPfn(plo, phi);
        return level;
      }
      return 0;
    }
    return 0;
  }

  /**
   * lookup() for a 4-level root with KVM's entry meaning and a GFN below 2^32: a 4K leaf
   * under three tables, or a miss, as straight-line code. Returns -1 for a huge leaf on the
   * way, which lookupGeneral() then answers. Its bytecode stays under V8's inlining limit
   * (460 bytes), so it inlines into the caller's loop with lookup().
   *
   * Each level costs what C's walk costs plus one slot load: the entry's low word decides
   * present/table (one compare; `0 - ((lo >>> 11) & 1)` is 0 for not present, -1 for a huge
   * leaf — `0 -`, not unary minus, which would give -0 for a miss); the child's frame index,
   * `pfn - basePfn` with the PFN from both words, is exact
   * (integers below 2^53) and is used without a range check: a frame index outside `slots`,
   * or a frame without contents, gives slot 0 (JS: an out-of-range typed-array read is
   * `undefined`, and `undefined << 10` is 0), the zero frame, whose entries are not present
   * — a miss, which is also the general path's answer for an entry pointing outside the
   * pool. V8 compiles the index arithmetic as int32 with overflow checks (PFNs below 2^31).
   */
  private lookup4(gfn: number): number {
    const store = this.pool.store;
    const slots = this.pool.slots;
    const bp = this.pool.basePfn;
    const low = gfn & 0x7ffffff;
    let w = (this.rootBase + ((gfn >>> 27) << 1)) | 0;
    let lo = store[w] as number;
    if ((lo & 0x880) !== 0x800) return 0 - ((lo >>> 11) & 1);
    w =
      ((slots[((store[w + 1] as number) & 0xfffff) * 1048576 + (lo >>> 12) - bp] as number) << 10) +
      ((low >>> 18) << 1);
    lo = store[w] as number;
    if ((lo & 0x880) !== 0x800) return 0 - ((lo >>> 11) & 1);
    w =
      ((slots[((store[w + 1] as number) & 0xfffff) * 1048576 + (lo >>> 12) - bp] as number) << 10) +
      (((low >>> 9) & 511) << 1);
    lo = store[w] as number;
    if ((lo & 0x880) !== 0x800) return 0 - ((lo >>> 11) & 1);
    const hi = store[w + 1] as number;
    const pt =
      ((slots[(hi & 0xfffff) * 1048576 + (lo >>> 12) - bp] as number) << 10) + ((low & 511) << 1);
    const leaf = store[pt] as number;
    if ((leaf & 0x800) === 0) return 0;
    this.foundLo = leaf;
    this.foundHi = store[pt + 1] as number;
    this.foundIndex = low & 511;
    this.foundTableLo = lo;
    this.foundTableHi = hi;
    return 1;
  }

  /** lookup() with KVM's entry meaning, everything in locals: the hot path. */
  private lookupDefault(top: number, low: number): number {
    const pool = this.pool;
    const store = pool.store;
    const slots = pool.slots;
    const nslots = slots.length;
    const bh = this.baseHi;
    const bl = this.baseLo;
    let base = this.tableBase(this.root);
    let plo = 0;
    let phi = 0;
    for (let level = this.rootLevel as number; ; level--) {
      const index =
        level >= 4 ? (top >>> ((level - 4) * 9)) & 511 : (low >>> ((level - 1) * 9)) & 511;
      const w = base + 2 * index;
      const lo = store[w] as number;
      if ((lo & SPTE_MMU_PRESENT_MASK) === 0) return 0;
      const hi = store[w + 1] as number;
      if (level === 1 || (lo & PT_PAGE_SIZE_MASK) !== 0) {
        this.foundLo = lo;
        this.foundHi = hi;
        this.foundIndex = index;
        this.foundTable = level === this.rootLevel ? this.root : spteToPfn(plo, phi);
        return level;
      }
      const dh = (hi & 0xfffff) - bh;
      const fi = (dh << 20) + ((lo >>> 12) - bl);
      if (dh >>> 0 >= 1024 || fi >>> 0 >= nslots) return 0;
      base = (slots[fi] as number) * FRAME_WORDS;
      if (base === 0) return 0;
      plo = lo;
      phi = hi;
    }
  }

  /**
   * Locate the entry at `level` for `gfn` (the table must exist). Returns PAGING_OK and
   * leaves the value in foundLo/foundHi and its table PFN / index in foundTable/foundIndex;
   * -ENOENT when the walk stops above `level`.
   */
  entryAt(gfn: number, level: PgLevel): number {
    if (!this.validGfn(gfn) || level > this.rootLevel || level < 1) return -EINVAL;
    const ig = this.indexGfn(gfn);
    const top = Math.floor(ig / TWO27);
    const low = ig - top * TWO27;
    let table = this.root;
    let base = this.tableBase(table);
    for (let l = this.rootLevel as number; ; l--) {
      const index = indexAt(top, low, l);
      const store = this.pool.store;
      const lo = store[base + 2 * index] as number;
      const hi = store[base + 2 * index + 1] as number;
      if (l === level) {
        this.foundLo = lo;
        this.foundHi = hi;
        this.foundTable = table;
        this.foundIndex = index;
        return PAGING_OK;
      }
      if (!this.isTableEntry(lo, hi, l)) return -ENOENT;
      table = spteToPfn(lo, hi);
      base = this.childBase(lo, hi);
      if (base === 0) return -EFAULT;
    }
  }

  /** Write the entry at (`gfn`, `level`) through the write path (its table must exist). */
  writeAt(gfn: number, level: PgLevel, lo: number, hi: number): number {
    const r = this.entryAt(gfn, level);
    if (r !== PAGING_OK) return r;
    return this.writeEntry(this.foundTable, this.foundIndex, alignGfn(gfn, level), level, lo, hi);
  }

  // ---- map ------------------------------------------------------------------------------

  /**
   * Map a leaf (lo, hi) at `level` (1..3: 4K, 2M, 1G) for the aligned `gfn`, allocating the
   * missing tables on the way. Like the TDP MMU fault path (kvm_tdp_mmu_map()): a huge leaf
   * above the target is zapped and replaced by a new table, a FROZEN entry on the way is
   * -EBUSY (RET_PF_RETRY), and a table at the target level is replaced (and torn down).
   * Returns PAGING_OK, -EINVAL, -EBUSY or -ENOMEM (no frame for a table).
   */
  map(gfn: number, level: number, lo: number, hi: number): number {
    // Kept small so V8 inlines it (and map4k4()) into the caller's loop; see lookup().
    if (level === 1 && this.fast4 === true && gfn >>> 0 === gfn) {
      const r = this.map4k4(gfn, lo | 0, hi | 0);
      if (r !== 1) return r;
    }
    return this.mapGeneral(gfn, level, lo, hi);
  }

  /** map() for everything the 4-level 4K fast path hands over. */
  private mapGeneral(gfn: number, level: number, lo: number, hi: number): number {
    if (!(gfn >= 0 && gfn < this.gfnLimit) || !Number.isInteger(gfn)) return -EINVAL;
    if (level !== 1 && level !== 2 && level !== PG_LEVEL_1G) return -EINVAL;
    if (level > 1 && gfn % pagesPerHpage(level as PgLevel) !== 0) return -EINVAL;
    const ig = this.gfnBits === 0 ? gfn : orGfn(gfn, this.gfnBits);
    const top = Math.floor(ig / TWO27);
    const low = (ig - top * TWO27) | 0;
    if (level === 1 && this.isTableFn === null && this.isLeafFn === null) {
      const r =
        this.fast4 && gfn < 4294967296 ? 1 : this.map4kDefault(gfn, top, low, lo | 0, hi | 0);
      if (r !== 1) return r;
    }
    const custom = this.isTableFn !== null;
    let base = this.tableBase(this.root);
    let store = this.pool.store;
    for (let l = this.rootLevel as number; l > level; l--) {
      const index = indexAt(top, low, l);
      const w = base + 2 * index;
      const elo = store[w] as number;
      const ehi = store[w + 1] as number;
      if (custom ? this.isTableEntry(elo, ehi, l) : defaultIsTable(elo, l)) {
        base = this.childBase(elo, ehi);
        if (base === 0) return -EFAULT;
        continue;
      }
      if (elo === FROZEN_SPTE_LO && ehi === FROZEN_SPTE_HI) return -EBUSY;
      const entryGfn = alignGfn(gfn, l);
      if (this.isLeafEntry(elo, ehi, l)) {
        // kvm_tdp_mmu_map(): a huge leaf in the way is zapped before a table is linked.
        this.writeAtBase(base, index, entryGfn, l, this.emptyLo, this.emptyHi);
      }
      const child = this.allocTable(l - 1);
      if (child === NO_FRAME) return -ENOMEM;
      this.writeAtBase(
        base,
        index,
        entryGfn,
        l,
        this.nonleafLo | pfnLo(child),
        this.nonleafHi | pfnHi(child),
      );
      store = this.pool.store;
      base = this.tableBase(child);
    }
    const index = indexAt(top, low, level);
    const w = base + 2 * index;
    if (store[w] === FROZEN_SPTE_LO && store[w + 1] === FROZEN_SPTE_HI) return -EBUSY;
    this.writeAtBase(base, index, gfn, level, lo | 0, hi | 0);
    return PAGING_OK;
  }

  /**
   * map4kDefault() for a 4-level root and a GFN below 2^32, straight-line like lookup4():
   * when the three tables exist, one pass and one write through the inlined write path.
   * Returns 1 to fall back (a table is missing, a huge leaf or a FROZEN entry is on the way,
   * an entry points outside the pool or at a frame without contents), -EBUSY for a FROZEN
   * leaf, else PAGING_OK. The child frame indexes are used unchecked as in lookup4(); the
   * page table must not be the zero frame (`w` below 1024: slot 0 is never written).
   */
  private map4k4(gfn: number, lo: number, hi: number): number {
    const store = this.pool.store;
    const slots = this.pool.slots;
    const bp = this.pool.basePfn;
    const low = gfn & 0x7ffffff;
    let w = (this.rootBase + ((gfn >>> 27) << 1)) | 0;
    for (let shift = 18; shift >= 0; shift -= 9) {
      const e = store[w] as number;
      if ((e & 0x880) !== 0x800) return 1;
      w =
        ((slots[((store[w + 1] as number) & 0xfffff) * 1048576 + (e >>> 12) - bp] as number) <<
          10) +
        (((low >>> shift) & 511) << 1);
    }
    if (w < 1024) return 1;
    const oldLo = store[w] as number;
    const oldHi = store[w + 1] as number;
    // FROZEN_SPTE (0x80000000000005a0) as literals.
    if (oldLo === 0x5a0 && oldHi === -0x80000000) return -EBUSY;
    // The write path, inlined for a 4K entry (no table can hang below it).
    store[w] = lo;
    store[w + 1] = hi;
    this.leavesPerLevel[1] =
      (this.leavesPerLevel[1] as number) + ((lo >>> 11) & 1) - ((oldLo >>> 11) & 1);
    const listener = this.onChange;
    if (listener !== null) listener(this, gfn, 1, oldLo, oldHi, lo, hi);
    return PAGING_OK;
  }

  /**
   * map() of a 4K leaf with KVM's entry meaning when every table on the way exists and
   * nothing on the way is FROZEN or huge: the hot path, everything in locals. Returns 1 to
   * hand over to the general path (a table is missing, or anything unusual).
   */
  private map4kDefault(gfn: number, top: number, low: number, lo: number, hi: number): number {
    const pool = this.pool;
    const store = pool.store;
    const slots = pool.slots;
    const nslots = slots.length;
    const bh = this.baseHi;
    const bl = this.baseLo;
    let base = this.tableBase(this.root);
    for (let level = this.rootLevel as number; level > 1; level--) {
      const index =
        level >= 4 ? (top >>> ((level - 4) * 9)) & 511 : (low >>> ((level - 1) * 9)) & 511;
      const w = base + 2 * index;
      const elo = store[w] as number;
      if ((elo & (SPTE_MMU_PRESENT_MASK | PT_PAGE_SIZE_MASK)) !== SPTE_MMU_PRESENT_MASK) return 1;
      const ehi = store[w + 1] as number;
      const dh = (ehi & 0xfffff) - bh;
      const fi = (dh << 20) + ((elo >>> 12) - bl);
      if (dh >>> 0 >= 1024 || fi >>> 0 >= nslots) return 1;
      base = (slots[fi] as number) * FRAME_WORDS;
      if (base === 0) return 1;
    }
    const w = base + 2 * (low & 511);
    const oldLo = store[w] as number;
    const oldHi = store[w + 1] as number;
    if (oldLo === FROZEN_SPTE_LO && oldHi === FROZEN_SPTE_HI) return -EBUSY;
    // The write path, inlined for a 4K entry (no table can hang below it).
    store[w] = lo;
    store[w + 1] = hi;
    const d = ((lo >>> 11) & 1) - ((oldLo >>> 11) & 1);
    if (d !== 0) this.leavesPerLevel[1] = (this.leavesPerLevel[1] as number) + d;
    const listener = this.onChange;
    if (listener !== null) listener(this, gfn, 1, oldLo, oldHi, lo, hi);
    return PAGING_OK;
  }

  /**
   * Link a caller-supplied frame as the table for entries at `level` covering `gfn`: the
   * parent entry at level + 1 becomes (lo, hi) — by default make_nonleaf_spte() of the
   * frame. The frame's entries are taken as they are (initialise them first). Models the
   * link step of tdp_mmu_link_sp() and of the module's TDH.MEM.SEPT.ADD. Returns
   * PAGING_OK, -ENOENT (a higher table is missing), -EEXIST (a table is already there),
   * -EBUSY (the parent entry is FROZEN) or -EINVAL.
   *
   * `leaves`: how many entries of the frame are present leaves, when the caller knows (0 for
   * a table it has just filled with the empty value); the tree then skips counting them. A
   * frame holding only the empty value is also recognised cheaply without the hint.
   */
  linkTable(
    gfn: number,
    level: PgLevel,
    tablePfn: number,
    lo?: number,
    hi?: number,
    leaves?: number,
  ): number {
    if (level < 1 || level >= this.rootLevel || !this.validGfn(gfn)) return -EINVAL;
    if (!this.pool.isAllocated(tablePfn) || tablePfn === this.root) return -EINVAL;
    if (leaves !== undefined && !(Number.isInteger(leaves) && leaves >= 0 && leaves <= 512)) {
      return -EINVAL;
    }
    const parent = (level + 1) as PgLevel;
    const r = this.entryAt(gfn, parent);
    if (r !== PAGING_OK) return r;
    const plo = this.foundLo;
    const phi = this.foundHi;
    if (plo === FROZEN_SPTE_LO && phi === FROZEN_SPTE_HI) return -EBUSY;
    if (this.isTableEntry(plo, phi, parent)) return -EEXIST;
    const table = this.foundTable;
    const index = this.foundIndex;
    this.pool.wordBase(tablePfn); // give it a slot (reads as zeros if never written)
    this.countLinkedTable(tablePfn, level, leaves ?? -1);
    const nlo = lo ?? this.nonleafLo | pfnLo(tablePfn);
    const nhi = hi ?? this.nonleafHi | pfnHi(tablePfn);
    return this.writeEntry(table, index, alignGfn(gfn, parent), parent, nlo, nhi);
  }

  // ---- zap -----------------------------------------------------------------------------

  /**
   * Zap every present leaf in [start, end) to the empty value, from 4K up (models
   * tdp_mmu_zap_leafs(): tables are kept). With freeEmptyTables, tables left with no present
   * entry are then unlinked and freed, bottom-up (never the root). Leaves only partly inside
   * the range are zapped too, as KVM does (the huge leaf covering `start` is visited).
   * Returns the number of leaves zapped.
   */
  zapLeafs(start: number, end: number, freeEmptyTables = false): number {
    // The direct root indexes gfn | gfnBits: walk the aliased range, report alias-free GFNs.
    const off = this.gfnBits;
    const limit = off === 0 ? this.gfnLimit : off;
    const s = Math.max(0, Math.floor(start)) + off;
    const e = Math.min(limit, Math.ceil(end)) + off;
    if (!(s < e)) return 0;
    let zapped = 0;
    const defaults = this.isTableFn === null && this.isLeafFn === null;
    // With KVM's entry meaning and a non-present empty value, a page table holds only
    // leaves and empties: zapPtDefault() handles it in one tight loop.
    const fastPt = defaults && (this.emptyLo & SPTE_MMU_PRESENT_MASK) === 0;
    const zapTable = (base: number, level: number, tableGfn: number): boolean => {
      const step = pagesPerHpage(level as PgLevel);
      const first = Math.max(0, Math.floor((s - tableGfn) / step));
      const last = Math.min(511, Math.floor((e - 1 - tableGfn) / step));
      if (level === 1 && fastPt) {
        zapped += this.zapPtDefault(base, first, last, tableGfn - off);
        // Empty when the whole table was zapped, or when nothing present is left in it.
        if (!freeEmptyTables) return false;
        return (first === 0 && last === 511) || !anyPresent(this.pool.store, base);
      }
      // Does a present entry remain in the visited part? (Only tracked for default entries.)
      let kept = false;
      if (level === 2 && fastPt) {
        // A page directory over zapPtDefault() tables: the loop below with its level-1
        // recursion unrolled (no closure call, no divisions per page table). Same visits,
        // writes and reports in the same order.
        // Nobody listens and emptied tables are freed: unlinkEmptyPt() does what the write
        // path does for such an entry.
        const quiet = this.onChange === null && this.freeTables;
        for (let i = first; i <= last; i++) {
          const store = this.pool.store;
          const lo = store[base + 2 * i] as number;
          if ((lo & 0x800) === 0) continue;
          const g = tableGfn + i * 512;
          if ((lo & 0x80) !== 0) {
            this.writeAtBase(base, i, g - off, 2, this.emptyLo, this.emptyHi); // a 2M leaf
            zapped++;
            continue;
          }
          const child = this.childBase(lo, store[base + 2 * i + 1] as number);
          if (child === 0) {
            kept = true;
            continue;
          }
          const f1 = Math.max(0, s - g);
          const l1 = Math.min(511, e - 1 - g);
          zapped += this.zapPtDefault(child, f1, l1, g - off);
          if (
            freeEmptyTables &&
            ((f1 === 0 && l1 === 511) || !anyPresent(this.pool.store, child))
          ) {
            if (quiet) this.unlinkEmptyPt(base + 2 * i, g - off);
            else {
              this.childKnownEmpty = true; // removeTable() need not look for present entries
              this.writeAtBase(base, i, g - off, 2, this.emptyLo, this.emptyHi);
              this.childKnownEmpty = false;
            }
          } else kept = true;
        }
      } else
        for (let i = first; i <= last; i++) {
          const store = this.pool.store;
          const w = base + 2 * i;
          const lo = store[w] as number;
          const hi = store[w + 1] as number;
          if (defaults ? defaultIsTable(lo, level) : this.isTableEntry(lo, hi, level)) {
            const child = this.childBase(lo, hi);
            if (child === 0) {
              kept = true;
              continue;
            }
            const empty = zapTable(child, level - 1, tableGfn + i * step);
            if (empty && freeEmptyTables) {
              this.childKnownEmpty = true; // removeTable() need not look for present entries
              this.writeAtBase(
                base,
                i,
                tableGfn + i * step - off,
                level,
                this.emptyLo,
                this.emptyHi,
              );
              this.childKnownEmpty = false;
            } else kept = true;
          } else if (defaults ? defaultIsLeaf(lo, level) : this.isLeafEntry(lo, hi, level)) {
            this.writeAtBase(base, i, tableGfn + i * step - off, level, this.emptyLo, this.emptyHi);
            zapped++;
          } else if (defaults && (lo & SPTE_MMU_PRESENT_MASK) !== 0) {
            kept = true;
          }
        }
      if (!freeEmptyTables || kept) return false;
      // The whole table was visited with default entry meaning: nothing present is left.
      if (defaults && first === 0 && last === 511) return true;
      const store = this.pool.store;
      for (let i = 0; i < 512; i++) {
        if (
          this.isPresentEntry(
            store[base + 2 * i] as number,
            store[base + 2 * i + 1] as number,
            level,
          )
        ) {
          return false;
        }
      }
      return true;
    };
    zapTable(this.tableBase(this.root), this.rootLevel, 0);
    return zapped;
  }

  /**
   * writeAtBase() of the empty value over the page-directory entry at word `w`, which points
   * at a page table holding no present entry, for a tree with KVM's entry meaning, nobody
   * listening and freeTables: the same effects in the same order — the entry written (no
   * leaf count changes: neither a table entry nor the non-present empty value is a leaf),
   * then handle_removed_pt()'s part (table count, onTableRemoved, the frame freed) — without
   * the generic tests. `gfn` is alias-free (stripBits() would return it unchanged).
   */
  private unlinkEmptyPt(w: number, gfn: number): void {
    const store = this.pool.store;
    const oldLo = store[w] as number;
    const oldHi = store[w + 1] as number;
    store[w] = this.emptyLo;
    store[w + 1] = this.emptyHi;
    const pfn = spteToPfn(oldLo, oldHi);
    this.tablesPerLevel[1] = (this.tablesPerLevel[1] as number) - 1;
    this.onTableRemoved?.(this, pfn, gfn, 1, true);
    this.pool.free(pfn);
  }

  /**
   * Zap the present 4K leaves in entries first..last of a page table: the write path
   * (writeAtBase()) inlined for level 1, where every present entry is a leaf and no table
   * hangs below — same effects: the value, the leaf count, the report. Returns the count.
   */
  private zapPtDefault(base: number, first: number, last: number, gfn0: number): number {
    const store = this.pool.store;
    const emptyLo = this.emptyLo | 0;
    const emptyHi = this.emptyHi | 0;
    const listener = this.onChange;
    let n: number;
    if (listener === null) {
      n = zapPresent(store, base + 2 * first, base + 2 * last, emptyLo, emptyHi);
    } else {
      n = 0;
      for (let w = base + 2 * first, end = base + 2 * last; w <= end; w += 2) {
        const lo = store[w] as number;
        if ((lo & 0x800) === 0) continue;
        const hi = store[w + 1] as number;
        store[w] = emptyLo;
        store[w + 1] = emptyHi;
        n++;
        listener(this, gfn0 + ((w - base) >>> 1), 1, lo, hi, emptyLo, emptyHi);
      }
    }
    this.leavesPerLevel[1] = (this.leavesPerLevel[1] as number) - n;
    return n;
  }

  /**
   * Models tdp_mmu_zap_root(): every root entry becomes the empty value; tables below are
   * torn down through the write path (children reported as FROZEN_SPTE, frames freed). The
   * root table stays (KVM frees it when its last reference goes: see destroy()). As in
   * KVM (for_each_tdp_pte_min_level_all passes gfn_bits 0), the root entries are reported
   * with the GFN their index gives, which includes a direct root's gfnBits.
   */
  zapRoot(): void {
    const base = this.tableBase(this.root);
    const step = pagesPerHpage(this.rootLevel);
    for (let i = 0; i < 512; i++) {
      const store = this.pool.store;
      const lo = store[base + 2 * i] as number;
      const hi = store[base + 2 * i + 1] as number;
      if (!this.isPresentEntry(lo, hi, this.rootLevel)) continue;
      this.writeAtBase(base, i, i * step, this.rootLevel, this.emptyLo, this.emptyHi);
    }
  }

  /** zapRoot(), then free the root frame. The tree must not be used afterwards. */
  destroy(): void {
    if (this.destroyed) return;
    this.zapRoot();
    this.destroyed = true;
    this.tablesPerLevel[this.rootLevel] = (this.tablesPerLevel[this.rootLevel] as number) - 1;
    this.onTableRemoved?.(this, this.root, 0, this.rootLevel, this.freeTables);
    if (this.freeTables) this.pool.free(this.root);
  }

  // ---- split and merge -------------------------------------------------------------------

  /**
   * Split the huge leaf at `level` (2 or 3) that maps `gfn` into a new table of 512 leaves
   * one level down (models tdp_mmu_split_huge_page(): the child table is filled with
   * make_small_spte() before it is linked, so only the parent change is reported).
   * Returns PAGING_OK, -ENOENT (no huge leaf there), -ENOMEM or -EBUSY.
   */
  splitHuge(gfn: number, level: PgLevel): number {
    if (level !== 2 && level !== 3) return -EINVAL;
    const r = this.entryAt(gfn, level);
    if (r !== PAGING_OK) return r;
    const hugeLo = this.foundLo;
    const hugeHi = this.foundHi;
    const table = this.foundTable;
    const index = this.foundIndex;
    if (hugeLo === FROZEN_SPTE_LO && hugeHi === FROZEN_SPTE_HI) return -EBUSY;
    if (!this.isLeafEntry(hugeLo, hugeHi, level)) return -ENOENT;
    const child = this.allocTable(level - 1);
    if (child === NO_FRAME) return -ENOMEM;
    const base = this.tableBase(child);
    const store = this.pool.store;
    const childLevel = (level - 1) as PgLevel;
    for (let i = 0; i < 512; i++) {
      const s = makeSmallSpte(hugeLo, hugeHi, childLevel, i);
      store[base + 2 * i] = s.lo | 0;
      store[base + 2 * i + 1] = s.hi | 0;
    }
    this.leavesPerLevel[childLevel] = (this.leavesPerLevel[childLevel] as number) + 512;
    return this.writeEntry(
      table,
      index,
      alignGfn(gfn, level),
      level,
      this.nonleafLo | pfnLo(child),
      this.nonleafHi | pfnHi(child),
    );
  }

  /**
   * Merge the table under the entry at `level` (2 or 3) that maps `gfn` back into one huge
   * leaf, when its 512 entries are present leaves mapping contiguous, aligned PFNs with the
   * same attributes (what recover_huge_pages_range() installs: make_huge_spte() of child 0).
   * The table is torn down through the write path. Returns PAGING_OK, -ENOENT (no table
   * there) or -EINVAL (not mergeable).
   */
  mergeHuge(gfn: number, level: PgLevel): number {
    if (level !== 2 && level !== 3) return -EINVAL;
    const r = this.entryAt(gfn, level);
    if (r !== PAGING_OK) return r;
    const plo = this.foundLo;
    const phi = this.foundHi;
    if (!this.isTableEntry(plo, phi, level)) return -ENOENT;
    const table = this.foundTable;
    const index = this.foundIndex;
    const base = this.childBase(plo, phi);
    if (base === 0) return -EFAULT;
    const store = this.pool.store;
    const childLevel = (level - 1) as PgLevel;
    const lo0 = store[base] as number;
    const hi0 = store[base + 1] as number;
    if (!this.isLeafEntry(lo0, hi0, childLevel)) return -EINVAL;
    const huge = makeHugeSpte(lo0, hi0, level);
    if (spteToPfn(huge.lo, huge.hi) !== spteToPfn(lo0, hi0)) return -EINVAL; // not aligned
    for (let i = 0; i < 512; i++) {
      const want = makeSmallSpte(huge.lo, huge.hi, childLevel, i);
      if (store[base + 2 * i] !== (want.lo | 0) || store[base + 2 * i + 1] !== (want.hi | 0)) {
        return -EINVAL;
      }
    }
    return this.writeEntry(table, index, alignGfn(gfn, level), level, huge.lo, huge.hi);
  }

  // ---- statistics ------------------------------------------------------------------------

  stats(): PagingTreeStats {
    const tables: number[] = [];
    const leaves: number[] = [];
    let tableCount = 0;
    let mappedPages = 0;
    for (let l = 0; l <= 5; l++) {
      const t = this.tablesPerLevel[l] as number;
      const n = this.leavesPerLevel[l] as number;
      tables.push(t);
      leaves.push(n);
      tableCount += t;
      if (l >= 1) mappedPages += n * pagesPerHpage(l as PgLevel);
    }
    return {
      rootLevel: this.rootLevel,
      tables,
      leaves,
      tableCount,
      mappedPages,
      bytesUsed: tableCount * 4096,
    };
  }

  /** Present leaves at `level` (no object built). */
  leafCount(level: number): number {
    return (this.leavesPerLevel[level] as number) ?? 0;
  }

  /** Tables whose entries are at `level`. */
  tableCount(level: number): number {
    return (this.tablesPerLevel[level] as number) ?? 0;
  }
}
