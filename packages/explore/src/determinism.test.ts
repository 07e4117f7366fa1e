// Determinism: the same scenario file and seed give byte-identical event streams, run after
// run in one process (which is where hidden state — global counters, Map iteration over
// reused keys, caches — would show) and therefore across machines (README, "Determinism").

import { DEMO_SCENARIO_YAML, runScenarios } from '@kvmx/scenario';
import { describe, expect, it } from 'vitest';
import { explore, runSequence } from './explore.js';
import { exploreVmConfig, exploreVmTypes, prologue, STEP_CODE_LIMIT } from './generate.js';
import { reproYaml } from './repro.js';

/** The event stream of one `kvmx run --json` of `text`, as the bytes it prints. */
function stream(text: string, file: string, seed?: number): string {
  const lines: string[] = [];
  const r = runScenarios([{ file, text }], {
    ...(seed !== undefined ? { seed } : {}),
    onEvent: (e) => lines.push(JSON.stringify(e)),
  });
  expect(r.error).toBeUndefined();
  return lines.join('\n');
}

/** A long random scenario of one VM type, as the explorer would write it. */
function randomScenario(vm: (typeof TYPES)[number], seed: number, steps: number): string {
  const codes: number[] = [];
  let x = seed >>> 0 || 1;
  for (let i = 0; i < steps; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    codes.push((x >>> 0) % STEP_CODE_LIMIT);
  }
  const config = exploreVmConfig(vm);
  const r = runSequence(config, codes, { record: true, prologue: prologue(vm) });
  return reproYaml({ name: `random ${vm} ${seed}`, vm: config, steps: r.recorded });
}

const TYPES = exploreVmTypes();

describe('determinism', () => {
  it.each(TYPES)(
    'a 200-step random %s scenario gives the same event bytes three times',
    (vm) => {
      const text = randomScenario(vm, 0x9e3779b9, 200);
      const a = stream(text, 'random.yaml', 5);
      expect(a.length).toBeGreaterThan(10_000);
      expect(stream(text, 'random.yaml', 5)).toBe(a);
      expect(stream(text, 'random.yaml', 5)).toBe(a);
    },
    30_000,
  );

  it('the demo gives the same event bytes twice, with interleaved other VMs in between', () => {
    const a = stream(DEMO_SCENARIO_YAML, '<demo>');
    // Other VMs created in between must not shift anything (VM ids, fds, frame numbers).
    explore({ vm: 'tdx', steps: 30, runs: 3, seed: 1 });
    stream(randomScenario('sw_protected', 7, 50), 'other.yaml');
    expect(stream(DEMO_SCENARIO_YAML, '<demo>')).toBe(a);
  }, 30_000);

  it('the explorer reports the same numbers for the same seed, and others for another', () => {
    const a = explore({ vm: 'tdx', steps: 40, runs: 4, seed: 123 });
    const b = explore({ vm: 'tdx', steps: 40, runs: 4, seed: 123 });
    expect(b).toEqual(a);
    const c = randomScenario('tdx', 1, 120);
    const d = randomScenario('tdx', 2, 120);
    expect(c).not.toBe(d);
  }, 30_000);
});
