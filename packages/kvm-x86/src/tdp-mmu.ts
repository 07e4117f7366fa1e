// The TDP MMU: a direct root, plus a mirror root for TDX whose changes are propagated to the
// TDX module's Secure-EPT through the external hooks.
// Source: arch/x86/kvm/mmu/tdp_mmu.c, tdp_iter.h, tdp_mmu.h, mmu_internal.h (Linux 6.17-rc,
// [K1]/[H] in kvm-mmu.md); kvm-mmu.md §1.2–§1.10.
//
// Each root is a @kvmx/paging PagingTree: its tables are frames of the pool, its entries go
// through the tree's one write path (writeEntry / cmpxchgEntry), and a replaced table is torn
// down by the tree the way handle_removed_pt() does it (children FROZEN, then the frame
// freed). This file adds what is KVM's on top: the root choice, kvm_tdp_mmu_map() with
// set_external_spte_present() (freeze, hook, final value) for mirror roots, and
// handle_changed_spte()'s reactions, run from the tree's change listener — the BUG on a
// leaf changing PFN, remove_external_spte() for mirror leaves, free_external_spt() when a
// mirror table leaves. A shadow page's metadata (level, mirror role, base GFN, external_spt)
// is one small object per table, never per entry. GFNs are alias-free everywhere; a direct
// root's gfn bits are added only when the tree computes a table index.
//
// The model is single-threaded; the lock discipline is kept as a rule each path asserts
// (mirror leaves are installed only through the atomic path, removed only through the
// non-atomic one), and the atomic path still compares the expected old value.

import { hex, type PgLevel, pagesPerHpage, testBit, word64Hex } from '@kvmx/address';
import {
  FROZEN_SPTE_HI,
  FROZEN_SPTE_LO,
  FrameOwner,
  type FramePool,
  isFrozenSpte,
  isLastSpte,
  isShadowPresentPte,
  makeNonleafSpte,
  NO_FRAME,
  PagingTree,
  SHADOW_NONPRESENT_VALUE_HI,
  SHADOW_NONPRESENT_VALUE_LO,
  spteToPfn,
  WalkPath,
} from '@kvmx/paging';
import { EBUSY, EIO, ENOMEM, type KvmInjectionName, type KvmX86Ops } from '@kvmx/vendor-ops';
import type { EventBus } from './events.js';
import { ShadowPages } from './shadow-pages.js';

// enum kvm_tdp_mmu_root_types (tdp_mmu.h)
export const KVM_INVALID_ROOTS = 1 << 0;
export const KVM_DIRECT_ROOTS = 1 << 1;
export const KVM_MIRROR_ROOTS = 1 << 2;
export const KVM_VALID_ROOTS = KVM_DIRECT_ROOTS | KVM_MIRROR_ROOTS;
export const KVM_ALL_ROOTS = KVM_VALID_ROOTS | KVM_INVALID_ROOTS;
// enum kvm_gfn_range_filter (kvm_host.h)
export const KVM_FILTER_SHARED = 1 << 0;
export const KVM_FILTER_PRIVATE = 1 << 1;

// RET_PF_* (mmu_internal.h)
export const RET_PF_CONTINUE = 0;
export const RET_PF_RETRY = 1;
export const RET_PF_EMULATE = 2;
export const RET_PF_WRITE_PROTECTED = 3;
export const RET_PF_INVALID = 4;
export const RET_PF_FIXED = 5;
export const RET_PF_SPURIOUS = 6;
export const RET_PF_NAMES = [
  'RET_PF_CONTINUE',
  'RET_PF_RETRY',
  'RET_PF_EMULATE',
  'RET_PF_WRITE_PROTECTED',
  'RET_PF_INVALID',
  'RET_PF_FIXED',
  'RET_PF_SPURIOUS',
] as const;

/** struct kvm_mmu_page, the parts the TDP MMU uses. */
export interface ShadowPage {
  /** PFN of the table (sp->spt). */
  readonly spt: number;
  /** role.level: the level of the entries in this table. */
  readonly level: PgLevel;
  /** role.is_mirror. */
  readonly isMirror: boolean;
  /** sp->gfn: first (alias-free) GFN the table maps. */
  readonly baseGfn: number;
  /** sp->external_spt: the page handed to the TDX module (mirror non-roots), or NO_FRAME. */
  externalSpt: number;
  /** role.invalid. */
  invalid: boolean;
}

