// The hostile-host explorer finding a KVM bug. explore() runs fast-check-generated host and
// guest operations on a small VM, checks the invariants after every step, shrinks the first
// violation to a minimal step sequence and writes it as a scenario file. Here the injected bug
// is kvm_vm_set_mem_attributes() skipping the pre-pass zap (kvm_arch_pre_set_memory_attributes)
// when converting to private: a shared mapping survives, and `attributes-respected` breaks.
// The reproduction replays through the scenario runner (`kvmx run`) to the same violation at
// its last step; without the injection the same seed finds nothing.

import assert from 'node:assert/strict';
import {
  type ExploreOptions,
  type ExploreReport,
  explore,
  type FoundViolation,
  INJECTIONS,
  type Injection,
  injectionByName,
} from '@kvmx/explore';
import { type RunEvent, runScenarios } from '@kvmx/scenario';

// The injectable bugs (also `kvmx explore --list-injections`), each with the VM to explore on.
const injection: Injection | undefined = injectionByName('no-zap-shared-on-private');
assert.ok(injection !== undefined);
assert.equal(injection.vm, 'sw_protected');
assert.match(injection.description, /kvm_arch_pre_set_memory_attributes/);
assert.ok(INJECTIONS.some((i) => i.name === 'remove-without-track' && i.vm === 'tdx'));
assert.equal(injectionByName('no-such-bug'), undefined);

const options: ExploreOptions = {
  vm: injection.vm,
  steps: 60,
  runs: 50,
  seed: 1,
  inject: injection.name,
};
const report: ExploreReport = explore(options);
assert.deepEqual([report.runs, report.violations, report.reproSteps], [1, 1, 3]); // found in the first run
const violation: FoundViolation | null = report.violation;
assert.deepEqual(violation, {
  invariant: 'attributes-respected',
  detail: 'shared frame mapped at private gfn 0x8f (level 1)',
  step: 2,
});
// The reproduction: the VM (with the bug switched on) and three steps — map a page shared,
// convert the range to private; the stale shared SPTE is the violation.
const repro = report.repro ?? '';
assert.ok(repro.includes('  inject: no-zap-shared-on-private\n'));
assert.ok(
  repro.endsWith(
    [
      'steps:',
      '  - memslot: {slot: 1, gpa: 0x0, size: 0x400000, guestMemfd: true}',
      '  - write: {gpa: 0x8f000, size: 0x1, private: false, byte: 0xcc}',
      '  - setAttributes: {gpa: 0x0, size: 0x200000, private: true}',
      '',
    ].join('\n'),
  ),
);

// `kvmx run repro.yaml`: the run fails (exit status 1) with the same invariant at the last step.
const events: RunEvent[] = [];
const replay = runScenarios([{ file: 'repro.yaml', text: repro }], {
  onEvent: (e) => {
    if (e.type !== 'summary') events.push(e);
  },
});
assert.equal(replay.exitCode, 1);
const found = events.find((e) => e.type === 'violation');
assert.ok(found?.type === 'violation');
assert.equal(found.invariant, 'attributes-respected');
const failed = events.filter((e) => e.type === 'expect' && !e.ok);
assert.deepEqual(
  failed.map((e) => (e.type === 'expect' ? e.index : -1)),
  [2],
);

// The correct kernel, same seed: nothing found, no reproduction.
const clean = explore({ vm: injection.vm, steps: 60, runs: 5, seed: 1 });
assert.deepEqual([clean.violations, clean.violation, clean.repro], [0, null, null]);
assert.equal(clean.runs, 5);
