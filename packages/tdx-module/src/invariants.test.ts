import { FrameOwner } from '@kvmx/paging';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isLeafState, SeptState, septEntryPfn, septStateOf } from './sept-state.js';
import { PageType } from './td-state.js';
import { buildTdIn, expectOk, type Fixture, newModule } from './test-helpers.js';

/** Every S-EPT entry of the TD, depth first: (module level, lo, hi). */
function septEntries(f: Fixture, visit: (level: number, lo: number, hi: number) => void): void {
  const td = f.mod.td(f.tdr);
  if (td?.sept === undefined || td.sept === null) return;
  const tree = td.sept;
  const walk = (table: number, level: number) => {
    const base = tree.tableBase(table);
    const store = f.pool.store;
    for (let i = 0; i < 512; i++) {
      const lo = (store[base + 2 * i] as number) >>> 0;
      const hi = (store[base + 2 * i + 1] as number) >>> 0;
      const s = septStateOf(lo, hi);
      visit(level, lo, hi);
      if (s === SeptState.NL_MAPPED || s === SeptState.NL_BLOCKED)
        walk(septEntryPfn(lo, hi), level - 1);
    }
  };
  walk(td.septRoot, td.septRootLevel);
}

/** The module's own bookkeeping must agree with its S-EPT and control pages. */
function checkInvariants(f: Fixture): void {
  const td = f.mod.td(f.tdr);
  if (td === undefined) throw new Error('no TD');
  let tables = 0;
  let pages = 0;
  const bad: string[] = [];
  septEntries(f, (level, lo, hi) => {
    const s = septStateOf(lo, hi);
    if (s === -1) bad.push(`invalid encoding at level ${level}`);
    const pfn = septEntryPfn(lo, hi);
    if (s === SeptState.NL_MAPPED || s === SeptState.NL_BLOCKED) {
      tables++;
      if (f.mod.pamt.pt(pfn, 0) !== PageType.PT_EPT || f.mod.pamt.owner(pfn, 0) !== td.tdrPfn) {
        bad.push(`table 0x${pfn.toString(16)} is not PT_EPT of this TD`);
      }
    } else if (isLeafState(s)) {
      pages += 512 ** level;
      if (
        f.mod.pamt.pt(pfn, level) !== PageType.PT_REG ||
        f.mod.pamt.owner(pfn, level) !== td.tdrPfn
      ) {
        bad.push(`leaf 0x${pfn.toString(16)} (level ${level}) is not PT_REG of this TD`);
      }
    }
  });
  expect(bad).toEqual([]);
  let vcpuPages = 0;
  for (const v of td.vcpus) vcpuPages += f.mod.vcpus.get(v)?.pages.length ?? 0;
  // TDR.CHLDCNT counts every child page in 4K units (tdx-module.md §4.1).
  expect(td.chldcnt).toBe(td.tdcx.length + vcpuPages + tables + pages);
  // Nobody is left inside the TD between operations, so both epoch slots drain.
  expect(td.refcount[0]).toBeGreaterThanOrEqual(0);
  expect(td.refcount[1]).toBeGreaterThanOrEqual(0);
}

type Op =
  | { op: 'septAdd'; slot: number; level: number }
  | { op: 'aug'; slot: number; big: boolean }
  | { op: 'block'; slot: number; level: number }
  | { op: 'unblock'; slot: number; level: number }
  | { op: 'track' }
  | { op: 'remove'; slot: number; level: number }
  | { op: 'zap'; slot: number; level: number }
  | { op: 'septRemove'; slot: number; level: number }
  | { op: 'accept'; slot: number; big: boolean }
  | { op: 'demote'; slot: number }
  | { op: 'promote'; slot: number };

const slot = fc.integer({ min: 0, max: 5 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      op: fc.constant('septAdd' as const),
      slot,
      level: fc.constantFrom(1, 1, 2),
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ op: fc.constant('aug' as const), slot, big: fc.boolean() }), weight: 4 },
  {
    arbitrary: fc.record({
      op: fc.constant('block' as const),
      slot,
      level: fc.constantFrom(0, 0, 1),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('unblock' as const),
      slot,
      level: fc.integer({ min: 0, max: 1 }),
    }),
    weight: 1,
  },
  { arbitrary: fc.record({ op: fc.constant('track' as const) }), weight: 3 },
  {
    arbitrary: fc.record({
      op: fc.constant('remove' as const),
      slot,
      level: fc.constantFrom(0, 0, 1),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('zap' as const),
      slot,
      level: fc.constantFrom(0, 0, 1),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('septRemove' as const),
      slot,
      level: fc.integer({ min: 1, max: 2 }),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({ op: fc.constant('accept' as const), slot, big: fc.boolean() }),
    weight: 2,
  },
  { arbitrary: fc.record({ op: fc.constant('demote' as const), slot }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('promote' as const), slot }), weight: 1 },
);

