import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from './diagnostic.js';
import { parseScenario } from './parse.js';
import type { Scenario } from './scenario.js';

const HEAD = 'name: t\nvm: {type: tdx}\nsteps:\n';

function ok(text: string): Scenario {
  const r = parseScenario(text, 's.yaml');
  if (!r.ok) throw new Error(formatDiagnostic(r.error));
  return r.value;
}

function err(text: string, file = 's.yaml'): string {
  const r = parseScenario(text, file);
  if (r.ok) throw new Error('expected an error');
  return formatDiagnostic(r.error);
}

describe('parseScenario: well-formed files', () => {
  it('applies the documented defaults to vm', () => {
    const s = ok('name: t\nvm: {type: tdx}\nsteps: []\n');
    expect(s.vm).toEqual({
      type: 'tdx',
      vcpus: 1,
      gpaw: 48,
      cbit: 51,
      exitHypercall: true,
      autoConvert: false,
      autoAccept: false,
      septVeDisable: false,
    });
    expect(s.invariants).toBe(true);
  });

  it('reads numbers as integers, hex strings and sizes, exactly', () => {
    const s = ok(
      `${HEAD}  - memslot: {slot: 1, gpa: 0x80000000, size: 2MiB, guestMemfd: {offset: "4KiB"}}\n` +
        '  - hostWrite: {gpa: "0xfffffffff000", size: 4096, byte: 0xaa}\n' +
        '  - seamcall: {leaf: TDH.MEM.PAGE.REMOVE, rcx: 0xffffff8000000000, rdx: 0xffffffffffffffff}\n',
    );
    expect(s.steps[0]).toMatchObject({
      op: 'memslot',
      args: { slot: 1, gpa: 0x80000000, size: 0x200000, guestMemfd: { offset: 4096 } },
    });
    expect(s.steps[1]).toMatchObject({ args: { gpa: 0xfffffffff000, size: 4096, byte: 0xaa } });
    // 2^64 - 2^39 would be 18446743523953737728 rounded through a double; it must be exact.
    expect(s.steps[2]).toMatchObject({
      args: { rcx: 0xffffff8000000000n, rdx: 0xffffffffffffffffn },
    });
  });

  it('accepts the largest address below 2^52 and refuses 2^52', () => {
    const last = ok(`${HEAD}  - read: {gpa: 0xfffffffffffff, size: 1}\n`);
    expect(last.steps[0]).toMatchObject({ args: { gpa: 2 ** 52 - 1 } });
    expect(err(`${HEAD}  - read: {gpa: 0x10000000000000, size: 1}\n`)).toBe(
      's.yaml:4:17: steps[0].read.gpa: gpa 0x10000000000000 is out of range: must be below 2^52',
    );
  });

  it('keeps the TDX shared bit in a guest GPA (bit 47 and bit 51)', () => {
    const s = ok(
      `${HEAD}  - read: {gpa: 0x800080000000, size: 1}\n  - read: {gpa: 0x8000080000000, size: 1}\n`,
    );
    expect(s.steps.map((x) => (x.args as { gpa: number }).gpa)).toEqual([
      2 ** 47 + 0x80000000,
      2 ** 51 + 0x80000000,
    ]);
  });

  it('parses JSON with positions', () => {
    const s = ok(
      '{"name":"j","vm":{"type":"sw_protected"},"steps":[{"setAttributes":{"gpa":"0x1000","size":4096,"private":true}}]}',
    );
    expect(s.steps[0]).toMatchObject({ op: 'setAttributes', args: { private: true } });
    expect(
      err('{"name":"j","vm":{"type":"sw_protected"},\n "steps":[{"write":{"gpa":1,"size":1}}]}'),
    ).toBe("s.yaml:2:20: steps[0].write: missing required field 'byte'");
  });

  it('takes fieldless operations as a bare key, a null or {}', () => {
    const s = ok(`${HEAD}  - finalize\n  - finalize:\n  - destroy: {}\n  - resume: {ret: -22}\n`);
    expect(s.steps.map((x) => x.op)).toEqual(['finalize', 'finalize', 'destroy', 'resume']);
    // -EINVAL as the 64-bit hypercall return a VMM writes.
    expect(s.steps[3]?.args).toEqual({ ret: 2n ** 64n - 22n, vcpu: 0 });
  });

  it('normalises expectations: exit with sibling fields or as an object', () => {
    const s = ok(
      `${HEAD}  - write: {gpa: 0x1000, size: 1, byte: 1, private: true}\n` +
        '    expect: {exit: memory_fault, gpa: 0x1000, size: 4KiB, flags: 8}\n' +
        '  - resume\n' +
        '  - mapGpa: {gpa: 0x1000, size: 4KiB, shared: true}\n' +
        '    expect: {exit: {reason: hypercall, nr: 12, args: [0x1000, 1, 0]}}\n',
    );
    expect(s.steps[0]?.expect).toEqual({
      exit: { reason: 'memory_fault', gpa: 0x1000, size: 4096, flags: 8 },
    });
    expect(s.steps[2]?.expect).toEqual({
      exit: { reason: 'hypercall', nr: 12n, args: [0x1000n, 1n, 0n] },
    });
  });

  it('parses check forms', () => {
    const mrtd = `0x${'00'.repeat(47)}ff`;
    const s = ok(
      `${HEAD}  - check: {gpa: 0x1000, root: sept, state: PENDING, level: 1}\n` +
        `  - check: {mrtd: "${mrtd}"}\n  - check: {invariants: true}\n  - check: {gpa: 0, root: direct, mapped: false}\n`,
    );
    expect(s.steps.map((x) => x.args)).toEqual([
      { kind: 'mapping', gpa: 0x1000, root: 'sept', mapped: true, level: 1, state: 'PENDING' },
      { kind: 'mrtd', mrtd },
      { kind: 'invariants' },
      { kind: 'mapping', gpa: 0, root: 'direct', mapped: false },
    ]);
  });

  it('keeps an unquoted 96-digit MRTD with its leading zeros', () => {
    const mrtd = `0x00${'ab'.repeat(47)}`;
    const s = ok(`${HEAD}  - check: {mrtd: ${mrtd}}\n`);
    expect(s.steps[0]?.args).toEqual({ kind: 'mrtd', mrtd });
  });

  it('records each step position and accept defaults', () => {
    const s = ok(`${HEAD}  - accept: {gpa: 0x200000, level: 2}\n  - accept: {gpa: 0x1000}\n`);
    expect(s.steps[0]?.pos).toEqual({ line: 4, col: 5 });
    expect(s.steps[0]?.args).toEqual({ gpa: 0x200000, size: 0x200000, level: 2, vcpu: 0 });
    expect(s.steps[1]?.args).toEqual({ gpa: 0x1000, size: 0x1000, level: 1, vcpu: 0 });
  });

  it('reads memslot flags and guest_memfd bindings', () => {
    const s = ok(
      `${HEAD}  - memslot: {slot: 0, gpa: 0, size: 4KiB, flags: [readonly, log_dirty]}\n` +
        '  - memslot: {slot: 1, gpa: 0x1000, size: 4KiB, guestMemfd: {id: 3, size: 8MiB}}\n',
    );
    expect(s.steps[0]?.args).toMatchObject({ guestMemfd: null, readonly: true, logDirty: true });
    expect(s.steps[1]?.args).toMatchObject({ guestMemfd: { offset: 0, id: 3, size: 0x800000 } });
  });
});

