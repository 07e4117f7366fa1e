// The runner: executes a planned scenario against @kvmx/kvm-x86, step by step, through the
// step executor (step-executor.ts), forwarding the facade's events, checking each step's
// expectations, and running the invariant checker after every step. Deterministic: the model has no hidden randomness, and the few process-wide
// numbers the facade hands out (guest_memfd descriptors) are renumbered per run, so the same
// file and seed give the same event stream byte for byte.

import { canonicalGfn, hex, PAGE_SIZE } from '@kvmx/address';
import {
  checkAndReport,
  exitFields,
  exitReasonName,
  type Kvm,
  type KvmEvent,
  type KvmExit,
  type RunResult,
} from '@kvmx/kvm-x86';
import { diagnostic, type ScenarioDiagnostic } from './diagnostic.js';
import {
  type ExpectEvent,
  emptyCounts,
  type ResultEvent,
  type RunCounts,
  type RunEvent,
  type StepEvent,
} from './events.js';
import type { PlannedStep, RunPlan } from './plan.js';
import type { Expect, OpArgsMap, Step } from './scenario.js';
import { StepExecutor, type StepResult } from './step-executor.js';

export interface RunOptions {
  /** Receives every event, in order. */
  readonly onEvent?: (event: RunEvent) => void;
  /**
   * Called with the VM at the last moment its page tables exist: before a `destroy` step,
   * or at the end of the run. The CLI draws the tables from it.
   */
  readonly capture?: (kvm: Kvm) => void;
}

export interface RunOutcome {
  /** True when every expectation held and no unexpected violation happened. */
  readonly passed: boolean;
  readonly counts: RunCounts;
  /** Set when the run stopped on bad input discovered at run time (exit status 2). */
  readonly error?: ScenarioDiagnostic;
}

/** What one operation did. */
interface OpOutcome {
  /** errno name of a failed host operation or KVM_RUN. */
  error?: string;
  /** The exit the step stopped in ('ve': a TDX #VE); null when a guest operation completed. */
  exit?: KvmExit | 've' | null;
  data?: Uint8Array;
  status?: string;
  value?: Record<string, string>;
  /** Result of a `check` step. */
  check?: { ok: boolean; detail: string };
  /** Bad input found only now: the run stops with exit status 2. */
  badInput?: string;
}

interface Check {
  what: string;
  ok: boolean;
  detail: string;
}

/** Run a planned scenario. Never throws for anything a scenario can contain. */
export function runPlan(plan: RunPlan, options: RunOptions = {}): RunOutcome {
  return new Runner(plan, options).run();
}

class Runner {
  private readonly counts = emptyCounts();
  private ex: StepExecutor | null = null;
  /** The VM (also when its set-up failed after KVM_CREATE_VM, for `capture`). */
  private kvm: Kvm | null = null;
  /** Facade fd → the run's own number (1, 2, …), for determinism across runs. */
  private readonly fdNumbers = new Map<number, number>();
  private stepSeamcalls: string[] = [];
  private stepStatuses: string[] = [];
  private stepViolations = 0;
  /** Violations already reported: a lasting one is reported (and counted) once. */
  private readonly seenViolations = new Set<string>();
  private captured = false;

  constructor(
    private readonly plan: RunPlan,
    private readonly options: RunOptions,
  ) {}

  private emit(event: RunEvent): void {
    this.options.onEvent?.(event);
  }

  /** A facade event: counted, renumbered where needed, passed on. */
  private onKvmEvent = (event: KvmEvent): void => {
    let e: KvmEvent = event;
    switch (event.type) {
      case 'exit':
        this.counts.exits++;
        break;
      case 'seamcall':
        this.counts.seamcalls++;
        this.stepSeamcalls.push(event.leaf);
        this.stepStatuses.push(event.status);
        break;
      case 'violation': {
        const key = `${event.invariant}\u0000${event.detail}`;
        if (this.seenViolations.has(key)) return;
        this.seenViolations.add(key);
        this.counts.violations++;
        this.stepViolations++;
        break;
      }
      case 'gmem':
        e = { ...event, gmem: this.fdNumber(event.gmem) };
        break;
      default:
        break;
    }
    this.emit(e);
  };

