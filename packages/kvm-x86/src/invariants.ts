// The model's invariants (ARCHITECTURE.md, "Invariants the model checks"), each with a name and
// a precise message, checkable after every operation. They read state only; a violation means
// the model (or a hostile door in a test) broke what KVM and the TDX module guarantee together.

import { hex, PAGE_SIZE, type PgLevel, pagesPerHpage } from '@kvmx/address';
import { FrameOwner, isLastSpte, isShadowPresentPte, spteToPfn } from '@kvmx/paging';
import {
  isAnyBlocked,
  isLeafState,
  PageType,
  SeptState,
  septEntryPfn,
  septStateOf,
} from '@kvmx/tdx-module';
import type { Kvm } from './kvm.js';
import type { ShadowPage } from './tdp-mmu.js';
import { KVM_MEMORY_ATTRIBUTE_PRIVATE } from './uapi.js';

export interface Violation {
  readonly invariant: string;
  readonly detail: string;
}

/** The invariants, by name, with what each guarantees. */
export const INVARIANTS: readonly { readonly name: string; readonly description: string }[] = [
  {
    name: 'mirror-sept-agree',
    description:
      'The mirror root and the Secure-EPT agree entry for entry: same GFN, level, PFN, presence.',
  },
  {
    name: 'private-frame-root',
    description:
      'A guest_memfd frame is never mapped through a TD’s direct (shared) root, a VMM frame never through the mirror; in a single-root VM each leaf maps the frame its GFN’s attributes select.',
  },
  {
    name: 'attributes-respected',
    description: 'After an attribute change completes, no mapping contradicts the attributes.',
  },
  {
    name: 'no-mixed-huge',
    description: 'No huge mapping spans GFNs of mixed attributes.',
  },
  {
    name: 'pamt-ownership',
    description:
      'Every page the mirror maps and every S-EPT table is in the PAMT as this TD’s (PT_REG / PT_EPT).',
  },
  {
    name: 'host-private',
    description:
      'The VMM’s memory never contains a guest_memfd frame: the host never reads private contents.',
  },
  {
    name: 'tlb-tracked',
    description:
      'No S-EPT leaf is left BLOCKED between operations: every removal completed BLOCK, TRACK and REMOVE, so no vCPU can use the old translation.',
  },
  {
    name: 'kvm-bug',
    description: 'KVM never hit a KVM_BUG_ON().',
  },
  {
    name: 'rmp',
    description:
      'SNP: every private mapping’s frame is assigned in the RMP to this guest at that GPA, every shared mapping’s frame is hypervisor-owned.',
  },
  {
    name: 'hkid-flushed',
    description:
      'TDX: every page removed from a TD is written back and invalidated with its HKID (TDH.PHYMEM.PAGE.WBINVD) before it is cleared or reused, so no line tagged with the TD’s key can land on its next contents.',
  },
  {
    name: 'gmem-zeroed',
    description:
      'A guest_memfd page reads zeros when KVM first hands it out (kvm_gmem_prepare_folio): a private page punched out and faulted in again never shows what its frame held before.',
  },
];

interface Leaf {
  readonly gfn: number;
  readonly level: PgLevel;
  readonly pfn: number;
}

/** Every present leaf of a root, in GFN order. */
export function rootLeaves(kvm: Kvm, root: ShadowPage): Leaf[] {
  const mmu = kvm.mmu;
  const out: Leaf[] = [];
  const visit = (sp: ShadowPage) => {
    for (let i = 0; i < 512; i++) {
      const lo = mmu.lo(sp, i);
      if (!isShadowPresentPte(lo)) continue;
      const hi = mmu.hi(sp, i);
      if (isLastSpte(lo, sp.level)) {
        out.push({ gfn: mmu.entryGfn(sp, i), level: sp.level, pfn: spteToPfn(lo, hi) });
        continue;
      }
      const child = mmu.sps.get(spteToPfn(lo, hi));
      if (child !== undefined) visit(child);
    }
  };
  visit(root);
  return out;
}

/** An S-EPT entry as the module holds it. */
interface SeptLeaf {
  readonly gfn: number;
  /** KVM PG_LEVEL (module level + 1). */
  readonly level: number;
  readonly pfn: number;
  readonly state: number;
}

