// A scenario resolved for one run: the VM type fixed (the file's, or `--vm`'s), each step's
// expectation merged for that type, steps that the type cannot express skipped (only under
// an override), and the static checks that need the type (vCPU indices, a guest operation on
// a vCPU whose exit is still pending, operations the type does not have).

import { tdxSharedBit, type VmTypeName } from '@kvmx/address';
import { diagnostic, type Result, type SourcePos } from './diagnostic.js';
import type { Expect, Scenario, Step, VmConfig } from './scenario.js';
import { isGuestOp } from './schema.js';

/**
 * The most bytes one step may touch page by page (guest and host accesses, allocate,
 * initMemRegion, preFault, accept, pvalidate): the model does real work per page, and a
 * scenario is a story, not a load test.
 */
export const MAX_TOUCH_SIZE = 64 * 2 ** 20;

const TOUCHING_OPS: ReadonlySet<string> = new Set([
  'write',
  'read',
  'hostWrite',
  'hostRead',
  'allocate',
  'initMemRegion',
  'preFault',
  'accept',
  'pvalidate',
]);

export interface PlannedStep {
  readonly step: Step;
  /** `expect` with `expectOn[type]` merged over it; empty when the step has none. */
  readonly expect: Expect;
  /** Why this step does not run under this VM type (only under an override). */
  readonly skip?: string;
}

export interface RunPlan {
  readonly scenario: Scenario;
  /** The VM the run creates. */
  readonly vm: VmConfig;
  /** True when `--vm` changed the file's type. */
  readonly overridden: boolean;
  readonly invariants: boolean;
  readonly seed: number;
  readonly steps: readonly PlannedStep[];
}

export interface PlanOptions {
  /** `--vm`: run under this type instead of the file's. */
  readonly vm?: VmTypeName;
  /** `--seed`: overrides the file's seed (default 0). */
  readonly seed?: number;
}

/** Why `step` cannot run on a VM of `type`, or undefined when it can. */
export function unsupportedReason(step: Step, type: VmTypeName): string | undefined {
  const tdxOnly = (what: string) =>
    type === 'tdx' ? undefined : `${what} exists only for TDX VMs (this VM is ${type})`;
  switch (step.op) {
    case 'accept':
      return tdxOnly('accept (TDG.MEM.PAGE.ACCEPT)');
    case 'seamcall':
      return tdxOnly('seamcall');
    case 'pvalidate':
      return type === 'snp' ? undefined : `pvalidate exists only for SNP VMs (this VM is ${type})`;
    case 'initMemRegion':
    case 'finalize':
      return type === 'tdx' || type === 'snp'
        ? undefined
        : `${step.op} (KVM_TDX_INIT_MEM_REGION/FINALIZE_VM, SNP LAUNCH_UPDATE/FINISH) exists only for TDX and SNP VMs (this VM is ${type})`;
    case 'check': {
      const c = step.args;
      if (c.kind === 'mrtd') return tdxOnly('check mrtd');
      if (c.kind === 'mapping' && (c.root === 'mirror' || c.root === 'sept')) {
        return tdxOnly(`check root: ${c.root}`);
      }
      if (c.kind === 'mapping' && c.root === 'rmp' && type !== 'snp') {
        return `check root: rmp exists only for SNP VMs (this VM is ${type})`;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

/** Resolve a scenario for one run, or say (file:line:col) why it cannot run. */
export function planRun(scenario: Scenario, options: PlanOptions = {}): Result<RunPlan> {
  const type = options.vm ?? scenario.vm.type;
  const overridden = type !== scenario.vm.type;
  const vm: VmConfig = { ...scenario.vm, type };
  const fail = (pos: SourcePos, message: string): Result<RunPlan> => ({
    ok: false,
    error: diagnostic(scenario.file, pos, message),
  });
  const steps: PlannedStep[] = [];
  // Per vCPU: the exit a guest operation is known to have stopped in, and where.
  const pending = new Map<number, { reason: string; step: Step }>();
  for (const step of scenario.steps) {
    const where = `steps[${step.index}]`;
    if (step.only !== undefined && !step.only.includes(type)) continue;
    const expect = mergeExpect(step.expect, step.expectOn[type], overridden && type !== 'tdx');
    const why = unsupportedReason(step, type);
    if (why !== undefined) {
      if (!overridden) return fail(step.pos, `${where}: ${why}`);
      steps.push({ step, expect, skip: why });
      continue;
    }
    const size = (step.args as { size?: number }).size;
    if (TOUCHING_OPS.has(step.op) && size !== undefined && size > MAX_TOUCH_SIZE) {
      return fail(
        step.pos,
        `${where}: ${step.op} of 0x${size.toString(16)} bytes is more than the runner touches in one step (at most 64 MiB)`,
      );
    }
    const planned = overridden ? translateForOverride(step, scenario.vm, type) : step;
    if (isGuestOp(step.op) || step.op === 'preFault') {
      const vcpu = (step.args as { vcpu: number }).vcpu;
      if (vcpu >= vm.vcpus) {
        return fail(
          step.pos,
          `${where}: vCPU ${vcpu} does not exist; the VM has ${vm.vcpus} (vm.vcpus)`,
        );
      }
    }
    if (isGuestOp(step.op)) {
      const vcpu = (step.args as { vcpu: number }).vcpu;
      const p = pending.get(vcpu);
      if (step.op === 'resume') {
        pending.delete(vcpu);
      } else if (p !== undefined && !(p.reason === 've' && step.op === 'accept')) {
        return fail(
          step.pos,
          `${where}: ${step.op} on vCPU ${vcpu}, which has a pending ${p.reason} exit from steps[${p.step.index}] (line ${p.step.pos.line}); continue it with resume first`,
        );
      }
      const reason = expect.exit?.reason;
      if (reason !== undefined && reason !== 'none') pending.set(vcpu, { reason, step });
      else if (reason === 'none') pending.delete(vcpu);
    }
    steps.push({ step: planned, expect });
  }
  return {
    ok: true,
    value: {
      scenario,
      vm,
      overridden,
      invariants: scenario.invariants,
      seed: options.seed ?? scenario.seed ?? 0,
      steps,
    },
  };
}

function mergeExpect(
  base: Expect | undefined,
  forType: Expect | undefined,
  dropTdx: boolean,
): Expect {
  const merged: Record<string, unknown> = { ...(base ?? {}) };
  if (dropTdx && forType === undefined) {
    // A TDX scenario run under another type: its SEAMCALL expectations do not apply.
    delete merged.status;
    if (Array.isArray(merged.seamcalls) && merged.seamcalls.length > 0) delete merged.seamcalls;
  }
  Object.assign(merged, forType ?? {});
  return merged as Expect;
}

/**
 * A TDX scenario run under another type: a GPA that carries the file's shared bit is
 * written as its canonical GPA, and a guest access through it means "shared", which the
 * other type expresses with `private: false`.
 */
function translateForOverride(step: Step, fileVm: VmConfig, type: VmTypeName): Step {
  if (fileVm.type !== 'tdx' || type === 'tdx') return step;
  const args = step.args as { gpa?: number; private?: boolean };
  const gpa = args.gpa;
  if (gpa === undefined) return step;
  const bit = 2 ** tdxSharedBit(fileVm.gpaw);
  if (Math.floor(gpa / bit) % 2 !== 1) return step;
  const access = step.op === 'write' || step.op === 'read';
  return {
    ...step,
    args: { ...args, gpa: gpa - bit, ...(access ? { private: args.private ?? false } : {}) },
  } as Step;
}
