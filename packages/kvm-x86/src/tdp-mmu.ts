// The TDP MMU: a direct root, plus a mirror root for TDX whose changes are propagated to the
// TDX module's Secure-EPT through the external hooks.
// Source: arch/x86/kvm/mmu/tdp_mmu.c, tdp_iter.h, tdp_mmu.h, mmu_internal.h (Linux 6.17-rc,
// [K1]/[H] in kvm-mmu.md); kvm-mmu.md §1.2–§1.10.
//
// Tables are 4 KiB frames of the pool (owner KVM_PAGE_TABLE), entries are (lo, hi) int32
// words read and written through the pool, and the SPTE codec is @kvmx/paging's. A shadow
// page's metadata (level, mirror role, base GFN, external_spt) is one small object per table,
// never per entry. GFNs are alias-free everywhere; a root's gfn bits are added only when a
// table index is computed (tdp_iter's `(gfn | gfn_bits)`).
//
// The model is single-threaded; the lock discipline is kept as a rule each path asserts
// (mirror leaves are installed only through the atomic path, removed only through the
// non-atomic one), and the cmpxchg of the atomic path still compares the expected old value.

import { gfnIndex, hex, type PgLevel, pagesPerHpage, word64Hex } from '@kvmx/address';
import {
  FROZEN_SPTE_HI,
  FROZEN_SPTE_LO,
  FrameOwner,
  type FramePool,
  isFrozenSpte,
  isLastSpte,
  isShadowPresentPte,
  makeNonleafSpte,
  makeSmallSpte,
  NO_FRAME,
  SHADOW_NONPRESENT_VALUE_HI,
  SHADOW_NONPRESENT_VALUE_LO,
  spteToPfn,
} from '@kvmx/paging';
import { EBUSY, EIO, ENOMEM, type KvmX86Ops } from '@kvmx/vendor-ops';
import type { EventBus } from './events.js';

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
}

export class TdpMmu {
  readonly pool: FramePool;
  readonly ops: KvmX86Ops;
  readonly events: EventBus;
  readonly rootLevel: 4 | 5;
  readonly mirrored: boolean;
  directRoot: ShadowPage | null = null;
  mirrorRoot: ShadowPage | null = null;
  /** Every live shadow page, by table PFN (sptep_to_sp()). */
  readonly sps = new Map<number, ShadowPage>();
  /** Present leaves per level (kvm->stat.pages[level]), direct and mirror together. */
  readonly leafCount = new Int32Array(6);
  /** External pages whose free_external_spt failed: leaked, never touched again. */
  readonly leakedExternal: number[] = [];
  private readonly bug: (message: string) => void;

  constructor(options: TdpMmuOptions) {
    this.pool = options.pool;
    this.ops = options.ops;
    this.events = options.events;
    this.rootLevel = options.rootLevel;
    this.mirrored = options.mirrored;
    this.bug = options.bug;
  }

  // ---- roots ---------------------------------------------------------------------------

  /**
   * models mmu.c: mmu_alloc_direct_roots() — the mirror root first (only if not valid yet),
   * then the direct root. Returns -ENOMEM when the pool is exhausted.
   */
  allocRoots(): number {
    if (this.mirrored && this.mirrorRoot === null) {
      const root = this.allocSp(this.rootLevel, true, 0, false);
      if (root === null) return -ENOMEM;
      this.mirrorRoot = root;
    }
    if (this.directRoot === null) {
      const root = this.allocSp(this.rootLevel, false, 0, false);
      if (root === null) return -ENOMEM;
      this.directRoot = root;
    }
    return 0;
  }

