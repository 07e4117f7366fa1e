import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryAttributes } from './attributes.js';

describe('MemoryAttributes (interval store)', () => {
  it('stores ranges as intervals and merges equal neighbours', () => {
    const a = new MemoryAttributes();
    a.set(10, 20, 8);
    a.set(20, 30, 8);
    expect(a.intervals()).toEqual([{ start: 10, end: 30, attrs: 8 }]);
    a.set(15, 16, 0);
    expect(a.intervals()).toEqual([
      { start: 10, end: 15, attrs: 8 },
      { start: 16, end: 30, attrs: 8 },
    ]);
    expect(a.get(15)).toBe(0);
    expect(a.get(16)).toBe(8);
    expect(a.rangeHas(10, 15, 8)).toBe(true);
    expect(a.rangeHas(10, 16, 8)).toBe(false);
    expect(a.rangeHas(0, 10, 0)).toBe(true);
    // 1 GiB of GFNs is one interval.
    a.set(2 ** 30, 2 ** 30 + 2 ** 18, 8);
    expect(a.intervalCount).toBe(3);
    // Edge GFNs near 2^40.
    a.set(2 ** 40 - 1, 2 ** 40, 8);
    expect(a.get(2 ** 40 - 1)).toBe(8);
  });

  it('law: agrees with a per-page reference after any sequence of sets', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 63 }),
            fc.integer({ min: 0, max: 16 }),
            fc.constantFrom(0, 8, 1),
          ),
          { maxLength: 30 },
        ),
        fc.integer({ min: 0, max: 63 }),
        fc.integer({ min: 0, max: 16 }),
        (ops, qs, qn) => {
          const a = new MemoryAttributes();
          const ref = new Array<number>(96).fill(0);
          for (const [start, n, v] of ops) {
            a.set(start, start + n, v);
            for (let g = start; g < start + n; g++) ref[g] = v;
          }
          for (let g = 0; g < 96; g++) expect(a.get(g)).toBe(ref[g]);
          const slice = ref.slice(qs, qs + qn);
          for (const v of [0, 8, 1])
            expect(a.rangeHas(qs, qs + qn, v)).toBe(slice.every((x) => x === v));
          // Canonical form: sorted, disjoint, non-empty, non-zero, neighbours differ or gap.
          const iv = a.intervals();
          for (let i = 0; i < iv.length; i++) {
            const cur = iv[i];
            if (cur === undefined) continue;
            expect(cur.end).toBeGreaterThan(cur.start);
            expect(cur.attrs).not.toBe(0);
            const prev = iv[i - 1];
            if (prev !== undefined) {
              expect(cur.start).toBeGreaterThanOrEqual(prev.end);
              if (cur.start === prev.end) expect(cur.attrs).not.toBe(prev.attrs);
            }
          }
        },
      ),
    );
  });
});
