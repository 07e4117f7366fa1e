import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  TDVMCALL_STATUS_ALIGN_ERROR,
  TDVMCALL_STATUS_INVALID_OPERAND,
  TDVMCALL_STATUS_RETRY,
  TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED,
  TDVMCALL_STATUS_SUCCESS,
  TDX_MAP_GPA_MAX_LEN,
  TdxMapGpa,
  tdvmcallStatusName,
} from './tdx-map-gpa.js';

const S47 = 2 ** 47;

describe('TDX MapGPA (tdx_map_gpa)', () => {
  it('validates in KVM’s order: exit enabled, range, alignment', () => {
    expect(TdxMapGpa.start(false, 48, 0x1000, 0x1000).step).toEqual({
      kind: 'return',
      status: TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED,
      r11: 0x1000,
    });
    expect(TdxMapGpa.start(true, 48, S47 - 0x1000, 0x2000).step).toMatchObject({
      status: TDVMCALL_STATUS_INVALID_OPERAND,
    });
    expect(TdxMapGpa.start(true, 48, 2 ** 48 - 0x1000, 0x2000).step).toMatchObject({
      status: TDVMCALL_STATUS_INVALID_OPERAND,
    });
    expect(TdxMapGpa.start(true, 48, 0x1800, 0x1000).step).toMatchObject({
      status: TDVMCALL_STATUS_ALIGN_ERROR,
    });
    expect(TdxMapGpa.start(true, 48, 0x1000, 0x800).step).toMatchObject({
      status: TDVMCALL_STATUS_ALIGN_ERROR,
    });
  });

  it('a refused chunk fails the call at the current GPA; a pending event retries at the next', () => {
    const { state, step } = TdxMapGpa.start(true, 48, S47 + 0x1000, 3 * TDX_MAP_GPA_MAX_LEN);
    expect(step).toMatchObject({ kind: 'exit', chunk: { args: [0x1000, 512, 0] } });
    expect(state?.complete(0, true)).toEqual({
      kind: 'return',
      status: TDVMCALL_STATUS_RETRY,
      r11: S47 + 0x201000,
    });
    const again = TdxMapGpa.start(true, 48, 0x1000, 0x3000);
    expect(again.state?.complete(-1, false)).toEqual({
      kind: 'return',
      status: TDVMCALL_STATUS_INVALID_OPERAND,
      r11: 0x1000,
    });
    expect(tdvmcallStatusName(TDVMCALL_STATUS_SUCCESS)).toBe('TDVMCALL_STATUS_SUCCESS');
  });

  it('law: the chunks tile the range exactly, each ≤ 2 MiB, shared bit stripped, then SUCCESS', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 20 }),
        fc.integer({ min: 1, max: 3000 }),
        fc.boolean(),
        (gfn, npages, shared) => {
          const gpa = gfn * 4096 + (shared ? S47 : 0);
          let { state, step } = TdxMapGpa.start(true, 48, gpa, npages * 4096);
          let next = gfn * 4096;
          let total = 0;
          while (step.kind === 'exit') {
            const [g, n, attrs] = step.chunk.args;
            expect(g).toBe(next);
            expect(n).toBeLessThanOrEqual(512);
            expect(attrs).toBe(shared ? 0 : 0x10);
            next += n * 4096;
            total += n;
            step = (state as TdxMapGpa).complete(0, false);
          }
          expect(step).toEqual({ kind: 'return', status: TDVMCALL_STATUS_SUCCESS, r11: 0 });
          expect(total).toBe(npages);
          state = null;
        },
      ),
    );
  });
});
