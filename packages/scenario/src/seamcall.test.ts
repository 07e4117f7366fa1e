import { describe, expect, it } from 'vitest';
import type { RunEvent, SummaryEvent } from './events.js';
import { RAW_SEAMCALL_LEAVES } from './seamcall.js';
import { runScenarios } from './session.js';

function seamcalls(steps: string) {
  const events: (RunEvent | SummaryEvent)[] = [];
  const text = `name: t\nvm: {type: tdx}\nsteps:\n  - memslot: {slot: 0, gpa: 0x80000000, size: 2MiB, guestMemfd: true}\n  - setAttributes: {gpa: 0x80000000, size: 2MiB, private: true}\n  - finalize\n  - accept: {gpa: 0x80000000}\n${steps}`;
  const r = runScenarios([{ file: 's.yaml', text }], { onEvent: (e) => events.push(e) });
  const last = events.filter((e) => e.type === 'seamcall').at(-1);
  return { r, last, events };
}

describe('raw seamcall', () => {
  it('places named operands where the ABI wants them: RCX = GPA | level, RDX = TDR', () => {
    const { last } = seamcalls(
      '  - seamcall: {leaf: TDH.MEM.RANGE.BLOCK, gpa: 0x80000000, level: 1}\n',
    );
    expect(last).toMatchObject({
      leaf: 'TDH.MEM.RANGE.BLOCK',
      status: 'TDX_SUCCESS',
      gpa: '0x80000000',
      level: 1,
    });
  });

  it('takes raw registers: RCX carries GPA and level, the TDR defaults to the VM’s', () => {
    // PG_LEVEL 2 is the module's level 1: RCX = 0x80000000 | 1 blocks the 2M range.
    const { last } = seamcalls('  - seamcall: {leaf: TDH.MEM.RANGE.BLOCK, rcx: 0x80000001}\n');
    expect(last).toMatchObject({ leaf: 'TDH.MEM.RANGE.BLOCK', gpa: '0x80000000', level: 2 });
    expect(last?.type === 'seamcall' && last.status).not.toBe('TDX_OPERAND_INVALID');
  });

  it('gives a wrong TDR the module’s answer, as a status', () => {
    // 0x1000 is not memory the module manages (outside every TDMR).
    const { r, last } = seamcalls(
      '  - seamcall: {leaf: TDH.MEM.TRACK, tdr: 0x1000}\n    expect: {status: TDX_OPERAND_ADDR_RANGE_ERROR}\n',
    );
    expect(last).toMatchObject({
      leaf: 'TDH.MEM.TRACK',
      status: 'TDX_OPERAND_ADDR_RANGE_ERROR',
      code: '0xc000010100000001',
    });
    expect(r.exitCode).toBe(0);
  });

  it('refuses, as bad input, a leaf it cannot issue and values a double cannot hold', () => {
    const bad = seamcalls('  - seamcall: {leaf: TDH.VP.ENTER}\n');
    expect(bad.r.exitCode).toBe(2);
    expect(bad.r.error?.message).toContain('cannot be issued raw');
    const big = seamcalls('  - seamcall: {leaf: TDH.MEM.PAGE.AUG, rcx: 0xffffff8000000000}\n');
    expect(big.r.exitCode).toBe(2);
    expect(big.r.error?.message).toContain('rcx values at or above 2^53 are not modelled');
    expect(RAW_SEAMCALL_LEAVES).toContain('TDH.MEM.PAGE.REMOVE');
  });
});