  private fdNumber(fd: number): number {
    let n = this.fdNumbers.get(fd);
    if (n === undefined) {
      n = this.fdNumbers.size + 1;
      this.fdNumbers.set(fd, n);
    }
    return n;
  }

  run(): RunOutcome {
    const { plan } = this;
    const scenario = plan.scenario;
    this.emit({
      type: 'scenario',
      file: scenario.file,
      name: scenario.name,
      vm: plan.vm.type,
      vcpus: plan.vm.vcpus,
      gpaw: plan.vm.gpaw,
      seed: plan.seed,
      ...(plan.overridden ? { fileVm: scenario.vm.type } : {}),
    });
    const created = this.createVm();
    if (created !== undefined) {
      return this.finish(diagnostic(scenario.file, scenario.vmPos ?? { line: 1, col: 1 }, created));
    }
    for (const planned of plan.steps) {
      const bad = this.runStep(planned);
      if (bad !== undefined) return this.finish(bad);
    }
    return this.finish();
  }

  private finish(error?: ScenarioDiagnostic): RunOutcome {
    if (this.kvm !== null && !this.captured) {
      this.captured = true;
      this.options.capture?.(this.kvm);
    }
    return {
      passed: error === undefined && this.counts.failed === 0,
      counts: { ...this.counts },
      ...(error !== undefined ? { error } : {}),
    };
  }

  /** The VM of the `vm` section, set up by the step executor with the runner listening. */
  private createVm(): string | undefined {
    const vm = this.plan.vm;
    const ex = StepExecutor.open(vm, { onEvent: this.onKvmEvent });
    if (ex instanceof StepExecutor) {
      this.ex = ex;
      this.kvm = ex.kvm;
      return undefined;
    }
    if (ex.kvm !== undefined) this.kvm = ex.kvm;
    if (ex.ioctl !== 'KVM_CREATE_VM') return ex.message;
    if (vm.inject !== undefined) {
      return `vm.inject: KVM_CREATE_VM(${vm.type}) failed with ${ex.error}: is "${vm.inject}" an injection this model has (kvmx explore --list-injections)?`;
    }
    return `vm.type: KVM_CREATE_VM(${vm.type}) failed with ${ex.error}: the model does not run ${vm.type} VMs yet`;
  }

  private runStep(planned: PlannedStep): ScenarioDiagnostic | undefined {
    const { step, expect } = planned;
    const vcpu = (step.args as { vcpu?: number }).vcpu;
    const stepEvent: StepEvent = {
      type: 'step',
      index: step.index,
      op: step.op,
      line: step.pos.line,
      args: argsJson(step),
      ...(vcpu !== undefined ? { vcpu } : {}),
      ...(step.note !== undefined ? { note: step.note } : {}),
      ...(planned.skip !== undefined ? { skipped: planned.skip } : {}),
    };
    this.emit(stepEvent);
    if (planned.skip !== undefined) {
      this.counts.skipped++;
      return undefined;
    }
    this.counts.steps++;
    this.stepSeamcalls = [];
    this.stepStatuses = [];
    this.stepViolations = 0;
    let outcome: OpOutcome;
    try {
      outcome = this.execute(step);
    } catch (e) {
      // A bug in the model must not look like a scenario failure, nor crash the caller
      // without saying which step triggered it.
      const why = e instanceof Error ? e.message : String(e);
      throw new Error(`steps[${step.index}] (line ${step.pos.line}, ${step.op}): ${why}`, {
        cause: e,
      });
    }
    if (outcome.badInput !== undefined) {
      return diagnostic(
        this.plan.scenario.file,
        step.pos,
        `steps[${step.index}]: ${outcome.badInput}`,
      );
    }
    this.emit(resultEvent(step, outcome));
    if (this.plan.invariants) this.checkInvariants();
    for (const c of this.checks(step, expect, outcome)) {
      if (c.ok) this.counts.passed++;
      else this.counts.failed++;
      const ev: ExpectEvent = {
        type: 'expect',
        index: step.index,
        ok: c.ok,
        what: c.what,
        detail: c.detail,
      };
      this.emit(ev);
    }
    return undefined;
  }

