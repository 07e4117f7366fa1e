// The invariant checker restricted to a GFN range: what an operation that touched only the
// GFNs [start, end) can have broken. It checks the same invariants as checkInvariants() (same
// names, same messages) for the leaves covering those GFNs in both roots, the Secure-EPT
// entries there, the mirror tables on the way (each with its external S-EPT table) and the
// guest_memfd frames behind them — in time proportional to the range, not to the VM. A
// caller that knows which GFNs each step touched (a fault-in of one page, a conversion of a
// range) can check after every step of a long run without walking the whole state each time.

import { hex, PAGE_SIZE, type PgLevel, pagesPerHpage, SPTE_ENT_PER_PAGE } from '@kvmx/address';
import { FrameOwner, isLastSpte, isShadowPresentPte, spteToPfn } from '@kvmx/paging';
import {
  isAnyBlocked,
  isLeafState,
  PageType,
  SeptState,
  septEntryPfn,
  septStateOf,
} from '@kvmx/tdx-module';
import { checkGmemZeroed, checkHkidFlushed, type Violation } from './invariants.js';
import type { Kvm } from './kvm.js';
import type { ShadowPage } from './tdp-mmu.js';
import { KVM_MEMORY_ATTRIBUTE_PRIVATE } from './uapi.js';

const PRIVATE = KVM_MEMORY_ATTRIBUTE_PRIVATE;

/**
 * Check the invariants for the GFNs [start, end) (alias-free). An empty list means nothing in
 * the range breaks them; a violation elsewhere in the VM is not looked for (kvm-bug, which is
 * VM-wide and O(1), is always checked).
 */
export function checkInvariantsAt(kvm: Kvm, start: number, end: number): Violation[] {
  const out: Violation[] = [];
  const v = (invariant: string, detail: string) => out.push({ invariant, detail });
  for (const b of kvm.bugs) v('kvm-bug', b);
  // Recorded per file at the hand-out, so VM-wide and O(pages handed out dirty), like kvm-bug.
  checkGmemZeroed(kvm, v);
  checkHkidFlushed(kvm, v);
  const s = Math.max(0, Math.floor(start));
  const e = Math.ceil(end);
  if (!(s < e)) return out;
  const mmu = kvm.mmu;
  const tdx = kvm.tdx;
  const septOk = tdx !== null && !kvm.destroyed && tdx.tdr >= 0;
  const unmatched: number[] = [];
  let pathBlock = -1;
  for (let gfn = s; gfn < e; ) {
    // The largest step that stays inside every leaf covering gfn: the smallest leaf found.
    let step = 1;
    const direct = mmu.directRoot !== null ? mmu.lookup(mmu.directRoot, gfn) : null;
    if (direct !== null) checkDirectLeaf(kvm, gfn, direct.level, direct.pfn, v);
    let mirrorLeaf: { level: PgLevel; pfn: number } | null = null;
    if (mmu.mirrorRoot !== null) {
      const m = mmu.lookup(mmu.mirrorRoot, gfn);
      if (m !== null) {
        mirrorLeaf = { level: m.level, pfn: m.pfn };
        checkMirrorLeaf(kvm, gfn, m.level, m.pfn, v);
      }
      // The tables on the way are the same for every GFN of one last-level table (512
      // GFNs): walk the path once per block, not once per GFN.
      const block = Math.floor(gfn / SPTE_ENT_PER_PAGE);
      if (septOk && block !== pathBlock) {
        pathBlock = block;
        checkMirrorPath(kvm, mmu.mirrorRoot, gfn, v);
      }
    }
    if (septOk) {
      const r = checkSeptAt(kvm, gfn, mirrorLeaf, v);
      if (r) unmatched.push(gfn);
    }
    checkGmemFrame(kvm, gfn, v);
    const leafLevel = Math.min(direct?.level ?? 1, mirrorLeaf?.level ?? 1) as PgLevel;
    if (leafLevel > 1) {
      const n = pagesPerHpage(leafLevel);
      step = n - (gfn % n);
      // Pages inside a huge leaf share its checks except the guest_memfd frames.
      for (let g = gfn + 1; g < Math.min(e, gfn + step); g++) checkGmemFrame(kvm, g, v);
    }
    gfn += step;
  }
  // A premapped leaf (before finalize, PAGE.ADD not done) has no S-EPT leaf yet; at most
  // nr_premapped of them may exist.
  if (tdx !== null && unmatched.length > tdx.nrPremapped) {
    for (const gfn of unmatched) {
      v(
        'mirror-sept-agree',
        `mirror maps gfn ${hex(gfn)} but the S-EPT has no leaf there (nr_premapped ${tdx.nrPremapped})`,
      );
    }
  }
  return out;
}