/** A ShadowPage whose identity fields map() rewrites as it descends (its tdp_iter). */
interface WalkTable {
  spt: number;
  level: PgLevel;
  isMirror: boolean;
  baseGfn: number;
  externalSpt: number;
  invalid: boolean;
}

/** What a fault asks kvm_tdp_mmu_map() to install. */
export interface TdpFault {
  /** Alias-free GFN. */
  readonly gfn: number;
  /** Map through the mirror root (the fault GPA is not direct). */
  readonly mirror: boolean;
  readonly goalLevel: PgLevel;
  /** The leaf value's attribute words (make_spte() minus the PFN), or an MMIO SPTE. */
  readonly leafLo: number;
  readonly leafHi: number;
  /** True when the leaf is an MMIO SPTE (no slot). */
  readonly mmio: boolean;
  /** Write access (is_access_allowed() for spurious detection). */
  readonly write: boolean;
  readonly prefetch: boolean;
}

export interface TdpMmuOptions {
  readonly pool: FramePool;
  readonly ops: KvmX86Ops;
  readonly events: EventBus;
  readonly rootLevel: 4 | 5;
  /** kvm_has_mirrored_tdp(): a TDX VM. */
  readonly mirrored: boolean;
  /** KVM_BUG_ON(): mark the VM bugged with a message. */
  readonly bug: (message: string) => void;
  /** Injected KVM bugs switched on for this VM (see @kvmx/vendor-ops injections.ts). */
  readonly injected?: ReadonlySet<KvmInjectionName>;
}

export class TdpMmu {
  readonly pool: FramePool;
  readonly ops: KvmX86Ops;
  readonly events: EventBus;
  readonly rootLevel: 4 | 5;
  readonly mirrored: boolean;
  directRoot: ShadowPage | null = null;
  mirrorRoot: ShadowPage | null = null;
  /** The paging trees behind the roots. */
  directTree: PagingTree | null = null;
  mirrorTree: PagingTree | null = null;
  /** Every live shadow page, by table PFN (sptep_to_sp()). */
  readonly sps: ShadowPages;
  /** External pages whose free_external_spt failed: leaked, never touched again. */
  readonly leakedExternal: number[] = [];
  private readonly bug: (message: string) => void;
  /** Injection mirror-zap-atomic: mirror leaves are zapped without remove_external_spte(). */
  private readonly zapMirrorAtomic: boolean;
  /** True while an atomic (read mmu_lock) write is in progress (handle_changed_spte's `shared`). */
  private shared = false;
  private readonly path = new WalkPath();
  /**
   * map()'s tdp_iter: the table the walk is in, with the fields of a ShadowPage (the same
   * shape as register()'s objects, so the writes it is passed to stay monomorphic).
   */
  private readonly iter: WalkTable = {
    spt: NO_FRAME,
    level: 1,
    isMirror: false,
    baseGfn: 0,
    externalSpt: NO_FRAME,
    invalid: false,
  };

  constructor(options: TdpMmuOptions) {
    this.pool = options.pool;
    this.sps = new ShadowPages(options.pool.basePfn);
    this.ops = options.ops;
    this.events = options.events;
    this.rootLevel = options.rootLevel;
    this.mirrored = options.mirrored;
    this.bug = options.bug;
    this.zapMirrorAtomic = options.injected?.has('mirror-zap-atomic') === true;
  }

  // ---- roots ---------------------------------------------------------------------------

  /**
   * models mmu.c: mmu_alloc_direct_roots() — the mirror root first (only if not valid yet),
   * then the direct root. Returns -ENOMEM when the pool is exhausted.
   */
  allocRoots(): number {
    if (this.mirrored && this.mirrorRoot === null) {
      const tree = this.newTree(true);
      if (tree === null) return -ENOMEM;
      this.mirrorTree = tree;
      this.mirrorRoot = this.register(tree.root, this.rootLevel, true, 0, NO_FRAME);
    }
    if (this.directRoot === null) {
      const tree = this.newTree(false);
      if (tree === null) return -ENOMEM;
      this.directTree = tree;
      this.directRoot = this.register(tree.root, this.rootLevel, false, 0, NO_FRAME);
    }
    return 0;
  }

