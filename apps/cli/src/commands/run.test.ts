import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { memoryIo } from '../io.js';

const EXAMPLES = fileURLToPath(new URL('../../../../examples/', import.meta.url));

async function run(...argv: string[]) {
  const io = memoryIo();
  const code = await runCli(argv, io);
  return { code, out: io.stdout, err: io.stderr };
}

function scratch(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kvmx-run-'));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

const SW = 'name: t\nvm: {type: sw_protected}\nsteps:\n';

describe('kvmx run --json', () => {
  it('prints one event per line, each with a type, and the summary last', async () => {
    const r = await run('run', join(EXAMPLES, 'private-mem-kvm-exits.yaml'), '--json');
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    const events = r.out.map((l) => JSON.parse(l) as { type: string } & Record<string, unknown>);
    for (const e of events) expect(typeof e.type).toBe('string');
    const last = events[events.length - 1];
    expect(last).toMatchObject({ type: 'summary', ok: true, failed: 0 });
    expect(events.filter((e) => e.type === 'summary')).toHaveLength(1);
    expect(events.find((e) => e.type === 'step')).toMatchObject({ index: 0, op: 'memslot' });
    const exit = events.find((e) => e.type === 'exit');
    expect(exit).toEqual({
      type: 'exit',
      vcpu: 0,
      reason: 'memory_fault',
      gpa: '0xc0000000',
      size: '0x1000',
      flags: '0x8',
    });
    expect(events.filter((e) => e.type === 'expect').every((e) => e.ok === true)).toBe(true);
    expect(last?.exits).toBe(events.filter((e) => e.type === 'exit').length);
  });

  it('runs several files with one summary, and --vm runs a TDX file as another type', async () => {
    const r = await run(
      'run',
      join(EXAMPLES, 'tdx-shared-mem.yaml'),
      join(EXAMPLES, 'punch-hole.yaml'),
      '--vm',
      'sw_protected',
      '--json',
    );
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    const events = r.out.map((l) => JSON.parse(l));
    expect(events.filter((e) => e.type === 'scenario').map((e) => [e.vm, e.fileVm])).toEqual([
      ['sw_protected', 'tdx'],
      ['sw_protected', undefined],
    ]);
    expect(events.filter((e) => e.type === 'summary')).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ type: 'summary', ok: true, files: 2, seamcalls: 0 });
    // The TDX-only step (finalize) is skipped, the shared-alias accesses become canonical.
    expect(events.find((e) => e.type === 'step' && e.skipped)).toMatchObject({ op: 'finalize' });
    expect(events.find((e) => e.type === 'exit')).toMatchObject({
      reason: 'hypercall',
      args: ['0x80000000', '0x1', '0x0'],
    });
  });

  it('is deterministic: the same file twice gives the same bytes', async () => {
    const file = join(EXAMPLES, 'private-mem-kvm-exits.yaml');
    const a = await run('run', file, '--json', '--seed', '5');
    const b = await run('run', file, '--json', '--seed', '5');
    expect(a.out.join('\n')).toBe(b.out.join('\n'));
  });

  it('exits 1 when an expectation fails, and says which', async () => {
    const file = scratch(
      'fail.yaml',
      `${SW}  - memslot: {slot: 0, gpa: 0x100000, size: 4KiB}\n  - read: {gpa: 0x100000, size: 4}\n    expect: {bytes: 0xaa}\n`,
    );
    const r = await run('run', file, '--json');
    expect(r.code).toBe(1);
    const events = r.out.map((l) => JSON.parse(l));
    expect(events.find((e) => e.type === 'expect')).toMatchObject({
      ok: false,
      what: 'bytes',
      detail: 'byte 0 of 4 is 0x0, expected 0xaa',
    });
    expect(events.at(-1)).toMatchObject({ type: 'summary', ok: false, failed: 1 });
  });

  it('fails a host operation that fails without expect.error', async () => {
    const file = scratch('einval.yaml', `${SW}  - memslot: {slot: 0, gpa: 0x100, size: 4KiB}\n`);
    const r = await run('run', file, '--json');
    expect(r.code).toBe(1);
    expect(r.out.map((l) => JSON.parse(l)).find((e) => e.type === 'expect')).toMatchObject({
      ok: false,
      what: 'error',
      detail: 'memslot failed with EINVAL (no expect.error)',
    });
  });
});

