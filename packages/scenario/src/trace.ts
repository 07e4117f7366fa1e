// The human form of the event stream: it reads like a kernel trace (`kvm_userspace_exit:`,
// `kvm_tdp_mmu_spte_changed:` …), one step after another with its expectations ticked off.
// Pure text; the caller supplies colours (the CLI: picocolors when the terminal allows).

import type { RunEvent, SummaryEvent } from './events.js';

/** Colour functions; identity when colour is off. */
export interface TraceStyle {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
  magenta(s: string): string;
}

const id = (s: string) => s;
export const PLAIN_STYLE: TraceStyle = {
  bold: id,
  dim: id,
  red: id,
  green: id,
  yellow: id,
  cyan: id,
  magenta: id,
};

/** KVM_EXIT_* names for the exit reasons the stream carries (include/uapi/linux/kvm.h). */
const EXIT_UAPI: Readonly<Record<string, string>> = {
  memory_fault: 'KVM_EXIT_MEMORY_FAULT',
  hypercall: 'KVM_EXIT_HYPERCALL',
  mmio: 'KVM_EXIT_MMIO',
  io: 'KVM_EXIT_IO',
  system_event: 'KVM_EXIT_SYSTEM_EVENT',
  shutdown: 'KVM_EXIT_SHUTDOWN',
  internal_error: 'KVM_EXIT_INTERNAL_ERROR',
  tdx: 'KVM_EXIT_TDX',
  unknown: 'KVM_EXIT_UNKNOWN',
};

const INDENT = '        ';

function fields(obj: Record<string, unknown>, skip: readonly string[]): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(obj)) {
    if (skip.includes(k) || v === undefined) continue;
    if (Array.isArray(v)) parts.push(`${k} [${v.join(', ')}]`);
    else if (typeof v === 'boolean') parts.push(v ? k : `!${k}`);
    else parts.push(`${k} ${String(v)}`);
  }
  return parts.join(' ');
}

function stepArgs(args: Readonly<Record<string, string | number | boolean | null>>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(args)) {
    if (k === 'vcpu') continue;
    if (v === true) parts.push(k);
    else if (v === false || v === null) continue;
    else parts.push(`${k}=${v}`);
  }
  return parts.join(' ');
}

