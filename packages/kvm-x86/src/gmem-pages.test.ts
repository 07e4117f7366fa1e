import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GmemPages } from './gmem-pages.js';

type Op =
  | { kind: 'set'; index: number; pfn: number }
  | { kind: 'delete'; index: number }
  | { kind: 'prepare'; index: number }
  | { kind: 'unprepare'; index: number }
  | { kind: 'unprepareRange'; start: number; end: number };

// Offsets cluster in a few chunks (2^14 offsets each) and at the edges of the int32 fast path,
// PFNs include values above 2^32 (a pool near the 52-bit limit).
const offset = fc.oneof(
  fc.integer({ min: 0, max: 40 }),
  fc.integer({ min: 16380, max: 16390 }),
  fc.constantFrom(2 ** 24 - 1, 2 ** 31 - 1, 2 ** 31, 2 ** 35 + 7, 2 ** 40 - 1),
);
const pfn = fc.oneof(
  fc.integer({ min: 0x100000, max: 0x100100 }),
  fc.constantFrom(2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40 - 1),
);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), index: offset, pfn }),
  fc.record({ kind: fc.constant('delete' as const), index: offset }),
  fc.record({ kind: fc.constant('prepare' as const), index: offset }),
  fc.record({ kind: fc.constant('unprepare' as const), index: offset }),
  fc
    .tuple(offset, fc.integer({ min: 0, max: 20000 }))
    .map(([start, n]) => ({ kind: 'unprepareRange' as const, start, end: start + n })),
);

describe('GmemPages (guest_memfd page index)', () => {
  it('law: behaves as a Map<offset, pfn> plus a Set of prepared offsets, iteration order included', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const pages = new GmemPages();
        const ref = new Map<number, number>();
        const prep = new Set<number>();
        for (const o of ops) {
          switch (o.kind) {
            case 'set':
              pages.set(o.index, o.pfn);
              ref.set(o.index, o.pfn);
              break;
            case 'delete':
              expect(pages.delete(o.index)).toBe(ref.delete(o.index));
              break;
            case 'prepare':
              pages.prepared.add(o.index);
              prep.add(o.index);
              break;
            case 'unprepare':
              expect(pages.prepared.delete(o.index)).toBe(prep.delete(o.index));
              break;
            case 'unprepareRange':
              pages.prepared.deleteRange(o.start, o.end);
              for (const i of [...prep]) if (i >= o.start && i < o.end) prep.delete(i);
              break;
          }
          expect(pages.size).toBe(ref.size);
          expect(pages.prepared.size).toBe(prep.size);
        }
        expect([...pages]).toEqual([...ref]);
        expect([...pages.values()]).toEqual([...ref.values()]);
        for (const o of ops) {
          if (o.kind === 'unprepareRange') continue;
          expect(pages.get(o.index)).toBe(ref.get(o.index));
          expect(pages.pfnAt(o.index)).toBe(ref.get(o.index) ?? -1);
          expect(pages.prepared.has(o.index)).toBe(prep.has(o.index));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps insertion order through log compaction (many deletes and re-adds)', () => {
    const pages = new GmemPages();
    const ref = new Map<number, number>();
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 3000; i++) {
        const index = (i * 7919 + round * 13) % 50000;
        pages.set(index, 0x100000 + i);
        ref.set(index, 0x100000 + i);
      }
      for (let i = 0; i < 2900; i++) {
        const index = (i * 7919 + round * 13) % 50000;
        expect(pages.delete(index)).toBe(ref.delete(index));
      }
    }
    expect(pages.size).toBe(ref.size);
    expect([...pages]).toEqual([...ref]);
    expect(pages.indexesIn(0, 25000)).toEqual([...ref.keys()].filter((i) => i < 25000));
  });

  it('reserve() leaves the index empty', () => {
    const pages = new GmemPages();
    pages.reserve(100000);
    expect(pages.size).toBe(0);
    expect(pages.get(99999)).toBeUndefined();
    expect(pages.prepared.has(0)).toBe(false);
  });

  it('reserve() after some pages keeps their order; later pages follow it', () => {
    const pages = new GmemPages();
    const plain = new GmemPages();
    for (const p of [pages, plain]) for (let i = 0; i < 100; i++) p.set(1000 - i, 5000 + i);
    pages.reserve(70000);
    for (const p of [pages, plain]) {
      for (let i = 0; i < 70000; i++) p.set(2 ** 20 + ((i * 7919) % 70001), i);
    }
    expect([...pages.entries()]).toEqual([...plain.entries()]);
    expect(pages.size).toBe(70100);
  });

  it('refuses offsets no file can have', () => {
    const pages = new GmemPages();
    expect(() => pages.set(-1, 1)).toThrow(RangeError);
    expect(() => pages.set(0.5, 1)).toThrow(RangeError);
    expect(() => pages.set(2 ** 40, 1)).toThrow(RangeError);
    expect(pages.get(-1)).toBeUndefined();
    expect(pages.delete(2 ** 41)).toBe(false);
  });
});
