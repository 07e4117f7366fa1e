// Malformed and adversarial scenario files for the hardening fuzz tests: structurally valid
// scenarios with hostile values (2^64, negative, fractional, huge sizes, wrong types, unknown
// operations and keys), YAML's dangerous corners (alias bombs, cycles through merge keys,
// custom tags, deep nesting, multi-documents, tabs, duplicate keys), binary junk, and random
// byte edits of a small real scenario. Each input says whether it must be refused as bad input.

import { OP_NAMES } from '@kvmx/scenario';
import fc from 'fast-check';

export interface AdversarialInput {
  /** What kind of input this is (for messages). */
  readonly kind: string;
  readonly text: string;
  /** True when the input is malformed for sure: it must end in exit status 2. */
  readonly mustRefuse: boolean;
}

const HOSTILE_NUMBERS = [
  '18446744073709551616', // 2^64
  '0x10000000000000000', // 2^64 in hex
  '0xffffffffffffffff',
  '4503599627370496', // 2^52
  '9007199254740993', // 2^53 + 1
  '-1',
  '-0x1000',
  '1.5',
  '1e308',
  '.nan',
  '.inf',
  '0x',
  '0xg',
  '4KiB',
  '99999999TiB',
  '1 GiB',
  '"0x1000"',
  '"twelve"',
  'true',
  'null',
  '[]',
  '{}',
  '0o17',
  '0b101',
  '1_000',
  "''",
] as const;

/** Values that are certainly not a valid GPA, size or byte. */
const BAD_NUMBERS = [
  '18446744073709551616',
  '0x10000000000000000',
  '4503599627370496',
  '-1',
  '1.5',
  '.nan',
  '"twelve"',
  'true',
  '[]',
  '{}',
  '0xg',
] as const;

/** Every operation a scenario step may name (the schema's list, in its order). */
const OPS = OP_NAMES;

const FIELDS = ['gpa', 'size', 'byte', 'slot', 'vcpu', 'private', 'shared', 'leaf', 'level', 'rcx'];

const VM_TYPES = ['default', 'sw_protected', 'tdx', 'snp', 'sev', 'sev_es'] as const;

/** A step line with a hostile field value; `bad` when that value is certainly refused. */
const hostileStep = fc
  .record({
    op: fc.constantFrom(...OPS),
    field: fc.constantFrom('gpa', 'size', 'byte'),
    value: fc.constantFrom(...HOSTILE_NUMBERS),
  })
  .map(({ op, field, value }) => {
    const fields: Record<string, string> = { gpa: '0x1000', size: '0x1000', byte: '0x11' };
    fields[field] = value;
    const body = Object.entries(fields)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ');
    const certain =
      (BAD_NUMBERS as readonly string[]).includes(value) &&
      !(op === 'finalize' || op === 'destroy' || op === 'resume');
    return { line: `  - ${op}: {${body}}`, certain };
  });

/** Scenarios whose structure is right but one value is hostile. */
const hostileValues: fc.Arbitrary<AdversarialInput> = fc
  .tuple(fc.constantFrom(...VM_TYPES), fc.array(hostileStep, { minLength: 1, maxLength: 4 }))
  .map(([type, steps]) => ({
    kind: 'hostile value',
    text: `name: hostile\nvm: {type: ${type}}\nsteps:\n${steps.map((s) => s.line).join('\n')}\n`,
    mustRefuse: steps.some((s) => s.certain),
  }));

/** Unknown operations, unknown keys, wrong shapes: always refused. */
const wrongShapes: fc.Arbitrary<AdversarialInput> = fc
  .oneof(
    fc.string({ minLength: 1, maxLength: 12 }).map((s) => `  - ${JSON.stringify(`x${s}`)}: {}`),
    fc.constantFrom(...OPS).map((op) => `  - ${op}: {gpa: 0x1000, size: 0x1000, bogus: 1}`),
    fc.constantFrom(...OPS).map((op) => `  - {${op}: {}, write: {}}`),
    fc.constantFrom(...OPS).map((op) => `  - ${op}: [1, 2, 3]`),
    fc.constantFrom(...FIELDS).map((f) => `  - ${f}`),
    fc.constant('  - 42'),
    fc.constant('  - [write, read]'),
    fc.constant('  - write: {gpa: 0x1000, size: 8, byte: 1}\n    expect: {exit: teleport}'),
    fc.constant('  - write: {gpa: 0x1000, size: 8, byte: 1}\n    expect: {error: ENOTANERRNO}'),
  )
  .map((line) => ({
    kind: 'wrong shape',
    text: `name: shapes\nvm: {type: sw_protected}\nsteps:\n${line}\n`,
    mustRefuse: true,
  }));

