import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from './diagnostic.js';
import type { RunEvent, SummaryEvent } from './events.js';
import { runScenarios } from './session.js';
import { formatEvent } from './trace.js';

type Ev = RunEvent | SummaryEvent;

function run(text: string, options: { vm?: 'tdx' | 'sw_protected'; seed?: number } = {}) {
  const events: Ev[] = [];
  const r = runScenarios([{ file: 'r.yaml', text }], {
    ...options,
    onEvent: (e) => events.push(e),
  });
  return { ...r, events, expects: events.filter((e) => e.type === 'expect') };
}

const SW = 'name: t\nvm: {type: sw_protected}\nsteps:\n';
const TDX = 'name: t\nvm: {type: tdx}\nsteps:\n';

describe('runPlan', () => {
  it('gives the same event stream for the same file and seed, byte for byte', () => {
    const text = `${SW}  - memslot: {slot: 1, gpa: 0x100000, size: 2MiB, guestMemfd: true}\n  - setAttributes: {gpa: 0x100000, size: 4KiB, private: true}\n  - write: {gpa: 0x100000, size: 4KiB, byte: 1}\n  - punchHole: {gpa: 0x100000, size: 4KiB}\n`;
    const a = JSON.stringify(run(text, { seed: 3 }).events);
    const b = JSON.stringify(run(text, { seed: 3 }).events);
    expect(a).toBe(b);
    // guest_memfd descriptors are process-wide in the facade; the stream numbers them per run.
    expect(a).toContain('"type":"gmem","op":"bind","gmem":1');
  });

  it('answers KVM_HC_MAP_GPA_RANGE exits itself with autoConvert', () => {
    const text =
      'name: t\nvm: {type: sw_protected, autoConvert: true}\nsteps:\n' +
      '  - memslot: {slot: 1, gpa: 0x100000, size: 4MiB, guestMemfd: true}\n' +
      '  - mapGpa: {gpa: 0x100000, size: 3MiB, shared: false}\n    expect: {exit: none}\n' +
      '  - check: {gpa: 0x2ff000, root: direct, mapped: false}\n';
    const r = run(text);
    expect(r.exitCode).toBe(0);
    // One hypercall exit: KVM forwards the whole range to the VMM (sw_protected).
    expect(r.events.filter((e) => e.type === 'exit')).toHaveLength(1);
    expect(r.events.find((e) => e.type === 'attributes')).toMatchObject({
      gpa: '0x100000',
      size: '0x300000',
      attributes: '0x8',
    });
  });

  it('leaves the exit to the scenario without autoConvert', () => {
    const r = run(
      `${SW}  - mapGpa: {gpa: 0x100000, size: 4KiB, shared: false}\n    expect: {exit: hypercall, nr: 12, args: [0x100000, 1, 0x10]}\n  - resume: {ret: -22}\n    expect: {exit: none}\n`,
    );
    expect(r.exitCode).toBe(0);
    expect(r.events.find((e) => e.type === 'result' && e.index === 1)).toMatchObject({
      exit: 'none',
      value: { ret: '0xffffffffffffffea' },
    });
  });

  it('without exitHypercall, KVM answers the guest itself with -KVM_ENOSYS', () => {
    const r = run(
      'name: t\nvm: {type: sw_protected, exitHypercall: false}\nsteps:\n  - mapGpa: {gpa: 0x100000, size: 4KiB, shared: true}\n    expect: {exit: none}\n',
    );
    expect(r.exitCode).toBe(0);
    // -KVM_ENOSYS (1000) in RAX, as a 64-bit value.
    expect(r.events.find((e) => e.type === 'result')).toMatchObject({
      value: { ret: '0xfffffffffffffc18' },
    });
  });

  it('stops a TD access at a #VE without autoAccept, and lets the handler accept', () => {
    const r = run(
      `${TDX}  - memslot: {slot: 0, gpa: 0x80000000, size: 2MiB, guestMemfd: true}\n` +
        '  - setAttributes: {gpa: 0x80000000, size: 2MiB, private: true}\n  - finalize\n' +
        '  - write: {gpa: 0x80000000, size: 8, byte: 7, private: true}\n    expect: {exit: ve, gpa: 0x80000000}\n' +
        '  - accept: {gpa: 0x80000000}\n    expect: {status: TDX_SUCCESS}\n' +
        '  - resume:\n    expect: {exit: none}\n  - read: {gpa: 0x80000000, size: 8, private: true}\n    expect: {bytes: 7}\n',
    );
    expect(r.error && formatDiagnostic(r.error)).toBeUndefined();
    expect(r.expects.map((e) => e.type === 'expect' && `${e.what}:${e.ok}`)).toEqual([
      'exit:true',
      'status:true',
      'exit:true',
      'bytes:true',
    ]);
  });

  it('fails a step whose invariant violation was not expected, and counts a lasting one once', () => {
    const text =
      `${TDX}  - memslot: {slot: 0, gpa: 0x80000000, size: 2MiB, guestMemfd: true}\n` +
      '  - setAttributes: {gpa: 0x80000000, size: 2MiB, private: true}\n  - finalize\n' +
      '  - accept: {gpa: 0x80000000}\n' +
      '  - seamcall: {leaf: TDH.MEM.RANGE.BLOCK, gpa: 0x80000000}\n' +
      '  - hostWrite: {gpa: 0x80000000, size: 1, byte: 1}\n';
    const r = run(text);
    expect(r.exitCode).toBe(1);
    const violations = r.events.filter((e) => e.type === 'violation');
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatchObject({ invariant: 'tlb-tracked' });
    expect(r.expects).toEqual([
      {
        type: 'expect',
        index: 4,
        ok: false,
        what: 'invariants',
        detail: '1 invariant violation(s)',
      },
    ]);
    expect(r.summary).toMatchObject({ ok: false, violations: 1, failed: 1 });
    // Declared, the same violation passes.
    const declared = run(
      text.replace(
        'gpa: 0x80000000}\n  - hostWrite',
        'gpa: 0x80000000}\n    expect: {violation: true, status: TDX_SUCCESS}\n  - hostWrite',
      ),
    );
    expect(declared.exitCode).toBe(0);
    // With invariants off nothing is checked.
    const off = run(text.replace('name: t\n', 'name: t\ninvariants: false\n'));
    expect(off.exitCode).toBe(0);
    expect(off.events.filter((e) => e.type === 'violation')).toEqual([]);
  });

  it('reports a guest operation on a vCPU with a pending exit at run time, with its position', () => {
    const r = run(
      `${SW}  - mapGpa: {gpa: 0, size: 4KiB, shared: true}\n  - write: {gpa: 0, size: 1, byte: 1}\n`,
    );
    expect(r.exitCode).toBe(2);
    expect(r.error && formatDiagnostic(r.error)).toBe(
      'r.yaml:5:5: steps[1]: write on vCPU 0, which has a pending exit; continue it with resume first',
    );
    expect(r.summary).toMatchObject({ ok: false });
  });

  it('checks the seamcalls a step issued, in order', () => {
    const r = run(
      `${TDX}  - memslot: {slot: 0, gpa: 0x80000000, size: 2MiB, guestMemfd: true}\n` +
        '  - setAttributes: {gpa: 0x80000000, size: 2MiB, private: true}\n    expect: {seamcalls: []}\n' +
        '  - finalize:\n    expect: {seamcalls: [TDH.MR.EXTEND]}\n',
    );
    expect(r.exitCode).toBe(1);
    expect(r.expects.map((e) => e.type === 'expect' && e.detail)).toEqual([
      '[]',
      '[TDH.MR.FINALIZE], expected [TDH.MR.EXTEND]',
    ]);
  });

  it('runs a TDX file under --vm sw_protected, skipping what only a TD has', () => {
    const text =
      `${TDX}  - memslot: {slot: 0, gpa: 0x80000000, size: 2MiB, guestMemfd: true}\n` +
      '  - finalize\n  - accept: {gpa: 0x80000000}\n  - write: {gpa: 0x800080000000, size: 4, byte: 9}\n    expect: {exit: none, seamcalls: [TDH.VP.ENTER]}\n' +
      '  - read: {gpa: 0x80000000, size: 4}\n    expect: {bytes: 9}\n';
    const r = run(text, { vm: 'sw_protected' });
    expect(r.exitCode).toBe(0);
    expect(r.summary).toMatchObject({ steps: 3, skipped: 2 });
    expect(r.events[0]).toMatchObject({ type: 'scenario', vm: 'sw_protected', fileVm: 'tdx' });
  });
});

describe('formatEvent', () => {
  it('reads like a kernel trace', () => {
    expect(
      formatEvent({
        type: 'exit',
        vcpu: 0,
        reason: 'memory_fault',
        gpa: '0x1000',
        size: '0x1000',
        flags: '0x8',
      }),
    ).toEqual([
      '        kvm_userspace_exit: vcpu 0 reason KVM_EXIT_MEMORY_FAULT gpa 0x1000 size 0x1000 flags 0x8',
    ]);
    expect(
      formatEvent({
        type: 'seamcall',
        leaf: 'TDH.MEM.PAGE.AUG',
        status: 'TDX_SUCCESS',
        code: '0x0',
        gpa: '0x1000',
        level: 1,
      }),
    ).toEqual(['        seamcall: TDH.MEM.PAGE.AUG gpa 0x1000 level 1 -> TDX_SUCCESS 0x0']);
  });
});
