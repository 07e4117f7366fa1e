import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from './diagnostic.js';
import { parseScenario } from './parse.js';
import { type PlanOptions, planRun } from './plan.js';

function plan(text: string, options: PlanOptions = {}) {
  const s = parseScenario(text, 'p.yaml');
  if (!s.ok) throw new Error(formatDiagnostic(s.error));
  return planRun(s.value, options);
}

function planError(text: string, options: PlanOptions = {}): string {
  const r = plan(text, options);
  if (r.ok) throw new Error('expected an error');
  return formatDiagnostic(r.error);
}

const TDX = 'name: t\nvm: {type: tdx, vcpus: 2}\nsteps:\n';

describe('planRun: a guest operation on a vCPU with a pending exit is bad input', () => {
  it('is refused when the exit is declared by expect', () => {
    expect(
      planError(
        `${TDX}  - mapGpa: {gpa: 0x1000, size: 4KiB, shared: true}\n    expect: {exit: hypercall}\n  - read: {gpa: 0x1000, size: 1}\n`,
      ),
    ).toBe(
      'p.yaml:6:5: steps[1]: read on vCPU 0, which has a pending hypercall exit from steps[0] (line 4); continue it with resume first',
    );
  });

  it('is fine after resume, and on another vCPU', () => {
    const r = plan(
      `${TDX}  - mapGpa: {gpa: 0x1000, size: 4KiB, shared: true}\n    expect: {exit: hypercall}\n` +
        '  - read: {gpa: 0x2000, size: 1, vcpu: 1}\n  - resume\n  - read: {gpa: 0x1000, size: 1}\n',
    );
    expect(r.ok).toBe(true);
  });

  it('lets the #VE handler accept before the access is resumed', () => {
    const r = plan(
      `${TDX}  - write: {gpa: 0x1000, size: 1, byte: 1}\n    expect: {exit: ve}\n` +
        '  - accept: {gpa: 0x1000}\n  - resume\n',
    );
    expect(r.ok).toBe(true);
  });

  it('forgets a pending exit when a step expects none', () => {
    const r = plan(
      `${TDX}  - write: {gpa: 0x1000, size: 1, byte: 1}\n    expect: {exit: memory_fault}\n` +
        '  - resume:\n    expect: {exit: none}\n  - read: {gpa: 0x1000, size: 1}\n',
    );
    expect(r.ok).toBe(true);
  });
});

describe('planRun: VM types', () => {
  it('refuses an operation the file’s own type does not have', () => {
    expect(planError('name: t\nvm: {type: sw_protected}\nsteps:\n  - accept: {gpa: 0}\n')).toBe(
      'p.yaml:4:5: steps[0]: accept (TDG.MEM.PAGE.ACCEPT) exists only for TDX VMs (this VM is sw_protected)',
    );
    expect(
      planError('name: t\nvm: {type: tdx}\nsteps:\n  - check: {gpa: 0, root: rmp}\n'),
    ).toContain('rmp exists only for SNP');
  });

  it('refuses a vCPU the VM does not have', () => {
    expect(planError(`${TDX}  - read: {gpa: 0, size: 1, vcpu: 2}\n`)).toContain(
      'vCPU 2 does not exist; the VM has 2',
    );
  });

  it('under --vm, skips what the type cannot express and drops SEAMCALL expectations', () => {
    const r = plan(
      `${TDX}  - initMemRegion: {gpa: 0, size: 4KiB}\n  - finalize\n` +
        '  - setAttributes: {gpa: 0, size: 4KiB, private: false}\n    expect: {seamcalls: [TDH.MEM.RANGE.BLOCK], error: EINVAL}\n' +
        '  - accept: {gpa: 0}\n',
      { vm: 'sw_protected' },
    );
    if (!r.ok) throw new Error(formatDiagnostic(r.error));
    expect(r.value.vm.type).toBe('sw_protected');
    expect(r.value.overridden).toBe(true);
    expect(r.value.steps.map((s) => s.skip !== undefined)).toEqual([true, true, false, true]);
    expect(r.value.steps[2]?.expect).toEqual({ error: 'EINVAL' });
  });

  it('merges expectOn for the run’s type over expect', () => {
    const text =
      `${TDX}  - write: {gpa: 0x1000, size: 1, byte: 1, private: true}\n` +
      '    expect: {exit: none, seamcalls: [TDH.MEM.PAGE.AUG]}\n' +
      '    expectOn: {sw_protected: {exit: memory_fault, gpa: 0x1000, size: 4KiB, flags: 8}}\n  - resume\n';
    const asTdx = plan(text);
    const asSw = plan(text, { vm: 'sw_protected' });
    if (!asTdx.ok || !asSw.ok) throw new Error('plan failed');
    expect(asTdx.value.steps[0]?.expect).toEqual({
      exit: { reason: 'none' },
      seamcalls: ['TDH.MEM.PAGE.AUG'],
    });
    expect(asSw.value.steps[0]?.expect).toEqual({
      exit: { reason: 'memory_fault', gpa: 0x1000, size: 4096, flags: 8 },
      seamcalls: ['TDH.MEM.PAGE.AUG'],
    });
  });

  it('runs a step with `only` just under the listed types', () => {
    const text = `${TDX}  - read: {gpa: 0, size: 1}\n    only: [snp]\n  - read: {gpa: 0, size: 1}\n`;
    const r = plan(text);
    expect(r.ok && r.value.steps.map((s) => s.step.index)).toEqual([1]);
  });

  it('under --vm, turns the TDX shared bit of a guest GPA into private: false', () => {
    const text =
      'name: t\nvm: {type: tdx, gpaw: 52}\nsteps:\n  - read: {gpa: 0x8000000001000, size: 1}\n';
    const r = plan(text, { vm: 'snp' });
    expect(r.ok && r.value.steps[0]?.step.args).toEqual({
      gpa: 0x1000,
      size: 1,
      private: false,
      vcpu: 0,
    });
    const same = plan(text);
    expect(same.ok && same.value.steps[0]?.step.args).toMatchObject({ gpa: 2 ** 51 + 0x1000 });
  });

  it('takes the seed from --seed, then the file, then 0', () => {
    const text = 'name: t\nseed: 7\nvm: {type: tdx}\nsteps: []\n';
    expect(plan(text).ok && (plan(text) as { value: { seed: number } }).value.seed).toBe(7);
    const r = plan(text, { seed: 9 });
    expect(r.ok && r.value.seed).toBe(9);
  });

  it('refuses a step that would touch more than 64 MiB page by page', () => {
    expect(planError(`${TDX}  - write: {gpa: 0, size: 1PiB, byte: 1}\n`)).toBe(
      'p.yaml:4:5: steps[0]: write of 0x4000000000000 bytes is more than the runner touches in one step (at most 64 MiB)',
    );
    expect(planError(`${TDX}  - allocate: {gpa: 0, size: 0x4001000}\n`)).toContain(
      'at most 64 MiB',
    );
    expect(plan(`${TDX}  - setAttributes: {gpa: 0, size: 1PiB, private: true}\n`).ok).toBe(true);
  });
});
