import { benchGfns } from '@kvmx/paging';
import { describe, expect, it } from 'vitest';
import { memoryIo } from '../io.js';
import { compileC, disposeC, runC } from './c-program.js';
import { FAULTIN_SLOT_GPA, runFaultin } from './faultin.js';
import { benchFaultin, nodeHost } from './faultin-bench.js';

// Timings are never asserted: these tests check that the workload does the work it claims,
// the same work as the C anchor, and that the report has its fields.
describe('bench faultin workload', () => {
  const gfns = benchGfns(300, 0x9e3779b9).perm;

  it('maps every GFN once, through SEPT.ADD and PAGE.AUG, with the checker clean', () => {
    const off = runFaultin(gfns, 'off', nodeHost);
    expect(off.pages).toBe(300);
    expect(off.mapped).toBe(300);
    let sum = 0;
    for (const g of gfns) sum += FAULTIN_SLOT_GPA / 4096 + g;
    expect(off.gfnSum).toBe(String(sum));
    // 300 random pages of 64 GiB: one PDPT, (almost) all 64 PDs, one PT per page or nearly.
    expect(off.septTables).toBeGreaterThan(300);
    expect(off.septTables).toBeLessThanOrEqual(1 + 64 + 300);
    const on = runFaultin(gfns, 'on', nodeHost);
    expect(on.checks).toBe(300);
    expect(on.violations).toBe(0);
    expect(on.septTables).toBe(off.septTables);
  }, 120_000);

  it('the C anchor does the same work (same GFNs, same S-EPT tables)', () => {
    const c = compileC('faultin');
    if (!c.available) return; // no C compiler on this host: nothing to compare
    try {
      const [cr] = runC<{ mapped: number; gfnSum: string; septTables: number; exits: number }>(c, [
        '300',
        '1',
        String(0x9e3779b9),
      ]);
      const js = runFaultin(gfns, 'off', nodeHost);
      expect(cr?.mapped).toBe(300);
      expect(cr?.exits).toBe(300);
      expect(cr?.gfnSum).toBe(js.gfnSum);
      expect(cr?.septTables).toBe(js.septTables);
    } finally {
      disposeC(c);
    }
  }, 120_000);

  it('a warm C run takes (almost) no page faults in its timed loop; the report counts them', () => {
    // A warm run must not pay first touches on the clock: GCC turns malloc() + memset(0) into
    // calloc(), which left every table's first touch (one page fault each) inside the loop.
    const c = compileC('faultin');
    if (!c.available) return;
    try {
      const [warm] = runC<{ pageFaults: number; septTables: number }>(c, [
        '3000',
        '1',
        String(0x9e3779b9),
        'warm',
      ]);
      const [cold] = runC<{ pageFaults: number }>(c, ['3000', '1', String(0x9e3779b9), 'cold']);
      expect(warm?.septTables).toBeGreaterThan(2000);
      expect(warm?.pageFaults).toBeLessThan(64);
      expect(cold?.pageFaults).toBeGreaterThan(1000);
    } finally {
      disposeC(c);
    }
    const js = runFaultin(gfns, 'off', nodeHost);
    expect(Number.isInteger(js.pageFaults) && js.pageFaults >= 0).toBe(true);
  }, 120_000);

  it('the report has the CONTRACTS §1 fields and says whether the work matched', () => {
    const io = memoryIo();
    const r = benchFaultin({ pages: 200, runs: 2, seed: 7, c: false, json: true }, io);
    const last = JSON.parse(io.stdout.at(-1) as string);
    for (const k of ['pages', 'seconds', 'pagesPerSec', 'rssBytes', 'pageFaults']) {
      expect(typeof last[k], k).toBe('number');
    }
    expect(last.pages).toBe(200);
    expect(last.checker.violations).toBe(0);
    expect(last.c).toEqual({ available: false, reason: 'skipped (--no-c)' });
    expect(last.sameWork).toBeNull();
    expect(r.bench).toBe('faultin');
  }, 120_000);
});
