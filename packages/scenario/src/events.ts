// The runner's event stream (CONTRACTS §1): every object has a `type`; addresses, sizes and
// 64-bit values are lowercase 0x-hex strings. The facade's own events (seamcall, hook, spte,
// exit, rmp, attributes, gmem, tdcall, violation) pass through unchanged, between the
// runner's `step` event that starts a step and the `expect` events that close it.

import type { KvmEvent } from '@kvmx/kvm-x86';

/** A run of one scenario file starts. */
export interface ScenarioEvent {
  readonly type: 'scenario';
  readonly file: string;
  readonly name: string;
  readonly vm: string;
  readonly vcpus: number;
  readonly gpaw: number;
  readonly seed: number;
  /** The file's own VM type when `--vm` overrode it. */
  readonly fileVm?: string;
}

/** A step starts. */
export interface StepEvent {
  readonly type: 'step';
  readonly index: number;
  readonly op: string;
  readonly line: number;
  /** The operation's fields, numbers as hex strings. */
  readonly args: Readonly<Record<string, string | number | boolean | null>>;
  readonly vcpu?: number;
  readonly note?: string;
  /** Why the step does not run under this VM type (the step is then not counted). */
  readonly skipped?: string;
}

/** How a step's operation ended (before its expectations are checked). */
export interface ResultEvent {
  readonly type: 'result';
  readonly index: number;
  /** The errno name a host operation (or KVM_RUN) failed with. */
  readonly error?: string;
  /** The TDX status name of a seamcall or guest TDCALL. */
  readonly status?: string;
  /** The exit the step stopped in ("none" when the guest operation completed). */
  readonly exit?: string;
  /** For reads: the bytes read, summarised (`0xaa x 4096`, or the first differing). */
  readonly bytes?: string;
  /** Extra values an operation returns (pre-fault: bytes mapped; seamcall outputs). */
  readonly value?: Readonly<Record<string, string>>;
}

/** One checked expectation. */
export interface ExpectEvent {
  readonly type: 'expect';
  readonly index: number;
  readonly ok: boolean;
  /** What was checked: exit, error, bytes, status, seamcalls, violation, check, … */
  readonly what: string;
  readonly detail: string;
}

/** The last line of a run: counts over every file run. */
export interface SummaryEvent {
  readonly type: 'summary';
  readonly ok: boolean;
  readonly files: number;
  readonly steps: number;
  readonly skipped: number;
  readonly exits: number;
  readonly seamcalls: number;
  readonly passed: number;
  readonly failed: number;
  readonly violations: number;
}

export type RunEvent = ScenarioEvent | StepEvent | ResultEvent | ExpectEvent | KvmEvent;

/** The counters a run keeps (a SummaryEvent without type and ok). */
export interface RunCounts {
  steps: number;
  skipped: number;
  exits: number;
  seamcalls: number;
  passed: number;
  failed: number;
  violations: number;
}

export function emptyCounts(): RunCounts {
  return { steps: 0, skipped: 0, exits: 0, seamcalls: 0, passed: 0, failed: 0, violations: 0 };
}

/** The summary of one or more runs. */
export function summaryEvent(counts: readonly RunCounts[], badInput: boolean): SummaryEvent {
  const total = emptyCounts();
  for (const c of counts) {
    total.steps += c.steps;
    total.skipped += c.skipped;
    total.exits += c.exits;
    total.seamcalls += c.seamcalls;
    total.passed += c.passed;
    total.failed += c.failed;
    total.violations += c.violations;
  }
  return {
    type: 'summary',
    ok: !badInput && total.failed === 0,
    files: counts.length,
    ...total,
  };
}
