// Running a scenario file the way `kvmx run` and the docs playground do: the YAML text goes in,
// a JSON event stream comes out (CONTRACTS §1), and the exit status says 0 = every expectation
// held, 1 = an expectation or an invariant failed, 2 = bad input (nothing ran). The story here
// is a TD's private → shared conversion: the first private write (SEPT.ADD ×3, PAGE.AUG, the
// guest's #VE handler accepting), then the guest's MapGPA answered by the VMM (autoConvert),
// which zaps the page from the S-EPT (tdx_sept_remove_private_spte: BLOCK, TRACK, REMOVE,
// WBINVD).

import assert from 'node:assert/strict';
import {
  formatEvent,
  formatSummary,
  PLAIN_STYLE,
  type RunEvent,
  runScenarios,
  type ScenarioSource,
  type SessionOptions,
  type SessionResult,
  type SummaryEvent,
  type TraceStyle,
} from '@kvmx/scenario';

const convert: ScenarioSource = {
  file: 'convert.yaml',
  text: `
name: a TD converts a page to shared
vm: {type: tdx, autoAccept: true, autoConvert: true}
steps:
  - memslot: {slot: 1, gpa: 0x80000000, size: 2MiB, guestMemfd: true}
  - setAttributes: {gpa: 0x80000000, size: 2MiB, private: true}
  - finalize
  - write: {gpa: 0x80000000, size: 4KiB, byte: 0x33, private: true}
    expect:
      seamcalls: [TDH.VP.ENTER, TDH.MEM.SEPT.ADD, TDH.MEM.SEPT.ADD, TDH.MEM.SEPT.ADD,
                  TDH.MEM.PAGE.AUG, TDH.VP.ENTER]
  - check: {gpa: 0x80000000, root: sept, level: 1, state: MAPPED}
  - mapGpa: {gpa: 0x80000000, size: 4KiB, shared: true}
    expect:
      seamcalls: [TDH.VP.ENTER, TDH.MEM.RANGE.BLOCK, TDH.MEM.TRACK, TDH.MEM.PAGE.REMOVE,
                  TDH.PHYMEM.PAGE.WBINVD, TDH.VP.ENTER]
  - read: {gpa: 0x80000000, size: 8, private: false}
    expect: {bytes: 0}
  - check: {gpa: 0x80000000, root: sept, mapped: false}
`,
};

const events: (RunEvent | SummaryEvent)[] = [];
const options: SessionOptions = { onEvent: (e) => events.push(e) };
const result: SessionResult = runScenarios([convert], options);
assert.equal(result.exitCode, 0);
assert.deepEqual(result.summary, {
  type: 'summary',
  ok: true,
  files: 1,
  steps: 8,
  skipped: 0,
  exits: 1, // the MapGPA's KVM_EXIT_HYPERCALL
  seamcalls: 29, // 16 to build the TD and its vCPU, MR.FINALIZE, then the 12 the steps expect
  passed: 5,
  failed: 0,
  violations: 0,
});

// The stream: `scenario`, then per step `step`, the facade's events, `result`, `expect`s.
assert.deepEqual(events[0], {
  type: 'scenario',
  file: 'convert.yaml',
  name: 'a TD converts a page to shared',
  vm: 'tdx',
  vcpus: 1,
  gpaw: 48,
  seed: 0,
});
const exit = events.find((e) => e.type === 'exit');
assert.deepEqual(exit, {
  type: 'exit',
  vcpu: 0,
  reason: 'hypercall',
  nr: '0xc', // KVM_HC_MAP_GPA_RANGE
  args: ['0x80000000', '0x1', '0x0'], // one page, DECRYPTED
  flags: '0x1',
});
assert.deepEqual(
  events
    .filter((e) => e.type === 'expect')
    .map((e) => (e.type === 'expect' ? `${e.index}:${e.what}:${e.ok}` : '')),
  ['3:seamcalls:true', '4:check:true', '5:seamcalls:true', '6:bytes:true', '7:check:true'],
);

// The same stream as the kernel-trace text `kvmx run` prints (PLAIN_STYLE: no colours).
const style: TraceStyle = PLAIN_STYLE;
const text = events.flatMap((e) =>
  e.type === 'summary' ? [formatSummary(e, style)] : formatEvent(e, style),
);
assert.ok(text.includes('[  3] vcpu0 write gpa=0x80000000 size=0x1000 byte=0x33 private  line 8'));
assert.ok(text.includes('        kvm_x86_ops.remove_external_spte: gfn 0x80000 level 1'));
assert.ok(
  text.includes('        seamcall: TDH.MEM.PAGE.REMOVE gpa 0x80000000 level 1 -> TDX_SUCCESS 0x0'),
);
assert.ok(text.includes('        -> completed, tdvmcall TDVMCALL_STATUS_SUCCESS r11 0x0'));
assert.equal(
  text.at(-1),
  'PASS: 8 steps, 1 exits, 29 SEAMCALLs, 5 expectations passed, 0 failed, 0 violations',
);

// An expectation that does not hold: the run continues, and ends with exit status 1.
const wrong: ScenarioSource = {
  file: 'wrong.yaml',
  text: `
name: expects the wrong exit
vm: {type: sw_protected}
steps:
  - memslot: {slot: 10, gpa: 0xc0000000, size: 4KiB}
  - setAttributes: {gpa: 0xc0000000, size: 4KiB, private: true}
  - read: {gpa: 0xc0000000, size: 8}
    expect: {exit: none}
`,
};
const failed: (RunEvent | SummaryEvent)[] = [];
const r1 = runScenarios([wrong], { onEvent: (e) => failed.push(e) });
assert.equal(r1.exitCode, 1);
assert.equal(r1.summary?.failed, 1);
const miss = failed.find((e) => e.type === 'expect');
assert.ok(miss?.type === 'expect');
assert.equal(miss.ok, false);
assert.match(miss.detail, /memory_fault/); // a private attribute on a slot without guest_memfd

// Bad input in any file: nothing runs, exit status 2, one diagnostic with file:line:col.
const r2 = runScenarios([
  convert,
  { file: 'bad.yaml', text: 'name: x\nvm: {type: tdx}\nsteps:\n  - wirte: {gpa: 0}\n' },
]);
assert.equal(r2.exitCode, 2);
assert.equal(r2.summary, undefined);
assert.deepEqual([r2.error?.file, r2.error?.line, r2.error?.col], ['bad.yaml', 4, 5]);
