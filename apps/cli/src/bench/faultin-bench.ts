// `kvmx bench faultin`: the fault-in workload (./faultin.ts) with the invariant checker off and
// on, and its C anchor (bench/c/faultin.c), run round-robin so all of them see the same
// machine. First one cold pair (C and JS with page-table memory touched as the run goes; the
// JS run also has a fresh JIT), then `runs` warm rounds (page-table memory reserved and
// touched before the clock starts, performance.md B.2). Medians of the warm rounds; wall and
// CPU time both, since a shared machine inflates wall time.

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
  warm: boolean;
  seconds: number;
  cpuSeconds: number;
  exits: number;
  mapped: number;
  gfnSum: string;
  septTables: number;
  chldcnt: number;
  maxRssBytes: number;
  pageFaults: number;
}

export const nodeHost: BenchHost = {
  now: () => performance.now(),
  cpuMicros: () => {
    const u = process.cpuUsage();
    return u.user + u.system;
  },
  rssBytes: () => process.memoryUsage().rss,
  minorFaults: () => process.resourceUsage().minorPageFault,
};

function figures(r: FaultinRun): Record<string, number> {
  return {
    seconds: r.seconds,
    cpuSeconds: r.cpuSeconds,
    pagesPerSec: r.pagesPerSec,
    rssBytes: r.rssBytes,
    pageFaults: r.pageFaults,
  };
}

type Ratios = {
  time: number | null;
  timeChecker: number | null;
  cpu: number | null;
  cpuChecker: number | null;
  cold: number | null;
};

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
  const cRun = (mode: 'warm' | 'cold') =>
    runC<CFaultinRun>(c, [String(opts.pages), '1', String(opts.seed), mode]);
  let cold: FaultinRun;
  let cCold: CFaultinRun | undefined;
  try {
    if (c.available) cCold = cRun('cold')[0];
    cold = runFaultin(gfns, 'off', host, false);
    for (let r = 0; r < opts.runs; r++) {
      if (c.available) cRuns.push(...cRun('warm'));
      off.push(runFaultin(gfns, 'off', host));
      on.push(runFaultin(gfns, 'on', host));
    }
  } finally {
    disposeC(c);
  }
  const js = medians(off.map(figures));
  const jsOn = medians(on.map(figures));
  const cm = c.available
    ? medians(
        cRuns.map((x) => ({
          seconds: x.seconds,
          cpuSeconds: x.cpuSeconds,
          pagesPerSec: x.pages / x.seconds,
          pageFaults: x.pageFaults,
        })),
      )
    : null;
  // Same work: every page MAPPED, the same GFNs, the same number of S-EPT tables.
  const allC = cCold === undefined ? cRuns : [...cRuns, cCold];
  const sameWork =
    allC.length === 0
      ? null
      : [...off, ...on, cold].every((j) =>
          allC.every(
            (x) =>
              x.mapped === j.mapped &&
              x.gfnSum === j.gfnSum &&
              j.mapped === j.pages &&
              x.septTables === j.septTables,
          ),
        );
  const violations = on.reduce((s, r) => s + r.violations, 0);
  const ratios: Ratios | null =
    cm === null
      ? null
      : {
          time: ratio(js.medians.seconds, cm.medians.seconds),
          timeChecker: ratio(jsOn.medians.seconds, cm.medians.seconds),
          cpu: ratio(js.medians.cpuSeconds, cm.medians.cpuSeconds),
          cpuChecker: ratio(jsOn.medians.cpuSeconds, cm.medians.cpuSeconds),
          cold: cCold === undefined ? null : ratio(cold.seconds, cCold.seconds),
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
    cold: { seconds: round(cold.seconds), cpuSeconds: round(cold.cpuSeconds) },
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    checker: { ...jsOn.medians, ranges: jsOn.ranges, violations, checksPerRun: on[0]?.checks },
    c:
      cm === null
        ? { available: false, reason: c.reason }
        : {
            available: true,
            ...cm.medians,
            ranges: cm.ranges,
            cold:
              cCold === undefined
                ? null
                : { seconds: round(cCold.seconds), cpuSeconds: round(cCold.cpuSeconds) },
            maxRssBytes: Math.max(...allC.map((x) => x.maxRssBytes)),
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
    cpuSeconds?: number;
    pagesPerSec?: number;
    rssBytes?: number;
    pageFaults?: number;
    cold: { seconds: number; cpuSeconds: number };
    checker: Record<string, unknown>;
    c: Record<string, unknown>;
    ratios: Ratios | null;
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
  const rel = (x: number | null | undefined) => (x == null ? '' : `${x.toFixed(2)}×`);
  const lines = [col.bold(`bench faultin: ${r.workload}; median of ${r.runs} warm runs`)];
  lines.push(
    `  ${''.padEnd(30)}${'wall'.padStart(11)}${'CPU'.padStart(11)}${'pages/s'.padStart(12)}${'wall vs C'.padStart(11)}${'CPU vs C'.padStart(10)}`,
  );
  const row = (
    label: string,
    t: unknown,
    cpu: unknown,
    p: unknown,
    relWall: number | null | undefined,
    relCpu: number | null | undefined,
  ) =>
    lines.push(
      `  ${label.padEnd(30)}${s(t).padStart(11)}${s(cpu).padStart(11)}${rate(p).padStart(12)}${rel(relWall).padStart(11)}${rel(relCpu).padStart(10)}`,
    );
  const cAvail = r.c.available === true;
  row('kvmx, checker off', r.seconds, r.cpuSeconds, r.pagesPerSec, r.ratios?.time, r.ratios?.cpu);
  row(
    'kvmx, checker on',
    r.checker.seconds,
    r.checker.cpuSeconds,
    r.checker.pagesPerSec,
    r.ratios?.timeChecker,
    r.ratios?.cpuChecker,
  );
  if (cAvail) row('C -O2 (bench/c/faultin.c)', r.c.seconds, r.c.cpuSeconds, r.c.pagesPerSec, 1, 1);
  row('kvmx, cold (first run)', r.cold.seconds, r.cold.cpuSeconds, undefined, r.ratios?.cold, null);
  const cc = r.c.cold as { seconds: number; cpuSeconds: number } | null | undefined;
  if (cAvail && cc) row('C -O2, cold', cc.seconds, cc.cpuSeconds, undefined, 1, null);
  if (!cAvail) lines.push(col.yellow(`  C comparison: ${String(r.c.reason)}; kvmx figures only`));
  lines.push(`  RSS after a kvmx run: ${((r.rssBytes ?? 0) / 2 ** 20).toFixed(0)} MiB`);
  const faults = (x: unknown) => (typeof x === 'number' ? x.toFixed(0) : '—');
  lines.push(
    `  page faults in a warm run's loop: kvmx ${faults(r.pageFaults)}${cAvail ? `, C ${faults(r.c.pageFaults)}` : ''}`,
  );
  if (r.sameWork === false) lines.push(col.red('  kvmx and C did not do the same work'));
  else if (r.sameWork)
    lines.push(col.dim('  same GFNs mapped and same S-EPT tables in kvmx and C'));
  return lines;
}
