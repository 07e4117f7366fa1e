// The hostile-host explorer: fast-check generates runs of random host and guest operations
// (memslots, attributes, punch holes, guest reads and writes, accepts, conversions,
// MMU-notifier invalidations, raw SEAMCALLs, teardown) on a small VM, the invariant checker
// runs after every step, and the first violation is shrunk to a minimal sequence of scenario
// steps and written out as a scenario file that `kvmx run` replays to the same violation.
//
// Deterministic: fast-check's generator is seeded, the model has no hidden randomness, and
// nothing here reads a clock except the optional time budget of the shrinker (which only
// decides how long to keep shrinking, never what a run does).

import type { VmTypeName } from '@kvmx/address';
import type { StepOp, StepResult, VmConfig } from '@kvmx/scenario';
import fc from 'fast-check';
import { StepExecutor, type StepOutcome, stepOutcome } from './executor.js';
import { decodeStep, exploreVmConfig, prologue, STEP_CODE_LIMIT } from './generate.js';
import { type RecordedStep, reproYaml } from './repro.js';

/** A violation the explorer found: an invariant, or the model throwing (`model-crash`). */
export interface FoundViolation {
  readonly invariant: string;
  readonly detail: string;
  /** 0-based index of the violating step among the steps that ran. */
  readonly step: number;
}

export interface ExploreOptions {
  readonly vm: VmTypeName;
  /** Random steps per run (after the fixed prologue). */
  readonly steps: number;
  readonly runs: number;
  readonly seed: number;
  /** Name of an injected KVM bug to switch on (see INJECTIONS). */
  readonly inject?: string;
  /** Called after each run with the totals so far. */
  readonly onProgress?: (runs: number, steps: number) => void;
  /** Shrink a violation to a minimal reproduction (default true). */
  readonly shrink?: boolean;
  /** Most milliseconds the shrinker may take (default 20 000); it keeps the best so far. */
  readonly shrinkBudgetMs?: number;
  /** Clock for the shrink budget (default Date.now); never influences what runs. */
  readonly now?: () => number;
}

export interface ExploreReport {
  readonly vm: VmTypeName;
  readonly seed: number;
  readonly runs: number;
  /** Steps executed (prologue and random steps; skipped steps not counted). */
  readonly steps: number;
  readonly violations: number;
  readonly violation: FoundViolation | null;
  /** The shrunk reproduction as scenario YAML, or null. */
  readonly repro: string | null;
  readonly reproSteps: number | null;
}

/** The outcome of one sequence on a fresh VM. */
export interface SequenceResult {
  /** Steps that ran, in order (only when recording). */
  readonly recorded: RecordedStep[];
  readonly steps: number;
  readonly violation: FoundViolation | null;
}

/** The explorer's name for an exception thrown by the model. */
export const MODEL_CRASH = 'model-crash';

/**
 * Run a prologue and a sequence of steps — generated codes, decoded at run time, or concrete
 * steps — on a fresh VM (or on `executor`'s, to continue a run), checking the invariants after
 * every step (over the GFNs the step touched, the whole VM where it can reach further, and the
 * whole VM at the end: `StepExecutor.violationsAfter`); stop at the first violation.
 */
export function runSequence(
  config: VmConfig,
  steps: readonly (number | StepOp)[],
  options: {
    record?: boolean;
    prologue?: readonly StepOp[];
    executor?: StepExecutor;
    /**
     * The prologue is known to leave this configuration's fresh VM free of violations: skip
     * the checks after its steps (the model is deterministic, so they would find the same).
     */
    prologueChecked?: boolean;
  } = {},
): SequenceResult {
  const recorded: RecordedStep[] = [];
  const ex = options.executor ?? StepExecutor.create(config);
  if (typeof ex === 'string') {
    return { recorded, steps: 0, violation: { invariant: MODEL_CRASH, detail: ex, step: 0 } };
  }
  const record = options.record === true;
  let ran = 0;
  const one = (op: StepOp, check: boolean): FoundViolation | null => {
    if (!ex.canRun(op)) return null;
    let outcome: StepOutcome;
    let result: StepResult;
    try {
      result = ex.execute(op);
      outcome = stepOutcome(op, result);
    } catch (e) {
      if (record) recorded.push({ op, outcome: {} });
      ran++;
      return { invariant: MODEL_CRASH, detail: crashDetail(e), step: ran - 1 };
    }
    if (record) recorded.push({ op, outcome });
    ran++;
    if (!check) return null;
    let found: { invariant: string; detail: string }[];
    try {
      found = ex.violationsAfter(op, result);
    } catch (e) {
      return {
        invariant: MODEL_CRASH,
        detail: `invariant checker: ${crashDetail(e)}`,
        step: ran - 1,
      };
    }
    const first = found[0];
    return first === undefined ? null : { ...first, step: ran - 1 };
  };
  const checkPrologue = options.prologueChecked !== true;
  for (const op of options.prologue ?? []) {
    const v = one(op, checkPrologue);
    if (v !== null) return { recorded, steps: ran, violation: v };
  }
  for (const s of steps) {
    let op: StepOp;
    try {
      op = typeof s === 'number' ? decodeStep(s, config.type, ex) : s;
    } catch (e) {
      return {
        recorded,
        steps: ran,
        violation: { invariant: MODEL_CRASH, detail: crashDetail(e), step: ran },
      };
    }
    const v = one(op, true);
    if (v !== null) return { recorded, steps: ran, violation: v };
    // Nothing follows teardown: the VMM has closed the VM.
    if (op.op === 'destroy') break;
  }
  // Steps were checked over the GFNs they touched; the whole VM once more at the end finds
  // anything a step changed elsewhere (attributed to the last step; the shrinker cuts there).
  if (ran > 0) {
    let found: { invariant: string; detail: string }[];
    try {
      found = ex.violations();
    } catch (e) {
      const detail = `invariant checker: ${crashDetail(e)}`;
      return { recorded, steps: ran, violation: { invariant: MODEL_CRASH, detail, step: ran - 1 } };
    }
    const first = found[0];
    if (first !== undefined)
      return { recorded, steps: ran, violation: { ...first, step: ran - 1 } };
  }
  return { recorded, steps: ran, violation: null };
}