describe('parseScenario: one message with file:line:col for bad input', () => {
  const cases: [string, string, string][] = [
    ['bad YAML', 'name: t\nvm: {type: tdx\nsteps: []\n', 'x.yaml:3:1: bad YAML:'],
    [
      'unknown operation',
      `${HEAD}  - wrte: {gpa: 1, size: 1, byte: 1}\n`,
      "x.yaml:4:5: steps[0]: unknown operation 'wrte' (did you mean 'write'?)",
    ],
    [
      'two operations',
      `${HEAD}  - write: {gpa: 1, size: 1, byte: 1}\n    read: {gpa: 1, size: 1}\n`,
      "x.yaml:5:5: steps[0]: a step holds exactly one operation, but this one has 'write' and 'read'",
    ],
    ['no operation', `${HEAD}  - expect: {exit: none}\n`, 'x.yaml:4:5: steps[0]: a step needs one'],
    [
      'wrong type',
      `${HEAD}  - write: {gpa: 1, size: true, byte: 1}\n`,
      'x.yaml:4:27: steps[0].write.size: expected size: an integer, a hex string',
    ],
    [
      'missing field',
      `${HEAD}  - setAttributes: {gpa: 0, size: 4KiB}\n`,
      "x.yaml:4:20: steps[0].setAttributes: missing required field 'private' (true or false)",
    ],
    [
      'unknown key in an operation',
      `${HEAD}  - write: {gpa: 1, size: 1, byte: 1, privat: true}\n`,
      "x.yaml:4:39: steps[0].write: unknown key 'privat' (did you mean 'private'?)",
    ],
    [
      'unknown top-level key',
      'name: t\nvm: {type: tdx}\nstep: []\n',
      "x.yaml:3:1: unknown key 'step' (did you mean 'steps'?)",
    ],
    ['missing steps', 'name: t\nvm: {type: tdx}\n', "x.yaml:1:1: missing required field 'steps'"],
    [
      'unknown VM type',
      'name: t\nvm: {type: tdx2}\nsteps: []\n',
      'x.yaml:2:12: vm.type: expected one of default, sw_protected, sev, sev_es, snp, tdx, got "tdx2"',
    ],
    [
      'a float',
      `${HEAD}  - write: {gpa: 1.5, size: 1, byte: 1}\n`,
      'x.yaml:4:18: steps[0].write.gpa: expected gpa',
    ],
    [
      'a negative number',
      `${HEAD}  - write: {gpa: -4096, size: 1, byte: 1}\n`,
      'x.yaml:4:18: steps[0].write.gpa: gpa must not be negative',
    ],
    [
      'a 2^64 register',
      `${HEAD}  - seamcall: {leaf: TDH.MEM.PAGE.AUG, rcx: 0x10000000000000000}\n`,
      'x.yaml:4:45: steps[0].seamcall.rcx: 0x10000000000000000 does not fit in 64 bits',
    ],
    [
      'an unparseable number',
      `${HEAD}  - write: {gpa: 4KB, size: 1, byte: 1}\n`,
      'x.yaml:4:18: steps[0].write.gpa: expected a number',
    ],
    [
      'a byte out of range',
      `${HEAD}  - hostWrite: {gpa: 0, size: 1, byte: 256}\n`,
      'x.yaml:4:40: steps[0].hostWrite.byte: byte 256 is out of range: must be below 256',
    ],
    [
      'a level out of range',
      `${HEAD}  - accept: {gpa: 0, level: 6}\n`,
      'x.yaml:4:29: steps[0].accept.level: level 6 is out of range: must be below 6 (PG_LEVEL 1..5)',
    ],
    [
      'a bad errno',
      `${HEAD}  - punchHole: {gpa: 0, size: 1}\n    expect: {error: EWHAT}\n`,
      'x.yaml:5:21: steps[0].expect.error: expected one of EPERM',
    ],
    [
      'an exit field without exit',
      `${HEAD}  - read: {gpa: 0, size: 1}\n    expect: {gpa: 0}\n`,
      "x.yaml:5:14: steps[0].expect: 'gpa' is a field of an exit",
    ],
    [
      'a bad leaf name',
      `${HEAD}  - seamcall: {leaf: tdh.mem.page.aug}\n`,
      'x.yaml:4:22: steps[0].seamcall.leaf: expected a leaf name such as TDH.MEM.PAGE.AUG, got "tdh.mem.page.aug"',
    ],
    [
      'a duplicate key',
      `${HEAD}  - write: {gpa: 0, gpa: 1, size: 1, byte: 1}\n`,
      'x.yaml:4:21: bad YAML: Map keys must be unique',
    ],
    [
      'a step that is a number',
      `${HEAD}  - 42\n`,
      'x.yaml:4:5: steps[0]: expected a step: a mapping with one operation',
    ],
    [
      'a string op needing fields',
      `${HEAD}  - write\n`,
      "x.yaml:4:5: steps[0]: operation 'write' needs fields",
    ],
    [
      'a short MRTD',
      `${HEAD}  - check: {mrtd: "0x1234"}\n`,
      'x.yaml:4:19: steps[0].check.mrtd: expected the 48-byte MRTD as 0x followed by 96 hex digits',
    ],
    [
      'an injection the model does not have',
      'name: t\nvm: {type: tdx, inject: remove-without-trak}\nsteps: []\n',
      'x.yaml:2:25: vm.inject: expected one of remove-without-track, remove-without-block,',
    ],
    [
      'a contradiction about invariants',
      'name: t\ninvariants: true\nvm: {type: tdx, invariants: false}\nsteps: []\n',
      'x.yaml:3:29: vm.invariants contradicts',
    ],
  ];
  for (const [what, text, message] of cases) {
    it(what, () => {
      const m = err(text, 'x.yaml');
      expect(m.startsWith(message), m).toBe(true);
      expect(m.split('\n')).toHaveLength(1);
    });
  }
});
