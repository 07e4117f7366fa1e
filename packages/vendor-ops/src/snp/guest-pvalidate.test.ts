import { PG_LEVEL_2M, PG_LEVEL_4K, type PgLevel } from '@kvmx/address';
import { describe, expect, it } from 'vitest';
import { snpConversionSteps, snpGuestPvalidateRange } from './guest-pvalidate.js';
import { Rmp } from './rmp.js';
import { FAIL_SIZEMISMATCH, PVALIDATE_FAIL_NOUPDATE } from './rmp-status.js';

const ASID = 3;
const GPA = 0x40000000; // 1 GiB, 2M-aligned
const PFN = 0x200000; // 2M-aligned

/** A guest whose GPA → PFN translation is linear from GPA/PFN above. */
function guest(rmp: Rmp, validate: boolean, calls: [number, PgLevel][] = []) {
  return (gpa: number, level: PgLevel) => {
    calls.push([gpa, level]);
    return rmp.pvalidate(ASID, gpa, PFN + (gpa - GPA) / 4096, level, validate);
  };
}

describe('guest PVALIDATE of a range', () => {
  it('uses one 2M PVALIDATE on a 2M RMP entry', () => {
    const rmp = new Rmp();
    rmp.rmpupdate(PFN, {
      gpa: GPA,
      assigned: true,
      pageSize: PG_LEVEL_2M,
      immutable: false,
      asid: ASID,
    });
    const calls: [number, PgLevel][] = [];
    expect(snpGuestPvalidateRange(GPA, 0x200000, guest(rmp, true, calls))).toEqual({
      kind: 'done',
      pages4k: 0,
      pages2m: 1,
    });
    expect(calls).toEqual([[GPA, PG_LEVEL_2M]]);
  });

  it('falls back to 512 4K PVALIDATEs on FAIL_SIZEMISMATCH', () => {
    const rmp = new Rmp();
    for (let i = 0; i < 512; i++) {
      rmp.rmpupdate(PFN + i, {
        gpa: GPA + i * 4096,
        assigned: true,
        pageSize: PG_LEVEL_4K,
        immutable: false,
        asid: ASID,
      });
    }
    const calls: [number, PgLevel][] = [];
    expect(snpGuestPvalidateRange(GPA, 0x201000 - 0x1000, guest(rmp, true, calls))).toEqual({
      kind: 'done',
      pages4k: 512,
      pages2m: 0,
    });
    expect(calls[0]).toEqual([GPA, PG_LEVEL_2M]);
    expect(calls).toHaveLength(513);
    expect(rmp.pvalidate(ASID, GPA, PFN, PG_LEVEL_2M, true)).toMatchObject({
      rc: FAIL_SIZEMISMATCH,
    });
  });

  it('stops at an #NPF (4K on a 2M entry) so KVM can PSMASH, then resumes', () => {
    const rmp = new Rmp();
    rmp.rmpupdate(PFN, {
      gpa: GPA,
      assigned: true,
      pageSize: PG_LEVEL_2M,
      immutable: false,
      asid: ASID,
    });
    const r = snpGuestPvalidateRange(GPA + 0x3000, 0x2000, guest(rmp, true));
    expect(r).toMatchObject({ kind: 'npf', gpa: GPA + 0x3000 });
    rmp.psmash(PFN);
    expect(snpGuestPvalidateRange(GPA + 0x3000, 0x2000, guest(rmp, true))).toEqual({
      kind: 'done',
      pages4k: 2,
      pages2m: 0,
    });
  });

  it('treats a page already in the requested state as fatal, as a Linux guest does', () => {
    const rmp = new Rmp();
    rmp.rmpupdate(PFN, {
      gpa: GPA,
      assigned: true,
      pageSize: PG_LEVEL_4K,
      immutable: false,
      asid: ASID,
    });
    expect(snpGuestPvalidateRange(GPA, 0x1000, guest(rmp, true)).kind).toBe('done');
    expect(snpGuestPvalidateRange(GPA, 0x1000, guest(rmp, true))).toEqual({
      kind: 'fail',
      gpa: GPA,
      rc: PVALIDATE_FAIL_NOUPDATE,
    });
  });

  it('orders a conversion: PSC then PVALIDATE to private, rescind then PSC to shared', () => {
    expect(snpConversionSteps(true)).toEqual(['psc', 'pvalidate']);
    expect(snpConversionSteps(false)).toEqual(['pvalidate', 'psc']);
  });
});