  /** kvm_gfn_root_bits(kvm, root): the direct bits for a direct root, 0 for a mirror. */
  rootBits(root: ShadowPage): number {
    return root.isMirror ? 0 : this.ops.arch.gfnDirectBits;
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

  // ---- entries -------------------------------------------------------------------------

  /** Table index of an alias-free GFN at `level` under a root with `gfnBits`. */
  index(gfn: number, gfnBits: number, level: PgLevel): number {
    return gfnIndex(gfnBits === 0 ? gfn : gfn + gfnBits, level);
  }

  lo(sp: ShadowPage, index: number): number {
    return this.pool.readLo(sp.spt, index);
  }

  hi(sp: ShadowPage, index: number): number {
    return this.pool.readHi(sp.spt, index);
  }

  /**
   * Walk `root` for `gfn` (alias-free) down to the leaf or the first non-present entry.
   * Returns the deepest entry found: its table, index and level. Used by lookups, guest
   * accesses and invariant checks.
   */
  walk(root: ShadowPage, gfn: number): { sp: ShadowPage; index: number; level: PgLevel } {
    const bits = this.rootBits(root);
    let sp = root;
    for (;;) {
      const level = sp.level;
      const i = this.index(gfn, bits, level);
      const lo = this.lo(sp, i);
      if (!isShadowPresentPte(lo) || isLastSpte(lo, level)) return { sp, index: i, level };
      const child = this.sps.get(spteToPfn(lo, this.hi(sp, i)));
      if (child === undefined) return { sp, index: i, level };
      sp = child;
    }
  }

  /** The present leaf mapping `gfn` in `root`, or null. */
  lookup(
    root: ShadowPage,
    gfn: number,
  ): { pfn: number; level: PgLevel; lo: number; hi: number } | null {
    const { sp, index, level } = this.walk(root, gfn);
    const lo = this.lo(sp, index);
    if (!isShadowPresentPte(lo) || !isLastSpte(lo, level)) return null;
    const hi = this.hi(sp, index);
    const base = spteToPfn(lo, hi);
    const offset = gfn % pagesPerHpage(level);
    return { pfn: base + offset, level, lo, hi };
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
    let sp = root;
    for (;;) {
      const level = sp.level;
      const i = this.index(fault.gfn, bits, level);
      let lo = this.lo(sp, i);
      let hi = this.hi(sp, i);
      if (isFrozenSpte(lo, hi)) return RET_PF_RETRY;
      if (level === fault.goalLevel) return this.mapHandleTargetLevel(fault, sp, i, lo, hi);
      if (isShadowPresentPte(lo) && !isLastSpte(lo, level)) {
        const child = this.sps.get(spteToPfn(lo, hi));
        if (child === undefined) {
          this.bug(`present non-leaf SPTE at level ${level} points to no shadow page`);
          return -EIO;
        }
        sp = child;
        continue;
      }
      // Non-present, or a huge leaf that must be split to reach the goal level.
      const childLevel = (level - 1) as PgLevel;
      const childBase = this.alignGfn(fault.gfn, level);
      const child = this.allocSp(childLevel, sp.isMirror, childBase, true);
      if (child === null) return -ENOMEM;
      let r: number;
      if (isShadowPresentPte(lo)) {
        if (sp.isMirror) {
          this.bug("kvm_tdp_mmu_map: don't support large page for mirrored roots (TDX)");
          this.freeSp(child);
          return -EIO;
        }
        r = this.splitHugePage(sp, i, lo, hi, child);
      } else {
        r = this.linkSp(sp, i, lo, hi, child);
      }
      if (r !== 0) {
        this.freeSp(child);
        return r === -EBUSY ? RET_PF_RETRY : r;
      }
      lo = this.lo(sp, i);
      hi = this.hi(sp, i);
      sp = child;
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
    return this.setSpteAtomic(sp, i, lo, hi, w.lo | 0, w.hi | 0);
  }

  /**
   * tdp_mmu_split_huge_page(): fill the child with the huge leaf's 512 small pieces, then
   * link it in place of the leaf (direct roots only).
   */
  private splitHugePage(
    sp: ShadowPage,
    i: number,
    lo: number,
    hi: number,
    child: ShadowPage,
  ): number {
    for (let j = 0; j < 512; j++) {
      const w = makeSmallSpte(lo, hi, child.level, j);
      this.pool.writeWord64(child.spt, j, w.lo | 0, w.hi | 0);
    }
    this.leafCount[child.level] = (this.leafCount[child.level] as number) + 512;
    // The child's leaves now hold the memory; unlink the huge leaf without treating its pfn
    // as removed (handle_changed_spte sees a leaf replaced by a non-leaf).
    return this.linkSp(sp, i, lo, hi, child);
  }

  // ---- SPTE writes -----------------------------------------------------------------------

  /**
   * models tdp_mmu.c: tdp_mmu_set_spte_atomic() / __tdp_mmu_set_spte_atomic() (read
   * mmu_lock). On a mirror table a present value goes through set_external_spte_present():
   * freeze, call the hook, then write the final value or restore the old one.
   */
  setSpteAtomic(
    sp: ShadowPage,
    i: number,
    oldLo: number,
    oldHi: number,
    newLo: number,
    newHi: number,
  ): number {
    if (isFrozenSpte(oldLo, oldHi)) {
      this.bug('__tdp_mmu_set_spte_atomic: old SPTE is FROZEN');
      return -EBUSY;
    }
    const gfn = this.entryGfn(sp, i);
    if (sp.isMirror && !isFrozenSpte(newLo, newHi)) {
      if (!isShadowPresentPte(newLo)) {
        this.bug('atomic zap of a mirror SPTE is not supported');
        return -EBUSY;
      }
      const r = this.setExternalSptePresent(sp, i, gfn, oldLo, oldHi, newLo, newHi);
      if (r !== 0) return r;
    } else {
      if (!this.cmpxchg(sp, i, oldLo, oldHi, newLo, newHi)) return -EBUSY;
    }
    this.handleChangedSpte(gfn, oldLo, oldHi, newLo, newHi, sp.level, true);
    return 0;
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
  ): number {
    if (isShadowPresentPte(oldLo)) {
      this.bug('set_external_spte_present: only non-present -> present is supported');
      return -EIO;
    }
    if (!this.cmpxchg(sp, i, oldLo, oldHi, FROZEN_SPTE_LO, FROZEN_SPTE_HI)) return -EBUSY;
    let ret: number;
    if (isLastSpte(newLo, sp.level)) {
      const pfn = spteToPfn(newLo, newHi);
      this.hookEvent('set_external_spte', gfn, sp.level);
      ret = this.ops.setExternalSpte ? this.ops.setExternalSpte(gfn, sp.level, pfn) : -EIO;
    } else {
      const child = this.sps.get(spteToPfn(newLo, newHi));
      if (child === undefined || child.externalSpt === NO_FRAME) {
        this.bug('set_external_spte_present: child has no external_spt');
        ret = -EIO;
      } else {
        this.hookEvent('link_external_spt', gfn, sp.level);
        ret = this.ops.linkExternalSpt
          ? this.ops.linkExternalSpt(gfn, sp.level, child.externalSpt)
          : -EIO;
      }
    }
    if (ret !== 0) this.writeSpte(sp, i, oldLo, oldHi);
    else this.writeSpte(sp, i, newLo, newHi);
    return ret;
  }

  /**
   * models tdp_mmu.c: tdp_mmu_set_spte() (write mmu_lock): write, handle_changed_spte(), and
   * on a mirror table remove_external_spte() for the old leaf. Present values are never
   * written to a mirror this way.
   */
  setSpte(sp: ShadowPage, i: number, newLo: number, newHi: number): void {
    const oldLo = this.lo(sp, i);
    const oldHi = this.hi(sp, i);
    if (isFrozenSpte(oldLo, oldHi) || isFrozenSpte(newLo, newHi)) {
      this.bug('tdp_mmu_set_spte: FROZEN SPTE written non-atomically');
    }
    const gfn = this.entryGfn(sp, i);
    this.writeSpte(sp, i, newLo, newHi);
    this.handleChangedSpte(gfn, oldLo, oldHi, newLo, newHi, sp.level, false);
    if (sp.isMirror) {
      if (isShadowPresentPte(newLo)) this.bug('non-atomic present write to a mirror SPTE');
      this.removeExternalSpte(gfn, oldLo, oldHi, sp.level);
    }
  }

  /** models tdp_mmu.c: remove_external_spte() — leaves only; KVM_BUG_ON(ret). */
  private removeExternalSpte(gfn: number, oldLo: number, oldHi: number, level: PgLevel): void {
    if (!isShadowPresentPte(oldLo) || !isLastSpte(oldLo, level)) return;
    this.hookEvent('remove_external_spte', gfn, level);
    const ret = this.ops.removeExternalSpte
      ? this.ops.removeExternalSpte(gfn, level, spteToPfn(oldLo, oldHi))
      : -EIO;
    if (ret !== 0) this.bug(`remove_external_spte(gfn ${hex(gfn)}, level ${level}) failed: ${ret}`);
  }

  /**
   * models tdp_mmu.c: handle_changed_spte(). A present leaf replaced by a present leaf of a
   * different PFN is fatal (BUG()); a removed non-leaf recurses into handle_removed_pt().
   */
  private handleChangedSpte(
    gfn: number,
    oldLo: number,
    oldHi: number,
    newLo: number,
    newHi: number,
    level: PgLevel,
    shared: boolean,
  ): void {
    const wasPresent = isShadowPresentPte(oldLo);
    const isPresent = isShadowPresentPte(newLo);
    const wasLeaf = wasPresent && isLastSpte(oldLo, level);
    const isLeaf = isPresent && isLastSpte(newLo, level);
    const oldPfn = spteToPfn(oldLo, oldHi);
    const pfnChanged = oldPfn !== spteToPfn(newLo, newHi);
    if (wasLeaf && isLeaf && pfnChanged) {
      this.bug(`handle_changed_spte: present leaf at gfn ${hex(gfn)} changed PFN`);
    }
    if (oldLo === newLo && (oldHi | 0) === (newHi | 0)) return;
    if (isLeaf !== wasLeaf) {
      this.leafCount[level] = (this.leafCount[level] as number) + (isLeaf ? 1 : -1);
    }
    if (wasPresent && !wasLeaf && (isLeaf || !isPresent || pfnChanged)) {
      const child = this.sps.get(oldPfn);
      if (child !== undefined) this.handleRemovedPt(child, shared);
    }
  }

  /**
   * models tdp_mmu.c: handle_removed_pt() — freeze every entry of a table that was unlinked,
   * handle each change (recursively), remove mirror leaves from the S-EPT, then give the
   * external page back with free_external_spt() (leaked on failure) and free the table.
   */
  private handleRemovedPt(sp: ShadowPage, shared: boolean): void {
    const n = pagesPerHpage(sp.level);
    for (let i = 0; i < 512; i++) {
      const gfn = sp.baseGfn + i * n;
      const oldLo = this.lo(sp, i);
      const oldHi = this.hi(sp, i);
      if (!shared && !isShadowPresentPte(oldLo)) continue;
      this.writeSpte(sp, i, FROZEN_SPTE_LO, FROZEN_SPTE_HI);
      this.handleChangedSpte(gfn, oldLo, oldHi, FROZEN_SPTE_LO, FROZEN_SPTE_HI, sp.level, shared);
      if (sp.isMirror) {
        if (shared) this.bug('handle_removed_pt: mirror table removed under read mmu_lock');
        this.removeExternalSpte(gfn, oldLo, oldHi, sp.level);
      }
    }
    if (sp.isMirror && sp.externalSpt !== NO_FRAME) {
      // KVM passes the table's own role.level here (link_external_spt got the parent's).
      this.hookEvent('free_external_spt', sp.baseGfn, sp.level);
      const ret = this.ops.freeExternalSpt
        ? this.ops.freeExternalSpt(sp.baseGfn, sp.level, sp.externalSpt)
        : -EIO;
      if (ret !== 0) {
        // "Leak the page": the kernel never touches a page the module may still own.
        this.leakedExternal.push(sp.externalSpt);
        sp.externalSpt = NO_FRAME;
      }
    }
    this.freeSp(sp);
  }

  // ---- zaps ----------------------------------------------------------------------------

  /**
   * models tdp_mmu.c: tdp_mmu_zap_leafs() (write mmu_lock) — every present leaf of `root` in
   * [start, end) becomes SHADOW_NONPRESENT_VALUE; tables stay. Returns true when a flush is
   * needed.
   */
  zapLeafs(root: ShadowPage, start: number, end: number): boolean {
    let flush = false;
    const visit = (sp: ShadowPage) => {
      const n = pagesPerHpage(sp.level);
      for (let i = 0; i < 512; i++) {
        if (!this.reachable(root, sp, i)) continue;
        const gfn = this.entryGfn(sp, i);
        if (gfn + n <= start || gfn >= end) continue;
        const lo = this.lo(sp, i);
        if (!isShadowPresentPte(lo)) continue;
        if (isLastSpte(lo, sp.level)) {
          this.setSpte(sp, i, SHADOW_NONPRESENT_VALUE_LO, SHADOW_NONPRESENT_VALUE_HI);
          flush = true;
          continue;
        }
        const child = this.sps.get(spteToPfn(lo, this.hi(sp, i)));
        if (child !== undefined) visit(child);
      }
    };
    visit(root);
    return flush && !root.invalid;
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
   * at the root's level, recursing into removed tables. Walks the whole root (gfn bits 0).
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
      this.freeSp(root);
    }
    this.mirrorRoot = null;
    this.directRoot = null;
  }

  // ---- helpers -------------------------------------------------------------------------

  /**
   * The alias-free GFN an entry maps (tdp_iter's iter->gfn). Only the root of a direct tree
   * with gfn bits is indexed with them (the bit falls in the root's index), so its entries'
   * GFNs have the bits stripped; tables below are indexed by alias-free GFNs already.
   */
  entryGfn(sp: ShadowPage, i: number): number {
    const g = sp.baseGfn + i * pagesPerHpage(sp.level);
    const bits = sp === this.directRoot ? this.ops.arch.gfnDirectBits : 0;
    return bits !== 0 && hasGfnBits(g, bits) ? g - bits : g;
  }

  /** A root entry a range walk with the root's gfn bits can reach (its index has the bits). */
  private reachable(root: ShadowPage, sp: ShadowPage, i: number): boolean {
    if (sp !== root) return true;
    const bits = this.rootBits(root);
    return bits === 0 || hasGfnBits(sp.baseGfn + i * pagesPerHpage(sp.level), bits);
  }

  private alignGfn(gfn: number, level: PgLevel): number {
    const n = pagesPerHpage(level);
    return gfn - (gfn % n);
  }

  private cmpxchg(
    sp: ShadowPage,
    i: number,
    oldLo: number,
    oldHi: number,
    newLo: number,
    newHi: number,
  ): boolean {
    if (this.lo(sp, i) !== (oldLo | 0) || this.hi(sp, i) !== (oldHi | 0)) return false;
    this.writeSpte(sp, i, newLo, newHi);
    return true;
  }

  /** The one place an SPTE is stored: writes the word and reports it. */
  private writeSpte(sp: ShadowPage, i: number, lo: number, hi: number): void {
    if (this.events.active) {
      const oldLo = this.lo(sp, i);
      const oldHi = this.hi(sp, i);
      this.events.emit({
        type: 'spte',
        root: sp.isMirror ? 'mirror' : 'direct',
        gfn: hex(this.entryGfn(sp, i)),
        level: sp.level,
        old: word64Hex({ lo: oldLo >>> 0, hi: oldHi >>> 0 }),
        new: word64Hex({ lo: lo >>> 0, hi: hi >>> 0 }),
      });
    }
    this.pool.writeWord64(sp.spt, i, lo | 0, hi | 0);
  }

  private hookEvent(op: string, gfn: number, level: number): void {
    if (this.events.active) this.events.emit({ type: 'hook', op, gfn: hex(gfn), level });
  }

  /** tdp_mmu_alloc_sp() (+ kvm_mmu_alloc_external_spt() for mirror non-roots). */
  private allocSp(
    level: PgLevel,
    mirror: boolean,
    baseGfn: number,
    child: boolean,
  ): ShadowPage | null {
    const spt = this.pool.allocFilled(
      FrameOwner.KVM_PAGE_TABLE,
      SHADOW_NONPRESENT_VALUE_LO,
      SHADOW_NONPRESENT_VALUE_HI,
    );
    if (spt === NO_FRAME) return null;
    let externalSpt = NO_FRAME;
    if (mirror && child) {
      externalSpt = this.pool.alloc(FrameOwner.KVM_EXTERNAL_SPT);
      if (externalSpt === NO_FRAME) {
        this.pool.free(spt);
        return null;
      }
    }
    const sp: ShadowPage = { spt, level, isMirror: mirror, baseGfn, externalSpt, invalid: false };
    this.sps.set(spt, sp);
    return sp;
  }

  /** tdp_mmu_free_sp(): free the table and its external page (if KVM still owns it). */
  private freeSp(sp: ShadowPage): void {
    this.sps.delete(sp.spt);
    this.pool.free(sp.spt);
    if (sp.externalSpt !== NO_FRAME) {
      const owner = this.pool.owner(sp.externalSpt);
      if (owner === FrameOwner.KVM_EXTERNAL_SPT) this.pool.free(sp.externalSpt);
      sp.externalSpt = NO_FRAME;
    }
  }
}

/** True when every bit of the single-bit mask `bits` is set in `gfn` (no 32-bit ops). */
function hasGfnBits(gfn: number, bits: number): boolean {
  return Math.floor(gfn / bits) % 2 === 1;
}

/** A 64-bit SPTE as hex, for messages. */
export function spteHex(lo: number, hi: number): string {
  return word64Hex({ lo: lo >>> 0, hi: hi >>> 0 });
}
