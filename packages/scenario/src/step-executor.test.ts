import { KVM_EXIT_MEMORY_FAULT, KVM_EXIT_MMIO } from '@kvmx/kvm-x86';
import { describe, expect, it } from 'vitest';
import type { StepOp, VmConfig } from './scenario.js';
import { StepExecutor, touchedRange } from './step-executor.js';

function vm(type: VmConfig['type'], extra: Partial<VmConfig> = {}): VmConfig {
  return {
    type,
    vcpus: 2,
    gpaw: 48,
    cbit: 51,
    exitHypercall: true,
    autoConvert: true,
    autoAccept: type === 'tdx',
    septVeDisable: false,
    ...extra,
  };
}

function executor(config: VmConfig): StepExecutor {
  const ex = StepExecutor.create(config);
  if (typeof ex === 'string') throw new Error(ex);
  return ex;
}

const slot = (gmem: boolean, gpa = 0): StepOp => ({
  op: 'memslot',
  args: {
    slot: gpa === 0 ? 0 : 1,
    gpa,
    size: 0x200000,
    guestMemfd: gmem ? { offset: 0 } : null,
    readonly: false,
    logDirty: false,
  },
});

describe('StepExecutor', () => {
  it('runs the README example: a shared write to a guest_memfd slot completes', () => {
    const ex = executor(vm('sw_protected', { vcpus: 1 }));
    expect(ex.execute(slot(true))).toEqual({});
    const r = ex.execute({ op: 'write', args: { gpa: 0x1000, size: 8, byte: 0xaa, vcpu: 0 } });
    expect(r.run?.exit).toBeNull();
    expect(r.error).toBeUndefined();
    expect(ex.violations()).toEqual([]);
    const read = ex.execute({ op: 'hostRead', args: { gpa: 0x1000, size: 8 } });
    expect([...(read.data ?? [])]).toEqual(new Array(8).fill(0xaa));
  });

  it('says which set-up ioctl failed, keeping the VM when KVM_CREATE_VM succeeded', () => {
    const bad = StepExecutor.open(vm('sw_protected', { inject: 'no-such-bug' }));
    expect(bad).not.toBeInstanceOf(StepExecutor);
    if (bad instanceof StepExecutor) return;
    expect(bad).toMatchObject({ ioctl: 'KVM_CREATE_VM', error: 'EINVAL' });
    expect(bad.message).toBe('KVM_CREATE_VM(sw_protected) failed with EINVAL');
    expect(bad.kvm).toBeUndefined();
    expect(StepExecutor.create(vm('sw_protected', { inject: 'no-such-bug' }))).toBe(bad.message);
  });

  it('passes every facade event to onEvent, VM set-up included', () => {
    const types: string[] = [];
    const ex = StepExecutor.open(vm('tdx'), { onEvent: (e) => types.push(e.type) });
    expect(ex).toBeInstanceOf(StepExecutor);
    expect(types).toContain('seamcall');
  });

  it('refuses a guest operation on a vCPU waiting in an exit, as bad input, until resume', () => {
    const ex = executor(vm('default'));
    // No memslot: the write stops in an MMIO exit that waits for resume.
    const w: StepOp = { op: 'write', args: { gpa: 0x4000_0000, size: 8, byte: 1, vcpu: 0 } };
    const r = ex.execute(w);
    expect(r.run?.exit?.reason).toBe(KVM_EXIT_MMIO);
    expect(ex.pendingExits[0]?.reason).toBe(KVM_EXIT_MMIO);
    expect(ex.canRun(w)).toBe(false);
    expect(ex.execute(w).badInput).toMatch(/pending exit; continue it with resume first/);
    // The other vCPU is free; resume finishes the first one's access.
    expect(ex.canRun({ ...w, args: { ...w.args, vcpu: 1 } } as StepOp)).toBe(true);
    // resume before vCPU 1 ever ran: nothing to continue, nothing to check but the VM-wide.
    expect(ex.violationsAfter({ op: 'resume', args: { vcpu: 1 } })).toEqual([]);
    const resume: StepOp = { op: 'resume', args: { vcpu: 0 } };
    expect(ex.execute(resume).run?.exit).toBeNull();
    // Checked over the write's range, which the resume continued.
    expect(ex.violationsAfter(resume)).toEqual(ex.violations());
    // Resumed again with nothing pending: KVM_RUN returns at once.
    expect(ex.execute(resume).run).toMatchObject({ ret: 0, exit: null });
    expect(ex.violationsAfter(resume)).toEqual([]);
    expect(ex.pendingExits[0]).toBeNull();
    expect(ex.canRun(w)).toBe(true);
  });

  it('names a vCPU that does not exist as bad input', () => {
    const ex = executor(vm('default', { vcpus: 1 }));
    const op: StepOp = { op: 'preFault', args: { gpa: 0, size: 0x1000, vcpu: 3 } };
    expect(ex.canRun(op)).toBe(false);
    expect(ex.execute(op)).toEqual({ badInput: 'vCPU 3 does not exist' });
  });

  it('answers a private GFN on a slot without guest_memfd with a memory fault and EFAULT', () => {
    // private_mem_kvm_exits_test.c: KVM_RUN returns -EFAULT with KVM_EXIT_MEMORY_FAULT.
    const ex = executor(vm('sw_protected', { autoConvert: false }));
    ex.execute(slot(false));
    ex.execute({ op: 'setAttributes', args: { gpa: 0x3000, size: 0x1000, private: true } });
    const r = ex.execute({ op: 'read', args: { gpa: 0x3000, size: 8, vcpu: 1 } });
    expect(r.run?.exit?.reason).toBe(KVM_EXIT_MEMORY_FAULT);
    expect(r.error).toBe('EFAULT');
    expect(ex.pendingExits[1]).toBe(r.run?.exit);
  });

  it('fallocate outside a guest_memfd slot is EINVAL; a raw SEAMCALL outside a TD is bad input', () => {
    const ex = executor(vm('sw_protected'));
    ex.execute(slot(false));
    expect(ex.execute({ op: 'punchHole', args: { gpa: 0, size: 0x1000 } })).toEqual({
      error: 'EINVAL',
    });
    expect(ex.execute({ op: 'seamcall', args: { leaf: 'TDH.MEM.TRACK' } }).badInput).toMatch(
      /needs a TDX VM/,
    );
    expect(ex.execute({ op: 'check', args: { kind: 'invariants' } }).badInput).toMatch(/assertion/);
  });

  it('returns a raw SEAMCALL status as the module answers it', () => {
    const ex = executor(vm('tdx'));
    const tdr = BigInt(ex.kvm.tdx?.tdr ?? 0);
    const r = ex.execute({ op: 'seamcall', args: { leaf: 'TDH.MEM.TRACK', rcx: tdr } });
    expect(r.seamcall?.status).toEqual({ hi: 0, lo: 0 });
    expect(Object.keys(r.seamcall?.outputs ?? {})).toEqual(['rcx', 'rdx', 'r8']);
  });

  it('checks a step over its range and finds what the whole checker finds', () => {
    const ex = executor(vm('sw_protected'));
    const ops: StepOp[] = [
      slot(true),
      slot(true, 0x200000),
      { op: 'setAttributes', args: { gpa: 0, size: 0x100000, private: true } },
      { op: 'write', args: { gpa: 0x5000, size: 8, byte: 3, vcpu: 0, private: true } },
      { op: 'punchHole', args: { gpa: 0x4000, size: 0x2000 } },
      { op: 'mapGpa', args: { gpa: 0x5000, size: 0x1000, shared: true, vcpu: 1 } },
      { op: 'read', args: { gpa: 0x5000, size: 8, vcpu: 1 } },
    ];
    for (const op of ops) {
      ex.execute(op);
      expect(ex.violationsAfter(op)).toEqual(ex.violations());
    }
    expect(ex.violations()).toEqual([]);
  });

  it('a memslot ioctl that failed changed nothing: the same answer as the whole checker', () => {
    const ex = executor(vm('sw_protected'));
    ex.execute(slot(true));
    ex.execute({ op: 'write', args: { gpa: 0x1000, size: 8, byte: 1, vcpu: 0 } });
    // Private memslots are immutable: re-creating slot 0 with another size is EINVAL.
    const op: StepOp = { ...slot(true), args: { ...slot(true).args, size: 0x100000 } } as StepOp;
    const r = ex.execute(op);
    expect(r.error).toBe('EINVAL');
    expect(ex.violationsAfter(op, r)).toEqual(ex.violations());
    expect(ex.violations()).toEqual([]);
  });

  it('knows which steps reach only their own range', () => {
    expect(touchedRange({ op: 'punchHole', args: { gpa: 0x1000, size: 0x2000 } })).toEqual({
      gpa: 0x1000,
      size: 0x2000,
    });
    expect(touchedRange(slot(true))).toBeNull();
    expect(touchedRange({ op: 'resume', args: { vcpu: 0 } })).toBeNull();
    expect(touchedRange({ op: 'destroy', args: {} })).toBeNull();
  });
});
