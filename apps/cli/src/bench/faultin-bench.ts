// `kvmx bench faultin`: the fault-in workload (./faultin.ts) with the invariant checker off and
// on, and its C anchor (bench/c/faultin.c) run round-robin in the same process tree so all
// three see the same machine. Medians over runs; the first JS run is reported apart as the
// cold one (fresh JIT), the others are warm.

import { benchGfns } from '@kvmx/paging';
import type { Io } from '../io.js';
import { colors } from '../io.js';
import { compileC, disposeC, runC } from './c-program.js';
import { type BenchHost, FAULTIN_GUEST_PAGES, type FaultinRun, runFaultin } from './faultin.js';
import { medians, ratio, round } from './stats.js';

export interface FaultinBenchOptions {
  readonly pages: number;
  readonly runs: number;
  readonly seed: number;
  /** Run the C anchor. */
  readonly c: boolean;
  readonly json?: boolean;
}

/** Issue 10's targets on this machine (JS time / C time; whole-guest limits). */
export const FAULTIN_TARGETS = Object.freeze({
  timeVsC: 2,
  checkerTimeVsC: 4,
  wholeGuestSeconds: 10,
  wholeGuestRssBytes: 4 * 2 ** 30,
});

interface CFaultinRun {
  pages: number;
  seconds: number;
  cpuSeconds?: number;
  mapped: number;
  gfnSum: string;
  septTables: number;
  chldcnt: number;
  maxRssBytes: number;
}

export const nodeHost: BenchHost = {
  now: () => performance.now(),
  cpuMicros: () => {
    const u = process.cpuUsage();
    return u.user + u.system;
  },
  rssBytes: () => process.memoryUsage().rss,
};

function figures(r: FaultinRun): Record<string, number> {
  return {
    seconds: r.seconds,
    cpuSeconds: r.cpuSeconds,
    pagesPerSec: r.pagesPerSec,
    rssBytes: r.rssBytes,
  };
}

export function benchFaultin(
  opts: FaultinBenchOptions,
  io: Io,
  host: BenchHost = nodeHost,
): Record<string, unknown> {
  const gfns = benchGfns(opts.pages, opts.seed).perm;
  const c = opts.c ? compileC('faultin') : { available: false, reason: 'skipped (--no-c)' };
  const off: FaultinRun[] = [];
  const on: FaultinRun[] = [];
  const cRuns: CFaultinRun[] = [];
  try {
    for (let r = 0; r < opts.runs; r++) {
      if (c.available) {
        cRuns.push(
          ...runC<CFaultinRun>(c, [String(opts.pages), '1', String(opts.seed)]).map((x) => ({
            ...x,
            cpuSeconds: x.cpuSeconds ?? x.seconds,
          })),
        );
      }
      off.push(runFaultin(gfns, 'off', host));
      on.push(runFaultin(gfns, 'on', host));
    }
  } finally {
    disposeC(c);
  }
  // Warm runs: all but the first JS run when there are several.
  const warm = <T>(runs: T[]) => (runs.length > 1 ? runs.slice(1) : runs);
  const js = medians(warm(off).map(figures));
  const jsOn = medians(warm(on).map(figures));
  const cold = off[0] as FaultinRun;
  const cm = c.available
    ? medians(cRuns.map((x) => ({ seconds: x.seconds, pagesPerSec: x.pages / x.seconds })))
    : null;
  // Same work: every page MAPPED, the same GFNs, the same number of S-EPT tables.
  const sameWork =
    cRuns.length === 0
      ? null
      : off
          .concat(on)
          .every((j) =>
            cRuns.every(
              (x) =>
                x.mapped === j.mapped &&
                x.gfnSum === j.gfnSum &&
                j.mapped === j.pages &&
                x.septTables === j.septTables,
            ),
          );
  const violations = on.reduce((s, r) => s + r.violations, 0);
  const ratios =
    cm === null
      ? null
      : {
          time: ratio(js.medians.seconds, cm.medians.seconds),
          timeChecker: ratio(jsOn.medians.seconds, cm.medians.seconds),
        };
  const whole = opts.pages === FAULTIN_GUEST_PAGES;
  const meets = {
    timeVsC: ratios === null ? null : (ratios.time ?? Infinity) <= FAULTIN_TARGETS.timeVsC,
    checkerTimeVsC:
      ratios === null ? null : (ratios.timeChecker ?? Infinity) <= FAULTIN_TARGETS.checkerTimeVsC,
    wholeGuestSeconds: whole
      ? (js.medians.seconds ?? Infinity) < FAULTIN_TARGETS.wholeGuestSeconds
      : null,
    wholeGuestRss: whole
      ? (js.medians.rssBytes ?? Infinity) < FAULTIN_TARGETS.wholeGuestRssBytes
      : null,
  };
  const result = {
    bench: 'faultin',
    workload: `TDX VM, 64 GiB guest_memfd-backed private memory; the guest accepts ${opts.pages} distinct random private 4K pages (EPT violation, KVM fault, SEPT.ADD, PAGE.AUG, ACCEPT); events off`,
    pages: opts.pages,
    runs: opts.runs,
    seed: opts.seed,
    ...js.medians,
    ranges: js.ranges,
    coldSeconds: round(cold.seconds),
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    checker: { ...jsOn.medians, ranges: jsOn.ranges, violations, checksPerRun: on[0]?.checks },
    c:
      cm === null
        ? { available: false, reason: c.reason }
        : {
            available: true,
            ...cm.medians,
            ranges: cm.ranges,
            maxRssBytes: Math.max(...cRuns.map((x) => x.maxRssBytes)),
          },
    ratios,
    targets: FAULTIN_TARGETS,
    meets,
    sameWork,
    node: process.version,
  };
  if (opts.json) io.out(JSON.stringify(result));
  else for (const line of renderFaultin(result, io)) io.out(line);
  return result;
}

