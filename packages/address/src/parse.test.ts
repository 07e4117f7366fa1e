import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseBigUint, parseU64, parseUint } from './parse.js';

describe('parsing user numbers', () => {
  it('accepts hex, decimal and binary sizes', () => {
    expect(parseUint('0x1000')).toEqual({ ok: true, value: 4096 });
    expect(parseUint('0X1f')).toEqual({ ok: true, value: 31 });
    expect(parseUint('4096')).toEqual({ ok: true, value: 4096 });
    expect(parseUint('4KiB')).toEqual({ ok: true, value: 4096 });
    expect(parseUint('2MiB')).toEqual({ ok: true, value: 2 ** 21 });
    expect(parseUint('1GiB')).toEqual({ ok: true, value: 2 ** 30 });
    expect(parseUint('1TiB')).toEqual({ ok: true, value: 2 ** 40 });
    expect(parseUint('4PiB', { limit: 2 ** 53 })).toEqual({ ok: true, value: 2 ** 52 });
    expect(parseUint('0x8000_0000_1000')).toEqual({ ok: true, value: 0x800000001000 });
    expect(parseUint(' 12 ')).toEqual({ ok: true, value: 12 });
  });

  it('names the problem', () => {
    const zz = parseUint('zz', { what: 'address' });
    expect(zz.ok).toBe(false);
    if (!zz.ok) expect(zz.error).toMatch(/^address: expected a number.*got "zz"$/);
    for (const bad of ['', '0x', '-1', '1.5', '4kib', '4 KiB', '1e3', '0x1g', '__1', '1__0']) {
      expect(parseUint(bad).ok, bad).toBe(false);
    }
    const big = parseUint('0x10000000000000', {
      limit: 2 ** 52,
      what: 'address',
      limitName: '2^52',
    });
    expect(big).toEqual({
      ok: false,
      error: 'address 0x10000000000000 is out of range: must be below 2^52',
    });
  });

  it('keeps 64-bit values exact as bigint, refuses 2^64', () => {
    expect(parseU64('0xc0000b0d00000092')).toEqual({ ok: true, value: 0xc0000b0d00000092n });
    expect(parseU64('0xffffffffffffffff').ok).toBe(true);
    expect(parseU64('0x10000000000000000').ok).toBe(false);
    expect(parseUint('9007199254740992').ok).toBe(false); // 2^53 does not fit a number exactly
  });

  it('round-trips any value through hex and decimal (law)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (v) => {
        const a = parseBigUint(`0x${v.toString(16)}`);
        const b = parseBigUint(v.toString());
        return a.ok && b.ok && a.value === v && b.value === v;
      }),
    );
  });
});
