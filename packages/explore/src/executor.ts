// The explorer runs steps through @kvmx/scenario's StepExecutor, the one the scenario runner
// uses, so a step means the same in a reproduction as it did when the explorer ran it. What
// is the explorer's own is here: the part of a step's result a reproduction states as its
// expectation.

import { exitReasonName } from '@kvmx/kvm-x86';
import { StepExecutor, type StepOp, type StepResult } from '@kvmx/scenario';
import { isSuccess, statusName } from '@kvmx/tdx-module';

export { StepExecutor };

/** What one executed step did, as a scenario `expect` can state it. */
export interface StepOutcome {
  /** errno name of a failed host operation, or of a KVM_RUN that failed without an exit. */
  error?: string;
  /** Exit reason a guest operation stopped in (absent: completed, or a host operation). */
  exit?: string;
  /** TDX status name of a raw SEAMCALL or of a guest's accept. */
  status?: string;
}

const NOTHING: StepOutcome = Object.freeze({});

/**
 * The outcome of `op` from its result. Bad input means the explorer generated a step the VM
 * cannot take — a bug of the explorer, reported as a crash.
 */
export function stepOutcome(op: StepOp, r: StepResult): StepOutcome {
  if (r.badInput !== undefined) throw new Error(`the explorer generated bad input: ${r.badInput}`);
  const run = r.run;
  if (run !== undefined) {
    if (run.exit !== null) return { exit: exitReasonName(run.exit) };
    if (r.error === undefined && (run.status === undefined || op.op !== 'accept')) return NOTHING;
    const out: StepOutcome = {};
    if (r.error !== undefined) out.error = r.error;
    if (run.status !== undefined && op.op === 'accept') out.status = run.status;
    return out;
  }
  if (r.seamcall !== undefined) {
    const s = r.seamcall.status;
    return { status: isSuccess(s) ? 'TDX_SUCCESS' : (statusName(s.hi) ?? 'unknown') };
  }
  return r.error === undefined ? NOTHING : { error: r.error };
}
