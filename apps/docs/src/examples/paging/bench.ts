// The `kvmx bench paging` workload: distinct random 4K GFNs in a 64 GiB guest (xorshift32
// partial Fisher–Yates, the same sequence as the C anchor program), mapped, looked up in random
// and sequential order, iterated with tdp_iter and zapped in 1 GiB ranges. The checksums let
// the JavaScript and C runs be compared entry for entry; the times are for the benchmark
// command, never asserted in a test.
import assert from 'node:assert/strict';
import {
  BENCH_GUEST_GFNS,
  BENCH_PFN_BASE,
  type BenchGfns,
  benchGfns,
  type PagingBenchRun,
  runPagingBench,
} from '@kvmx/paging';

assert.equal(BENCH_GUEST_GFNS, 2 ** 24); // 64 GiB of 4 KiB pages
assert.equal(BENCH_PFN_BASE, 0x200000); // host PFN of the i-th mapped GFN: BENCH_PFN_BASE + i

const gfns: BenchGfns = benchGfns(2000, 2026);
assert.equal(gfns.perm.length, 2000);
assert.equal(new Set(gfns.perm).size, 2000); // distinct
assert.ok(gfns.perm.every((g) => g >= 0 && g < BENCH_GUEST_GFNS));
assert.deepEqual(
  [...gfns.order].sort((a, b) => a - b),
  [...gfns.perm].sort((a, b) => a - b),
);
assert.deepEqual(benchGfns(2000, 2026).perm, gfns.perm); // a seed fixes the workload

let clock = 0;
const run: PagingBenchRun = runPagingBench(gfns, () => clock++);
assert.equal(run.pages, 2000);
// Every lookup finds its page: the checksum is the sum of the mapped PFNs, both for the random
// order and for the sequential scan of all 2^24 GFNs.
const pfnSum = 2000 * BENCH_PFN_BASE + (2000 * 1999) / 2;
assert.equal(run.checksum, String(pfnSum));
assert.equal(run.seqChecksum, String(pfnSum));
assert.equal(run.seqGfns, BENCH_GUEST_GFNS);
// The 16 zapped 1 GiB ranges start at GFN (4k + 1) * 2^18: they hold these of our pages.
const inZapRanges = [...gfns.perm].filter((g) => {
  const k = Math.floor(g / 2 ** 18);
  return k % 4 === 1 && k < 64;
}).length;
assert.equal(run.zappedLeaves, inZapRanges);
assert.equal(run.denseZapped, 2 ** 18); // the densely mapped 1 GiB, zapped at once
assert.ok(run.bytesPerPage > 4096); // sparse random pages: about one PT per page
assert.ok(run.iterEntries > 2000);
