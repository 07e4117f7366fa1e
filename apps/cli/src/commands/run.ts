// `kvmx run <scenario.yaml|json>... [--json] [--vm TYPE] [--seed N]` (CONTRACTS §1): runs
// scenario files through @kvmx/scenario. Human output reads like a kernel trace and ends with
// the page tables the run touched; --json prints one event per line, the summary last.

import { readFileSync, statSync } from 'node:fs';
import type { VmTypeName } from '@kvmx/address';
import type { Kvm } from '@kvmx/kvm-x86';
import {
  formatDiagnostic,
  formatEvent,
  formatSummary,
  MAX_SCENARIO_TEXT,
  type RunEvent,
  runScenarios,
  type ScenarioSource,
  type SessionResult,
  type SummaryEvent,
  type TraceStyle,
} from '@kvmx/scenario';
import type { Command } from 'commander';
import type { RegisterCommand } from '../cli.js';
import { EXIT_USAGE, UsageError } from '../errors.js';
import { colors, type Io } from '../io.js';
import { parseIntOption, parseVmOption } from '../options.js';
import { renderTables } from './tables.js';

interface RunOptions {
  json?: boolean;
  vm?: VmTypeName;
  seed?: number;
}

export const registerRun: RegisterCommand = (program: Command, io: Io, setExit) => {
  program
    .command('run')
    .description('run scenario files (YAML or JSON): steps, exits, SEAMCALLs, expectations')
    .argument('<files...>', 'scenario files (.yaml, .yml or .json)')
    .option('--json', 'JSON Lines: one event per line, the summary last')
    .option('--vm <type>', 'run under this VM type instead of the file’s', parseVmOption)
    .option(
      '--seed <n>',
      'seed (default: the file’s, else 0)',
      parseIntOption('--seed', 0, 2 ** 32 - 1),
    )
    .action((files: string[], opts: RunOptions) => {
      const sources = files.map(readScenarioFile);
      setExit(runAndPrint(sources, opts, io));
    });
};

/** Read a scenario file, or throw a UsageError naming it. */
export function readScenarioFile(file: string): ScenarioSource {
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new UsageError(`${file}: not a file`);
    size = st.size;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  // UTF-8 text is at most 4 bytes per character; anything larger cannot pass the parser's
  // own limit, so it is refused before being read.
  if (size > 4 * MAX_SCENARIO_TEXT) {
    throw new UsageError(`${file}:1:1: the file is ${size} bytes; a scenario file is far smaller`);
  }
  try {
    return { file, text: readFileSync(file, 'utf8') };
  } catch (e) {
    throw new UsageError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** Run, print events (text or JSON Lines) and return the exit status. */
export function runAndPrint(
  sources: readonly ScenarioSource[],
  opts: RunOptions & { title?: string },
  io: Io,
): number {
  const style: TraceStyle = colors(io);
  const captured: { file: string; text: string[] }[] = [];
  // Identical consecutive trace lines (TDH.MR.EXTEND runs 16 times per page) print once,
  // with a count.
  let last: string | null = null;
  let repeats = 0;
  let files = 0;
  const flush = () => {
    if (last !== null) io.out(repeats > 1 ? `${last} ${style.dim(`(x${repeats})`)}` : last);
    last = null;
    repeats = 0;
  };
  const line = (text: string) => {
    if (text === last) {
      repeats++;
      return;
    }
    flush();
    last = text;
    repeats = 1;
  };
  const onEvent = (e: RunEvent | SummaryEvent) => {
    if (opts.json) {
      io.out(JSON.stringify(e));
      return;
    }
    if (e.type === 'summary') return;
    if (e.type === 'scenario' && files++ > 0) line('');
    for (const text of formatEvent(e, style)) line(text);
  };
  const result: SessionResult = runScenarios(sources, {
    ...(opts.vm !== undefined ? { vm: opts.vm } : {}),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    onEvent,
    ...(opts.json
      ? {}
      : {
          capture: (file: string, kvm: Kvm) => {
            captured.push({ file, text: renderTables(kvm, style) });
          },
        }),
  });
  flush();
  if (!opts.json) {
    for (const c of captured) {
      if (c.text.length === 0) continue;
      io.out('');
      io.out(style.bold(captured.length > 1 ? `page tables (${c.file})` : 'page tables'));
      for (const line of c.text) io.out(line);
    }
    if (result.summary !== undefined) {
      io.out('');
      io.out(formatSummary(result.summary, style));
    }
  }
  if (result.error !== undefined) {
    io.err(`kvmx: ${formatDiagnostic(result.error)}`);
    return EXIT_USAGE;
  }
  return result.exitCode;
}
