// What parseScenario() hands the runner: the file's values with defaults applied, numbers as
// numbers (64-bit registers and hypercall arguments as bigints), every step with its position.
// Each step is a tagged union on `op` whose `args` type is OpArgsMap[op]; `expect` is typed
// too (Expect, ExitExpect). argsJson() is how a step's arguments appear in its `step` event.

import assert from 'node:assert/strict';
import {
  argsJson,
  type CheckArgs,
  type ExitExpect,
  type Expect,
  type GuestMemfdBinding,
  type OpArgsMap,
  parseScenario,
  type Range,
  type Scenario,
  type Step,
  type StepOp,
  stepVcpu,
  type VmConfig,
} from '@kvmx/scenario';

const parsed = parseScenario(
  `
name: two slots on one guest_memfd
vm: {type: sw_protected, vcpus: 2}
steps:
  - memslot: {slot: 10, gpa: 4GiB, size: 2MiB, guestMemfd: {id: 1, offset: 0, size: 4MiB}}
  - memslot: {slot: 11, gpa: 0x100200000, size: 2MiB, guestMemfd: {id: 1, offset: 2MiB}}
  - hypercall: {nr: 12, args: [0x100000000, 512, 0x10], vcpu: 1}
    expect: {exit: {reason: hypercall, nr: 12, args: [0x100000000, 512]}}
    note: the guest asks for 2 MiB private
  - resume: {vcpu: 1, ret: -22}
    expectOn: {sw_protected: {exit: none}}
  - check: {gpa: 4GiB, root: direct, mapped: false}
    only: [sw_protected, default]
`,
  'two-slots.yaml',
);
assert.ok(parsed.ok);
const scenario: Scenario = parsed.value;
assert.equal(scenario.invariants, true); // the checker runs after every step unless turned off

// The VM with every default filled in.
const vm: VmConfig = scenario.vm;
assert.deepEqual(vm, {
  type: 'sw_protected',
  vcpus: 2,
  gpaw: 48,
  cbit: 51,
  exitHypercall: true,
  autoConvert: false,
  autoAccept: false,
  septVeDisable: false,
});

// Steps are a union on `op`; narrowing gives the operation's own argument type.
const [slot10, slot11, hc, resume, check] = scenario.steps as readonly Step[];
assert.ok(slot10?.op === 'memslot' && slot11?.op === 'memslot');
const args: OpArgsMap['memslot'] = slot11.args;
const range: Range = { gpa: args.gpa, size: args.size };
assert.deepEqual(range, { gpa: 0x1_0020_0000, size: 0x20_0000 });
const binding: GuestMemfdBinding | null = slot10.args.guestMemfd;
assert.deepEqual(binding, { offset: 0, id: 1, size: 0x40_0000 });
assert.deepEqual(slot10.pos, { line: 5, col: 5 });

assert.ok(hc?.op === 'hypercall');
assert.deepEqual(hc.args, { nr: 12n, args: [0x1_0000_0000n, 512n, 0x10n], vcpu: 1 });
const expect: Expect | undefined = hc.expect;
const exit: ExitExpect | undefined = expect?.exit;
assert.deepEqual(exit, { reason: 'hypercall', nr: 12n, args: [0x1_0000_0000n, 512n] });
assert.equal(hc.note, 'the guest asks for 2 MiB private');
const op: StepOp = hc; // the operation part alone
assert.equal(stepVcpu(op), 1);

assert.ok(resume?.op === 'resume');
assert.equal(resume.args.ret, 2n ** 64n - 22n); // -22 as the 64-bit register value (RAX)
assert.deepEqual(resume.expectOn, { sw_protected: { exit: { reason: 'none' } } });

assert.ok(check?.op === 'check');
const what: CheckArgs = check.args;
assert.deepEqual(what, { kind: 'mapping', gpa: 0x1_0000_0000, root: 'direct', mapped: false });
assert.deepEqual(check.only, ['sw_protected', 'default']);
assert.equal(stepVcpu(check), 0); // host operations run on no vCPU

// The arguments as the `step` event carries them: addresses and sizes as hex strings.
assert.deepEqual(argsJson(slot11), {
  slot: 11,
  gpa: '0x100200000',
  size: '0x200000',
  guestMemfd: true,
  gmemOffset: '0x200000',
  gmemId: 1,
  readonly: false,
  logDirty: false,
});
assert.deepEqual(argsJson(hc), { nr: '0xc', args: '0x100000000,0x200,0x10', vcpu: 1 });