  /** kvm_tdp_mmu_alloc_root(): a tree whose changes reach handle_changed_spte(). */
  private newTree(mirror: boolean): PagingTree | null {
    if (this.pool.allocated >= this.pool.maxFrames) return null;
    const tree = new PagingTree(this.pool, {
      rootLevel: this.rootLevel,
      name: mirror ? 'mirror' : 'direct',
      gfnBits: mirror ? 0 : this.ops.arch.gfnDirectBits,
    });
    tree.onChange = (_t, gfn, level, oldLo, oldHi, newLo, newHi) => {
      if (!this.changeDeferred) {
        this.handleChangedSpte(mirror, gfn, level as PgLevel, oldLo, oldHi, newLo, newHi);
      }
    };
    tree.onTableRemoved = (_t, pfn, gfn, level) => this.handleRemovedPt(pfn, gfn, level);
    return tree;
  }

  /** kvm_gfn_root_bits(kvm, root): the direct bits for a direct root, 0 for a mirror. */
  rootBits(root: ShadowPage): number {
    return root.isMirror ? 0 : this.ops.arch.gfnDirectBits;
  }

  /** The tree a shadow page belongs to. */
  treeOf(sp: ShadowPage): PagingTree {
    const tree = sp.isMirror ? this.mirrorTree : this.directTree;
    if (tree === null) throw new Error('shadow page of a root that is gone');
    return tree;
  }

  /** The valid roots matching `types` (tdp_mmu_root_match()). */
  roots(types: number): ShadowPage[] {
    const out: ShadowPage[] = [];
    for (const root of [this.mirrorRoot, this.directRoot]) {
      if (root === null) continue;
      if (root.invalid && (types & KVM_INVALID_ROOTS) === 0) continue;
      if (root.isMirror ? (types & KVM_MIRROR_ROOTS) !== 0 : (types & KVM_DIRECT_ROOTS) !== 0) {
        out.push(root);
      }
    }
    return out;
  }

  /** kvm_gfn_range_filter_to_root_types(). */
  filterToRootTypes(filter: number): number {
    if (!this.mirrored) return KVM_DIRECT_ROOTS;
    let types = 0;
    if ((filter & KVM_FILTER_PRIVATE) !== 0) types |= KVM_MIRROR_ROOTS;
    if ((filter & KVM_FILTER_SHARED) !== 0) types |= KVM_DIRECT_ROOTS;
    if (types === 0) this.bug('kvm_gfn_range_filter_to_root_types: empty filter');
    return types;
  }

  /** Present leaves per level over both roots (kvm->stat.pages[level]). */
  get leafCount(): readonly number[] {
    const out = [0, 0, 0, 0, 0, 0];
    for (const t of [this.directTree, this.mirrorTree]) {
      if (t === null) continue;
      for (let l = 1; l <= 5; l++) out[l] = (out[l] as number) + t.leafCount(l);
    }
    return out;
  }

  // ---- entries -------------------------------------------------------------------------

  /** Table index of an alias-free GFN at `level` under a root with `gfnBits`. */
  index(gfn: number, gfnBits: number, level: PgLevel): number {
    const g = gfnBits === 0 ? gfn : gfn + gfnBits;
    // Levels 1-3 read bits 26:0: `& 0x7ffffff` is exact for any integer below 2^53 (ToInt32
    // is modular), so no float division there (performance.md B.6).
    if (level <= 3) return ((g & 0x7ffffff) >>> (9 * (level - 1))) & 511;
    // gfnIndex() with the level's divisor from a table (no Math.pow on the fault path).
    return Math.floor(g / (LEVEL_PAGES[level] as number)) & 511;
  }

  lo(sp: ShadowPage, index: number): number {
    return this.pool.readLo(sp.spt, index);
  }

  hi(sp: ShadowPage, index: number): number {
    return this.pool.readHi(sp.spt, index);
  }

  /**
   * Walk `root` for `gfn` (alias-free) down to the leaf or the first non-present entry
   * (PagingTree.walk). Returns the deepest entry found: its table, index and level.
   */
  walk(root: ShadowPage, gfn: number): { sp: ShadowPage; index: number; level: PgLevel } {
    const path = this.path;
    const level = this.treeOf(root).walk(gfn, path) as PgLevel;
    const table = path.table[level] as number;
    const sp = this.sps.get(table) ?? root;
    return { sp, index: path.index[level] as number, level };
  }

