// `kvmx bench <paging|faultin|explore|all> [--json]` (CONTRACTS §1): fixed, documented
// workloads, medians of repeated runs, each against its C anchor where one exists. The
// workloads live in ../bench/ and are loaded only when the command runs, so registering this
// command costs nothing at start-up.

import type { Command } from 'commander';
import type { RegisterCommand } from '../cli.js';
import { UsageError } from '../errors.js';
import type { Io } from '../io.js';
import { parseIntOption } from '../options.js';

export const BENCH_NAMES = ['paging', 'faultin', 'explore', 'all'] as const;
type BenchName = (typeof BENCH_NAMES)[number];

/** 64 GiB of 4 KiB pages: the guest of the paging and faultin workloads. */
const GUEST_GFNS = 2 ** 24;

interface BenchOptions {
  json?: boolean;
  runs?: number;
  pages: number;
  seed: number;
  c: boolean;
}

/** Default repetitions: paging is cheap, a faultin round runs C and kvmx twice at 1M pages. */
const DEFAULT_RUNS: Readonly<Record<Exclude<BenchName, 'all'>, number>> = {
  paging: 5,
  faultin: 3,
  explore: 3,
};

/** The explore workload: sequences × steps per VM type. */
const EXPLORE_SEQUENCES = 50;
const EXPLORE_STEPS = 100;

export const registerBench: RegisterCommand = (program: Command, io: Io) => {
  program
    .command('bench')
    .description('run the fixed benchmarks against their C anchors (paging, faultin, explore, all)')
    .argument('<what>', `one of ${BENCH_NAMES.join(', ')}`)
    .option('--json', 'machine-readable output; the last line is one JSON object')
    .option(
      '--runs <n>',
      'repetitions; medians are reported (default 5 paging, 3 faultin and explore)',
      parseIntOption('--runs', 1, 100),
    )
    .option(
      '--pages <n>',
      'paging, faultin: distinct random 4K GFNs in the 64 GiB guest (default 1000000)',
      parseIntOption('--pages', 1, GUEST_GFNS),
      1_000_000,
    )
    .option(
      '--seed <n>',
      'xorshift32 seed of the GFN shuffle (explore: first seed)',
      parseIntOption('--seed', 1, 2 ** 32 - 1),
      0x9e3779b9,
    )
    .option('--no-c', 'paging, faultin: skip the C comparison')
    .action(async (what: string, opts: BenchOptions) => {
      if (!(BENCH_NAMES as readonly string[]).includes(what)) {
        throw new UsageError(
          `bench: unknown benchmark "${what}" (expected one of ${BENCH_NAMES.join(', ')})`,
        );
      }
      const name = what as BenchName;
      const runsFor = (b: Exclude<BenchName, 'all'>) => opts.runs ?? DEFAULT_RUNS[b];
      const json = opts.json === true;
      const results: Record<string, unknown> = {};
      if (name === 'paging' || name === 'all') {
        const { benchPaging } = await import('../bench/paging-bench.js');
        results.paging = benchPaging({ ...opts, json, runs: runsFor('paging') }, io);
      }
      if (name === 'faultin' || name === 'all') {
        const { benchFaultin } = await import('../bench/faultin-bench.js');
        results.faultin = benchFaultin(
          { pages: opts.pages, seed: opts.seed, c: opts.c, json, runs: runsFor('faultin') },
          io,
        );
      }
      if (name === 'explore' || name === 'all') {
        const { benchExplore } = await import('../bench/explore-bench.js');
        results.explore = await benchExplore(
          {
            sequences: EXPLORE_SEQUENCES,
            steps: EXPLORE_STEPS,
            repeats: runsFor('explore'),
            seed: opts.seed,
            json,
          },
          io,
        );
      }
      if (name === 'all' && json) io.out(JSON.stringify({ bench: 'all', ...results }));
    });
};