/** Billion laughs: each level multiplies the expansion by four. */
export const aliasBomb: fc.Arbitrary<AdversarialInput> = fc
  .integer({ min: 8, max: 30 })
  .map((depth) => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < depth; i++) {
      lines.push(`a${i}: &a${i} [*a${i - 1}, *a${i - 1}, *a${i - 1}, *a${i - 1}]`);
    }
    lines.push(`name: *a${depth - 1}`, 'vm: {type: tdx}', 'steps: []');
    return { kind: 'alias bomb', text: `${lines.join('\n')}\n`, mustRefuse: true };
  });

/** YAML's dangerous corners. */
const yamlCorners: fc.Arbitrary<AdversarialInput> = fc.oneof(
  // A small alias tree: expands within the budget, must still be refused or run.
  fc.constant({
    kind: 'small aliases',
    text: 'x: &x {gpa: 0x1000, size: 8, byte: 1}\nname: a\nvm: {type: sw_protected}\nsteps:\n  - write: *x\n  - write: *x\n',
    mustRefuse: true,
  }),
  // Deep nesting, flow and block.
  fc.integer({ min: 65, max: 20_000 }).map((depth) => ({
    kind: 'deep flow nesting',
    text: `name: deep\nvm: {type: tdx}\nsteps: ${'['.repeat(depth)}${']'.repeat(depth)}\n`,
    mustRefuse: true,
  })),
  fc.integer({ min: 65, max: 3_000 }).map((depth) => {
    const lines = ['name: deep', 'vm: {type: tdx}', 'steps:'];
    for (let i = 0; i < depth; i++) lines.push(`${' '.repeat(2 + i)}- `);
    return { kind: 'deep block nesting', text: `${lines.join('\n')}x\n`, mustRefuse: true };
  }),
  fc.integer({ min: 65, max: 20_000 }).map((depth) => ({
    kind: 'deep JSON nesting',
    text: `{"name":"deep","vm":{"type":"tdx"},"steps":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`,
    mustRefuse: true,
  })),
  // Custom and language tags.
  fc
    .constantFrom(
      '!!js/function "function(){}"',
      '!!python/object:os.system [ls]',
      '!custom 1',
      '!!binary aGVsbG8=',
      '!!set {a, b}',
      '!!omap [a: 1]',
    )
    .map((tagged) => ({
      kind: 'custom tag',
      text: `name: ${tagged}\nvm: {type: tdx}\nsteps: []\n`,
      mustRefuse: true,
    })),
  // Self-reference through a merge key, multi-documents, tabs, duplicate keys.
  fc
    .constantFrom(
      { kind: 'merge cycle', text: 'a: &a\n  <<: *a\nname: x\nvm: {type: tdx}\nsteps: []\n' },
      { kind: 'undefined alias', text: 'name: *nope\nvm: {type: tdx}\nsteps: []\n' },
      { kind: 'two documents', text: 'name: a\nvm: {type: tdx}\nsteps: []\n---\nname: b\n' },
      { kind: 'tab indent', text: 'name: a\nvm:\n\ttype: tdx\nsteps: []\n' },
      { kind: 'duplicate key', text: 'name: a\nname: b\nvm: {type: tdx}\nsteps: []\n' },
      { kind: 'unterminated flow', text: 'name: a\nvm: {type: tdx\nsteps: []\n' },
      { kind: 'unterminated string', text: 'name: "a\nvm: {type: tdx}\nsteps: []\n' },
      { kind: 'JSON comment', text: '{"name":"a", // x\n"vm":{"type":"tdx"},"steps":[]}' },
      { kind: 'top-level scalar', text: '42\n' },
      { kind: 'top-level list', text: '[1, 2, 3]\n' },
      { kind: 'empty', text: '' },
      { kind: 'only a comment', text: '# nothing\n' },
      { kind: 'null document', text: '~\n' },
      { kind: 'missing steps', text: 'name: a\nvm: {type: tdx}\n' },
      { kind: 'NUL byte', text: 'name: a\u0000\nvm: {type: tdx}\nsteps: []\n' },
      { kind: 'lone surrogate', text: 'name: "\ud800"\nvm: {type: tdx}\nsteps: 1\n' },
    )
    .map((c) => ({ ...c, mustRefuse: true })),
);