  /** The present leaf mapping `gfn` in `root`, or null (PagingTree.lookup). */
  lookup(
    root: ShadowPage,
    gfn: number,
  ): { pfn: number; level: PgLevel; lo: number; hi: number } | null {
    const tree = this.treeOf(root);
    const level = tree.lookup(gfn) as PgLevel | 0;
    if (level === 0) return null;
    const lo = tree.foundLo;
    const hi = tree.foundHi;
    const offset = gfn % pagesPerHpage(level);
    return { pfn: spteToPfn(lo, hi) + offset, level, lo, hi };
  }

  // ---- kvm_tdp_mmu_map -----------------------------------------------------------------

  /**
   * models tdp_mmu.c: kvm_tdp_mmu_map() (read mmu_lock). Walks the root chosen by the fault,
   * links missing tables (a mirror link calls link_external_spt), splits a huge leaf above
   * the goal level on the direct root (KVM_BUG on a mirror), and installs the leaf through
   * the atomic path.
   */
  map(fault: TdpFault): number {
    const root = fault.mirror ? this.mirrorRoot : this.directRoot;
    if (root === null || root.invalid) return RET_PF_RETRY;
    const bits = this.rootBits(root);
    // Entries are read in place (PagingTree.tableBase): one slot lookup per level.
    const tree = this.treeOf(root);
    const gfn = fault.gfn;
    // Like tdp_iter's try_step_down(), the walk descends through the entries themselves
    // (spte_to_child_pt(): the table below a present non-leaf entry is the PFN it holds, one
    // level down, mapping the entry's GFN range); KVM trusts the SPTE there and so does the
    // model. `sp` is the root, a shadow page just linked, or `iter` describing the table the
    // walk is in: no sptep_to_sp() per level, every field the writes use is known.
    const iter = this.iter;
    let sp = root;
    for (;;) {
      const level = sp.level;
      const i = this.index(gfn, bits, level);
      const w = tree.tableBase(sp.spt) + 2 * i;
      const store = this.pool.store;
      const lo = store[w] as number;
      const hi = store[w + 1] as number;
      if (isFrozenSpte(lo, hi)) return RET_PF_RETRY;
      if (level === fault.goalLevel) return this.mapHandleTargetLevel(fault, sp, i, lo, hi);
      const pages = LEVEL_PAGES[level] as number;
      const childBase = Math.floor(gfn / pages) * pages; // not `%`: fprem on doubles
      if (isShadowPresentPte(lo) && !isLastSpte(lo, level)) {
        iter.spt = spteToPfn(lo, hi);
        iter.level = (level - 1) as PgLevel;
        iter.isMirror = root.isMirror;
        iter.baseGfn = childBase;
        sp = iter;
        continue;
      }
      // Non-present, or a huge leaf that must be split to reach the goal level.
      const childLevel = (level - 1) as PgLevel;
      if (isShadowPresentPte(lo)) {
        if (root.isMirror) {
          this.bug("kvm_tdp_mmu_map: don't support large page for mirrored roots (TDX)");
          return -EIO;
        }
        const r = this.splitHugePage(sp, level, childBase);
        if (r !== 0) return r === -EBUSY ? RET_PF_RETRY : r;
        const next = this.sps.get(spteToPfn(this.lo(sp, i), this.hi(sp, i)));
        if (next === undefined) return RET_PF_RETRY;
        sp = next;
      } else {
        const child = this.allocSp(childLevel, root.isMirror, childBase);
        if (child === null) return -ENOMEM;
        const r = this.linkSp(sp, i, lo, hi, child);
        if (r !== 0) {
          this.freeSp(child);
          return r === -EBUSY ? RET_PF_RETRY : r;
        }
        sp = child;
      }
    }
  }

