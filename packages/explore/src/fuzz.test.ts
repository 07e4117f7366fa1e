// Hardening: thousands of malformed and adversarial scenario files through the library path
// `kvmx run` and the docs playground share (parse → plan → run). Bad input must come back as
// one diagnostic with a position inside the text — never an exception, never a hang.

import { parseScenario, planRun, runPlan, type ScenarioDiagnostic } from '@kvmx/scenario';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AdversarialInput, adversarialScenario, aliasBomb } from './adversarial.js';

/** Most milliseconds one input may take before it counts as a hang. */
const HANG_MS = 2_000;

interface Verdict {
  readonly refused: boolean;
  readonly error?: ScenarioDiagnostic;
}

function process(input: AdversarialInput): Verdict {
  const parsed = parseScenario(input.text, 'fuzz.yaml');
  if (!parsed.ok) return { refused: true, error: parsed.error };
  const plan = planRun(parsed.value);
  if (!plan.ok) return { refused: true, error: plan.error };
  const out = runPlan(plan.value);
  return out.error !== undefined ? { refused: true, error: out.error } : { refused: false };
}

function checkDiagnostic(input: AdversarialInput, d: ScenarioDiagnostic): void {
  expect(d.file).toBe('fuzz.yaml');
  const lines = input.text.split('\n').length;
  expect(d.line).toBeGreaterThanOrEqual(1);
  expect(d.line).toBeLessThanOrEqual(Math.max(lines, 1));
  expect(d.col).toBeGreaterThanOrEqual(1);
  expect(d.message.length).toBeGreaterThan(0);
  expect(d.message.length).toBeLessThan(2_000);
  expect(d.message).not.toContain('\n');
  expect(d.message).not.toMatch(/\bat .*\.(ts|js):\d+/);
}

describe('scenario files under fuzzing', () => {
  it('refuses or runs 2,500 adversarial inputs: one positioned message, no exception, no hang', () => {
    let refused = 0;
    let slowest = 0;
    fc.assert(
      fc.property(adversarialScenario(), (input) => {
        const t = Date.now();
        const v = process(input);
        const ms = Date.now() - t;
        slowest = Math.max(slowest, ms);
        expect(ms, `${input.kind} took ${ms.toFixed(0)} ms`).toBeLessThan(HANG_MS);
        if (input.mustRefuse) expect(v.refused, `${input.kind} was accepted`).toBe(true);
        if (v.error !== undefined) {
          refused++;
          checkDiagnostic(input, v.error);
        }
      }),
      { numRuns: 2_500, seed: 20261125 },
    );
    expect(refused).toBeGreaterThan(1_800);
    expect(slowest).toBeLessThan(HANG_MS);
  }, 120_000);

  it('refuses huge inputs (1 MiB names, 60k values) quickly', () => {
    fc.assert(
      fc.property(adversarialScenario({ huge: true }), (input) => {
        const t = Date.now();
        const v = process(input);
        expect(Date.now() - t).toBeLessThan(HANG_MS);
        if (input.mustRefuse) expect(v.refused).toBe(true);
        if (v.error !== undefined) checkDiagnostic(input, v.error);
      }),
      { numRuns: 100, seed: 7 },
    );
  }, 120_000);

  it('refuses alias bombs (billion laughs) with one message at the alias', () => {
    fc.assert(
      fc.property(aliasBomb, (input) => {
        const t = Date.now();
        const v = process(input);
        // load.ts once resolved every alias expansion with yaml's Alias#resolve, a search of
        // the whole document: 50,000 expansions took seconds (README, "Findings").
        expect(Date.now() - t).toBeLessThan(HANG_MS);
        expect(v.refused).toBe(true);
        if (v.error !== undefined) {
          checkDiagnostic(input, v.error);
          expect(v.error.message).toMatch(/alias bomb/);
        }
      }),
      { numRuns: 10, seed: 11 },
    );
  }, 60_000);
});