  /** The invariant checker, after every step (when the facade has one). */
  private checkInvariants(): void {
    if (this.kvm !== null) checkAndReport(this.kvm);
  }

  // ---- operations --------------------------------------------------------------------------

  private execute(step: Step): OpOutcome {
    const ex = this.ex;
    const kvm = this.kvm;
    if (ex === null || kvm === null) return { badInput: 'no VM' };
    if (step.op === 'check') return { check: this.check(kvm, step.args) };
    if (step.op === 'destroy' && !this.captured) {
      this.captured = true;
      this.options.capture?.(kvm);
    }
    return this.outcome(ex.execute(step));
  }

  /** A step's result as the runner states it: values as hex, the #VE as an exit named `ve`. */
  private outcome(r: StepResult): OpOutcome {
    if (r.badInput !== undefined) return { badInput: r.badInput };
    const out: OpOutcome = {};
    if (r.error !== undefined) out.error = r.error;
    if (r.data !== undefined) out.data = r.data;
    if (r.mapped !== undefined) out.value = { mapped: hex(r.mapped) };
    if (r.pages !== undefined) out.value = { pages: hex(r.pages) };
    if (r.seamcall !== undefined) {
      const status = this.stepStatuses.at(-1);
      if (status !== undefined) out.status = status;
      out.value = r.seamcall.outputs;
    }
    if (r.run !== undefined) guestOutcome(r.run, out);
    return out;
  }

  // ---- check ---------------------------------------------------------------------------------