  /** models tdp_mmu.c: tdp_mmu_map_handle_target_level(). */
  private mapHandleTargetLevel(
    fault: TdpFault,
    sp: ShadowPage,
    i: number,
    lo: number,
    hi: number,
  ): number {
    const present = isShadowPresentPte(lo);
    if (fault.prefetch && present) return RET_PF_SPURIOUS;
    if (present && isLastSpte(lo, sp.level) && (!fault.write || (lo & 0x2) !== 0)) {
      return RET_PF_SPURIOUS;
    }
    const newLo = fault.leafLo | 0;
    const newHi = fault.leafHi | 0;
    if (newLo === lo && newHi === (hi | 0)) return RET_PF_SPURIOUS;
    const r = this.setSpteAtomic(sp, i, lo, hi, newLo, newHi);
    if (r !== 0) return r === -EBUSY ? RET_PF_RETRY : r;
    return fault.mmio ? RET_PF_EMULATE : RET_PF_FIXED;
  }

  /** tdp_mmu_link_sp(): point the entry at a new child table (atomic). */
  private linkSp(sp: ShadowPage, i: number, lo: number, hi: number, child: ShadowPage): number {
    const w = makeNonleafSpte(child.spt);
    return this.setSpteAtomic(sp, i, lo, hi, w.lo | 0, w.hi | 0, child);
  }

  /**
   * tdp_mmu_split_huge_page(): a new table holding the huge leaf's 512 small pieces replaces
   * the leaf (PagingTree.splitHuge); direct roots only.
   */
  private splitHugePage(sp: ShadowPage, level: PgLevel, gfn: number): number {
    const tree = this.treeOf(sp);
    const r = tree.splitHuge(gfn, level);
    if (r !== 0) return r;
    if (tree.entryAt(gfn, level) !== 0) return -EIO;
    const table = spteToPfn(tree.foundLo, tree.foundHi);
    this.register(table, (level - 1) as PgLevel, false, gfn, NO_FRAME);
    return 0;
  }

  // ---- SPTE writes -----------------------------------------------------------------------

  /**
   * models tdp_mmu.c: tdp_mmu_set_spte_atomic() / __tdp_mmu_set_spte_atomic() (read
   * mmu_lock). On a mirror table a present value goes through set_external_spte_present():
   * freeze, call the hook, then write the final value or restore the old one. `child` is the
   * shadow page a non-leaf value links (its table is counted by the tree).
   */
  setSpteAtomic(
    sp: ShadowPage,
    i: number,
    oldLo: number,
    oldHi: number,
    newLo: number,
    newHi: number,
    child?: ShadowPage,
  ): number {
    if (isFrozenSpte(oldLo, oldHi)) {
      this.bug('__tdp_mmu_set_spte_atomic: old SPTE is FROZEN');
      return -EBUSY;
    }
    const gfn = this.entryGfn(sp, i);
    this.shared = true;
    try {
      if (sp.isMirror && !isFrozenSpte(newLo, newHi)) {
        if (!isShadowPresentPte(newLo)) {
          this.bug('atomic zap of a mirror SPTE is not supported');
          return -EBUSY;
        }
        return this.setExternalSptePresent(sp, i, gfn, oldLo, oldHi, newLo, newHi, child);
      }
      const tree = this.treeOf(sp);
      if (child !== undefined) {
        // try_cmpxchg64 of a link: the entry must still hold the value the walk read.
        if (this.lo(sp, i) !== (oldLo | 0) || this.hi(sp, i) !== (oldHi | 0)) return -EBUSY;
        return tree.linkTable(gfn, child.level, child.spt, newLo, newHi) === 0 ? 0 : -EBUSY;
      }
      return tree.cmpxchgEntry(sp.spt, i, gfn, sp.level, oldLo, oldHi, newLo, newHi) === 0
        ? 0
        : -EBUSY;
    } finally {
      this.shared = false;
    }
  }

