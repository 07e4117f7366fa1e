// A reproduction as a scenario file (CONTRACTS §2): the VM the explorer created, then every
// step that ran, each with what it did as its expectation (an errno, an exit, a SEAMCALL
// status), so that `kvmx run` replays it step for step and the only failure left is the
// invariant violation at the last step.

import { hex } from '@kvmx/address';
import type { StepOp, VmConfig } from '@kvmx/scenario';
import type { StepOutcome } from './executor.js';

/** One step as it ran. */
export interface RecordedStep {
  readonly op: StepOp;
  readonly outcome: StepOutcome;
}

export interface ReproFile {
  readonly name: string;
  readonly vm: VmConfig;
  readonly steps: readonly RecordedStep[];
  /** Comment lines written at the top (without `#`). */
  readonly comment?: readonly string[];
}

/** Keys whose values are small counts, written in decimal. */
const DECIMAL = new Set(['slot', 'vcpu', 'level']);

function value(key: string, v: unknown): string {
  if (typeof v === 'bigint') return `0x${v.toString(16)}`;
  if (typeof v === 'number') return DECIMAL.has(key) ? String(v) : hex(v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return /^[A-Za-z0-9_.]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

/** The step's body in flow style, fields in the order a reader expects. */
export function stepBody(op: StepOp): string {
  const parts: string[] = [];
  const a = op.args as Record<string, unknown>;
  switch (op.op) {
    case 'finalize':
    case 'destroy':
      return '';
    case 'memslot': {
      const m = op.args;
      parts.push(`slot: ${m.slot}`, `gpa: ${hex(m.gpa)}`, `size: ${hex(m.size)}`);
      if (m.guestMemfd !== null) {
        const g = m.guestMemfd;
        parts.push(
          g.offset === 0 && g.id === undefined && g.size === undefined
            ? 'guestMemfd: true'
            : `guestMemfd: {${[
                `offset: ${hex(g.offset)}`,
                ...(g.id !== undefined ? [`id: ${g.id}`] : []),
                ...(g.size !== undefined ? [`size: ${hex(g.size)}`] : []),
              ].join(', ')}}`,
        );
      }
      const flags = [...(m.readonly ? ['readonly'] : []), ...(m.logDirty ? ['log_dirty'] : [])];
      if (flags.length > 0) parts.push(`flags: [${flags.join(', ')}]`);
      if (m.hostHugePages === true) parts.push('hostHugePages: true');
      break;
    }
    case 'accept':
      parts.push(`gpa: ${hex(op.args.gpa)}`, `size: ${hex(op.args.size)}`);
      if (op.args.vcpu !== 0) parts.push(`vcpu: ${op.args.vcpu}`);
      break;
    default:
      for (const [k, v] of Object.entries(a)) {
        if (v === undefined || (k === 'vcpu' && v === 0 && op.op !== 'resume')) continue;
        parts.push(`${k}: ${value(k, v)}`);
      }
  }
  return `{${parts.join(', ')}}`;
}

/** The `expect` that states an outcome, or '' when there is nothing to state. */
export function expectBody(op: StepOp, o: StepOutcome): string {
  const parts: string[] = [];
  if (o.exit !== undefined) parts.push(`exit: ${o.exit}`);
  else if (o.error !== undefined) parts.push(`error: ${o.error}`);
  if (op.op === 'seamcall' && o.status !== undefined) parts.push(`status: ${o.status}`);
  return parts.length === 0 ? '' : `{${parts.join(', ')}}`;
}

/** The scenario YAML text of a reproduction. */
export function reproYaml(file: ReproFile): string {
  const lines: string[] = [];
  for (const c of file.comment ?? []) lines.push(c === '' ? '#' : `# ${c}`);
  lines.push(`name: ${JSON.stringify(file.name)}`);
  const vm = file.vm;
  lines.push('vm:', `  type: ${vm.type}`, `  vcpus: ${vm.vcpus}`);
  if (vm.gpaw !== 48) lines.push(`  gpaw: ${vm.gpaw}`);
  if (!vm.exitHypercall) lines.push('  exitHypercall: false');
  if (vm.autoConvert) lines.push('  autoConvert: true');
  if (vm.autoAccept) lines.push('  autoAccept: true');
  if (vm.septVeDisable) lines.push('  septVeDisable: true');
  if (vm.inject !== undefined) lines.push(`  inject: ${vm.inject}`);
  lines.push('steps:');
  for (const s of file.steps) {
    const body = stepBody(s.op);
    const expect = expectBody(s.op, s.outcome);
    if (body === '') lines.push(expect === '' ? `  - ${s.op.op}` : `  - ${s.op.op}: {}`);
    else lines.push(`  - ${s.op.op}: ${body}`);
    if (expect !== '') lines.push(`    expect: ${expect}`);
  }
  return `${lines.join('\n')}\n`;
}