/** Huge inputs: long strings, many steps, long lines. */
const hugeInputs: fc.Arbitrary<AdversarialInput> = fc.oneof(
  fc.integer({ min: 1_100_000, max: 1_300_000 }).map((n) => ({
    kind: 'huge name',
    text: `name: ${'x'.repeat(n)}\nvm: {type: tdx}\nsteps: []\n`,
    mustRefuse: true,
  })),
  fc.integer({ min: 60_000, max: 80_000 }).map((n) => ({
    kind: 'too many values',
    text: `{"name":"many","vm":{"type":"sw_protected"},"steps":[${Array(n).fill('{"destroy":null}').join(',')}]}`,
    mustRefuse: true,
  })),
);

/** Bytes that are not text. */
const binaryJunk: fc.Arbitrary<AdversarialInput> = fc
  .uint8Array({ minLength: 1, maxLength: 512 })
  .map((bytes) => {
    let s = '';
    for (const b of bytes) s += String.fromCharCode(b < 32 && b !== 10 ? b : (b * 7) % 256);
    return { kind: 'binary junk', text: `\u0000${s}`, mustRefuse: true };
  });

/** A small real scenario: every kind of step a TD runs, in a few lines. */
const SMALL_SCENARIO = `name: small
vm: {type: tdx, vcpus: 1}
steps:
  - memslot: {slot: 0, gpa: 0x80000000, size: 2MiB, guestMemfd: true}
  - setAttributes: {gpa: 0x80000000, size: 2MiB, private: true}
  - finalize
  - write: {gpa: 0x80000000, size: 8, byte: 0x11, private: true}
    expect: {exit: none}
  - seamcall: {leaf: TDH.MEM.TRACK}
  - destroy
`;

/** Random edits of a real scenario: may stay valid, must never crash. */
const mutatedDemo: fc.Arbitrary<AdversarialInput> = fc
  .array(
    fc.record({
      at: fc.nat({ max: SMALL_SCENARIO.length }),
      del: fc.nat({ max: 8 }),
      ins: fc.constantFrom(
        '',
        ':',
        '-',
        '{',
        '}',
        '[',
        ']',
        '&a',
        '*a',
        '!',
        '"',
        '\t',
        '\n',
        '  ',
        '0x',
        '99999999999999999999',
        '#',
        '|',
        '>',
      ),
    }),
    { minLength: 1, maxLength: 6 },
  )
  .map((edits) => {
    let t = SMALL_SCENARIO;
    for (const e of edits) {
      const at = Math.min(e.at, t.length);
      t = t.slice(0, at) + e.ins + t.slice(at + e.del);
    }
    return { kind: 'mutated scenario', text: t, mustRefuse: false };
  });

/** Every kind of adversarial scenario text, weighted towards the cheap ones. */
export function adversarialScenario(
  options: { huge?: boolean } = {},
): fc.Arbitrary<AdversarialInput> {
  const arbs: fc.WeightedArbitrary<AdversarialInput>[] = [
    { arbitrary: hostileValues, weight: 4 },
    { arbitrary: wrongShapes, weight: 3 },
    { arbitrary: yamlCorners, weight: 3 },
    { arbitrary: binaryJunk, weight: 1 },
    { arbitrary: mutatedDemo, weight: 4 },
  ];
  if (options.huge === true) arbs.push({ arbitrary: hugeInputs, weight: 1 });
  return fc.oneof(...arbs);
}