  /** models tdp_mmu.c: set_external_spte_present(). */
  private setExternalSptePresent(
    sp: ShadowPage,
    i: number,
    gfn: number,
    oldLo: number,
    oldHi: number,
    newLo: number,
    newHi: number,
    child: ShadowPage | undefined,
  ): number {
    if (isShadowPresentPte(oldLo)) {
      this.bug('set_external_spte_present: only non-present -> present is supported');
      return -EIO;
    }
    const tree = this.treeOf(sp);
    // The freeze and the final write are raw writes: tdp_mmu_set_spte_atomic() runs
    // handle_changed_spte() once, old -> new, after set_external_spte_present() succeeded (and
    // not at all when the hook failed and the old value was put back).
    this.changeDeferred = true;
    let frozen: number;
    try {
      frozen = tree.cmpxchgEntry(
        sp.spt,
        i,
        gfn,
        sp.level,
        oldLo,
        oldHi,
        FROZEN_SPTE_LO,
        FROZEN_SPTE_HI,
      );
    } finally {
      this.changeDeferred = false;
    }
    if (frozen !== 0) return -EBUSY;
    let ret: number;
    if (isLastSpte(newLo, sp.level)) {
      const pfn = spteToPfn(newLo, newHi);
      this.hookEvent('set_external_spte', gfn, sp.level);
      ret = this.ops.setExternalSpte ? this.ops.setExternalSpte(gfn, sp.level, pfn) : -EIO;
    } else if (child === undefined || child.externalSpt === NO_FRAME) {
      this.bug('set_external_spte_present: child has no external_spt');
      ret = -EIO;
    } else {
      this.hookEvent('link_external_spt', gfn, sp.level);
      ret = this.ops.linkExternalSpt
        ? this.ops.linkExternalSpt(gfn, sp.level, child.externalSpt)
        : -EIO;
    }
    // The final value replaces FROZEN through the write path. (PagingTree.linkTable refuses a
    // FROZEN parent entry, so a mirror table is linked with a plain write; the tree's table
    // statistics do not count mirror tables.)
    this.changeDeferred = true;
    try {
      if (ret !== 0) tree.writeEntry(sp.spt, i, gfn, sp.level, oldLo, oldHi);
      else tree.writeEntry(sp.spt, i, gfn, sp.level, newLo, newHi);
    } finally {
      this.changeDeferred = false;
    }
    if (ret === 0) this.handleChangedSpte(true, gfn, sp.level, oldLo, oldHi, newLo, newHi);
    return ret;
  }
  /** Set while setExternalSptePresent() writes: the tree's change reports are not passed on. */
  private changeDeferred = false;

  /**
   * models tdp_mmu.c: tdp_mmu_set_spte() (write mmu_lock): the tree's write path writes the
   * entry and the change listener runs handle_changed_spte() and, for a mirror leaf,
   * remove_external_spte(). Present values are never written to a mirror this way.
   */
  setSpte(sp: ShadowPage, i: number, newLo: number, newHi: number): void {
    const oldLo = this.lo(sp, i);
    const oldHi = this.hi(sp, i);
    if (isFrozenSpte(oldLo, oldHi) || isFrozenSpte(newLo, newHi)) {
      this.bug('tdp_mmu_set_spte: FROZEN SPTE written non-atomically');
    }
    if (sp.isMirror && isShadowPresentPte(newLo))
      this.bug('non-atomic present write to a mirror SPTE');
    this.treeOf(sp).writeEntry(sp.spt, i, this.entryGfn(sp, i), sp.level, newLo, newHi);
  }

  /**
   * models tdp_mmu.c: handle_changed_spte() as the tree reports each change — event, the
   * BUG() on a present leaf changing PFN, and on a mirror remove_external_spte() for a leaf
   * that stops being present (the tree itself unlinks removed tables, handle_removed_pt()).
   */
  private handleChangedSpte(
    mirror: boolean,
    gfn: number,
    level: PgLevel,
    oldLo: number,
    oldHi: number,
    newLo: number,
    newHi: number,
  ): void {
    if (this.events.active) {
      this.events.emit({
        type: 'spte',
        root: mirror ? 'mirror' : 'direct',
        gfn: hex(gfn),
        level,
        old: word64Hex({ lo: oldLo >>> 0, hi: oldHi >>> 0 }),
        new: word64Hex({ lo: newLo >>> 0, hi: newHi >>> 0 }),
      });
    }
    const wasLeaf = isShadowPresentPte(oldLo) && isLastSpte(oldLo, level);
    const isLeaf = isShadowPresentPte(newLo) && isLastSpte(newLo, level);
    if (wasLeaf && isLeaf && spteToPfn(oldLo, oldHi) !== spteToPfn(newLo, newHi)) {
      this.bug(`handle_changed_spte: present leaf at gfn ${hex(gfn)} changed PFN`);
    }
    // Injection mirror-zap-atomic: the zap went through tdp_mmu_set_spte_atomic(), which
    // (unlike tdp_mmu_set_spte()) never reaches remove_external_spte() for a mirror leaf.
    if (mirror && wasLeaf && !isShadowPresentPte(newLo) && !this.zapMirrorAtomic) {
      // remove_external_spte(): write mmu_lock only (no atomic zap of mirror SPTEs).
      if (this.shared) this.bug('mirror leaf removed under read mmu_lock');
      this.hookEvent('remove_external_spte', gfn, level);
      const ret = this.ops.removeExternalSpte
        ? this.ops.removeExternalSpte(gfn, level, spteToPfn(oldLo, oldHi))
        : -EIO;
      if (ret !== 0)
        this.bug(`remove_external_spte(gfn ${hex(gfn)}, level ${level}) failed: ${ret}`);
    }
  }

