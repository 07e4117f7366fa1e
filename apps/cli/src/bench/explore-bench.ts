// `kvmx bench explore`: the explorer's throughput with the invariant checker after every step
// (@kvmx/explore always checks), on the small VMs it builds, for every VM type it supports.
// Workload: per VM type, `runs` sequences of 100 random steps from a fixed seed, no shrinking
// (no violation is expected without an injected bug). Repeated `repeats` times; medians.

import type { VmTypeName } from '@kvmx/address';
import type { Io } from '../io.js';
import { colors } from '../io.js';
import { medians, round } from './stats.js';

export interface ExploreBenchOptions {
  /** Sequences per VM type per repetition. */
  readonly sequences: number;
  /** Random steps per sequence. */
  readonly steps: number;
  readonly repeats: number;
  readonly seed: number;
  readonly json?: boolean;
}

/** Issue 10's target: steps per second with invariants on small VMs. */
export const EXPLORE_TARGET_STEPS_PER_SEC = 20_000;

export async function benchExplore(
  opts: ExploreBenchOptions,
  io: Io,
  now: () => number = () => performance.now(),
): Promise<Record<string, unknown>> {
  const { explore, exploreVmTypes } = await import('@kvmx/explore');
  const types = exploreVmTypes();
  const perType: Record<string, Record<string, number>[]> = {};
  const total: Record<string, number>[] = [];
  let violations = 0;
  for (let r = 0; r < opts.repeats; r++) {
    let steps = 0;
    let ms = 0;
    for (const vm of types) {
      const t0 = now();
      const rep = explore({
        vm: vm as VmTypeName,
        steps: opts.steps,
        runs: opts.sequences,
        seed: opts.seed + r,
        shrink: false,
      });
      const dt = now() - t0;
      violations += rep.violations;
      steps += rep.steps;
      ms += dt;
      const list = perType[vm] ?? [];
      list.push({ steps: rep.steps, stepsPerSec: rep.steps / (dt / 1000) });
      perType[vm] = list;
    }
    total.push({ steps, seconds: ms / 1000, stepsPerSec: steps / (ms / 1000) });
  }
  const all = medians(total);
  const byType = Object.fromEntries(
    Object.entries(perType).map(([vm, runs]) => [vm, medians(runs).medians]),
  );
  const stepsPerSec = all.medians.stepsPerSec ?? 0;
  const result = {
    bench: 'explore',
    workload: `${opts.sequences} sequences × ${opts.steps} random steps per VM type (${types.join(', ')}), invariants checked after every step, no shrinking`,
    repeats: opts.repeats,
    seed: opts.seed,
    ...all.medians,
    ranges: all.ranges,
    byType,
    violations,
    target: EXPLORE_TARGET_STEPS_PER_SEC,
    meets: stepsPerSec >= EXPLORE_TARGET_STEPS_PER_SEC,
    node: process.version,
  };
  if (opts.json) io.out(JSON.stringify(result));
  else {
    const col = colors(io);
    io.out(col.bold(`bench explore: ${result.workload}; median of ${opts.repeats}`));
    for (const [vm, m] of Object.entries(byType)) {
      io.out(
        `  ${vm.padEnd(14)}${`${round(m.stepsPerSec ?? 0).toLocaleString('en')} steps/s`.padStart(20)}`,
      );
    }
    io.out(
      `  ${'all'.padEnd(14)}${`${round(stepsPerSec).toLocaleString('en')} steps/s`.padStart(20)}  (target ≥ ${EXPLORE_TARGET_STEPS_PER_SEC.toLocaleString('en')})`,
    );
    if (violations > 0) io.out(col.red(`  ${violations} violations found: the model is broken`));
  }
  return result;
}