function crashDetail(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** Explore: `runs` runs of `steps` random steps on fresh VMs of one type. */
export function explore(options: ExploreOptions): ExploreReport {
  const config = exploreVmConfig(options.vm, options.inject);
  const pro = prologue(options.vm);
  let runs = 0;
  let steps = 0;
  let failure: { codes: number[]; violation: FoundViolation } | null = null;
  // Unbiased: fast-check's bias towards extreme values would make every field all-ones or
  // all-zeros at once (all-ones selects teardown), which starves the middle of the space.
  const codes = fc.array(fc.noBias(fc.nat({ max: STEP_CODE_LIMIT - 1 })), {
    minLength: options.steps,
    maxLength: options.steps,
  });
  // The prologue runs on a fresh VM of one configuration: once it has been checked clean, the
  // checks after its steps would find nothing in any later run either.
  let prologueChecked = false;
  const property = fc.property(codes, (seq) => {
    const r = runSequence(config, seq, { prologue: pro, prologueChecked });
    prologueChecked ||= r.violation === null || r.violation.step >= pro.length;
    runs++;
    steps += r.steps;
    options.onProgress?.(runs, steps);
    if (r.violation !== null) {
      failure = { codes: seq, violation: r.violation };
      return false;
    }
    return true;
  });
  fc.check(property, { seed: options.seed, numRuns: options.runs, endOnFailure: true });
  const found = failure as { codes: number[]; violation: FoundViolation } | null;
  if (found === null) {
    return {
      vm: options.vm,
      seed: options.seed,
      runs,
      steps,
      violations: 0,
      violation: null,
      repro: null,
      reproSteps: null,
    };
  }
  const full = runSequence(config, found.codes, { record: true, prologue: pro });
  const violation = full.violation ?? found.violation;
  let minimal = full.recorded.map((r) => r.op);
  if (options.shrink !== false) {
    minimal = shrinkSteps(config, minimal, violation.invariant, {
      budgetMs: options.shrinkBudgetMs ?? 20_000,
      now: options.now ?? Date.now,
    });
  }
  const final = runSequence(config, minimal, { record: true });
  const last = final.violation ?? violation;
  const yaml = reproYaml({
    name: `explore ${options.vm} seed ${options.seed}: ${last.invariant}`,
    vm: config,
    steps: final.recorded,
    comment: [
      `Found by: kvmx explore --vm ${options.vm} --steps ${options.steps} --runs ${options.runs} --seed ${options.seed}${options.inject !== undefined ? ` --inject ${options.inject}` : ''}`,
      `Violation at the last step: ${last.invariant}: ${last.detail}`,
      `Shrunk from ${full.recorded.length} to ${final.recorded.length} steps. Replay: kvmx run <this file>`,
    ],
  });
  return {
    vm: options.vm,
    seed: options.seed,
    runs,
    steps,
    violations: 1,
    violation: last,
    repro: yaml,
    reproSteps: final.recorded.length,
  };
}

/**
 * Delta debugging (Zeller's ddmin) over concrete steps: drop chunks, then single steps, as
 * long as the same invariant still breaks; each candidate runs on a fresh VM and is cut at
 * its first violation. Ends at a 1-minimal sequence or when the budget runs out.
 */
export function shrinkSteps(
  config: VmConfig,
  start: readonly StepOp[],
  invariant: string,
  options: { budgetMs: number; now: () => number },
): StepOp[] {
  const deadline = options.now() + options.budgetMs;
  const test = (cand: readonly StepOp[]): StepOp[] | null => {
    const r = runSequence(config, cand, { record: true });
    if (r.violation === null || r.violation.invariant !== invariant) return null;
    return r.recorded.map((s) => s.op);
  };
  let cur = test(start) ?? [...start];
  let n = 2;
  while (cur.length >= 2 && options.now() < deadline) {
    const chunk = Math.ceil(cur.length / n);
    let reduced = false;
    for (let i = 0; i < cur.length && options.now() < deadline; i += chunk) {
      const cand = [...cur.slice(0, i), ...cur.slice(i + chunk)];
      const ok = test(cand);
      if (ok !== null) {
        cur = ok;
        n = Math.max(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (n >= cur.length) break;
      n = Math.min(cur.length, n * 2);
    }
  }
  return cur;
}