  private check(kvm: Kvm, c: OpArgsMap['check']): { ok: boolean; detail: string } {
    switch (c.kind) {
      case 'invariants': {
        const before = this.stepViolations;
        this.checkInvariants();
        const found = this.stepViolations - before;
        return { ok: found === 0, detail: `invariant checker found ${found} violation(s)` };
      }
      case 'mrtd': {
        const tdx = kvm.tdx;
        const value = tdx === null ? null : (tdx.module.td(tdx.tdr)?.mrtd.value ?? null);
        if (value === null) return { ok: false, detail: 'no MRTD: the TD is not finalized' };
        const got = `0x${[...value].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
        return got === c.mrtd
          ? { ok: true, detail: `MRTD ${got}` }
          : { ok: false, detail: `MRTD ${got}, expected ${c.mrtd}` };
      }
      case 'mapping': {
        if (c.root === 'sept') return this.checkSept(kvm, c);
        if (c.root === 'rmp') return checkRmp(kvm, c);
        const gfn = canonicalGfn(kvm, c.gpa);
        const root = c.root === 'direct' ? kvm.mmu.directRoot : kvm.mmu.mirrorRoot;
        const leaf = root === null ? null : kvm.mmu.lookup(root, gfn);
        const what = `${c.root} root, gfn ${hex(gfn)}`;
        const found =
          leaf === null ? 'not mapped' : `mapped at level ${leaf.level} to pfn ${hex(leaf.pfn)}`;
        if ((leaf !== null) !== c.mapped) {
          return {
            ok: false,
            detail: `${what}: ${found}, expected ${c.mapped ? 'mapped' : 'not mapped'}`,
          };
        }
        if (leaf !== null && c.level !== undefined && leaf.level !== c.level) {
          return { ok: false, detail: `${what}: ${found}, expected level ${c.level}` };
        }
        if (c.state !== undefined) {
          // A state belongs to the S-EPT entry behind the mirror leaf.
          const sept = this.checkSept(kvm, c);
          return { ok: sept.ok, detail: `${what}: ${found}; ${sept.detail}` };
        }
        return { ok: true, detail: `${what}: ${found}` };
      }
    }
  }

  /**
   * The TD's Secure-EPT entry for the GPA, as the module holds it: `mapped` means a leaf in a
   * state other than FREE/REMOVED; `state` compares the module's state name.
   */
  private checkSept(
    kvm: Kvm,
    c: Extract<OpArgsMap['check'], { kind: 'mapping' }>,
  ): { ok: boolean; detail: string } {
    const tdx = kvm.tdx;
    if (tdx === null || tdx.tdr < 0) return { ok: false, detail: 'no TD' };
    const gpa = canonicalGfn(kvm, c.gpa) * PAGE_SIZE;
    const e = tdx.module.septEntry(tdx.tdr, gpa, (c.level ?? 1) - 1);
    if (e === null) return { ok: false, detail: 'no S-EPT' };
    const level = e.level + 1;
    const leaf = !['FREE', 'REMOVED'].includes(e.state) && !e.state.startsWith('NL_');
    const found = leaf
      ? `${e.state} at level ${level}, pfn ${hex(e.pfn)}`
      : `${e.state} (walk stopped at level ${level})`;
    const what = `S-EPT gpa ${hex(gpa)}`;
    const problems: string[] = [];
    if (leaf !== c.mapped) problems.push(c.mapped ? 'expected a leaf' : 'expected no leaf');
    if (c.level !== undefined && leaf && level !== c.level)
      problems.push(`expected level ${c.level}`);
    if (c.state !== undefined && e.state !== c.state) problems.push(`expected ${c.state}`);
    return problems.length === 0
      ? { ok: true, detail: `${what}: ${found}` }
      : { ok: false, detail: `${what}: ${found}; ${problems.join(', ')}` };
  }

  // ---- expectations ---------------------------------------------------------------------------

  private checks(step: Step, expect: Expect, out: OpOutcome): Check[] {
    const checks: Check[] = [];
    const isGuest = out.exit !== undefined;
    if (out.check !== undefined) checks.push({ what: 'check', ...out.check });
    if (expect.exit !== undefined) checks.push(checkExit(expect, out));
    if (expect.error !== undefined) {
      const ok = out.error === expect.error;
      checks.push({
        what: 'error',
        ok,
        detail: ok
          ? `failed with ${expect.error}`
          : `${out.error === undefined ? 'succeeded' : `failed with ${out.error}`}, expected ${expect.error}`,
      });
    } else if (out.error !== undefined && !(isGuest && out.exit !== null)) {
      // A failure nobody expected fails the run: a host operation (or KVM_RUN) that must
      // succeed says so by having no `expect.error`.
      checks.push({
        what: 'error',
        ok: false,
        detail: `${step.op} failed with ${out.error} (no expect.error)`,
      });
    }
    if (expect.bytes !== undefined) checks.push(checkBytes(expect.bytes, out.data));
    if (expect.status !== undefined) {
      const ok = out.status === expect.status;
      checks.push({
        what: 'status',
        ok,
        detail: ok ? expect.status : `${out.status ?? 'no TDX status'}, expected ${expect.status}`,
      });
    }
    if (expect.seamcalls !== undefined) {
      const got = this.stepSeamcalls;
      const ok =
        got.length === expect.seamcalls.length && got.every((l, i) => l === expect.seamcalls?.[i]);
      checks.push({
        what: 'seamcalls',
        ok,
        detail: ok
          ? `[${got.join(', ')}]`
          : `[${got.join(', ')}], expected [${expect.seamcalls.join(', ')}]`,
      });
    }
    const violated = this.stepViolations > 0;
    if (expect.violation === true) {
      checks.push({
        what: 'violation',
        ok: violated,
        detail: violated
          ? `${this.stepViolations} invariant violation(s), as expected`
          : 'no invariant violation, expected one',
      });
    } else if (violated && (this.plan.invariants || step.op === 'check')) {
      checks.push({
        what: 'invariants',
        ok: false,
        detail: `${this.stepViolations} invariant violation(s)`,
      });
    }
    return checks;
  }
}

/**
 * What a guest operation did, as the runner states it: the exit (`ve` for a #VE the guest
 * did not handle, which the scenario answers by accepting and resuming), the bytes read,
 * the TDX status, and what the guest saw (hypercall return, TDVMCALL, #VC, PVALIDATE, a
 * failed page-state change) as hex values. `out.error` is already the failed KVM_RUN's.
 */
function guestOutcome(r: RunResult, out: OpOutcome): void {
  out.exit = r.exit;
  if (r.ve !== undefined) {
    out.exit = 've';
    out.value = { ve: hex(r.ve) };
  }
  if (r.data !== undefined) out.data = r.data;
  if (r.status !== undefined) out.status = r.status;
  if (r.hypercallRet !== undefined) out.value = { ...out.value, ret: hex64(r.hypercallRet) };
  if (r.tdvmcall !== undefined) {
    out.value = { ...out.value, tdvmcall: r.tdvmcall.status, r11: hex(r.tdvmcall.r11) };
  }
  // SNP: what the guest saw — a #VC, a PVALIDATE's outcome, a failed page-state change.
  if (r.vc !== undefined) out.value = { ...out.value, vc: hex(r.vc), gpa: hex(r.vcGpa ?? 0) };
  if (r.pvalidated !== undefined) {
    out.value = {
      ...out.value,
      pages4k: hex(r.pvalidated.pages4k),
      pages2m: hex(r.pvalidated.pages2m),
    };
  }
  if (r.pvalidateRc !== undefined) {
    out.value = {
      ...out.value,
      pvalidate: pvalidateRcName(r.pvalidateRc),
      gpa: hex(r.pvalidateGpa ?? 0),
    };
  }
  if (r.pscError !== undefined) out.value = { ...out.value, pscError: hex(r.pscError) };
}

/** Linux's names for PVALIDATE's return codes (arch/x86/include/asm/sev.h). */
function pvalidateRcName(rc: number): string {
  if (rc === 1) return 'PVALIDATE_FAIL_INPUT';
  if (rc === 6) return 'PVALIDATE_FAIL_SIZEMISMATCH';
  if (rc === 255) return 'PVALIDATE_FAIL_NOUPDATE';
  return hex(rc);
}

/**
 * `check` with `root: rmp` (CONTRACTS §2): the RMP entry of the guest_memfd frame behind the
 * GPA's private side. `mapped`: assigned to this guest at this GPA; `state: validated` (or
 * `unvalidated`, `shared`, `immutable`); `level`: the RMP page size.
 */
function checkRmp(
  kvm: Kvm,
  c: Extract<OpArgsMap['check'], { kind: 'mapping' }>,
): { ok: boolean; detail: string } {
  const gpa = c.gpa - (c.gpa % PAGE_SIZE);
  const view = kvm.rmpView(gpa);
  const what = `RMP gpa ${hex(gpa)}`;
  const found =
    view === null
      ? 'no guest_memfd frame'
      : `${view.mapped ? 'assigned to this guest' : 'not assigned to this guest'}, ${view.state}, level ${view.level}`;
  const problems: string[] = [];
  const mapped = view?.mapped ?? false;
  if (mapped !== c.mapped) problems.push(c.mapped ? 'expected assigned' : 'expected not assigned');
  if (c.level !== undefined && view !== null && view.level !== c.level) {
    problems.push(`expected level ${c.level}`);
  }
  if (c.state !== undefined && view?.state !== c.state) problems.push(`expected ${c.state}`);
  return problems.length === 0
    ? { ok: true, detail: `${what}: ${found}` }
    : { ok: false, detail: `${what}: ${found}; ${problems.join(', ')}` };
}

function hex64(n: number): string {
  return n < 0 ? `0x${((1n << 64n) + BigInt(n)).toString(16)}` : hex(n);
}

function checkExit(expect: Expect, out: OpOutcome): Check {
  const want = expect.exit;
  if (want === undefined) return { what: 'exit', ok: true, detail: '' };
  const exit = out.exit ?? null;
  const got = exit === null ? 'none' : exit === 've' ? 've' : exitReasonName(exit);
  const gotFields: Record<string, string | readonly string[]> =
    exit === null ? {} : exit === 've' ? { gpa: out.value?.ve ?? '' } : exitFields(exit);
  const describe = (reason: string, f: Record<string, string | readonly string[]>) =>
    [
      reason,
      ...Object.entries(f).map(([k, v]) => `${k} ${Array.isArray(v) ? `[${v.join(', ')}]` : v}`),
    ].join(' ');
  const wantFields: Record<string, string | readonly string[]> = {};
  if (want.gpa !== undefined) wantFields.gpa = hex(want.gpa);
  if (want.size !== undefined) wantFields.size = hex(want.size);
  if (want.flags !== undefined) wantFields.flags = hex(want.flags);
  if (want.nr !== undefined) wantFields.nr = `0x${want.nr.toString(16)}`;
  if (want.args !== undefined) wantFields.args = want.args.map((a) => `0x${a.toString(16)}`);
  let ok = got === want.reason;
  for (const [k, v] of Object.entries(wantFields)) {
    const g = gotFields[k];
    if (Array.isArray(v)) {
      ok &&= Array.isArray(g) && v.length <= g.length && v.every((x, i) => g[i] === x);
    } else ok &&= g === v;
  }
  return {
    what: 'exit',
    ok,
    detail: ok
      ? describe(got, gotFields)
      : `${describe(got, gotFields)}, expected ${describe(want.reason, wantFields)}`,
  };
}

function checkBytes(want: number, data: Uint8Array | undefined): Check {
  if (data === undefined) {
    return { what: 'bytes', ok: false, detail: `nothing was read, expected bytes ${hex(want)}` };
  }
  const bad = data.findIndex((b) => b !== want);
  if (bad < 0) return { what: 'bytes', ok: true, detail: `${data.length} bytes of ${hex(want)}` };
  return {
    what: 'bytes',
    ok: false,
    detail: `byte ${bad} of ${data.length} is ${hex(data[bad] ?? 0)}, expected ${hex(want)}`,
  };
}

/** A summary of bytes for the result event: `0xaa x 4096` or `mixed, first 0x00`. */
function bytesSummary(data: Uint8Array): string {
  const first = data[0] ?? 0;
  const uniform = data.every((b) => b === first);
  return uniform
    ? `${hex(first)} x ${data.length}`
    : `mixed (${data.length} bytes, first ${hex(first)})`;
}

function resultEvent(step: Step, out: OpOutcome): ResultEvent {
  return {
    type: 'result',
    index: step.index,
    ...(out.error !== undefined ? { error: out.error } : {}),
    ...(out.status !== undefined ? { status: out.status } : {}),
    ...(out.exit !== undefined
      ? {
          exit: out.exit === null ? 'none' : out.exit === 've' ? 've' : exitReasonName(out.exit),
        }
      : {}),
    ...(out.data !== undefined ? { bytes: bytesSummary(out.data) } : {}),
    ...(out.value !== undefined ? { value: out.value } : {}),
  };
}

/** A step's arguments for its event: addresses and sizes as hex, small numbers as numbers. */
export function argsJson(step: Step): Record<string, string | number | boolean | null> {
  const out: Record<string, string | number | boolean | null> = {};
  const small = new Set(['slot', 'vcpu', 'level']);
  for (const [k, v] of Object.entries(step.args as Record<string, unknown>)) {
    if (v === undefined || (step.op === 'check' && k === 'kind')) continue;
    if (typeof v === 'bigint') out[k] = `0x${v.toString(16)}`;
    else if (typeof v === 'number') out[k] = small.has(k) ? v : hex(v);
    else if (typeof v === 'boolean' || typeof v === 'string') out[k] = v;
    else if (Array.isArray(v))
      out[k] = v.map((x) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : String(x))).join(',');
    else if (v === null) out[k] = false;
    else if (typeof v === 'object' && k === 'guestMemfd') {
      const g = v as { offset: number; id?: number; size?: number };
      out.guestMemfd = true;
      if (g.offset !== 0) out.gmemOffset = hex(g.offset);
      if (g.id !== undefined) out.gmemId = g.id;
      if (g.size !== undefined) out.gmemSize = hex(g.size);
    }
  }
  return out;
}
