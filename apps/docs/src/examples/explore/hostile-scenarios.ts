// Hardening the scenario front end: fast-check arbitraries of hostile scenario texts — numbers
// past 2^52 and 2^64, wrong shapes, YAML corner cases, binary junk, mutated demos, alias bombs —
// each marked `mustRefuse` when it is certainly malformed. The property the fuzz tests check,
// shown on a fixed sample: whatever the text, the runner ends with an exit status (0, 1 or 2),
// never a crash or a hang, and a text that must be refused gets 2 and one diagnostic
// with file:line:col.

import assert from 'node:assert/strict';
import { type AdversarialInput, adversarialScenario, aliasBomb } from '@kvmx/explore';
import { formatDiagnostic, runScenarios } from '@kvmx/scenario';
import fc from 'fast-check';

const inputs: AdversarialInput[] = fc.sample(adversarialScenario(), { seed: 42, numRuns: 15 });
const bombs: AdversarialInput[] = fc.sample(aliasBomb, { seed: 42, numRuns: 1 });
assert.ok(bombs.every((b) => b.kind === 'alias bomb' && b.mustRefuse));

const statuses = new Set<number>();
let refused = 0;
for (const input of [...inputs, ...bombs]) {
  const r = runScenarios([{ file: 'hostile.yaml', text: input.text }]);
  statuses.add(r.exitCode);
  if (input.mustRefuse) {
    assert.equal(r.exitCode, 2, `${input.kind} must be refused`);
    assert.ok(r.error !== undefined);
    assert.match(formatDiagnostic(r.error), /^hostile\.yaml:\d+:\d+: \S/);
    refused++;
  } else {
    assert.ok(r.exitCode === 0 || r.exitCode === 1 || r.exitCode === 2);
  }
}
assert.ok(refused > bombs.length); // many generated texts are malformed on purpose
assert.ok(statuses.has(2));

// The alias bomb, for instance: a few lines that expand past MAX_VALUES.
const bomb = bombs[0];
assert.ok(bomb !== undefined);
const r = runScenarios([{ file: 'bomb.yaml', text: bomb.text }]);
assert.equal(r.exitCode, 2);
assert.match(r.error?.message ?? '', /alias bomb/);
