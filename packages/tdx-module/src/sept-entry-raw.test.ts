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

  it('SEPT.ADD links its fresh FREE-filled table with an exact count (tree statistics match)', () => {
    const f = buildTd();
    expectOk(f.mod.mrFinalize(f.tdr), 'MR.FINALIZE');
    const gpas = [0x40000000, 0x40200000, 0x80000000, 0x7f0000000];
    for (const gpa of gpas) {
      mapTables(f, gpa);
      expectOk(f.mod.memPageAug(f.tdr, gpa, 0, f.page(FrameOwner.GUEST_MEMFD)));
      expectOk(f.mod.memPageAug(f.tdr, gpa + 0x1000, 0, f.page(FrameOwner.GUEST_MEMFD)));
    }
    const tree = f.mod.td(f.tdr)?.sept;
    expect(tree).toBeDefined();
    const stats = tree?.stats();
    // Four 4K-leaf tables and the tables above them; eight PENDING leaves, all at 4K.
    expect(stats?.leaves[1]).toBe(8);
    expect(stats?.leaves[2]).toBe(0);
    expect(stats?.tables[1]).toBe(4);
    expect(stats?.mappedPages).toBe(8);
  });
});
