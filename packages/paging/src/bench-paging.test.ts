import { describe, expect, it } from 'vitest';
import { BENCH_GUEST_GFNS, benchGfns } from './bench-paging.js';

// The workload's GFN sets (no timing here: the benchmark is `kvmx bench paging`).
describe('benchGfns', () => {
  it('draws distinct GFNs inside the 64 GiB guest, the same for the same seed', () => {
    const a = benchGfns(5000, 12345);
    const b = benchGfns(5000, 12345);
    expect(Array.from(a.perm)).toEqual(Array.from(b.perm));
    expect(new Set(a.perm).size).toBe(5000);
    expect(Array.from(a.perm).every((g) => g >= 0 && g < BENCH_GUEST_GFNS)).toBe(true);
    // the lookup order is a permutation of the mapped set
    expect([...a.order].sort((x, y) => x - y)).toEqual([...a.perm].sort((x, y) => x - y));
    expect(Array.from(benchGfns(5000, 54321).perm)).not.toEqual(Array.from(a.perm));
  }, 60_000);

  it('follows xorshift32 (13, 17, 5) like bench/c/paging.c', () => {
    // First draw from seed 1: x = 1 ^ (1 << 13) = 0x2001; x ^= x >>> 17 (0); x ^= x << 5
    // = 0x2001 ^ 0x40020 = 0x42021; j = 0 + 0x42021 % 2^24 = 0x42021.
    const { perm } = benchGfns(1, 1);
    expect(perm[0]).toBe(0x42021);
  }, 60_000);
});