type Report = (invariant: string, detail: string) => void;

/** private-frame-root, attributes-respected, no-mixed-huge for a direct-root leaf. */
function checkDirectLeaf(kvm: Kvm, gfn: number, level: PgLevel, pfnAt: number, v: Report): void {
  const n = pagesPerHpage(level);
  const base = gfn - (gfn % n);
  const pfn = pfnAt - (gfn - base);
  const owner = kvm.pool.owner(pfn);
  const attrs = kvm.attributes;
  if (kvm.tdx !== null) {
    if (owner === FrameOwner.GUEST_MEMFD) {
      v('private-frame-root', `direct root maps guest_memfd frame ${hex(pfn)} at gfn ${hex(base)}`);
    }
    if (!attrs.rangeHas(base, base + n, 0, PRIVATE)) {
      v(
        'attributes-respected',
        `shared mapping of private gfn range ${hex(base)}+${n} in the direct root`,
      );
    }
  } else if (owner === FrameOwner.GUEST_MEMFD) {
    const expected = gmemPfnOf(kvm, base);
    if (expected !== pfn) {
      v(
        'private-frame-root',
        `gfn ${hex(base)} maps guest_memfd frame ${hex(pfn)} that is not its own`,
      );
    }
    if (!attrs.rangeHas(base, base + n, PRIVATE, PRIVATE)) {
      v('attributes-respected', `private frame mapped at shared gfn ${hex(base)} (level ${level})`);
    }
  } else if (owner === FrameOwner.VMM_SHARED) {
    if (!attrs.rangeHas(base, base + n, 0, PRIVATE)) {
      v('attributes-respected', `shared frame mapped at private gfn ${hex(base)} (level ${level})`);
    }
  } else {
    v('private-frame-root', `gfn ${hex(base)} maps frame ${hex(pfn)} owned by ${owner}`);
  }
  checkMixedHuge(kvm, base, level, v);
}

/** private-frame-root, attributes-respected, no-mixed-huge for a mirror-root leaf. */
function checkMirrorLeaf(kvm: Kvm, gfn: number, level: PgLevel, pfnAt: number, v: Report): void {
  const n = pagesPerHpage(level);
  const base = gfn - (gfn % n);
  const pfn = pfnAt - (gfn - base);
  if (kvm.pool.owner(pfn) !== FrameOwner.GUEST_MEMFD) {
    v(
      'private-frame-root',
      `mirror root maps non-guest_memfd frame ${hex(pfn)} at gfn ${hex(base)}`,
    );
  }
  if (!kvm.attributes.rangeHas(base, base + n, PRIVATE, PRIVATE)) {
    v('attributes-respected', `private mapping of shared gfn ${hex(base)} in the mirror root`);
  }
  checkMixedHuge(kvm, base, level, v);
}

function checkMixedHuge(kvm: Kvm, base: number, level: PgLevel, v: Report): void {
  if (level === 1) return;
  const n = pagesPerHpage(level);
  const attrs = kvm.attributes.get(base);
  if (!kvm.attributes.rangeHas(base, base + n, attrs)) {
    v('no-mixed-huge', `level-${level} leaf at gfn ${hex(base)} spans mixed attributes`);
  }
}

/**
 * The mirror tables on the way to gfn: each has its S-EPT table (the external_spt) linked at
 * the same place, and that page is PT_EPT in the PAMT.
 */
function checkMirrorPath(kvm: Kvm, root: ShadowPage, gfn: number, v: Report): void {
  const mmu = kvm.mmu;
  const tdx = kvm.tdx;
  if (tdx === null) return;
  const module = tdx.module;
  let sp = root;
  for (;;) {
    const i = mmu.index(gfn, 0, sp.level);
    const lo = mmu.lo(sp, i);
    if (!isShadowPresentPte(lo) || isLastSpte(lo, sp.level)) return;
    const child = mmu.sps.get(spteToPfn(lo, mmu.hi(sp, i)));
    if (child === undefined) return; // KVM_BUG territory: the full checker's walk skips it too
    // The S-EPT entry that points to the child's table: module level = child's PG level.
    // (septEntryRaw: the entry septEntry() would describe, without building it per level.)
    const found = module.septEntryRaw(tdx.tdr, child.baseGfn * PAGE_SIZE, child.level);
    const eLo = module.walkedLo;
    const eHi = module.walkedHi;
    const state = found ? septStateOf(eLo, eHi) : -1;
    const linked =
      found &&
      module.walkedLevel === child.level &&
      state !== SeptState.FREE &&
      state >= 0 &&
      !isLeafState(state);
    if (!linked) {
      v(
        'mirror-sept-agree',
        `mirror table for gfn ${hex(child.baseGfn)} level ${child.level} has no S-EPT table`,
      );
    } else if (septEntryPfn(eLo, eHi) !== child.externalSpt) {
      v(
        'mirror-sept-agree',
        `S-EPT table for gfn ${hex(child.baseGfn)} level ${child.level} is ${hex(septEntryPfn(eLo, eHi))}, not the external_spt ${hex(child.externalSpt)}`,
      );
    }
    if (child.externalSpt >= 0 && module.pamt.pt(child.externalSpt, 0) !== PageType.PT_EPT) {
      v('pamt-ownership', `external_spt ${hex(child.externalSpt)} is not PT_EPT in the PAMT`);
    }
    sp = child;
  }
}

