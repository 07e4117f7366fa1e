// `kvmx explore --vm TYPE [--steps N] [--runs M] [--seed S] [--inject NAME] [--json]` and
// `kvmx explore --list-injections [--json]` (CONTRACTS §1): random host and guest operation
// sequences on small VMs with the invariant checker after every step; a violation is shrunk
// to a scenario file that `kvmx run` replays to the same violation. A progress bar on a
// terminal (standard error), one summary at the end; exit 1 when a violation was found.

import { writeFileSync } from 'node:fs';
import type { VmTypeName } from '@kvmx/address';
import {
  type ExploreReport,
  explore,
  exploreVmTypes,
  INJECTIONS,
  injectionByName,
} from '@kvmx/explore';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import type { RegisterCommand } from '../cli.js';
import { EXIT_FAILED, UsageError } from '../errors.js';
import { colors, type Io } from '../io.js';
import { parseIntOption, parseVmOption } from '../options.js';

interface ExploreCliOptions {
  vm?: VmTypeName;
  steps: number;
  runs: number;
  seed: number;
  inject?: string;
  json?: boolean;
  listInjections?: boolean;
  repro?: string;
  shrinkSeconds: number;
}

/** Where a reproduction goes unless --repro says otherwise. */
export function defaultReproPath(vm: VmTypeName, seed: number, inject?: string): string {
  return `kvmx-explore-${vm}${inject !== undefined ? `-${inject}` : ''}-seed${seed}.yaml`;
}

export const registerExplore: RegisterCommand = (program: Command, io: Io, setExit) => {
  program
    .command('explore')
    .description(
      'random host and guest operation sequences with the invariant checker after every step; a violation is shrunk to a replayable scenario file',
    )
    .option('--vm <type>', 'VM type to explore (required unless --list-injections)', parseVmOption)
    .option(
      '--steps <n>',
      'random steps per run (default 100)',
      parseIntOption('--steps', 1, 1_000_000),
      100,
    )
    .option(
      '--runs <m>',
      'runs, each on a fresh VM (default 100)',
      parseIntOption('--runs', 1, 10_000_000),
      100,
    )
    .option(
      '--seed <s>',
      'seed of the generator (default 1)',
      parseIntOption('--seed', 0, 2 ** 31 - 1),
      1,
    )
    .option('--inject <name>', 'switch on one injected KVM bug (see --list-injections)')
    .option('--list-injections', 'list the bugs --inject can switch on')
    .option(
      '--repro <file>',
      'where to write the reproduction (default kvmx-explore-<vm>-seed<s>.yaml)',
    )
    .option(
      '--shrink-seconds <n>',
      'most seconds spent shrinking a violation (default 20)',
      parseIntOption('--shrink-seconds', 0, 3600),
      20,
    )
    .option('--json', 'JSON Lines; the last line is the summary object')
    .action((opts: ExploreCliOptions) => {
      if (opts.listInjections) {
        listInjections(io, opts.json === true);
        return;
      }
      // --inject names the VM type to explore it on; --vm may still override it.
      const vm =
        opts.vm ?? (opts.inject !== undefined ? injectionByName(opts.inject)?.vm : undefined);
      if (vm === undefined) throw new UsageError('explore: --vm <type> is required');
      if (!exploreVmTypes().includes(vm)) {
        throw new UsageError(
          `--vm: ${vm} VMs are not modelled yet (this build explores ${exploreVmTypes().join(', ')})`,
        );
      }
      if (opts.inject !== undefined) {
        const inj = injectionByName(opts.inject);
        if (inj === undefined) {
          throw new UsageError(
            `--inject: unknown injection "${opts.inject}"${INJECTIONS.length > 0 ? ` (expected one of ${INJECTIONS.map((i) => i.name).join(', ')})` : ' (this build has none; see --list-injections)'}`,
          );
        }
      }
      const report = runWithProgress(io, opts, vm);
      let reproPath: string | null = null;
      if (report.repro !== null) {
        reproPath = opts.repro ?? defaultReproPath(vm, opts.seed, opts.inject);
        try {
          writeFileSync(reproPath, report.repro);
        } catch (e) {
          throw new UsageError(
            `--repro: cannot write ${reproPath}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
          );
        }
      }
      printReport(io, opts, report, reproPath);
      if (report.violations > 0) setExit(EXIT_FAILED);
    });
};

function listInjections(io: Io, json: boolean): void {
  if (json) {
    for (const i of INJECTIONS) {
      io.out(JSON.stringify({ name: i.name, vm: i.vm, description: i.description }));
    }
    return;
  }
  if (INJECTIONS.length === 0) {
    io.out('no injections in this build');
    return;
  }
  const width = Math.max(...INJECTIONS.map((i) => i.name.length));
  for (const i of INJECTIONS)
    io.out(`${i.name.padEnd(width)}  ${i.vm.padEnd(12)}  ${i.description}`);
}

function runWithProgress(io: Io, opts: ExploreCliOptions, vm: VmTypeName): ExploreReport {
  const total = opts.runs;
  const bar =
    io.isTTY && !opts.json
      ? new cliProgress.SingleBar(
          {
            format: 'explore {vm} [{bar}] {value}/{total} runs | {steps} steps',
            hideCursor: true,
            clearOnComplete: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
  bar?.start(total, 0, { vm, steps: 0 });
  let last = 0;
  try {
    return explore({
      vm,
      steps: opts.steps,
      runs: opts.runs,
      seed: opts.seed,
      ...(opts.inject !== undefined ? { inject: opts.inject } : {}),
      shrinkBudgetMs: opts.shrinkSeconds * 1000,
      onProgress: (runs, steps) => {
        // Redraw at most every 1% of the runs: the bar must not cost the explorer time.
        if (bar !== null && (runs - last >= total / 100 || runs === total)) {
          last = runs;
          bar.update(runs, { steps });
        }
      },
    });
  } finally {
    bar?.stop();
  }
}

function printReport(
  io: Io,
  opts: ExploreCliOptions,
  r: ExploreReport,
  reproPath: string | null,
): void {
  if (opts.json) {
    if (r.violation !== null) {
      io.out(
        JSON.stringify({
          type: 'violation',
          invariant: r.violation.invariant,
          detail: r.violation.detail,
        }),
      );
    }
    io.out(
      JSON.stringify({
        type: 'summary',
        runs: r.runs,
        steps: r.steps,
        violations: r.violations,
        repro: reproPath,
        reproSteps: r.reproSteps,
        vm: r.vm,
        seed: r.seed,
        inject: opts.inject ?? null,
        invariant: r.violation?.invariant ?? null,
      }),
    );
    return;
  }
  const c = colors(io);
  const what = `explored ${r.vm}${opts.inject !== undefined ? ` with ${opts.inject}` : ''}: ${r.runs} runs, ${r.steps} steps, seed ${r.seed}`;
  if (r.violation === null) {
    io.out(`${c.green('PASS')}: ${what}, no invariant violated`);
    return;
  }
  io.out(`${c.red('VIOLATION')}: ${r.violation.invariant}: ${r.violation.detail}`);
  io.out(`${what}`);
  if (reproPath !== null) {
    io.out(`reproduction (${r.reproSteps} steps): ${reproPath}`);
    io.out(`replay: kvmx run ${reproPath}`);
  }
}
