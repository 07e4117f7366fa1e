import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ShadowPages } from './shadow-pages.js';
import type { ShadowPage } from './tdp-mmu.js';

const BASE = 0x100000;

function sp(spt: number): ShadowPage {
  return { spt, level: 1, isMirror: false, baseGfn: 0, externalSpt: -1, invalid: false };
}

describe('ShadowPages (sptep_to_sp index)', () => {
  it('law: behaves as a Map<pfn, ShadowPage>, iteration order included', () => {
    const pfn = fc.oneof(
      fc.integer({ min: BASE, max: BASE + 64 }),
      fc.integer({ min: BASE + 1000, max: BASE + 5000 }),
      fc.constantFrom(0, BASE - 1, 2 ** 40 - 1),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), pfn), { maxLength: 200 }), (ops) => {
        const pages = new ShadowPages(BASE);
        const ref = new Map<number, ShadowPage>();
        for (const [add, p] of ops) {
          if (add) {
            const v = sp(p);
            pages.set(p, v);
            ref.set(p, v);
          } else {
            expect(pages.delete(p)).toBe(ref.delete(p));
          }
          expect(pages.get(p)).toBe(ref.get(p));
          expect(pages.size).toBe(ref.size);
        }
        for (const [, p] of ops) {
          expect(pages.get(p)).toBe(ref.get(p));
          expect(pages.has(p)).toBe(ref.has(p));
        }
        expect([...pages.values()]).toEqual([...ref.values()]);
        expect([...pages.keys()]).toEqual([...ref.keys()]);
      }),
      { numRuns: 300 },
    );
  });
});
