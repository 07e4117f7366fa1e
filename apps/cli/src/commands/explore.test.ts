import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  exploreVmConfig,
  prologue,
  reproYaml,
  runSequence,
  StepExecutor,
  shrinkSteps,
} from '@kvmx/explore';
import type { StepOp } from '@kvmx/scenario';
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { memoryIo } from '../io.js';

async function run(...argv: string[]) {
  const io = memoryIo();
  const code = await runCli(argv, io);
  return { code, out: io.stdout, err: io.stderr };
}

describe('kvmx explore', () => {
  it('explores a TD and ends --json output with the CONTRACTS summary', async () => {
    const r = await run(
      'explore',
      '--vm',
      'tdx',
      '--runs',
      '3',
      '--steps',
      '30',
      '--seed',
      '5',
      '--json',
    );
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.out.at(-1) ?? '{}');
    expect(summary).toMatchObject({
      type: 'summary',
      runs: 3,
      violations: 0,
      repro: null,
      reproSteps: null,
    });
    expect(summary.steps).toBeGreaterThan(3 * 20);
  });

  it('prints one human summary line', async () => {
    const r = await run('explore', '--vm', 'sw_protected', '--runs', '2', '--steps', '10');
    expect(r.code).toBe(0);
    expect(r.out).toEqual([
      expect.stringMatching(
        /^PASS: explored sw_protected: 2 runs, \d+ steps, seed 1, no invariant violated$/,
      ),
    ]);
  });

  it('gives the same summary for the same seed', async () => {
    const a = await run(
      'explore',
      '--vm',
      'default',
      '--runs',
      '4',
      '--steps',
      '25',
      '--seed',
      '42',
      '--json',
    );
    const b = await run(
      'explore',
      '--vm',
      'default',
      '--runs',
      '4',
      '--steps',
      '25',
      '--seed',
      '42',
      '--json',
    );
    expect(a.out).toEqual(b.out);
  });

  it('lists injections, as JSON objects with name, vm and description', async () => {
    const r = await run('explore', '--list-injections', '--json');
    expect(r.code).toBe(0);
    expect(r.out.length).toBeGreaterThanOrEqual(5);
    for (const line of r.out) {
      expect(Object.keys(JSON.parse(line)).sort()).toEqual(['description', 'name', 'vm']);
    }
  });

  it.each([
    [['explore'], /--vm <type> is required/],
    [['explore', '--vm', 'nope'], /--vm: unknown VM type "nope"/],
    [['explore', '--vm', 'tdx', '--steps', '0'], /--steps: must be an integer/],
    [['explore', '--vm', 'tdx', '--runs', '-1'], /--runs/],
    [['explore', '--vm', 'tdx', '--seed', '1e3'], /--seed: must be an integer/],
    [
      ['explore', '--vm', 'tdx', '--inject', 'no-such-bug'],
      /--inject: unknown injection "no-such-bug"/,
    ],
  ])('refuses %j with exit 2 and one line', async (argv, message) => {
    const r = await run(...argv);
    expect(r.code).toBe(2);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(message);
    expect(r.out).toEqual([]);
  });

  it('writes reproductions that kvmx run replays to the same violation (exit 1)', async () => {
    // A hostile BLOCK of a mapped private page leaves the S-EPT leaf blocked: the shape of
    // reproduction the explorer writes, shrunk and replayed through the real CLI.
    const config = exploreVmConfig('tdx');
    const ex = StepExecutor.create(config);
    if (typeof ex === 'string') throw new Error(ex);
    const tdr = BigInt(ex.kvm.tdx?.tdr ?? 0);
    const steps: StepOp[] = [
      ...prologue('tdx'),
      { op: 'hostWrite', args: { gpa: 0x300000, size: 4096, byte: 0x11 } },
      { op: 'write', args: { gpa: 0x3000, size: 8, byte: 0x5a, private: true, vcpu: 0 } },
      { op: 'read', args: { gpa: 0x200000, size: 8, vcpu: 1 } },
      { op: 'seamcall', args: { leaf: 'TDH.MEM.RANGE.BLOCK', rcx: 0x3000n, rdx: tdr } },
    ];
    const min = shrinkSteps(config, steps, 'tlb-tracked', { budgetMs: 10_000, now: Date.now });
    const rec = runSequence(config, min, { record: true });
    expect(rec.violation?.invariant).toBe('tlb-tracked');
    const dir = mkdtempSync(join(tmpdir(), 'kvmx-explore-'));
    try {
      const file = join(dir, 'repro.yaml');
      writeFileSync(file, reproYaml({ name: 'blocked leaf', vm: config, steps: rec.recorded }));
      expect(readFileSync(file, 'utf8')).toContain('TDH.MEM.RANGE.BLOCK');
      const r = await run('run', file, '--json');
      expect(r.err).toEqual([]);
      expect(r.code).toBe(1);
      const events = r.out.map((l) => JSON.parse(l));
      expect(events.find((e) => e.type === 'violation')).toMatchObject({
        invariant: 'tlb-tracked',
      });
      const failed = events.filter((e) => e.type === 'expect' && !e.ok);
      expect(failed).toHaveLength(1);
      expect(failed[0]).toMatchObject({ index: rec.recorded.length - 1 });
      expect(events.at(-1)).toMatchObject({ type: 'summary', ok: false });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('finds an injected bug, writes the shrunk reproduction, and kvmx run replays it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvmx-explore-'));
    try {
      const file = join(dir, 'found.yaml');
      const r = await run(
        'explore',
        '--inject',
        'no-zap-shared-on-private',
        '--runs',
        '20',
        '--steps',
        '60',
        '--repro',
        file,
        '--json',
      );
      expect(r.err).toEqual([]);
      expect(r.code).toBe(1);
      const summary = JSON.parse(r.out.at(-1) ?? '{}');
      expect(summary).toMatchObject({
        type: 'summary',
        violations: 1,
        repro: file,
        vm: 'sw_protected',
      });
      expect(summary.reproSteps).toBeLessThanOrEqual(10);
      const text = readFileSync(file, 'utf8');
      expect(text).toContain('inject: no-zap-shared-on-private');
      const replay = await run('run', file, '--json');
      expect(replay.code).toBe(1);
      const events = replay.out.map((l) => JSON.parse(l));
      expect(events.find((e) => e.type === 'violation')).toMatchObject({
        invariant: summary.invariant,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
