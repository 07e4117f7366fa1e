// Bad input ends in one message, `file:line:col: what is wrong, what was expected`
// (CONTRACTS §1), never in a crash: a misspelt operation, an out-of-range number, an unknown
// key (JSON gets positions too), YAML errors, an operation the VM type does not have, a step
// larger than the runner touches, a guest step on a vCPU that still waits in an exit, and
// hostile text (alias bombs, deep nesting) refused before the YAML parser can be abused.
// Parsing is parseScenario(); the static checks are planRun().

import assert from 'node:assert/strict';
import {
  diagnostic,
  formatDiagnostic,
  formatPath,
  type Loaded,
  loadScenarioText,
  MAX_NESTING,
  MAX_SCENARIO_TEXT,
  MAX_TOUCH_SIZE,
  MAX_VALUES,
  parseScenario,
  planRun,
  type Result,
  type Scenario,
  type ScenarioDiagnostic,
  type SourceMap,
  type SourcePos,
} from '@kvmx/scenario';

/** parseScenario, then planRun: the first message, as the CLI prints it on stderr. */
function firstError(file: string, text: string): string {
  const parsed: Result<Scenario> = parseScenario(text, file);
  if (!parsed.ok) return formatDiagnostic(parsed.error);
  const planned = planRun(parsed.value);
  return planned.ok ? 'ok' : formatDiagnostic(planned.error);
}
const tdx = (steps: string) => `name: x\nvm: {type: tdx}\nsteps:\n${steps}`;

assert.equal(
  firstError('typo.yaml', tdx('  - wirte: {gpa: 0}\n')),
  "typo.yaml:4:5: steps[0]: unknown operation 'wirte' (did you mean 'write'?); expected one of: " +
    'memslot, setAttributes, punchHole, allocate, hostWrite, hostRead, initMemRegion, finalize, ' +
    'invalidateHva, preFault, destroy, seamcall, check, write, read, accept, mapGpa, hypercall, ' +
    'pvalidate, resume',
);
assert.equal(
  firstError('gpa.yaml', tdx('  - write: {gpa: 0x10000000000000, size: 8, byte: 1}\n')),
  'gpa.yaml:4:18: steps[0].write.gpa: gpa 0x10000000000000 is out of range: must be below 2^52',
);
assert.equal(
  firstError('byte.yaml', tdx('  - write: {gpa: 0x1000, size: 8, byte: 300}\n')),
  'byte.yaml:4:41: steps[0].write.byte: byte 300 is out of range: must be below 256 (one byte)',
);
assert.equal(
  firstError('type.yaml', 'name: x\nvm: {type: kvm}\nsteps: []\n'),
  'type.yaml:2:12: vm.type: expected one of default, sw_protected, sev, sev_es, snp, tdx, got "kvm"',
);
assert.equal(
  firstError(
    's.json',
    '{"name": "j", "vm": {"type": "default"}, "steps": [{"read": {"gpa": "0x1000", "size": "4KiB", "bogus": 1}}]}',
  ),
  "s.json:1:95: steps[0].read: unknown key 'bogus'; expected one of: gpa, size, private, vcpu",
);
assert.equal(
  firstError('tab.yaml', 'name: x\n\tvm: 1\n'),
  'tab.yaml:2:1: bad YAML: Tabs are not allowed as indentation',
);

// Found by planRun(): well-formed, but not runnable as written.
assert.equal(
  firstError('acc.yaml', 'name: x\nvm: {type: default}\nsteps:\n  - accept: {gpa: 0x1000}\n'),
  'acc.yaml:4:5: steps[0]: accept (TDG.MEM.PAGE.ACCEPT) exists only for TDX VMs (this VM is default)',
);
assert.equal(MAX_TOUCH_SIZE, 64 * 2 ** 20);
assert.equal(
  firstError(
    'big.yaml',
    'name: x\nvm: {type: default}\nsteps:\n  - write: {gpa: 0, size: 128MiB, byte: 1}\n',
  ),
  'big.yaml:4:5: steps[0]: write of 0x8000000 bytes is more than the runner touches in one step (at most 64 MiB)',
);
assert.equal(
  firstError(
    'pending.yaml',
    'name: x\nvm: {type: sw_protected}\nsteps:\n  - mapGpa: {gpa: 0, size: 4KiB, shared: false}\n    expect: {exit: hypercall}\n  - read: {gpa: 0, size: 8}\n',
  ),
  'pending.yaml:6:5: steps[1]: read on vCPU 0, which has a pending hypercall exit from steps[0] (line 4); continue it with resume first',
);

// Hostile text: limits checked before (or while) the YAML parser runs.
assert.deepEqual([MAX_SCENARIO_TEXT, MAX_NESTING, MAX_VALUES], [2 ** 20, 64, 50_000]);
const bomb = [
  'a: &a [1,1,1,1,1,1,1,1,1,1]',
  'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]',
  'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]',
  'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]',
  'e: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]',
];
assert.equal(
  firstError('bomb.yaml', `${bomb.join('\n')}\n`),
  'bomb.yaml:2:8: the file expands to more than 50000 values (an alias bomb?); a scenario is far smaller',
);
assert.equal(
  firstError('deep.yaml', `${'['.repeat(70)}${']'.repeat(70)}`),
  'deep.yaml:1:65: nesting deeper than 64 levels',
);
assert.match(
  firstError('huge.yaml', `name: ${'x'.repeat(MAX_SCENARIO_TEXT)}`),
  /^huge\.yaml:1:1: /,
);

// The loader alone: plain values plus a source map from JSON paths to positions.
const loaded = loadScenarioText('name: x\nvm:\n  type: tdx\n', 'l.yaml');
assert.ok(loaded.ok);
const value: Loaded = loaded.value;
assert.deepEqual(value.value, { name: 'x', vm: { type: 'tdx' } });
const map: SourceMap = value.map;
const at: SourcePos = map.locate(['vm', 'type']);
assert.deepEqual(at, { line: 3, col: 9 });
assert.deepEqual(map.locateKey(['vm'], 'type'), { line: 3, col: 3 });

// Building a diagnostic of one's own, in the same form.
assert.equal(formatPath(['steps', 3, 'write', 'gpa']), 'steps[3].write.gpa');
assert.equal(formatPath(['vm', 'odd key']), 'vm["odd key"]');
const d: ScenarioDiagnostic = diagnostic(
  'mine.yaml',
  at,
  `${formatPath(['vm', 'type'])}: not this one`,
);
assert.equal(formatDiagnostic(d), 'mine.yaml:3:9: vm.type: not this one');
