import type { VmTypeName } from '@kvmx/address';
import {
  parseScenario,
  planRun,
  type RunEvent,
  runPlan,
  type StepOp,
  type SummaryEvent,
} from '@kvmx/scenario';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StepExecutor } from './executor.js';
import { explore, MODEL_CRASH, runSequence, shrinkSteps } from './explore.js';
import { exploreVmConfig, exploreVmTypes, prologue, STEP_CODE_LIMIT } from './generate.js';
import { reproYaml } from './repro.js';

/** Replay scenario text through the real runner; the events and the run's verdict. */
function replay(text: string): {
  events: (RunEvent | SummaryEvent)[];
  passed: boolean;
  error?: string;
} {
  const parsed = parseScenario(text, 'repro.yaml');
  if (!parsed.ok) return { events: [], passed: false, error: JSON.stringify(parsed.error) };
  const plan = planRun(parsed.value);
  if (!plan.ok) return { events: [], passed: false, error: JSON.stringify(plan.error) };
  const events: RunEvent[] = [];
  const out = runPlan(plan.value, { onEvent: (e) => events.push(e) });
  return {
    events,
    passed: out.passed,
    ...(out.error !== undefined ? { error: JSON.stringify(out.error) } : {}),
  };
}

const TYPES = exploreVmTypes();

/** A TD with one private page mapped, then a hostile BLOCK that leaves it blocked. */
function blockedLeafSteps(): StepOp[] {
  return [
    ...prologue('tdx'),
    { op: 'write', args: { gpa: 0x3000, size: 8, byte: 0x5a, private: true, vcpu: 0 } },
  ];
}

describe('explore', () => {
  it.each(TYPES)('finds no violation in short random runs on %s', (vm) => {
    const r = explore({ vm, steps: 60, runs: 8, seed: 7 });
    expect(r.violation).toBeNull();
    expect(r.runs).toBe(8);
    // Every run executes its prologue and most of its steps (a few are skipped or end in
    // teardown).
    expect(r.steps).toBeGreaterThan(8 * 40);
    expect(r.repro).toBeNull();
  });

  it('is deterministic: the same seed explores the same steps', () => {
    const a = explore({ vm: 'sw_protected', steps: 50, runs: 5, seed: 99 });
    const b = explore({ vm: 'sw_protected', steps: 50, runs: 5, seed: 99 });
    expect(b).toEqual(a);
  });

  it('reports a model exception as a model-crash violation at the step that threw', () => {
    const config = exploreVmConfig('default');
    const r = runSequence(config, [
      { op: 'write', args: { gpa: 0, size: 8, byte: 1, vcpu: 0 } },
      // The explorer never generates `check`; the executor refuses it by throwing.
      { op: 'check', args: { kind: 'invariants' } },
    ]);
    expect(r.violation).toMatchObject({ invariant: MODEL_CRASH, step: 1 });
  });

  it('catches a hostile host leaving an S-EPT leaf blocked, and shrinks it', () => {
    const config = exploreVmConfig('tdx');
    const noise: StepOp[] = [
      { op: 'read', args: { gpa: 0x200000, size: 8, vcpu: 1 } },
      { op: 'hostWrite', args: { gpa: 0x300000, size: 4096, byte: 0x11 } },
      { op: 'setAttributes', args: { gpa: 0x100000, size: 0x1000, private: false } },
      { op: 'read', args: { gpa: 0x100000, size: 8, vcpu: 1 } },
    ];
    const base = runSequence(config, blockedLeafSteps(), { record: true });
    expect(base.violation).toBeNull();
    const ex = base.recorded;
    expect(ex.at(-1)?.outcome).toEqual({});
    const block = (t: bigint): StepOp => ({
      op: 'seamcall',
      args: { leaf: 'TDH.MEM.RANGE.BLOCK', rcx: 0x3000n, rdx: t },
    });
    // The TDR comes from a fresh frame pool: the same address in every fresh VM.
    const tdrPa = tdrOf(config);
    const seq = [...noise.slice(0, 2), ...blockedLeafSteps(), ...noise.slice(2), block(tdrPa)];
    const r = runSequence(config, seq, { record: true });
    expect(r.violation?.invariant).toBe('tlb-tracked');
    const min = shrinkSteps(config, seq, 'tlb-tracked', { budgetMs: 10_000, now: Date.now });
    // memslot, (attributes), (finalize), the write that maps the page, the BLOCK.
    expect(min.length).toBeLessThanOrEqual(5);
    expect(min.at(-1)).toEqual(block(tdrPa));
    expect(runSequence(config, min).violation?.invariant).toBe('tlb-tracked');
  });

  it('shrinking keeps the same invariant and never grows the sequence (property)', () => {
    const config = exploreVmConfig('tdx');
    const tdrPa = tdrOf(config);
    fc.assert(
      fc.property(fc.array(fc.nat({ max: STEP_CODE_LIMIT - 1 }), { maxLength: 12 }), (before) => {
        const head = runSequence(config, before, { record: true, prologue: prologue('tdx') });
        if (head.violation !== null) return;
        const ops: StepOp[] = [
          ...head.recorded.map((s) => s.op),
          { op: 'write', args: { gpa: 0x5000, size: 8, byte: 1, private: true, vcpu: 0 } },
          { op: 'seamcall', args: { leaf: 'TDH.MEM.RANGE.BLOCK', rcx: 0x5000n, rdx: tdrPa } },
        ];
        const r = runSequence(config, ops);
        if (r.violation === null) return;
        const min = shrinkSteps(config, ops, r.violation.invariant, {
          budgetMs: 5_000,
          now: Date.now,
        });
        expect(min.length).toBeLessThanOrEqual(ops.length);
        expect(runSequence(config, min).violation?.invariant).toBe(r.violation.invariant);
      }),
      { numRuns: 5, seed: 3 },
    );
  });
});

