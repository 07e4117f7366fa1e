import { describe, expect, it } from 'vitest';
import {
  gfn,
  gfnToGpa,
  gpa,
  gpaToGfn,
  hpa,
  hpaToPfn,
  PHYS_ADDR_LIMIT,
  pageOffset,
  pfn,
  pfnToHpa,
  tryGfn,
  tryGpa,
} from './phys.js';

describe('checked address constructors', () => {
  it('accept [0, 2^52) and refuse the rest with the value in hex', () => {
    expect(gpa(0)).toBe(0);
    expect(gpa(2 ** 52 - 1)).toBe(2 ** 52 - 1);
    expect(() => gpa(2 ** 52)).toThrow('GPA 0x10000000000000 is at or above 0x10000000000000');
    expect(() => gpa(-1)).toThrow(RangeError);
    expect(() => gpa(1.5)).toThrow(RangeError);
    expect(() => hpa(PHYS_ADDR_LIMIT)).toThrow(RangeError);
    expect(gfn(2 ** 40 - 1)).toBe(2 ** 40 - 1);
    expect(() => gfn(2 ** 40)).toThrow(RangeError);
    expect(() => pfn(2 ** 40)).toThrow(RangeError);
    expect(tryGpa(2 ** 52)).toBeUndefined();
    expect(tryGfn(-3)).toBeUndefined();
    expect(tryGpa(0x1000)).toBe(0x1000);
  });

  it('convert between address and frame exactly at the top of the space', () => {
    expect(gpaToGfn(gpa(2 ** 52 - 1))).toBe(2 ** 40 - 1);
    expect(gfnToGpa(gfn(2 ** 40 - 1))).toBe(2 ** 52 - 4096);
    expect(hpaToPfn(hpa(0x800000001fff))).toBe(0x800000001);
    expect(pfnToHpa(pfn(0x800000001))).toBe(0x800000001000);
    expect(pageOffset(2 ** 52 - 1)).toBe(0xfff);
    expect(pageOffset(0x800000001234)).toBe(0x234);
  });
});