/** Walk the TD's Secure-EPT (the module's tables in the pool): leaves and tables. */
function septContents(kvm: Kvm): { leaves: SeptLeaf[]; tables: Map<string, number> } | null {
  const tdx = kvm.tdx;
  if (tdx === null || tdx.tdr < 0) return null;
  const td = tdx.module.td(tdx.tdr);
  if (td === undefined || td.septRoot < 0) return null;
  const pool = kvm.pool;
  const leaves: SeptLeaf[] = [];
  // key "gfn:pgLevel" of the table an NL entry points to → table PFN
  const tables = new Map<string, number>();
  const visit = (tablePfn: number, level: number, baseGfn: number) => {
    const span = 2 ** (9 * level);
    for (let i = 0; i < 512; i++) {
      const lo = pool.readLo(tablePfn, i);
      const hi = pool.readHi(tablePfn, i);
      const state = septStateOf(lo, hi);
      if (state === SeptState.FREE || state < 0) continue;
      const gfn = baseGfn + i * span;
      if (isLeafState(state)) {
        leaves.push({ gfn, level: level + 1, pfn: septEntryPfn(lo, hi), state });
      } else if (level > 0) {
        const child = septEntryPfn(lo, hi);
        tables.set(`${gfn}:${level}`, child);
        visit(child, level - 1, gfn);
      }
    }
  };
  visit(td.septRoot, td.septRootLevel, 0);
  return { leaves, tables };
}

