// Hardening: thousands of malformed and adversarial command lines for every command, run
// in-process, and adversarial scenario files through `kvmx run`. Bad input must end in exit
// status 2 with exactly one line on stderr (file:line:col for file contents) — never exit 70
// ("internal error"), never a stack trace, never a hang.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adversarialScenario } from '@kvmx/explore';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli.js';
import { memoryIo } from './io.js';

/** Most milliseconds one command line may take before it counts as a hang. */
const HANG_MS = 3_000;

interface Outcome {
  code: number;
  out: string[];
  err: string[];
}

async function run(argv: readonly string[]): Promise<Outcome> {
  const io = memoryIo();
  const code = await runCli(argv, io);
  return { code, out: io.stdout, err: io.stderr };
}

/** The rules every outcome obeys, whatever the input. */
function checkOutcome(argv: readonly string[], r: Outcome): void {
  const where = JSON.stringify(argv).slice(0, 300);
  const errText = r.err.join('\n');
  expect([0, 1, 2], `${where} → exit ${r.code}: ${errText}`).toContain(r.code);
  expect(errText, where).not.toMatch(/internal error/);
  expect(errText, where).not.toMatch(/\n\s+at .+:\d+:\d+/);
  if (r.code === 2) {
    const lines = errText.split('\n').filter((l) => l !== '');
    expect(lines, `${where}: stderr must be one line`).toHaveLength(1);
  }
}

// ---- command lines ------------------------------------------------------------------------

const HOSTILE_VALUES = [
  '',
  '-',
  '--',
  '0',
  '1',
  '3',
  '48',
  '52',
  '-1',
  '1e3',
  '0x',
  '0x1000',
  '0xfffffffffffff000',
  '0x10000000000000000',
  '18446744073709551616',
  '4503599627370496',
  '4GiB',
  '99999999TiB',
  'NaN',
  'Infinity',
  'tdx',
  'sw_protected',
  'snp',
  'default',
  'nope',
  '\u0000',
  'ü',
  '💥',
  ' 0x10',
  '=',
  '%s%s%n',
  '../../etc/passwd',
];

const OPTIONS = [
  '--vm',
  '--gpaw',
  '--cbit',
  '--json',
  '--seed',
  '--runs',
  '--pages',
  '--no-c',
  '--inject',
  '--list-injections',
  '--repro',
  '--help',
  '-h',
  '--version',
  '-V',
  '--vm=tdx',
  '--vm=',
  '--unknown',
  '-x',
];

const token = fc.oneof(
  { arbitrary: fc.constantFrom(...HOSTILE_VALUES), weight: 4 },
  { arbitrary: fc.constantFrom(...OPTIONS), weight: 4 },
  { arbitrary: fc.string({ maxLength: 12, unit: 'grapheme' }), weight: 1 },
  { arbitrary: fc.string({ maxLength: 6, unit: 'binary' }), weight: 1 },
);

/** A command line: a command (or junk) and hostile tokens; expensive runs bounded. */
const argvArb: fc.Arbitrary<string[]> = fc
  .tuple(
    fc.constantFrom(
      ['addr'],
      ['decode', 'status'],
      ['decode', 'spte'],
      ['decode'],
      ['decode', 'nope'],
      ['bench'],
      ['bench', 'nope'],
      ['explore', '--runs', '1', '--steps', '3', '--shrink-seconds', '0'],
      ['demo'],
      ['run'],
      ['nope'],
      [],
    ),
    fc.array(token, { maxLength: 6 }),
  )
  .map(([cmd, rest]) => {
    // Bound what a valid command line can cost: no benchmark names after `bench`, no
    // explore sizes other than the prefix's, no files written by explore.
    const bounded = rest.filter((t) =>
      cmd[0] === 'bench'
        ? !['paging', 'faultin', 'explore', 'all'].includes(t)
        : cmd[0] === 'explore'
          ? !['--runs', '--steps', '--repro', '--shrink-seconds'].includes(t)
          : true,
    );
    return [...cmd, ...bounded];
  });

// ---- scenario files -----------------------------------------------------------------------

let dir = '';
let files: { path: string; mustRefuse: boolean }[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kvmx-fuzz-'));
  const samples = fc.sample(adversarialScenario(), { numRuns: 300, seed: 424242 });
  files = samples.map((s, i) => {
    const path = join(dir, `f${i}.${i % 3 === 0 ? 'json' : 'yaml'}`);
    writeFileSync(path, s.text);
    return { path, mustRefuse: s.mustRefuse };
  });
  mkdirSync(join(dir, 'a-directory'));
});

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe('the command line under fuzzing', () => {
  it('answers 7,200 hostile command lines with exit 0/1/2 and one stderr line on 2', async () => {
    const samples = fc.sample(argvArb, { numRuns: 7_200, seed: 1125 });
    let usage = 0;
    for (const argv of samples) {
      const t = performance.now();
      const r = await run(argv);
      const ms = performance.now() - t;
      expect(ms, `${JSON.stringify(argv)} took ${ms.toFixed(0)} ms`).toBeLessThan(HANG_MS);
      checkOutcome(argv, r);
      if (r.code === 2) usage++;
    }
    expect(usage).toBeGreaterThan(3_600);
  }, 120_000);

  it('runs 300 adversarial scenario files: file:line:col on exit 2, never a crash', async () => {
    let refused = 0;
    for (const f of files) {
      const argv = ['run', f.path, '--json'];
      const t = performance.now();
      const r = await run(argv);
      expect(performance.now() - t).toBeLessThan(HANG_MS);
      checkOutcome(argv, r);
      if (f.mustRefuse) expect(r.code, f.path).toBe(2);
      if (r.code === 2) {
        refused++;
        const line = r.err[0] ?? '';
        expect(line.startsWith(`kvmx: ${f.path}:`), line).toBe(true);
        expect(line.slice(`kvmx: ${f.path}:`.length)).toMatch(/^\d+:\d+: \S/);
      }
    }
    expect(refused).toBeGreaterThan(200);
  }, 120_000);

  it('names unreadable paths in one line', async () => {
    for (const path of [join(dir, 'missing.yaml'), join(dir, 'a-directory'), '']) {
      const r = await run(['run', path]);
      checkOutcome(['run', path], r);
      expect(r.code).toBe(2);
    }
  });
});
