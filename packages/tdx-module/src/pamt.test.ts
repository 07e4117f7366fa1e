import { describe, expect, it } from 'vitest';
import { Pamt } from './pamt.js';
import { PageType, PT_1GB, PT_2MB, PT_4KB } from './td-state.js';

describe('PAMT', () => {
  const base = 0x100000;
  it('resolves the walk at the size of a PT_REG parent', () => {
    const p = new Pamt(base, 1 << 20);
    const pfn = base + 0x400 + 3;
    expect(p.walkSize(pfn, PT_4KB)).toBe(PT_4KB);
    p.set(base + 0x400, PT_2MB, PageType.PT_REG, base);
    expect(p.walkSize(pfn, PT_4KB)).toBe(PT_2MB);
    expect(p.pt(pfn, PT_2MB)).toBe(PageType.PT_REG);
    expect(p.owner(pfn, PT_2MB)).toBe(base);
    p.clear(base + 0x400, PT_2MB);
    expect(p.walkSize(pfn, PT_4KB)).toBe(PT_4KB);
    expect(p.walkSize(pfn, PT_1GB)).toBe(PT_1GB);
  });

  it('grows with high frames and checks the 512 4K entries of a 2M page', () => {
    const p = new Pamt(base, 1 << 20);
    const far = base + (1 << 19) + 512;
    expect(p.all4kFree(far)).toBe(true);
    p.set(far + 511, PT_4KB, PageType.PT_TDCX, base);
    expect(p.all4kFree(far)).toBe(false);
    expect(p.covers(base - 1)).toBe(false);
    expect(p.covers(base + (1 << 20))).toBe(false);
    p.setBepoch(far + 511, PT_4KB, 7);
    expect(p.bepoch(far + 511, PT_4KB)).toBe(7);
  });

  it('reserve() makes entries exist without changing any (PT_NDA, no owner), capped at the TDMRs', () => {
    const p = new Pamt(base, 1 << 20);
    p.set(base + 5, PT_4KB, PageType.PT_REG, base);
    p.reserve(300000);
    expect(p.pt4k.length).toBeGreaterThanOrEqual(300000);
    expect(p.pt(base + 5, PT_4KB)).toBe(PageType.PT_REG);
    expect(p.owner(base + 5, PT_4KB)).toBe(base);
    for (const pfn of [base, base + 299999, base + 4096 * 7]) {
      if (pfn === base + 5) continue;
      expect(p.pt(pfn, PT_4KB)).toBe(PageType.PT_NDA);
      expect(p.owner(pfn, PT_4KB)).toBe(-1);
      expect(p.bepoch(pfn, PT_4KB)).toBe(0);
      expect(p.pt(pfn, PT_2MB)).toBe(PageType.PT_NDA);
      expect(p.owner(pfn, PT_2MB)).toBe(-1);
    }
    p.reserve(1 << 30);
    expect(p.pt4k.length).toBeLessThanOrEqual((1 << 20) + 512);
  });
});