/** Check every invariant; an empty list means the model is consistent. */
export function checkInvariants(kvm: Kvm): Violation[] {
  const out: Violation[] = [];
  const v = (invariant: string, detail: string) => out.push({ invariant, detail });
  const mmu = kvm.mmu;
  const pool = kvm.pool;
  const tdx = kvm.tdx;

  for (const b of kvm.bugs) v('kvm-bug', b);
  checkGmemZeroed(kvm, v);
  checkHkidFlushed(kvm, v);

  const direct = mmu.directRoot !== null ? rootLeaves(kvm, mmu.directRoot) : [];
  const mirror = mmu.mirrorRoot !== null ? rootLeaves(kvm, mmu.mirrorRoot) : [];

  // private-frame-root and attributes-respected
  for (const leaf of direct) {
    const owner = pool.owner(leaf.pfn);
    const n = pagesPerHpage(leaf.level);
    if (tdx !== null) {
      if (owner === FrameOwner.GUEST_MEMFD) {
        v(
          'private-frame-root',
          `direct root maps guest_memfd frame ${hex(leaf.pfn)} at gfn ${hex(leaf.gfn)}`,
        );
      }
      if (!kvm.attributes.rangeHas(leaf.gfn, leaf.gfn + n, 0, KVM_MEMORY_ATTRIBUTE_PRIVATE)) {
        v(
          'attributes-respected',
          `shared mapping of private gfn range ${hex(leaf.gfn)}+${n} in the direct root`,
        );
      }
      continue;
    }
    if (owner === FrameOwner.GUEST_MEMFD) {
      const expected = gmemPfnOf(kvm, leaf.gfn);
      if (expected !== leaf.pfn) {
        v(
          'private-frame-root',
          `gfn ${hex(leaf.gfn)} maps guest_memfd frame ${hex(leaf.pfn)} that is not its own`,
        );
      }
      if (
        !kvm.attributes.rangeHas(
          leaf.gfn,
          leaf.gfn + n,
          KVM_MEMORY_ATTRIBUTE_PRIVATE,
          KVM_MEMORY_ATTRIBUTE_PRIVATE,
        )
      ) {
        v(
          'attributes-respected',
          `private frame mapped at shared gfn ${hex(leaf.gfn)} (level ${leaf.level})`,
        );
      }
    } else if (owner === FrameOwner.VMM_SHARED) {
      if (!kvm.attributes.rangeHas(leaf.gfn, leaf.gfn + n, 0, KVM_MEMORY_ATTRIBUTE_PRIVATE)) {
        v(
          'attributes-respected',
          `shared frame mapped at private gfn ${hex(leaf.gfn)} (level ${leaf.level})`,
        );
      }
    } else {
      v('private-frame-root', `gfn ${hex(leaf.gfn)} maps frame ${hex(leaf.pfn)} owned by ${owner}`);
    }
  }
  for (const leaf of mirror) {
    if (pool.owner(leaf.pfn) !== FrameOwner.GUEST_MEMFD) {
      v(
        'private-frame-root',
        `mirror root maps non-guest_memfd frame ${hex(leaf.pfn)} at gfn ${hex(leaf.gfn)}`,
      );
    }
    if (
      !kvm.attributes.rangeHas(
        leaf.gfn,
        leaf.gfn + pagesPerHpage(leaf.level),
        KVM_MEMORY_ATTRIBUTE_PRIVATE,
        KVM_MEMORY_ATTRIBUTE_PRIVATE,
      )
    ) {
      v(
        'attributes-respected',
        `private mapping of shared gfn ${hex(leaf.gfn)} in the mirror root`,
      );
    }
  }

  // no-mixed-huge
  for (const leaf of [...direct, ...mirror]) {
    if (leaf.level === 1) continue;
    const n = pagesPerHpage(leaf.level);
    const attrs = kvm.attributes.get(leaf.gfn);
    if (!kvm.attributes.rangeHas(leaf.gfn, leaf.gfn + n, attrs)) {
      v('no-mixed-huge', `level-${leaf.level} leaf at gfn ${hex(leaf.gfn)} spans mixed attributes`);
    }
  }

  // host-private
  for (const g of kvm.gmems.values()) {
    for (const pfn of g.pages.values()) {
      if (kvm.vmm.owns(pfn))
        v('host-private', `guest_memfd ${g.fd} frame ${hex(pfn)} is VMM memory`);
      if (pool.owner(pfn) !== FrameOwner.GUEST_MEMFD) {
        v('host-private', `guest_memfd ${g.fd} frame ${hex(pfn)} has owner ${pool.owner(pfn)}`);
      }
    }
  }
  for (const pfn of kvm.vmm.frames()) {
    if (pool.owner(pfn) === FrameOwner.GUEST_MEMFD) {
      v('host-private', `VMM memory contains guest_memfd frame ${hex(pfn)}`);
    }
  }

  // SNP: the RMP agrees with the NPT (a guest_memfd frame is a private mapping).
  const sev = kvm.sev;
  if (sev !== null && !kvm.destroyed) {
    const mappings = direct.map((l) => ({
      gfn: l.gfn,
      level: l.level,
      pfn: l.pfn,
      private: pool.owner(l.pfn) === FrameOwner.GUEST_MEMFD,
    }));
    for (const r of sev.checkRmp(mappings)) v('rmp', r.detail);
  }

  // TDX: mirror-sept-agree, pamt-ownership, tlb-tracked
  if (tdx !== null && !kvm.destroyed) {
    const sept = septContents(kvm);
    if (sept !== null) {
      const byGfn = new Map<number, SeptLeaf>();
      for (const s of sept.leaves) byGfn.set(s.gfn, s);
      const mirrorByGfn = new Map<number, Leaf>();
      for (const m of mirror) mirrorByGfn.set(m.gfn, m);
      const unmatched: number[] = [];
      for (const m of mirror) {
        const s = byGfn.get(m.gfn);
        if (s === undefined) {
          unmatched.push(m.gfn);
          continue;
        }
        const pamt = tdx.module.pamt;
        const tdrPfn = tdx.tdr / PAGE_SIZE;
        if (pamt.pt(m.pfn, 0) !== PageType.PT_REG || pamt.owner(m.pfn, 0) !== tdrPfn) {
          v(
            'pamt-ownership',
            `page ${hex(m.pfn)} the mirror maps at gfn ${hex(m.gfn)} is not PT_REG of the TD in the PAMT`,
          );
        }
        if (s.level !== m.level || s.pfn !== m.pfn) {
          v(
            'mirror-sept-agree',
            `gfn ${hex(m.gfn)}: mirror level ${m.level} pfn ${hex(m.pfn)}, S-EPT level ${s.level} pfn ${hex(s.pfn)}`,
          );
        }
      }
      // A premapped leaf (before finalize, PAGE.ADD not done) has no S-EPT leaf yet; exactly
      // nr_premapped of them may exist.
      if (unmatched.length !== tdx.nrPremapped) {
        for (const gfn of unmatched) {
          v(
            'mirror-sept-agree',
            `mirror maps gfn ${hex(gfn)} but the S-EPT has no leaf there (nr_premapped ${tdx.nrPremapped})`,
          );
        }
      }
      for (const s of sept.leaves) {
        if (!mirrorByGfn.has(s.gfn)) {
          v(
            'mirror-sept-agree',
            `S-EPT maps gfn ${hex(s.gfn)} (pfn ${hex(s.pfn)}) but the mirror does not`,
          );
        }
        if (isAnyBlocked(s.state)) {
          v('tlb-tracked', `S-EPT leaf at gfn ${hex(s.gfn)} left blocked (state ${s.state})`);
        }
        const tdrPfn = tdx.tdr / PAGE_SIZE;
        const pamt = tdx.module.pamt;
        if (
          !mirrorByGfn.has(s.gfn) &&
          (pamt.pt(s.pfn, 0) !== PageType.PT_REG || pamt.owner(s.pfn, 0) !== tdrPfn)
        ) {
          v(
            'pamt-ownership',
            `page ${hex(s.pfn)} mapped at gfn ${hex(s.gfn)} is not PT_REG of the TD in the PAMT`,
          );
        }
      }
      // Every mirror table has its S-EPT table (the external_spt) at the same place.
      for (const sp of mmu.sps.values()) {
        if (!sp.isMirror || sp === mmu.mirrorRoot) continue;
        const septTable = sept.tables.get(`${sp.baseGfn}:${sp.level}`);
        if (septTable === undefined) {
          v(
            'mirror-sept-agree',
            `mirror table for gfn ${hex(sp.baseGfn)} level ${sp.level} has no S-EPT table`,
          );
        } else if (septTable !== sp.externalSpt) {
          v(
            'mirror-sept-agree',
            `S-EPT table for gfn ${hex(sp.baseGfn)} level ${sp.level} is ${hex(septTable)}, not the external_spt ${hex(sp.externalSpt)}`,
          );
        }
        const pamt = tdx.module.pamt;
        if (sp.externalSpt >= 0 && pamt.pt(sp.externalSpt, 0) !== PageType.PT_EPT) {
          v('pamt-ownership', `external_spt ${hex(sp.externalSpt)} is not PT_EPT in the PAMT`);
        }
      }
    }
  }
  return out;
}

