// The explorer's parts, used by hand. Every run starts with a fixed prologue on a small VM
// (two vCPUs, two guest_memfd-backed memslots, the first 2 MiB private, a TD or SNP guest
// finalized); then each step is one 30-bit integer decoded against the VM's current state
// (decodeStep), so fast-check's shrinking and seeds work on plain numbers. runSequence() runs
// codes or concrete steps through the scenario runner's StepExecutor with the invariants checked
// after each; shrinkSteps() is delta debugging down to a 1-minimal sequence that still breaks
// the invariant; reproYaml() writes the result as a scenario whose every step expects what it
// did (stepOutcome), so a replay fails only at the violation.

import assert from 'node:assert/strict';
import {
  decodeStep,
  EXPLORE_PAGES,
  EXPLORE_VCPUS,
  EXPLORE_WINDOW,
  expectBody,
  exploreVmConfig,
  exploreVmTypes,
  hasPrivateMemory,
  MODEL_CRASH,
  prologue,
  type RecordedStep,
  type ReproFile,
  reproYaml,
  runSequence,
  type SequenceResult,
  STEP_CODE_LIMIT,
  StepExecutor,
  type StepOutcome,
  shrinkSteps,
  stepBody,
  stepOutcome,
} from '@kvmx/explore';
import type { StepOp } from '@kvmx/scenario';

assert.deepEqual(exploreVmTypes(), ['default', 'sw_protected', 'sev', 'sev_es', 'snp', 'tdx']);
assert.deepEqual(exploreVmTypes().map(hasPrivateMemory), [false, true, true, true, true, true]);
assert.deepEqual([EXPLORE_VCPUS, EXPLORE_PAGES, EXPLORE_WINDOW], [2, 1152, 1152 * 4096]);
assert.equal(STEP_CODE_LIMIT, 2 ** 30);

// The explored TD, and its prologue.
const config = exploreVmConfig('tdx');
assert.deepEqual(config, {
  type: 'tdx',
  vcpus: 2,
  gpaw: 48,
  cbit: 51,
  exitHypercall: true,
  autoConvert: true,
  autoAccept: true,
  septVeDisable: false,
});
const pro = prologue('tdx');
assert.deepEqual(
  pro.map((s) => `${s.op} ${stepBody(s)}`),
  [
    'memslot {slot: 1, gpa: 0x0, size: 0x400000, guestMemfd: true}',
    'memslot {slot: 2, gpa: 0x400000, size: 0x400000, guestMemfd: true}',
    'setAttributes {gpa: 0x0, size: 0x200000, private: true}',
    'finalize ',
  ],
);

// Step codes decoded against the VM as it is: the same code means the same step only in the
// same state, which is why reproductions record concrete steps.
const ex = StepExecutor.create(config);
assert.ok(ex instanceof StepExecutor);
for (const op of pro) assert.deepEqual(ex.execute(op), {});
const decoded = [0, 2 ** 29 + 77, (5 << 25) | 3].map((code) => {
  const op = decodeStep(code, 'tdx', ex);
  const outcome: StepOutcome = stepOutcome(op, ex.execute(op));
  return `${op.op} ${stepBody(op)} ${expectBody(op, outcome)}`.trim();
});
assert.deepEqual(decoded, [
  'write {gpa: 0x0, size: 0x8, byte: 0x11}', // vCPU 0, private left to the attributes
  'punchHole {gpa: 0x2000, size: 0x1000}', // fallocate(PUNCH_HOLE) on the slot's guest_memfd
  'write {gpa: 0x0, size: 0x8, byte: 0x11}', // completed: no expectation to state
]);
// The same code after the slot is gone decodes to the same write, which now exits.
assert.deepEqual(
  ex.execute({
    op: 'memslot',
    args: { slot: 1, gpa: 0, size: 0, guestMemfd: null, readonly: false, logDirty: false },
  }),
  {},
);
const again = decodeStep((5 << 25) | 3, 'tdx', ex);
assert.deepEqual(stepOutcome(again, ex.execute(again)), { exit: 'memory_fault' });

// runSequence: a prologue and codes, recorded step by step, invariants after each.
const seq: SequenceResult = runSequence(config, [1, 2, 3, 40000, 5000000], {
  record: true,
  prologue: pro,
});
assert.equal(seq.violation, null);
assert.equal(seq.steps, 9);
const last: RecordedStep | undefined = seq.recorded.at(-1);
assert.deepEqual(last?.outcome, { exit: 'memory_fault' });

// A buggy KVM (the pre-pass zap skipped) and a long sequence that breaks `attributes-respected`.
const buggy = exploreVmConfig('sw_protected', 'no-zap-shared-on-private');
const steps: StepOp[] = [
  {
    op: 'memslot',
    args: {
      slot: 1,
      gpa: 0,
      size: 0x40_0000,
      guestMemfd: { offset: 0 },
      readonly: false,
      logDirty: false,
    },
  },
  { op: 'hostWrite', args: { gpa: 0x1000, size: 0x1000, byte: 0x77 } },
  { op: 'read', args: { gpa: 0x1000, size: 8, vcpu: 1 } },
  { op: 'write', args: { gpa: 0x8f000, size: 1, byte: 0xcc, private: false, vcpu: 0 } },
  { op: 'invalidateHva', args: { gpa: 0x30_0000, size: 0x1000 } },
  { op: 'setAttributes', args: { gpa: 0, size: 0x20_0000, private: true } },
];
const broken = runSequence(buggy, steps);
assert.equal(broken.violation?.invariant, 'attributes-respected');
assert.equal(broken.violation?.step, 5);
const minimal = shrinkSteps(buggy, steps, 'attributes-respected', {
  budgetMs: 10_000,
  now: Date.now,
});
assert.deepEqual(
  minimal.map((s) => s.op),
  ['memslot', 'write', 'setAttributes'],
);

// The reproduction file: every step states what it did; the last one breaks the invariant.
const recorded = runSequence(buggy, minimal, { record: true }).recorded;
const file: ReproFile = {
  name: 'stale shared SPTE',
  vm: buggy,
  steps: recorded,
  comment: ['found by hand'],
};
const yaml = reproYaml(file);
assert.equal(
  yaml,
  [
    '# found by hand',
    'name: "stale shared SPTE"',
    'vm:',
    '  type: sw_protected',
    '  vcpus: 2',
    '  autoConvert: true',
    '  inject: no-zap-shared-on-private',
    'steps:',
    '  - memslot: {slot: 1, gpa: 0x0, size: 0x400000, guestMemfd: true}',
    '  - write: {gpa: 0x8f000, size: 0x1, byte: 0xcc, private: false}',
    '  - setAttributes: {gpa: 0x0, size: 0x200000, private: true}',
    '',
  ].join('\n'),
);

// A VM that cannot even be created is reported as the explorer's crash, not a violation.
const crash = runSequence({ ...buggy, inject: 'no-such-bug' }, steps);
assert.equal(crash.violation?.invariant, MODEL_CRASH);