  /**
   * The end of handle_removed_pt() for a table the tree unlinked (its entries are FROZEN
   * and handled): a mirror table's external page goes back through free_external_spt()
   * (KVM passes the table's own role.level) and is leaked on failure.
   */
  private handleRemovedPt(pfn: number, gfn: number, level: number): void {
    const sp = this.sps.get(pfn);
    if (sp === undefined) return;
    if (sp.isMirror && sp.externalSpt !== NO_FRAME) {
      this.hookEvent('free_external_spt', gfn, level);
      const ret = this.ops.freeExternalSpt
        ? this.ops.freeExternalSpt(gfn, level, sp.externalSpt)
        : -EIO;
      if (ret !== 0) {
        // "Leak the page": the kernel never touches a page the module may still own.
        this.leakedExternal.push(sp.externalSpt);
      } else if (this.pool.owner(sp.externalSpt) === FrameOwner.KVM_EXTERNAL_SPT) {
        this.pool.free(sp.externalSpt);
      }
      sp.externalSpt = NO_FRAME;
    }
    this.sps.delete(pfn);
  }

  // ---- zaps ----------------------------------------------------------------------------

  /**
   * models tdp_mmu.c: tdp_mmu_zap_leafs() (write mmu_lock) — every present leaf of `root` in
   * [start, end) becomes SHADOW_NONPRESENT_VALUE through the tree's zap (alias-free range,
   * the root's gfn bits added for indexing); tables stay. Returns true when a flush is needed.
   */
  zapLeafs(root: ShadowPage, start: number, end: number): boolean {
    const zapped = this.treeOf(root).zapLeafs(start, end);
    return zapped > 0 && !root.invalid;
  }

  /**
   * models tdp_mmu.c: kvm_tdp_mmu_unmap_gfn_range() — zap leaves on the roots the range's
   * attr_filter selects (plus invalid roots).
   */
  unmapGfnRange(start: number, end: number, attrFilter: number): boolean {
    const types = this.filterToRootTypes(attrFilter) | KVM_INVALID_ROOTS;
    let flush = false;
    for (const root of this.roots(types)) flush = this.zapLeafs(root, start, end) || flush;
    return flush;
  }

  /** models tdp_mmu.c: kvm_tdp_mmu_zap_leafs() — all valid roots, mirrors included. */
  zapLeafsAllRoots(start: number, end: number): boolean {
    let flush = false;
    for (const root of this.roots(KVM_VALID_ROOTS))
      flush = this.zapLeafs(root, start, end) || flush;
    return flush;
  }

  /**
   * models tdp_mmu.c: __tdp_mmu_zap_root() with shared = false — zap the entries at 1G, then
   * at the root's level (the tree tears down the tables under each), over the whole root.
   */
  zapRoot(root: ShadowPage): void {
    const pass = (sp: ShadowPage, zapLevel: PgLevel) => {
      for (let i = 0; i < 512; i++) {
        const lo = this.lo(sp, i);
        if (!isShadowPresentPte(lo)) continue;
        if (sp.level > zapLevel) {
          if (isLastSpte(lo, sp.level)) continue;
          const child = this.sps.get(spteToPfn(lo, this.hi(sp, i)));
          if (child !== undefined) pass(child, zapLevel);
          continue;
        }
        this.setSpte(sp, i, SHADOW_NONPRESENT_VALUE_LO, SHADOW_NONPRESENT_VALUE_HI);
      }
    };
    pass(root, 3);
    pass(root, root.level);
  }

