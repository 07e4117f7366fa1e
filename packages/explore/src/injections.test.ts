// Each injected KVM bug must be found by the real explorer and shrunk to ≤ 10 steps in
// < 30 s, and its reproduction must replay through the scenario runner to the same
// violation. Seeds are fixed; the runs are the explorer's own.

import { parseScenario, planRun, type RunEvent, runPlan } from '@kvmx/scenario';
import { describe, expect, it } from 'vitest';
import { explore } from './explore.js';
import { INJECTIONS, injectionByName } from './injections.js';

/**
 * Steps per run: 60, except where the bug needs a longer setup — huge-over-mixed needs a slot
 * deleted and re-created with huge host backing, then mixed attributes and a shared fault there.
 */
const STEPS: Readonly<Record<string, number>> = { 'huge-over-mixed': 200 };

describe('injected KVM bugs', () => {
  it('lists every injection with a VM type and a description naming kernel code', () => {
    expect(INJECTIONS.length).toBeGreaterThanOrEqual(5);
    for (const i of INJECTIONS) {
      expect(i.name).toMatch(/^[a-z0-9-]+$/);
      expect(i.description).toMatch(/\(\)/);
      expect(injectionByName(i.name)).toBe(i);
    }
  });

  it.each(INJECTIONS.map((i) => [i.name, i] as const))(
    '%s is found, shrunk to ≤ 10 steps within 30 s, and replays',
    (_name, inj) => {
      const t = Date.now();
      const steps = STEPS[inj.name] ?? 60;
      const r = explore({ vm: inj.vm, steps, runs: 50, seed: 1, inject: inj.name });
      expect(Date.now() - t).toBeLessThan(30_000);
      expect(r.violations).toBe(1);
      expect(r.reproSteps).not.toBeNull();
      expect(r.reproSteps).toBeLessThanOrEqual(10);
      const text = r.repro ?? '';
      expect(text).toContain(`inject: ${inj.name}`);
      const parsed = parseScenario(text, 'repro.yaml');
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.error));
      const plan = planRun(parsed.value);
      if (!plan.ok) throw new Error(JSON.stringify(plan.error));
      const events: RunEvent[] = [];
      const out = runPlan(plan.value, { onEvent: (e) => events.push(e) });
      expect(out.error).toBeUndefined();
      expect(out.passed).toBe(false);
      const violations = events.filter((e) => e.type === 'violation');
      expect(violations[0]).toMatchObject({ invariant: r.violation?.invariant });
      const failed = events.filter((e) => e.type === 'expect' && !e.ok);
      expect(failed.length).toBeGreaterThan(0);
      // Every failure is at the last step: the violation, nothing before it.
      for (const f of failed) expect(f).toMatchObject({ index: (r.reproSteps ?? 0) - 1 });
    },
    60_000,
  );

  it('without the injection the same seeds find nothing', () => {
    for (const vm of new Set(INJECTIONS.map((i) => i.vm))) {
      expect(explore({ vm, steps: 60, runs: 10, seed: 1 }).violations).toBe(0);
    }
  }, 60_000);
});
