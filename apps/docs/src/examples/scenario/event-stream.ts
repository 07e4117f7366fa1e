// The event stream, typed: `scenario` (a file starts), `step`, the facade's own events as they
// happen, `result` (how the operation ended), `expect` (each expectation checked), and last a
// `summary` whose counts add up over every file run (summaryEvent over RunCounts). Here a
// TDX file run twice — once as written, once under another seed — gives one summary, as
// `kvmx run a.yaml b.yaml` does.

import assert from 'node:assert/strict';
import {
  type ExpectEvent,
  emptyCounts,
  prepareScenario,
  type ResultEvent,
  type RunCounts,
  type RunEvent,
  runPlan,
  type ScenarioEvent,
  type StepEvent,
  type SummaryEvent,
  summaryEvent,
} from '@kvmx/scenario';

const text = `
name: accept before and after
vm: {type: tdx}
steps:
  - memslot: {slot: 1, gpa: 0x80000000, size: 2MiB, guestMemfd: true}
  - setAttributes: {gpa: 0x80000000, size: 4KiB, private: true}
  - finalize
  - read: {gpa: 0x80000000, size: 8, private: true}
    expect: {exit: ve}
  - accept: {gpa: 0x80000000}
    expect: {status: TDX_SUCCESS}
  - resume:
    expect: {bytes: 0}
  - accept: {gpa: 0x80000000}
    expect: {status: TDX_PAGE_ALREADY_ACCEPTED}
`;

const counts: RunCounts[] = [];
const scenarios: ScenarioEvent[] = [];
const steps: StepEvent[] = [];
const results: ResultEvent[] = [];
const expects: ExpectEvent[] = [];
for (const seed of [0, 42]) {
  const p = prepareScenario({ file: 'accept.yaml', text }, { seed });
  assert.ok(p.ok);
  const outcome = runPlan(p.plan, {
    onEvent: (e: RunEvent) => {
      if (e.type === 'scenario') scenarios.push(e);
      else if (e.type === 'step') steps.push(e);
      else if (e.type === 'result') results.push(e);
      else if (e.type === 'expect') expects.push(e);
    },
  });
  counts.push(outcome.counts);
}

assert.deepEqual(
  scenarios.map((s) => s.seed),
  [0, 42],
);
assert.deepEqual(steps[3], {
  type: 'step',
  index: 3,
  op: 'read',
  line: 8,
  args: { gpa: '0x80000000', size: '0x8', private: true, vcpu: 0 },
  vcpu: 0,
});
// The guest's read stopped in a #VE; its handler's TDCALL; a second ACCEPT of the same page.
assert.deepEqual(results.slice(3, 7), [
  { type: 'result', index: 3, exit: 've', value: { ve: '0x80000000' } },
  { type: 'result', index: 4, status: 'TDX_SUCCESS', exit: 'none' },
  { type: 'result', index: 5, exit: 'none', bytes: '0x0 x 8' },
  { type: 'result', index: 6, status: 'TDX_PAGE_ALREADY_ACCEPTED', exit: 'none' },
]);
assert.ok(expects.every((e) => e.ok));
assert.equal(expects.length, 8); // four per run

const perRun = counts[0]?.seamcalls ?? 0;
// 16 to build the TD and its vCPU, MR.FINALIZE, SEPT.ADD ×3 + PAGE.AUG, five TDH.VP.ENTERs.
assert.equal(perRun, 16 + 1 + 4 + 5);
const empty = emptyCounts();
assert.deepEqual(empty, {
  steps: 0,
  skipped: 0,
  exits: 0,
  seamcalls: 0,
  passed: 0,
  failed: 0,
  violations: 0,
});
const summary: SummaryEvent = summaryEvent(counts, false);
assert.deepEqual(summary, {
  type: 'summary',
  ok: true,
  files: 2,
  steps: 14,
  skipped: 0,
  exits: 0, // a #VE is not an exit to userspace
  seamcalls: 2 * perRun,
  passed: 8,
  failed: 0,
  violations: 0,
});
// Bad input anywhere makes the whole session not ok, whatever the counts.
assert.equal(summaryEvent(counts, true).ok, false);
assert.equal(summaryEvent([empty], false).files, 1);