/**
 * mirror-sept-agree, tlb-tracked and pamt-ownership at gfn: the S-EPT leaf covering gfn
 * against the mirror's. Returns true when the mirror maps gfn and the S-EPT has no leaf (a
 * premapped page, counted by the caller).
 */
function checkSeptAt(
  kvm: Kvm,
  gfn: number,
  mirror: { level: PgLevel; pfn: number } | null,
  v: Report,
): boolean {
  const tdx = kvm.tdx;
  if (tdx === null) return false;
  const module = tdx.module;
  const found = module.septEntryRaw(tdx.tdr, gfn * PAGE_SIZE, 0);
  const eLo = module.walkedLo;
  const eHi = module.walkedHi;
  const state = found ? septStateOf(eLo, eHi) : -1;
  if (!found || state < 0 || state === SeptState.FREE || !isLeafState(state)) {
    return mirror !== null;
  }
  const level = module.walkedLevel + 1;
  const n = pagesPerHpage(level as PgLevel);
  const base = gfn - (gfn % n);
  const pfn = septEntryPfn(eLo, eHi);
  if (mirror === null) {
    v('mirror-sept-agree', `S-EPT maps gfn ${hex(base)} (pfn ${hex(pfn)}) but the mirror does not`);
  } else {
    const mPfn = mirror.pfn - (gfn % pagesPerHpage(mirror.level));
    if (mirror.level !== level || mPfn !== pfn) {
      v(
        'mirror-sept-agree',
        `gfn ${hex(base)}: mirror level ${mirror.level} pfn ${hex(mPfn)}, S-EPT level ${level} pfn ${hex(pfn)}`,
      );
    }
  }
  if (isAnyBlocked(state)) {
    v('tlb-tracked', `S-EPT leaf at gfn ${hex(base)} left blocked (state ${state})`);
  }
  const pamt = tdx.module.pamt;
  if (pamt.pt(pfn, 0) !== PageType.PT_REG || pamt.owner(pfn, 0) !== tdx.tdr / PAGE_SIZE) {
    v(
      'pamt-ownership',
      `page ${hex(pfn)} mapped at gfn ${hex(base)} is not PT_REG of the TD in the PAMT`,
    );
  }
  return false;
}

/**
 * host-private at gfn: the VMM memory behind the slot's shared side holds no guest_memfd
 * frame, and the guest_memfd frame behind the private side is guest_memfd's and not the
 * VMM's. (A guest_memfd frame placed at a VMM address outside every memslot belongs to no
 * GFN: only the whole-state checker, which walks all VMM memory, finds it.)
 */
function checkGmemFrame(kvm: Kvm, gfn: number, v: Report): void {
  const slot = kvm.gfnToMemslot(gfn);
  if (slot === undefined) return;
  const shared = kvm.vmm.peek(slot.gfnToHvaPage(gfn));
  if (shared !== undefined && kvm.pool.owner(shared) === FrameOwner.GUEST_MEMFD) {
    v('host-private', `VMM memory contains guest_memfd frame ${hex(shared)}`);
  }
  const file = slot.gmem?.file;
  if (!file) return;
  const pfn = file.pages.get(gfn - slot.baseGfn + (slot.gmem?.pgoff ?? 0));
  if (pfn === undefined) return;
  if (kvm.vmm.owns(pfn))
    v('host-private', `guest_memfd ${file.fd} frame ${hex(pfn)} is VMM memory`);
  const owner = kvm.pool.owner(pfn);
  if (owner !== FrameOwner.GUEST_MEMFD) {
    v('host-private', `guest_memfd ${file.fd} frame ${hex(pfn)} has owner ${owner}`);
  }
}

/** The guest_memfd frame currently backing `gfn`'s private side, if allocated. */
function gmemPfnOf(kvm: Kvm, gfn: number): number | undefined {
  const slot = kvm.gfnToMemslot(gfn);
  const file = slot?.gmem?.file;
  if (slot === undefined || !file) return undefined;
  return file.pages.get(gfn - slot.baseGfn + (slot.gmem?.pgoff ?? 0));
}
