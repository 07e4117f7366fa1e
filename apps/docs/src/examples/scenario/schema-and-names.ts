// The scenario format as data: the operation names (host operations model VMM ioctls, guest
// operations are one KVM_RUN each), the names `expect` and `check` accept, the zod schemas
// parseScenario() validates with, the number forms (integers, hex strings, sizes; 64-bit values
// as bigints, exactly), and the JSON Schema generated from the same zod schemas for editors
// (`# yaml-language-server: $schema=…/scenario.schema.json`). CONTRACTS §2 is the source.

import assert from 'node:assert/strict';
import {
  CHECK_ROOTS,
  type CheckRoot,
  ERRNO_NAMES,
  type ErrnoName,
  EXIT_REASONS,
  type ExitReasonName,
  expectSchema,
  FIELDLESS_OPS,
  GUEST_OPS,
  type GuestOpName,
  HOST_OPS,
  type HostOpName,
  isGuestOp,
  isOpName,
  MEMSLOT_FLAGS,
  NUMBER_PATTERN,
  OP_BODIES,
  OP_NAMES,
  type OpName,
  SCENARIO_SCHEMA_FILE,
  STEP_KEYS,
  STEP_SCHEMAS,
  scenarioFileSchema,
  scenarioJsonSchema,
  scenarioJsonSchemaText,
  topSchema,
  u64Schema,
  uintSchema,
  vmSchema,
} from '@kvmx/scenario';

const host: readonly HostOpName[] = HOST_OPS;
const guest: readonly GuestOpName[] = GUEST_OPS;
assert.deepEqual(host, [
  'memslot',
  'setAttributes',
  'punchHole',
  'allocate',
  'hostWrite',
  'hostRead',
  'initMemRegion',
  'finalize',
  'invalidateHva',
  'preFault',
  'destroy',
  'seamcall',
  'check',
]);
assert.deepEqual(guest, ['write', 'read', 'accept', 'mapGpa', 'hypercall', 'pvalidate', 'resume']);
assert.equal(OP_NAMES.length, host.length + guest.length);
const name = 'mapGpa';
assert.ok(isOpName(name));
const op: OpName = name;
assert.equal(isGuestOp(op), true);
assert.equal(isGuestOp('memslot'), false);
assert.equal(isOpName('wirte'), false);
assert.deepEqual(FIELDLESS_OPS, ['finalize', 'destroy', 'resume']); // `- finalize` alone is a step
assert.deepEqual(STEP_KEYS, ['expect', 'expectOn', 'only', 'note']);
assert.deepEqual(MEMSLOT_FLAGS, ['readonly', 'log_dirty']);

// Names `expect` and `check` take.
const exit: ExitReasonName = 've'; // a TD's #VE its handler did not take (no autoAccept)
assert.ok(EXIT_REASONS.includes(exit));
assert.deepEqual(EXIT_REASONS.slice(0, 4), ['none', 'memory_fault', 'hypercall', 'mmio']);
const errno: ErrnoName = 'EEXIST';
assert.ok(ERRNO_NAMES.includes(errno));
assert.equal(ERRNO_NAMES.includes('ENOTTY'), true); // SEV launch commands on the wrong type
const root: CheckRoot = 'sept';
assert.deepEqual(CHECK_ROOTS, ['direct', 'mirror', 'sept', 'rmp']);
assert.ok(CHECK_ROOTS.includes(root)); // the TDX module's Secure-EPT, not KVM's mirror

// The zod schemas: each operation's body, each step, `expect`, `vm`, the top level.
assert.equal(
  OP_BODIES.setAttributes.safeParse({ gpa: '2GiB', size: 0x1000, private: true }).success,
  true,
);
assert.equal(OP_BODIES.setAttributes.safeParse({ gpa: 0, size: 0x1000 }).success, false); // private missing
assert.equal(
  STEP_SCHEMAS.read.safeParse({ read: { gpa: 0, size: 8 }, expect: { bytes: 0 } }).success,
  true,
);
assert.equal(STEP_SCHEMAS.read.safeParse({ read: { gpa: 0, size: 8 }, bogus: 1 }).success, false);
assert.equal(expectSchema.safeParse({ exit: 'memory_fault', flags: 8 }).success, true);
assert.equal(expectSchema.safeParse({ error: 'ENOTANERRNO' }).success, false);
assert.equal(expectSchema.safeParse({ seamcalls: ['TDH.MEM.PAGE.AUG'] }).success, true);
assert.equal(vmSchema.safeParse({ type: 'tdx', gpaw: 52 }).success, true);
assert.equal(vmSchema.safeParse({ type: 'tdx', gpaw: 50 }).success, false);
assert.equal(topSchema.safeParse({ name: 'x', vm: { type: 'snp' }, steps: [] }).success, true);
assert.equal(
  scenarioFileSchema.safeParse({ name: 'x', vm: { type: 'snp' }, steps: ['finalize'] }).success,
  true,
);

// Numbers: an integer or a string matching NUMBER_PATTERN; addresses below 2^52 as numbers,
// 64-bit registers as bigints (read exactly, never through a double).
const pattern = new RegExp(NUMBER_PATTERN);
assert.deepEqual(
  ['0x1000', '0x1_0000', '4KiB', '2MiB', '4096', '0x', '4kb', '-1'].map((s) => pattern.test(s)),
  [true, true, true, true, true, false, false, false],
);
const gpa = uintSchema('gpa');
assert.deepEqual(gpa.safeParse('1GiB').data, 2 ** 30);
assert.equal(gpa.safeParse(2 ** 52).success, false);
const rcx = u64Schema('rcx');
assert.equal(rcx.safeParse('0xffffffffffffffff').data, 2n ** 64n - 1n);
assert.equal(rcx.safeParse(-1).success, false);
assert.equal(u64Schema('ret', { allowNegative: true }).safeParse(-22).data, 2n ** 64n - 22n);

// The JSON Schema for editors, checked in as scenario.schema.json in the package.
assert.equal(SCENARIO_SCHEMA_FILE, 'scenario.schema.json');
const schema = scenarioJsonSchema();
assert.equal(schema.title, 'kvmx scenario');
assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
assert.deepEqual(JSON.parse(scenarioJsonSchemaText()), schema);
assert.ok(scenarioJsonSchemaText().endsWith('}\n'));