describe('reproductions replay through the scenario runner', () => {
  it.each(TYPES)(
    'a random %s run, written with its outcomes, replays with every expectation met',
    (vm: VmTypeName) => {
      const config = exploreVmConfig(vm);
      const codes: number[] = [];
      let x = 0x2545f491;
      for (let i = 0; i < 80; i++) {
        // xorshift32: a fixed, well-spread sequence of step codes
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        codes.push((x >>> 0) % STEP_CODE_LIMIT);
      }
      const r = runSequence(config, codes, { record: true, prologue: prologue(vm) });
      expect(r.violation).toBeNull();
      const text = reproYaml({ name: `random ${vm}`, vm: config, steps: r.recorded });
      const out = replay(text);
      const failed = out.events.filter((e) => e.type === 'expect' && !e.ok);
      expect(out.error).toBeUndefined();
      expect(failed).toEqual([]);
      expect(out.passed).toBe(true);
      expect(out.events.filter((e) => e.type === 'step').length).toBe(r.recorded.length);
    },
  );

  it('a shrunk TDX reproduction replays to the same violation at its last step', () => {
    const config = exploreVmConfig('tdx');
    const tdrPa = tdrOf(config);
    const seq: StepOp[] = [
      ...blockedLeafSteps(),
      { op: 'seamcall', args: { leaf: 'TDH.MEM.RANGE.BLOCK', rcx: 0x3000n, rdx: tdrPa } },
    ];
    const min = shrinkSteps(config, seq, 'tlb-tracked', { budgetMs: 10_000, now: Date.now });
    const rec = runSequence(config, min, { record: true });
    const text = reproYaml({ name: 'blocked leaf', vm: config, steps: rec.recorded });
    const out = replay(text);
    expect(out.error).toBeUndefined();
    const violations = out.events.filter((e) => e.type === 'violation');
    expect(violations.length).toBeGreaterThan(0);
    expect(violations[0]).toMatchObject({ invariant: 'tlb-tracked' });
    const failed = out.events.filter((e) => e.type === 'expect' && !e.ok);
    // The only failed expectation is the invariant check after the last step.
    expect(failed).toEqual([
      expect.objectContaining({ index: rec.recorded.length - 1, what: 'invariants' }),
    ]);
  });
});

/** The TDR's physical address in a fresh explored TD (deterministic: a fresh frame pool). */
function tdrOf(config: ReturnType<typeof exploreVmConfig>): bigint {
  const ex = StepExecutor.create(config);
  if (typeof ex === 'string') throw new Error(ex);
  const tdr = ex.kvm.tdx?.tdr ?? -1;
  ex.kvm.destroy();
  return BigInt(tdr);
}