/** Slot → GPA: eight 4K pages spread over two 2M regions and two 1G regions. */
function gpaOf(s: number): number {
  return (s >> 2) * 2 ** 30 + ((s >> 1) & 1) * 2 ** 21 + (s & 1) * 0x5000;
}
const align = (gpa: number, level: number) => gpa - (gpa % 2 ** (12 + 9 * level));

describe('S-EPT, PAMT and TDR.CHLDCNT stay consistent under any host/guest sequence', () => {
  it('holds for random sequences (property)', { timeout: 60000 }, () => {
    const succeeded = new Map<string, number>();
    // One module and host for all runs; each run builds a new TD (a new HKID) in it.
    const host = newModule({ tdxKeyIds: 128 });
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 5, maxLength: 40, size: 'max' }), (ops) => {
        const f = buildTdIn(host.pool, host.mod);
        const { mod, tdr, pool } = f;
        expectOk(mod.mrFinalize(tdr));
        const v = f.vcpus[0] as number;
        mod.setListener((e) => {
          if (e.status.hi === 0) succeeded.set(e.name, (succeeded.get(e.name) ?? 0) + 1);
        });
        for (const o of ops) {
          switch (o.op) {
            case 'septAdd':
              // Link the missing tables from the root down to `level`, as KVM's fault path does.
              for (let l = 3; l >= o.level; l--) {
                mod.memSeptAdd(tdr, align(gpaOf(o.slot), l), l, f.page());
              }
              break;
            case 'aug':
              if (o.big) {
                const base = pool.allocContiguous(512, FrameOwner.GUEST_MEMFD, 512) * 4096;
                mod.memPageAug(tdr, align(gpaOf(o.slot), 1), 1, base);
              } else mod.memPageAug(tdr, gpaOf(o.slot), 0, f.page());
              break;
            case 'block':
              mod.memRangeBlock(tdr, align(gpaOf(o.slot), o.level), o.level);
              break;
            case 'unblock':
              mod.memRangeUnblock(tdr, align(gpaOf(o.slot), o.level), o.level);
              break;
            case 'track':
              mod.memTrack(tdr);
              break;
            case 'remove':
              mod.memPageRemove(tdr, align(gpaOf(o.slot), o.level), o.level);
              break;
            case 'zap': {
              // KVM's tdx_sept_remove_private_spte() on a leaf: BLOCK, TRACK, REMOVE must all
              // succeed when no vCPU is inside the TD.
              const g = align(gpaOf(o.slot), o.level);
              const e = mod.septEntry(tdr, g, o.level);
              if (e?.level === o.level && (e.state === 'MAPPED' || e.state === 'PENDING')) {
                expectOk(mod.memRangeBlock(tdr, g, o.level));
                expectOk(mod.memTrack(tdr));
                expectOk(mod.memPageRemove(tdr, g, o.level));
              }
              break;
            }
            case 'septRemove':
              mod.memSeptRemove(tdr, align(gpaOf(o.slot), o.level), o.level);
              break;
            case 'accept': {
              expectOk(mod.enterGuest(v));
              const level = o.big ? 1 : 0;
              const r = mod.tdgMemPageAccept(v, align(gpaOf(o.slot), level), level);
              if (r.kind === 'status') mod.exitGuest(v);
              break;
            }
            case 'demote':
              mod.memPageDemote(tdr, align(gpaOf(o.slot), 1), 1, f.page());
              break;
            case 'promote':
              mod.memPagePromote(tdr, align(gpaOf(o.slot), 1), 1);
              break;
          }
          checkInvariants(f);
        }
      }),
      { numRuns: 100 },
    );
    // The sequences must reach the interesting transitions, not only refusals.
    for (const leaf of [
      'TDH.MEM.PAGE.AUG',
      'TDH.MEM.RANGE.BLOCK',
      'TDH.MEM.PAGE.REMOVE',
      'TDG.MEM.PAGE.ACCEPT',
    ]) {
      expect(succeeded.get(leaf) ?? 0, leaf).toBeGreaterThan(0);
    }
  });
});
