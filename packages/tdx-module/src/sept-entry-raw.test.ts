// septEntryRaw() is septEntry() without the result object: the same walk, the same entry.
import { FrameOwner } from '@kvmx/paging';
import { describe, expect, it } from 'vitest';
import { buildTd, expectOk, mapTables } from './test-helpers.js';

describe('septEntryRaw', () => {
  it('reaches the entry septEntry() describes, at every level, mapped or not', () => {
    const f = buildTd();
    expectOk(f.mod.mrFinalize(f.tdr), 'MR.FINALIZE');
    const base = 0x40000000;
    mapTables(f, base);
    for (let i = 0; i < 4; i++) {
      expectOk(f.mod.memPageAug(f.tdr, base + i * 0x1000, 0, f.page(FrameOwner.GUEST_MEMFD)));
    }
    const gpas = [
      0,
      0x1000,
      base,
      base + 0x1000,
      base + 0x3fff,
      base + 0x200000,
      2 ** 46,
      2 ** 47 - 4096,
    ];
    for (const gpa of gpas) {
      for (let level = 0; level <= 3; level++) {
        const e = f.mod.septEntry(f.tdr, gpa, level);
        expect(f.mod.septEntryRaw(f.tdr, gpa, level)).toBe(e !== null);
        if (e === null) continue;
        expect([f.mod.walkedLo, f.mod.walkedHi, f.mod.walkedLevel]).toEqual([e.lo, e.hi, e.level]);
      }
    }
    expect(f.mod.septEntryRaw(f.tdr + 0x1000, base, 0)).toBe(false);
  });
});
