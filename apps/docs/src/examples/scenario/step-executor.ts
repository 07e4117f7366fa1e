// The step executor: one VM driven one decoded scenario step at a time, each step's outcome a
// value. The scenario runner adds files, positions, expectations and events on top; the
// explorer (@kvmx/explore) adds generation, injections and shrinking — so a step means the
// same in `kvmx run` and in `kvmx explore`. open() does what a VMM does before the first step
// (KVM_CREATE_VM, KVM_TDX_INIT_VM or KVM_SEV_INIT2, the vCPUs, KVM_ENABLE_CAP); a failing
// ioctl there comes back as a VmSetupFailure naming it. Illegal operations come back as the
// system's answer (`error`, an exit, a TDX status), input the VM cannot take as `badInput`.

import assert from 'node:assert/strict';
import type { KvmEvent } from '@kvmx/kvm-x86';
import {
  formatDiagnostic,
  MAX_AUTO_EXITS,
  parseScenario,
  type SeamcallStatus,
  StepExecutor,
  type StepExecutorOptions,
  type StepOp,
  type StepResult,
  touchedRange,
  type VmConfig,
  type VmSetupFailure,
} from '@kvmx/scenario';

const td: VmConfig = {
  type: 'tdx',
  vcpus: 1,
  gpaw: 48,
  cbit: 51,
  exitHypercall: true,
  autoConvert: true, // answer MapGPA exits as the selftests' VMM does…
  autoAccept: true, // …and accept what the guest touches
  septVeDisable: false,
};
assert.equal(MAX_AUTO_EXITS, 10_000); // the most KVM_RUNs one guest step may take with autoConvert

const leaves: string[] = [];
const options: StepExecutorOptions = {
  onEvent: (e: KvmEvent) => {
    if (e.type === 'seamcall') leaves.push(e.leaf);
  },
};
const opened = StepExecutor.open(td, options);
assert.ok(opened instanceof StepExecutor);
const ex = opened;
assert.equal(leaves[0], 'TDH.MNG.CREATE'); // set-up events reach the listener too
assert.equal(ex.vcpus.length, 1);

// Steps are the parsed scenario's StepOps; written out here as values.
const memslot: StepOp = {
  op: 'memslot',
  args: {
    slot: 1,
    gpa: 0x8000_0000,
    size: 0x20_0000,
    guestMemfd: { offset: 0 },
    readonly: false,
    logDirty: false,
  },
};
const toPrivate: StepOp = {
  op: 'setAttributes',
  args: { gpa: 0x8000_0000, size: 0x20_0000, private: true },
};
const write: StepOp = {
  op: 'write',
  args: { gpa: 0x8000_0000, size: 8, byte: 0x5a, private: true, vcpu: 0 },
};
const toShared: StepOp = {
  op: 'mapGpa',
  args: { gpa: 0x8000_0000, size: 0x1000, shared: true, vcpu: 0 },
};
for (const op of [memslot, toPrivate, { op: 'finalize', args: {} } as StepOp])
  assert.deepEqual(ex.execute(op), {});
const w: StepResult = ex.execute(write);
assert.equal(w.run?.exit, null);
leaves.length = 0;
const m = ex.execute(toShared); // the exit is answered by autoConvert inside the step
assert.deepEqual(m.run?.tdvmcall, { status: 'TDVMCALL_STATUS_SUCCESS', r11: 0 });
assert.deepEqual(leaves, [
  'TDH.VP.ENTER',
  'TDH.MEM.RANGE.BLOCK',
  'TDH.MEM.TRACK',
  'TDH.MEM.PAGE.REMOVE',
  'TDH.PHYMEM.PAGE.WBINVD',
  'TDH.VP.ENTER',
]);

// Answers, not exceptions: an errno, and a raw SEAMCALL the module refuses.
assert.deepEqual(
  ex.execute({ op: 'setAttributes', args: { gpa: 0x8000_0800, size: 0x1000, private: false } }),
  { error: 'EINVAL' },
);
const raw = ex.execute({
  op: 'seamcall',
  args: { leaf: 'TDH.MEM.PAGE.REMOVE', gpa: 0x8000_1000, level: 1 },
});
const status: SeamcallStatus | undefined = raw.seamcall?.status;
assert.ok(status !== undefined && status.hi !== 0); // an error status: the page was never mapped
// Bad input only now visible: a vCPU that does not exist.
const ghost: StepOp = { op: 'read', args: { gpa: 0, size: 8, vcpu: 3 } };
assert.equal(ex.canRun(ghost), false);
assert.match(ex.execute(ghost).badInput ?? '', /vCPU 3/);

// The invariant checker after a step, limited to the GFNs the step could change.
const range = touchedRange(write); // the step's own args carry the range
assert.deepEqual([range?.gpa, range?.size], [0x8000_0000, 8]);
assert.equal(touchedRange(memslot), null); // can change state anywhere: the whole VM is checked
assert.deepEqual(ex.violationsAfter(write), []);
assert.deepEqual(ex.violations(), []);

// A set-up that fails names its ioctl: here KVM_CREATE_VM refuses an unknown injected bug.
// A scenario file cannot name one (the parser refuses it with its position), but a program
// handing the executor its own VM config can; create() gives the same failure as its message.
const unknownBug = parseScenario(
  'name: x\nvm: {type: tdx, inject: no-such-bug}\nsteps: []\n',
  'x.yaml',
);
assert.ok(!unknownBug.ok);
assert.match(formatDiagnostic(unknownBug.error), /^x\.yaml:2:25: vm\.inject: expected one of /);
const parsed = parseScenario('name: x\nvm: {type: tdx}\nsteps: []\n', 'x.yaml');
assert.ok(parsed.ok);
const withUnknownBug: VmConfig = { ...parsed.value.vm, inject: 'no-such-bug' };
const refused = StepExecutor.open(withUnknownBug);
assert.ok(!(refused instanceof StepExecutor));
const failure: VmSetupFailure = refused;
assert.deepEqual(
  [failure.ioctl, failure.error, failure.kvm],
  ['KVM_CREATE_VM', 'EINVAL', undefined],
);
assert.equal(StepExecutor.create(withUnknownBug), 'KVM_CREATE_VM(tdx) failed with EINVAL');
ex.execute({ op: 'destroy', args: {} });
