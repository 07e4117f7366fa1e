// Running one or more scenario files as `kvmx run` does (and the docs playground): parse and
// plan every file first (bad input anywhere runs nothing), then run them in order, then one
// summary. Exit status per CONTRACTS §1: 0 all passed, 1 an expectation or invariant failed,
// 2 bad input.

import type { VmTypeName } from '@kvmx/address';
import type { Kvm } from '@kvmx/kvm-x86';
import type { ScenarioDiagnostic } from './diagnostic.js';
import { type RunCounts, type RunEvent, type SummaryEvent, summaryEvent } from './events.js';
import { parseScenario } from './parse.js';
import { planRun, type RunPlan } from './plan.js';
import { runPlan } from './runner.js';

export interface ScenarioSource {
  /** The name used in messages (the path as the user gave it). */
  readonly file: string;
  readonly text: string;
}

export interface SessionOptions {
  /** `--vm`: run every file under this VM type. */
  readonly vm?: VmTypeName;
  /** `--seed`. */
  readonly seed?: number;
  /** Receives every event, and the summary last. */
  readonly onEvent?: (event: RunEvent | SummaryEvent) => void;
  /** The VM of each file at the last moment its page tables exist (see RunOptions). */
  readonly capture?: (file: string, kvm: Kvm) => void;
}

export interface SessionResult {
  readonly exitCode: 0 | 1 | 2;
  /** Absent when bad input stopped the session before anything ran. */
  readonly summary?: SummaryEvent;
  readonly error?: ScenarioDiagnostic;
}

/** Parse and plan one file for a run. */
export function prepareScenario(
  source: ScenarioSource,
  options: { vm?: VmTypeName; seed?: number } = {},
): { ok: true; plan: RunPlan } | { ok: false; error: ScenarioDiagnostic } {
  const parsed = parseScenario(source.text, source.file);
  if (!parsed.ok) return { ok: false, error: parsed.error };
  const planned = planRun(parsed.value, {
    ...(options.vm !== undefined ? { vm: options.vm } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
  });
  if (!planned.ok) return { ok: false, error: planned.error };
  return { ok: true, plan: planned.value };
}

export function runScenarios(
  sources: readonly ScenarioSource[],
  options: SessionOptions = {},
): SessionResult {
  const plans: RunPlan[] = [];
  for (const source of sources) {
    const p = prepareScenario(source, options);
    if (!p.ok) return { exitCode: 2, error: p.error };
    plans.push(p.plan);
  }
  const counts: RunCounts[] = [];
  let error: ScenarioDiagnostic | undefined;
  for (const plan of plans) {
    const outcome = runPlan(plan, {
      ...(options.onEvent !== undefined ? { onEvent: options.onEvent } : {}),
      ...(options.capture !== undefined
        ? { capture: (kvm: Kvm) => options.capture?.(plan.scenario.file, kvm) }
        : {}),
    });
    counts.push(outcome.counts);
    if (outcome.error !== undefined) {
      error = outcome.error;
      break;
    }
  }
  const summary = summaryEvent(counts, error !== undefined);
  options.onEvent?.(summary);
  return {
    exitCode: error !== undefined ? 2 : summary.ok ? 0 : 1,
    summary,
    ...(error !== undefined ? { error } : {}),
  };
}
