// The `kvmx bench paging` workload (CONTRACTS §1), identical to bench/c/paging.c so the two
// can be compared in the same run: N distinct random 4K GFNs in a 64 GiB guest (2^24 GFNs)
// drawn by a partial Fisher–Yates shuffle with xorshift32, looked up in a second shuffled
// order. One call is one run; the caller repeats runs and takes medians. The clock is
// injected so the package stays free of host APIs (it runs in a browser too).

import { FrameOwner } from './frame-owner.js';
import { FramePool } from './frame-pool.js';
import { PagingTree } from './paging-tree.js';
import { makeSpteAttrs, pfnHi, pfnLo } from './spte.js';
import { TdpIter } from './tdp-iter.js';

/** 64 GiB of 4 KiB pages. */
export const BENCH_GUEST_GFNS = 2 ** 24;
/** Host PFN mapped at the i-th random GFN: BENCH_PFN_BASE + i (as in the C program). */
export const BENCH_PFN_BASE = 0x200000;
/** Table frames start at HPA 4 GiB in both programs (DEFAULT_BASE_PFN). */
const POOL_BASE_PFN = 0x100000;

export interface BenchGfns {
  /** perm[0..pages) are the mapped GFNs, in map order. */
  readonly perm: Int32Array;
  /** The same GFNs in lookup order. */
  readonly order: Int32Array;
}

/** The GFN sets of the workload (xorshift32 partial Fisher–Yates, as in paging.c). */
export function benchGfns(pages: number, seed: number): BenchGfns {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  const perm = new Int32Array(BENCH_GUEST_GFNS);
  for (let i = 0; i < BENCH_GUEST_GFNS; i++) perm[i] = i;
  for (let i = 0; i < pages; i++) {
    const j = i + (next() % (BENCH_GUEST_GFNS - i));
    const t = perm[i] as number;
    perm[i] = perm[j] as number;
    perm[j] = t;
  }
  const order = perm.slice(0, pages);
  for (let i = pages - 1; i > 0; i--) {
    const j = next() % (i + 1);
    const t = order[i] as number;
    order[i] = order[j] as number;
    order[j] = t;
  }
  return { perm: perm.subarray(0, pages), order };
}

export interface PagingBenchRun {
  readonly pages: number;
  readonly mapColdMs: number;
  readonly mapMs: number;
  readonly lookupMs: number;
  readonly seqLookupMs: number;
  readonly seqGfns: number;
  /** tdp_iter over the whole guest (every entry at every level visited). */
  readonly iterMs: number;
  readonly iterEntries: number;
  /** Median of 16 zaps of different 1 GiB ranges (PTs and PD freed). */
  readonly zap1GiBMs: number;
  /** Zap of one 1 GiB range with all 262,144 pages mapped. */
  readonly zap1GiBDenseMs: number;
  readonly bytesPerPage: number;
  /** Sum of the PFNs found by the random lookups (equals the C program's). */
  readonly checksum: string;
  readonly seqChecksum: string;
  readonly zappedLeaves: number;
  readonly denseZapped: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function mapAll(tree: PagingTree, perm: Int32Array, attrLo: number, attrHi: number): void {
  const n = perm.length;
  for (let i = 0; i < n; i++) {
    const pfn = BENCH_PFN_BASE + i;
    tree.map(perm[i] as number, 1, attrLo | pfnLo(pfn), attrHi | pfnHi(pfn));
  }
}

// Each timed loop is its own small function, so the JIT optimises it on its own.

function lookupAll(tree: PagingTree, gfns: Int32Array): number {
  let sum = 0;
  for (let i = 0; i < gfns.length; i++) {
    if (tree.lookup(gfns[i] as number) !== 0) {
      sum += (tree.foundHi & 0xfffff) * 1048576 + (tree.foundLo >>> 12);
    }
  }
  return sum;
}

function lookupRange(tree: PagingTree, start: number, end: number): number {
  let sum = 0;
  for (let g = start; g < end; g++) {
    if (tree.lookup(g) !== 0) sum += (tree.foundHi & 0xfffff) * 1048576 + (tree.foundLo >>> 12);
  }
  return sum;
}

function iterateAll(tree: PagingTree): number {
  const it = new TdpIter(tree);
  let entries = 0;
  for (it.start(1, 0, BENCH_GUEST_GFNS); it.ok(); it.next()) entries++;
  return entries;
}

/** One run of the workload. `now` is a millisecond clock (performance.now). */
export function runPagingBench(gfns: BenchGfns, now: () => number): PagingBenchRun {
  const { perm, order } = gfns;
  const n = perm.length;
  const attrs = makeSpteAttrs();
  const attrLo = attrs.lo | 0;
  const attrHi = attrs.hi | 0;

  // Cold: a fresh pool whose memory is first touched by the map loop.
  let pool = new FramePool({ basePfn: POOL_BASE_PFN, maxFrames: 2 ** 20 });
  let tree = new PagingTree(pool);
  let t0 = now();
  mapAll(tree, perm, attrLo, attrHi);
  const mapColdMs = now() - t0;

  // Warm: the same pool, tables recycled from the free list.
  tree.destroy();
  tree = new PagingTree(pool);
  t0 = now();
  mapAll(tree, perm, attrLo, attrHi);
  const mapMs = now() - t0;
  const bytesPerPage = tree.stats().bytesUsed / n;

  t0 = now();
  const sum = lookupAll(tree, order);
  const lookupMs = now() - t0;

  t0 = now();
  const seqSum = lookupRange(tree, 0, BENCH_GUEST_GFNS);
  const seqLookupMs = now() - t0;

  t0 = now();
  const iterEntries = iterateAll(tree);
  const iterMs = now() - t0;

  const zaps: number[] = [];
  let zappedLeaves = 0;
  for (let k = 0; k < 16; k++) {
    const g = (k * 4 + 1) * 2 ** 18;
    t0 = now();
    zappedLeaves += tree.zapLeafs(g, g + 2 ** 18, true);
    zaps.push(now() - t0);
  }

  const dense = BENCH_GUEST_GFNS;
  for (let i = 0; i < 2 ** 18; i++) {
    const pfn = BENCH_PFN_BASE + i;
    tree.map(dense + i, 1, attrLo | pfnLo(pfn), attrHi | pfnHi(pfn));
  }
  t0 = now();
  const denseZapped = tree.zapLeafs(dense, dense + 2 ** 18, true);
  const zap1GiBDenseMs = now() - t0;

  tree.destroy();
  if (pool.countOwnedBy(FrameOwner.KVM_PAGE_TABLE) !== 0) throw new Error('bench leaked tables');
  pool = undefined as unknown as FramePool;
  tree = undefined as unknown as PagingTree;

  return {
    pages: n,
    mapColdMs,
    mapMs,
    lookupMs,
    seqLookupMs,
    seqGfns: BENCH_GUEST_GFNS,
    iterMs,
    iterEntries,
    zap1GiBMs: median(zaps),
    zap1GiBDenseMs,
    bytesPerPage,
    checksum: String(sum),
    seqChecksum: String(seqSum),
    zappedLeaves,
    denseZapped,
  };
}