/** The lines one event prints as (none for events the human trace leaves out). */
export function formatEvent(e: RunEvent, s: TraceStyle = PLAIN_STYLE): string[] {
  switch (e.type) {
    case 'scenario': {
      const over = e.fileVm !== undefined ? ` (file says ${e.fileVm}; --vm overrides)` : '';
      const gpaw = e.vm === 'tdx' ? `, GPAW ${e.gpaw}` : '';
      const n = e.vcpus === 1 ? '' : ` x${e.vcpus}`;
      const create =
        e.vm === 'tdx'
          ? `KVM_CREATE_VM(tdx), KVM_TDX_INIT_VM, KVM_CREATE_VCPU + KVM_TDX_INIT_VCPU${n}`
          : `KVM_CREATE_VM(${e.vm}), KVM_CREATE_VCPU${n}`;
      return [
        s.bold(`== ${e.name} ==`),
        s.dim(
          `   ${e.file}: ${e.vm} VM${over}${gpaw}, ${e.vcpus} vCPU${e.vcpus === 1 ? '' : 's'}, seed ${e.seed}`,
        ),
        `${s.dim('[   ]')} ${s.bold('create')} ${create}`,
      ];
    }
    case 'step': {
      const who = e.vcpu !== undefined ? s.magenta(`vcpu${e.vcpu} `) : '';
      const head = `${s.dim(`[${String(e.index).padStart(3)}]`)} ${who}${s.bold(e.op)} ${stepArgs(e.args)}`;
      const lines = [`${head.trimEnd()}  ${s.dim(`line ${e.line}`)}`];
      if (e.note !== undefined) lines.push(`${INDENT}${s.dim(`# ${e.note}`)}`);
      if (e.skipped !== undefined) lines.push(`${INDENT}${s.dim(`skipped: ${e.skipped}`)}`);
      return lines;
    }
    case 'result': {
      const parts: string[] = [];
      if (e.exit !== undefined)
        parts.push(e.exit === 'none' ? 'completed' : `stopped in ${e.exit}`);
      if (e.error !== undefined) parts.push(s.yellow(`-${e.error}`));
      if (e.status !== undefined) parts.push(e.status);
      if (e.bytes !== undefined) parts.push(`read ${e.bytes}`);
      if (e.value !== undefined) parts.push(fields(e.value, []));
      if (parts.length === 0) parts.push('ok');
      return [`${INDENT}-> ${parts.join(', ')}`];
    }
    case 'expect': {
      const mark = e.ok ? s.green('✓') : s.red('✗');
      const text = `${mark} expect ${e.what}: ${e.detail}`;
      return [`${INDENT}${e.ok ? text : s.red(text)}`];
    }
    case 'exit': {
      const uapi = EXIT_UAPI[e.reason] ?? e.reason;
      return [
        `${INDENT}${s.yellow(`kvm_userspace_exit: vcpu ${e.vcpu} reason ${uapi}`)} ${fields(e, ['type', 'vcpu', 'reason'])}`.trimEnd(),
      ];
    }
    case 'seamcall': {
      const status = e.status === 'TDX_SUCCESS' ? s.green(e.status) : s.red(e.status);
      const operands = fields(e, ['type', 'leaf', 'status', 'code']);
      return [
        `${INDENT}${s.cyan(`seamcall: ${e.leaf}`)}${operands === '' ? '' : ` ${operands}`} -> ${status} ${s.dim(e.code)}`,
      ];
    }
    case 'tdcall':
      return [
        `${INDENT}${s.magenta(`tdcall: ${e.leaf}`)}${e.gpa === undefined ? '' : ` gpa ${e.gpa}`} -> ${e.status === 'TDX_SUCCESS' ? s.green(e.status) : s.yellow(e.status)}`,
      ];
    case 'hook':
      return [`${INDENT}${s.cyan(`kvm_x86_ops.${e.op}`)}: gfn ${e.gfn} level ${e.level}`];
    case 'spte':
      return [
        s.dim(
          `${INDENT}kvm_tdp_mmu_spte_changed: ${e.root} gfn ${e.gfn} level ${e.level} old_spte ${e.old} new_spte ${e.new}`,
        ),
      ];
    case 'violation':
      return [`${INDENT}${s.red(s.bold(`INVARIANT VIOLATED: ${e.invariant}`))}: ${e.detail}`];
    case 'attributes': {
      const priv =
        e.attributes === '0x8' ? ' (PRIVATE)' : e.attributes === '0x0' ? ' (shared)' : '';
      return [
        `${INDENT}kvm_set_memory_attributes: gpa ${e.gpa} size ${e.size} attributes ${e.attributes}${priv}`,
      ];
    }
    case 'gmem':
      return [
        `${INDENT}kvm_gmem_${e.op}: gmem ${e.gmem} ${fields(e, ['type', 'op', 'gmem'])}`.trimEnd(),
      ];
    default: {
      const rest = e as { type: string } & Record<string, unknown>;
      return [`${INDENT}${rest.type}: ${fields(rest, ['type'])}`];
    }
  }
}

/** The closing line of a run. */
export function formatSummary(e: SummaryEvent, s: TraceStyle = PLAIN_STYLE): string {
  const verdict = e.ok ? s.green(s.bold('PASS')) : s.red(s.bold('FAIL'));
  const files = e.files === 1 ? '' : `${e.files} files, `;
  const skipped = e.skipped > 0 ? ` (${e.skipped} skipped)` : '';
  return `${verdict}: ${files}${e.steps} steps${skipped}, ${e.exits} exits, ${e.seamcalls} SEAMCALLs, ${e.passed} expectations passed, ${e.failed} failed, ${e.violations} violations`;
}
