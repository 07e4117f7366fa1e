import { KVM_EXIT_MEMORY_FAULT, KVM_MEMORY_EXIT_FLAG_PRIVATE, type KvmEvent } from '@kvmx/kvm-x86';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StepExecutor } from './executor.js';
import { runSequence } from './explore.js';
import { exploreVmConfig, exploreVmTypes, prologue, STEP_CODE_LIMIT } from './generate.js';
import { restore, SnapshotError, snapshot, snapshotFromJson, snapshotToJson } from './snapshot.js';

/** Facade events as JSON lines, guest_memfd descriptors renumbered by first appearance. */
function recorder(ex: StepExecutor): { lines: string[]; stop: () => void } {
  const lines: string[] = [];
  const fds = new Map<number, number>();
  const stop = ex.kvm.events.on((e: KvmEvent) => {
    let ev: unknown = e;
    if (e.type === 'gmem') {
      let n = fds.get(e.gmem);
      if (n === undefined) {
        n = fds.size + 1;
        fds.set(e.gmem, n);
      }
      ev = { ...e, gmem: n };
    }
    lines.push(JSON.stringify(ev, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v)));
  });
  return { lines, stop };
}

/**
 * The VMM answers every waiting exit, as its run loop would: a memory fault by converting
 * the range, then KVM_RUN again (an MMIO exit is emulated by resuming).
 */
function settle(ex: StepExecutor): void {
  for (let round = 0; round < 4; round++) {
    for (const [i, v] of ex.vcpus.entries()) {
      if (!v.hasPendingExit) continue;
      const exit = ex.pendingExits[i];
      if (exit?.reason === KVM_EXIT_MEMORY_FAULT) {
        const start = exit.gpa - (exit.gpa % 4096);
        const end = Math.ceil((exit.gpa + exit.size) / 4096) * 4096;
        const priv = (exit.flags & KVM_MEMORY_EXIT_FLAG_PRIVATE) !== 0;
        ex.execute({ op: 'setAttributes', args: { gpa: start, size: end - start, private: priv } });
      }
      ex.execute({ op: 'resume', args: { vcpu: i } });
    }
  }
}

const code = fc.noBias(fc.nat({ max: STEP_CODE_LIMIT - 1 }));

describe('snapshots', () => {
  it.each(exploreVmTypes())(
    '%s: save to JSON after a random run, load, continue both: same events, outcomes, state',
    (vm) => {
      const config = exploreVmConfig(vm);
      let compared = 0;
      fc.assert(
        fc.property(
          fc.array(code, { minLength: 5, maxLength: 60 }),
          fc.array(code, { minLength: 1, maxLength: 40 }),
          (before, after) => {
            const ex = StepExecutor.create(config);
            if (typeof ex === 'string') throw new Error(ex);
            const first = runSequence(config, before, { executor: ex, prologue: prologue(vm) });
            if (first.violation !== null || ex.kvm.destroyed) return;
            // A guest operation suspended in an exit is code, not data: finish it first.
            settle(ex);
            if (ex.vcpus.some((v) => v.hasPendingExit)) {
              expect(() => snapshot(ex, config)).toThrow(SnapshotError);
              return;
            }
            compared++;
            const json = snapshotToJson(snapshot(ex, config));
            const copy = restore(snapshotFromJson(json));
            expect(copy).not.toBe(ex);
            expect(copy.kvm).not.toBe(ex.kvm);
            // Lossless: saving the loaded copy gives the same text.
            expect(snapshotToJson(snapshot(copy, config))).toBe(json);
            const a = recorder(ex);
            const b = recorder(copy);
            const ra = runSequence(config, after, { executor: ex, record: true });
            const rb = runSequence(config, after, { executor: copy, record: true });
            a.stop();
            b.stop();
            expect(rb.recorded).toEqual(ra.recorded);
            expect(rb.violation).toEqual(ra.violation);
            expect(b.lines).toEqual(a.lines);
            expect(copy.violations()).toEqual(ex.violations());
          },
        ),
        { numRuns: vm === 'tdx' ? 12 : 20, seed: 4 },
      );
      expect(compared).toBeGreaterThanOrEqual(vm === 'tdx' ? 4 : 7);
    },
    60_000,
  );

  it('refuses a VM whose vCPU waits in an exit, naming the place', () => {
    const config = exploreVmConfig('sw_protected');
    const ex = StepExecutor.create(config);
    if (typeof ex === 'string') throw new Error(ex);
    // No memslot at this GPA: the write stops in an MMIO exit that waits for resume.
    ex.execute({ op: 'write', args: { gpa: 0x4000_0000, size: 8, byte: 1, vcpu: 0 } });
    expect(ex.vcpus[0]?.hasPendingExit).toBe(true);
    expect(() => snapshot(ex, config)).toThrow(/vcpus\[0\]\.pending holds a closure/);
  });

  it('refuses text that is not a snapshot', () => {
    expect(() => snapshotFromJson('{"format":"other"}')).toThrow(SnapshotError);
  });
});