describe('kvmx run: bad input is exit 2 with one file:line:col message', () => {
  const cases: [string, string, RegExp][] = [
    ['bad YAML', 'name: t\nvm: {type: tdx\nsteps: []\n', /^kvmx: .*bad\.yaml:3:1: bad YAML/],
    [
      'unknown operation',
      `${SW}  - frob: {}\n`,
      /bad\.yaml:4:5: steps\[0\]: unknown operation 'frob'/,
    ],
    [
      'wrong type',
      `${SW}  - read: {gpa: yes, size: 1}\n`,
      /bad\.yaml:4:17: steps\[0\]\.read\.gpa: expected a number/,
    ],
    [
      'address out of range',
      `${SW}  - read: {gpa: 0x10000000000000, size: 1}\n`,
      /bad\.yaml:4:17: .*must be below 2\^52/,
    ],
    [
      'missing field',
      `${SW}  - read: {gpa: 0}\n`,
      /bad\.yaml:4:11: steps\[0\]\.read: missing required field 'size'/,
    ],
    [
      'a guest operation on a vCPU with a pending exit',
      `${SW}  - mapGpa: {gpa: 0, size: 4KiB, shared: true}\n    expect: {exit: hypercall}\n  - read: {gpa: 0, size: 1}\n`,
      /bad\.yaml:6:5: steps\[1\]: read on vCPU 0, which has a pending hypercall exit/,
    ],
  ];
  for (const [what, text, pattern] of cases) {
    it(what, async () => {
      const r = await run('run', scratch('bad.yaml', text), '--json');
      expect(r.code).toBe(2);
      expect(r.out).toEqual([]);
      expect(r.err).toHaveLength(1);
      expect(r.err[0]).toMatch(pattern);
    });
  }

  it('finds a pending exit only known at run time, and names the step', async () => {
    // No expect: the exit is discovered when the step runs.
    const file = scratch(
      'late.yaml',
      `${SW}  - mapGpa: {gpa: 0, size: 4KiB, shared: true}\n  - read: {gpa: 0, size: 1}\n`,
    );
    const r = await run('run', file, '--json');
    expect(r.code).toBe(2);
    expect(r.err).toEqual([
      expect.stringMatching(/late\.yaml:5:5: steps\[1\]: read on vCPU 0, which has a pending exit/),
    ]);
    expect(JSON.parse(r.out.at(-1) ?? '{}')).toMatchObject({ type: 'summary', ok: false });
  });

  it('every VM type runs, SNP included', async () => {
    const r = await run(
      'run',
      scratch('snp.yaml', 'name: s\nvm: {type: snp}\nsteps: []\n'),
      '--json',
    );
    expect(r.code).toBe(0);
    expect(r.err).toEqual([]);
    expect(JSON.parse(r.out[0] ?? '{}')).toMatchObject({ type: 'scenario', vm: 'snp' });
  });

  it('a file that does not exist', async () => {
    const r = await run('run', '/nonexistent/x.yaml');
    expect(r.code).toBe(2);
    expect(r.err).toEqual(['kvmx: /nonexistent/x.yaml: cannot read: ENOENT']);
  });

  it('binary junk', async () => {
    const r = await run('run', scratch('junk.yaml', '\u007fELF\u0002\u0001\u0001\u0000'));
    expect(r.code).toBe(2);
    expect(r.err[0]).toMatch(/junk\.yaml:1:1: binary data/);
  });

  it('an unknown --vm', async () => {
    const r = await run('run', join(EXAMPLES, 'private-mem-kvm-exits.yaml'), '--vm', 'sgx');
    expect(r.code).toBe(2);
    expect(r.err[0]).toMatch(/--vm: unknown VM type "sgx"/);
  });
});

describe('kvmx run (text)', () => {
  it('reads like a trace and ends with the page tables and a verdict', async () => {
    const r = await run('run', join(EXAMPLES, 'private-mem-kvm-exits.yaml'));
    expect(r.code).toBe(0);
    const text = r.out.join('\n');
    expect(text).toContain(
      'kvm_userspace_exit: vcpu 0 reason KVM_EXIT_MEMORY_FAULT gpa 0xc0000000',
    );
    expect(text).toContain('direct root: 4-level');
    expect(r.out.at(-1)).toMatch(/^PASS: /);
    // No colour unless the Io allows it.
    expect(text).not.toContain('\u001b[');
  });

  it('uses colour when the terminal allows', async () => {
    const io = memoryIo({ color: true });
    await runCli(['run', join(EXAMPLES, 'private-mem-kvm-exits.yaml')], io);
    expect(io.stdout.join('\n')).toContain('\u001b[');
  });
});

describe('examples/', () => {
  const files = readdirSync(EXAMPLES).filter((f) => /\.(ya?ml|json)$/.test(f));

  it('exist', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  for (const f of files) {
    // Not a performance target: the longest example replays ~600 selftest steps.
    it(`${f} passes under kvmx run --json`, { timeout: 120_000 }, async () => {
      const r = await run('run', join(EXAMPLES, f), '--json');
      const last = JSON.parse(r.out.at(-1) ?? '{}');
      const failures = r.out
        .map((l) => JSON.parse(l))
        .filter((e) => e.type === 'expect' && !e.ok)
        .map((e) => `step ${e.index}: ${e.what}: ${e.detail}`);
      expect({ code: r.code, err: r.err, failures }).toEqual({ code: 0, err: [], failures: [] });
      expect(last).toMatchObject({ type: 'summary', ok: true });
    });
  }
});
