// The three stages under runScenarios(), used one by one: parseScenario() (syntax and types),
// planRun() (static checks; with `vm` the file runs under another VM type — `kvmx run --vm`),
// runPlan() (the run, with its events and a capture of the VM while its page tables exist).
// prepareScenario() is the first two together. Under another type, operations that type does
// not have are skipped with a reason (unsupportedReason), not refused: `kvmx demo --vm
// sw_protected` tells the TD's story on a software-protected VM this way.

import assert from 'node:assert/strict';
import type { Kvm } from '@kvmx/kvm-x86';
import {
  DEMO_FILE,
  DEMO_SCENARIO_YAML,
  DEMO_SNP_SCENARIO_YAML,
  type PlannedStep,
  type PlanOptions,
  parseScenario,
  planRun,
  prepareScenario,
  type RunEvent,
  type RunOptions,
  type RunOutcome,
  type RunPlan,
  runPlan,
  unsupportedReason,
} from '@kvmx/scenario';

// `kvmx demo`: a TD's life in 22 steps (its YAML is DEMO_SCENARIO_YAML).
assert.ok(
  DEMO_SCENARIO_YAML.startsWith(
    "# kvmx demo: a TD's life.\nname: a TD's life\nvm: {type: tdx, vcpus: 1}\n",
  ),
);
const parsed = parseScenario(DEMO_SCENARIO_YAML, DEMO_FILE);
assert.ok(parsed.ok);
const planned = planRun(parsed.value);
assert.ok(planned.ok);
const plan: RunPlan = planned.value;
assert.deepEqual(
  [plan.vm.type, plan.overridden, plan.invariants, plan.seed, plan.steps.length],
  ['tdx', false, true, 0, 22],
);

let leaves4k = -1;
const seamcalls: string[] = [];
const options: RunOptions = {
  onEvent: (e: RunEvent) => {
    if (e.type === 'seamcall') seamcalls.push(e.leaf);
  },
  // Called before the `destroy` step (or at the end): the VM with its page tables.
  capture: (kvm: Kvm) => {
    leaves4k = kvm.mmu.leafCount[1] ?? 0;
  },
};
const outcome: RunOutcome = runPlan(plan, options);
assert.deepEqual(outcome, {
  passed: true,
  counts: { steps: 22, skipped: 0, exits: 2, seamcalls: 129, passed: 15, failed: 0, violations: 0 },
});
assert.equal(seamcalls.length, 129);
assert.equal(seamcalls[0], 'TDH.MNG.CREATE');
assert.equal(seamcalls.at(-1), 'TDH.PHYMEM.PAGE.WBINVD'); // the TDR, last of the teardown
assert.equal(leaves4k, 6);

// The same story on an SW_PROTECTED VM: TDX-only steps are skipped, each with its reason.
const opts: PlanOptions = { vm: 'sw_protected', seed: 7 };
const sw = prepareScenario({ file: DEMO_FILE, text: DEMO_SCENARIO_YAML }, opts);
assert.ok(sw.ok);
assert.deepEqual([sw.plan.vm.type, sw.plan.overridden, sw.plan.seed], ['sw_protected', true, 7]);
const skipped: PlannedStep[] = sw.plan.steps.filter((s) => s.skip !== undefined);
assert.deepEqual(
  skipped.map((s) => `${s.step.index}:${s.step.op}`),
  ['3:initMemRegion', '4:finalize', '5:check', '7:accept', '18:accept', '20:check'],
);
assert.equal(
  skipped[3]?.skip,
  'accept (TDG.MEM.PAGE.ACCEPT) exists only for TDX VMs (this VM is sw_protected)',
);
const first = skipped[0];
assert.ok(first !== undefined);
assert.equal(unsupportedReason(first.step, 'snp'), undefined); // SNP has LAUNCH_UPDATE
assert.match(unsupportedReason(first.step, 'default') ?? '', /exists only for TDX and SNP VMs/);
assert.deepEqual(runPlan(sw.plan), {
  passed: true,
  counts: { steps: 16, skipped: 6, exits: 2, seamcalls: 0, passed: 13, failed: 0, violations: 0 },
});

// `kvmx demo --vm snp` tells its own story: launch, PVALIDATE, page-state changes, teardown.
const snp = prepareScenario({ file: DEMO_FILE, text: DEMO_SNP_SCENARIO_YAML });
assert.ok(snp.ok);
assert.equal(snp.plan.vm.type, 'snp');
const snpEvents: RunEvent[] = [];
const snpOutcome = runPlan(snp.plan, { onEvent: (e) => snpEvents.push(e) });
assert.equal(snpOutcome.passed, true);
assert.equal(snpOutcome.counts.exits, 3);
assert.ok(snpEvents.some((e) => e.type === 'rmp')); // every RMP change is an event