  /** kvm_tdp_mmu_zap_all(): direct (and invalid) roots only; mirrors never (MMU notifier). */
  zapAllDirect(): void {
    for (const root of this.roots(KVM_DIRECT_ROOTS | KVM_INVALID_ROOTS)) {
      if (!root.isMirror) this.zapRoot(root);
    }
  }

  /**
   * models tdp_mmu.c: kvm_mmu_uninit_tdp_mmu() → kvm_tdp_mmu_invalidate_roots(KVM_VALID_ROOTS)
   * and kvm_tdp_mmu_zap_invalidated_roots(kvm, false): every root is zapped and freed.
   */
  teardown(): void {
    for (const root of this.roots(KVM_VALID_ROOTS)) root.invalid = true;
    for (const root of this.roots(KVM_ALL_ROOTS)) {
      this.zapRoot(root);
      this.treeOf(root).destroy();
      this.sps.delete(root.spt);
    }
    this.mirrorRoot = null;
    this.directRoot = null;
    this.mirrorTree = null;
    this.directTree = null;
  }

  // ---- helpers -------------------------------------------------------------------------

  /**
   * The alias-free GFN an entry maps (tdp_iter's iter->gfn). Only the root of a direct tree
   * with gfn bits is indexed with them (the bit falls in the root's index), so its entries'
   * GFNs have the bits stripped; tables below are indexed by alias-free GFNs already.
   */
  entryGfn(sp: ShadowPage, i: number): number {
    const g = sp.baseGfn + i * (LEVEL_PAGES[sp.level] as number);
    const bits = sp === this.directRoot ? this.ops.arch.gfnDirectBits : 0;
    return bits !== 0 && hasGfnBits(g, bits) ? g - bits : g;
  }

  private hookEvent(op: string, gfn: number, level: number): void {
    if (this.events.active) this.events.emit({ type: 'hook', op, gfn: hex(gfn), level });
  }

  private register(
    spt: number,
    level: PgLevel,
    mirror: boolean,
    baseGfn: number,
    externalSpt: number,
  ): ShadowPage {
    const sp: ShadowPage = { spt, level, isMirror: mirror, baseGfn, externalSpt, invalid: false };
    this.sps.set(spt, sp);
    return sp;
  }

  /** tdp_mmu_alloc_sp() (+ kvm_mmu_alloc_external_spt() for mirror tables). */
  private allocSp(level: PgLevel, mirror: boolean, baseGfn: number): ShadowPage | null {
    const spt = this.pool.allocFilled(
      FrameOwner.KVM_PAGE_TABLE,
      SHADOW_NONPRESENT_VALUE_LO,
      SHADOW_NONPRESENT_VALUE_HI,
    );
    if (spt === NO_FRAME) return null;
    let externalSpt = NO_FRAME;
    if (mirror) {
      externalSpt = this.pool.alloc(FrameOwner.KVM_EXTERNAL_SPT);
      if (externalSpt === NO_FRAME) {
        this.pool.free(spt);
        return null;
      }
    }
    return this.register(spt, level, mirror, baseGfn, externalSpt);
  }

  /** tdp_mmu_free_sp() of a table that was never linked. */
  private freeSp(sp: ShadowPage): void {
    this.sps.delete(sp.spt);
    this.pool.free(sp.spt);
    if (
      sp.externalSpt !== NO_FRAME &&
      this.pool.owner(sp.externalSpt) === FrameOwner.KVM_EXTERNAL_SPT
    ) {
      this.pool.free(sp.externalSpt);
    }
    sp.externalSpt = NO_FRAME;
  }
}

/** pagesPerHpage(level) for levels 1..5, as a table. */
const LEVEL_PAGES: readonly number[] = [0, 1, 512, 2 ** 18, 2 ** 27, 2 ** 36];

/** True when every bit of the single-bit mask `bits` is set in `gfn` (no 32-bit ops). */
function hasGfnBits(gfn: number, bits: number): boolean {
  return testBit(gfn, bits) === 1;
}

/** A 64-bit SPTE as hex, for messages. */
export function spteHex(lo: number, hi: number): string {
  return word64Hex({ lo: lo >>> 0, hi: hi >>> 0 });
}
