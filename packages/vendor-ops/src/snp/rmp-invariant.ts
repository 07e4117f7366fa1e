// The RMP invariant of an SNP guest, as a checker over (NPT mappings, RMP): every private
// mapping's frames are assigned to this guest at exactly the mapped GPAs, never mapped larger
// than their RMP entry; every shared mapping's frames are hypervisor-owned.
//
// Why these: a private frame not assigned to the guest (or assigned at another GPA) would
// fault on every access — or, if a bug left it assigned elsewhere, give the guest another
// guest's page; a shared frame still assigned would make every shared write an RMP #NPF and
// means conversion left the RMP behind. The size rule is what sev_private_max_mapping_level()
// guarantees (sev-snp.md A.3): the MMU never maps a private page larger than its RMP entry.
// ARCHITECTURE.md "Invariants": "PAMT and RMP ownership match what is mapped".
// Also the view behind the scenario `check` with `root: rmp` (CONTRACTS §2).

import {
  hex,
  PAGE_SIZE,
  PG_LEVEL_2M,
  PG_LEVEL_4K,
  type PgLevel,
  pagesPerHpage,
} from '@kvmx/address';
import type { Rmp } from './rmp.js';

/** One leaf of the guest's nested page table, as the checker needs it. */
export interface NptMapping {
  readonly gfn: number;
  readonly level: PgLevel;
  readonly pfn: number;
  /** Installed by a private fault (a guest_memfd frame) rather than a shared one. */
  readonly private: boolean;
}

/** A broken invariant: CONTRACTS' `{"type":"violation","invariant":…,"detail":…}`. */
export interface RmpViolation {
  readonly type: 'violation';
  readonly invariant: 'rmp';
  readonly detail: string;
}

function violation(detail: string): RmpViolation {
  return { type: 'violation', invariant: 'rmp', detail };
}

function describeMapping(m: NptMapping): string {
  const kind = m.private ? 'private' : 'shared';
  return `${kind} mapping gfn ${hex(m.gfn)} (level ${m.level}) -> pfn ${hex(m.pfn)}`;
}

/**
 * Checks every mapping of the guest with ASID `asid` against the RMP. Returns one violation
 * per broken mapping (the first offending frame of a huge mapping is named), in input order;
 * empty when the invariant holds.
 */
export function checkRmpInvariant(
  rmp: Rmp,
  asid: number,
  mappings: Iterable<NptMapping>,
): RmpViolation[] {
  const out: RmpViolation[] = [];
  for (const m of mappings) {
    const n = pagesPerHpage(m.level);
    if (m.private) {
      if (m.level > PG_LEVEL_4K && rmp.covers(m.pfn) && rmp.isAssigned(m.pfn)) {
        const rmpLevel = rmp.levelOf(m.pfn);
        if (rmpLevel < m.level) {
          out.push(
            violation(
              `${describeMapping(m)}: mapped at level ${m.level} over RMP entries of level ${rmpLevel}`,
            ),
          );
          continue;
        }
      }
      for (let i = 0; i < n; i++) {
        const pfn = m.pfn + i;
        const gpa = (m.gfn + i) * PAGE_SIZE;
        const problem = privateFrameProblem(rmp, asid, pfn, gpa);
        if (problem !== null) {
          const at = n > 1 ? ` at pfn ${hex(pfn)} (gpa ${hex(gpa)})` : '';
          out.push(violation(`${describeMapping(m)}${at}: ${problem}`));
          break;
        }
      }
    } else {
      for (let i = 0; i < n; i++) {
        const pfn = m.pfn + i;
        if (rmp.covers(pfn) && rmp.isAssigned(pfn)) {
          const at = n > 1 ? ` at pfn ${hex(pfn)}` : '';
          out.push(
            violation(
              `${describeMapping(m)}${at}: frame is assigned in the RMP (ASID ${rmp.asidOf(pfn)}, gpa ${hex(rmp.gpaOf(pfn))})`,
            ),
          );
          break;
        }
      }
    }
  }
  return out;
}

function privateFrameProblem(rmp: Rmp, asid: number, pfn: number, gpa: number): string | null {
  if (!rmp.covers(pfn)) return 'frame is not covered by the RMP';
  if (!rmp.isAssigned(pfn)) return 'RMP entry is not assigned (hypervisor-owned)';
  const owner = rmp.asidOf(pfn);
  if (owner !== asid) return `RMP entry belongs to ASID ${owner}, not ${asid}`;
  const rgpa = rmp.gpaOf(pfn);
  if (rgpa !== gpa) return `RMP entry maps gpa ${hex(rgpa)}, not ${hex(gpa)}`;
  return null;
}

/** What `check` with `root: rmp` reports for a GPA's private frame. */
export interface RmpCheckView {
  /** The frame is assigned to this guest at this GPA. */
  readonly mapped: boolean;
  /** The authoritative RMP level (1 = 4K, 2 = 2M). */
  readonly level: PgLevel;
  /**
   * `shared` (hypervisor-owned), `immutable` (firmware-owned, e.g. mid-launch),
   * `unvalidated` (assigned, the guest has not PVALIDATEd it), `validated`.
   */
  readonly state: 'shared' | 'immutable' | 'unvalidated' | 'validated';
}

/** The RMP view of guest-memfd frame `pfn` behind `gpa` for the guest with `asid`. */
export function rmpCheckView(rmp: Rmp, asid: number, gpa: number, pfn: number): RmpCheckView {
  const pageGpa = gpa - (gpa % PAGE_SIZE);
  const assigned = rmp.covers(pfn) && rmp.isAssigned(pfn);
  const level = assigned ? rmp.levelOf(pfn) : PG_LEVEL_4K;
  let state: RmpCheckView['state'] = 'shared';
  if (assigned) {
    if (rmp.isImmutable(pfn)) state = 'immutable';
    else state = rmp.isValidated(pfn) ? 'validated' : 'unvalidated';
  }
  const mapped = assigned && rmp.asidOf(pfn) === asid && rmp.gpaOf(pfn) === pageGpa;
  return { mapped, level: level === PG_LEVEL_2M ? PG_LEVEL_2M : PG_LEVEL_4K, state };
}