/** The guest_memfd frame currently backing `gfn`'s private side, if allocated. */
function gmemPfnOf(kvm: Kvm, gfn: number): number | undefined {
  const slot = kvm.gfnToMemslot(gfn);
  const file = slot?.gmem?.file;
  if (slot === undefined || !file) return undefined;
  return file.pages.get(gfn - slot.baseGfn + (slot.gmem?.pgoff ?? 0));
}

/** Check and report: every violation also goes to the event stream. */
export function checkAndReport(kvm: Kvm): Violation[] {
  const found = checkInvariants(kvm);
  if (kvm.events.active) {
    for (const f of found)
      kvm.events.emit({ type: 'violation', invariant: f.invariant, detail: f.detail });
  }
  return found;
}

/** gmem-zeroed: no guest_memfd page was handed out for the first time holding old bytes. */
export function checkGmemZeroed(kvm: Kvm, v: (invariant: string, detail: string) => void): void {
  for (const file of kvm.gmems.values()) {
    for (const index of file.handedDirty) {
      v(
        'gmem-zeroed',
        `a guest_memfd page (offset ${hex(index * PAGE_SIZE)}) was handed out not zeroed`,
      );
    }
  }
}

/** hkid-flushed: no frame removed from the TD still waits for TDH.PHYMEM.PAGE.WBINVD. */
export function checkHkidFlushed(kvm: Kvm, v: (invariant: string, detail: string) => void): void {
  const tdx = kvm.tdx;
  if (tdx === null) return;
  for (const pfn of tdx.hkidDirty) {
    v(
      'hkid-flushed',
      `frame ${hex(pfn)} left the TD without TDH.PHYMEM.PAGE.WBINVD of HKID ${tdx.hkid}: its cache lines may be written back over its next contents`,
    );
  }
}
