import { PG_LEVEL_2M, PG_LEVEL_4K } from '@kvmx/address';
import { describe, expect, it } from 'vitest';
import { sevGmemPrepare } from './gmem-hooks.js';
import { Rmp } from './rmp.js';
import { checkRmpInvariant, type NptMapping, rmpCheckView } from './rmp-invariant.js';

const ASID = 4;
const VM = { snpActive: true, asid: ASID };
const GFN = 0x800; // 2M-aligned
const PFN = 0x100000;

function healthy() {
  const rmp = new Rmp();
  // A 2M private page, a 4K private page, and a shared page.
  sevGmemPrepare(rmp, VM, PFN, GFN, 9);
  sevGmemPrepare(rmp, VM, PFN + 0x400, GFN + 0x400, 0);
  const mappings: NptMapping[] = [
    { gfn: GFN, level: PG_LEVEL_2M, pfn: PFN, private: true },
    { gfn: GFN + 0x400, level: PG_LEVEL_4K, pfn: PFN + 0x400, private: true },
    { gfn: 0x10, level: PG_LEVEL_4K, pfn: PFN + 0x800, private: false },
  ];
  return { rmp, mappings };
}

describe('RMP invariant', () => {
  it('holds for private frames assigned at their GPA and shared frames unassigned', () => {
    const { rmp, mappings } = healthy();
    expect(checkRmpInvariant(rmp, ASID, mappings)).toEqual([]);
  });

  it('reports a private mapping whose frame was made shared behind KVM', () => {
    const { rmp, mappings } = healthy();
    rmp.rmpupdate(PFN + 0x400, { gpa: 0, assigned: false, pageSize: 1, immutable: false, asid: 0 });
    expect(checkRmpInvariant(rmp, ASID, mappings)).toEqual([
      {
        type: 'violation',
        invariant: 'rmp',
        detail:
          'private mapping gfn 0xc00 (level 1) -> pfn 0x100400: RMP entry is not assigned (hypervisor-owned)',
      },
    ]);
  });

  it('names the first wrong frame of a huge mapping (wrong GPA after a remap)', () => {
    const { rmp, mappings } = healthy();
    rmp.psmash(PFN);
    rmp.rmpupdate(PFN + 3, {
      gpa: 0x5000,
      assigned: true,
      pageSize: 1,
      immutable: false,
      asid: ASID,
    });
    const v = checkRmpInvariant(rmp, ASID, mappings);
    expect(v.map((x) => x.detail)).toEqual([
      'private mapping gfn 0x800 (level 2) -> pfn 0x100000: mapped at level 2 over RMP entries of level 1',
    ]);
    const as4k = checkRmpInvariant(rmp, ASID, [
      { gfn: GFN + 3, level: PG_LEVEL_4K, pfn: PFN + 3, private: true },
    ]);
    expect(as4k.map((x) => x.detail)).toEqual([
      'private mapping gfn 0x803 (level 1) -> pfn 0x100003: RMP entry maps gpa 0x5000, not 0x803000',
    ]);
  });

  it("reports another guest's frame and a shared mapping of an assigned frame", () => {
    const { rmp } = healthy();
    const v = checkRmpInvariant(rmp, ASID + 1, [
      { gfn: GFN + 0x400, level: PG_LEVEL_4K, pfn: PFN + 0x400, private: true },
      { gfn: GFN, level: PG_LEVEL_2M, pfn: PFN, private: false },
    ]);
    expect(v.map((x) => x.detail)).toEqual([
      'private mapping gfn 0xc00 (level 1) -> pfn 0x100400: RMP entry belongs to ASID 4, not 5',
      'shared mapping gfn 0x800 (level 2) -> pfn 0x100000 at pfn 0x100000: frame is assigned in the RMP (ASID 4, gpa 0x800000)',
    ]);
  });
});

describe('check root: rmp', () => {
  it('reports mapped, level and state of the frame behind a GPA', () => {
    const { rmp } = healthy();
    expect(rmpCheckView(rmp, ASID, GFN * 4096 + 0x10, PFN)).toEqual({
      mapped: true,
      level: PG_LEVEL_2M,
      state: 'unvalidated',
    });
    rmp.pvalidate(ASID, GFN * 4096, PFN, PG_LEVEL_2M, true);
    expect(rmpCheckView(rmp, ASID, GFN * 4096, PFN).state).toBe('validated');
    expect(rmpCheckView(rmp, ASID, 0x10000, PFN + 0x800)).toEqual({
      mapped: false,
      level: PG_LEVEL_4K,
      state: 'shared',
    });
    expect(rmpCheckView(rmp, ASID + 1, GFN * 4096, PFN).mapped).toBe(false);
  });
});