function renderFaultin(
  r: {
    workload: string;
    runs: number;
    seconds?: number;
    pagesPerSec?: number;
    rssBytes?: number;
    coldSeconds: number;
    checker: Record<string, unknown>;
    c: Record<string, unknown>;
    ratios: { time: number | null; timeChecker: number | null } | null;
    sameWork: boolean | null;
  },
  io: Io,
): string[] {
  const col = colors(io);
  const s = (x: unknown) => (typeof x === 'number' ? `${x.toFixed(3)} s` : '—');
  const rate = (x: unknown) =>
    typeof x !== 'number'
      ? '—'
      : x >= 1e6
        ? `${(x / 1e6).toFixed(2)} M/s`
        : `${(x / 1e3).toFixed(1)} k/s`;
  const lines = [col.bold(`bench faultin: ${r.workload}; median of ${r.runs} runs`)];
  lines.push(
    `  ${''.padEnd(28)}${'time'.padStart(12)}${'pages/s'.padStart(14)}${'vs C'.padStart(9)}`,
  );
  const row = (label: string, t: unknown, p: unknown, rel: number | null | undefined) =>
    lines.push(
      `  ${label.padEnd(28)}${s(t).padStart(12)}${rate(p).padStart(14)}${(rel == null ? '' : `${rel.toFixed(2)}×`).padStart(9)}`,
    );
  row('kvmx, checker off', r.seconds, r.pagesPerSec, r.ratios?.time);
  row('kvmx, checker on', r.checker.seconds, r.checker.pagesPerSec, r.ratios?.timeChecker);
  row('kvmx, first (cold) run', r.coldSeconds, undefined, undefined);
  if (r.c.available) row('C -O2 (bench/c/faultin.c)', r.c.seconds, r.c.pagesPerSec, 1);
  else lines.push(col.yellow(`  C comparison: ${String(r.c.reason)}; kvmx figures only`));
  lines.push(`  RSS after the run: ${((r.rssBytes ?? 0) / 2 ** 20).toFixed(0)} MiB`);
  if (r.sameWork === false) lines.push(col.red('  kvmx and C did not do the same work'));
  else if (r.sameWork)
    lines.push(col.dim('  same GFNs mapped and same S-EPT tables in kvmx and C'));
  return lines;
}
