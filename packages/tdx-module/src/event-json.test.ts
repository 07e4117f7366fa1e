import { describe, expect, it } from 'vitest';
import { tdxEventToJson } from './event-json.js';
import type { TdxCallEvent } from './tdx-module.js';
import { buildTd, expectOk, mapTables } from './test-helpers.js';

describe('tdxEventToJson', () => {
  it('gives the CONTRACTS seamcall event fields', () => {
    const f = buildTd();
    expectOk(f.mod.mrFinalize(f.tdr));
    mapTables(f, 0x200000);
    const events: TdxCallEvent[] = [];
    f.mod.setListener((e) => events.push(e));
    const pg = f.page();
    expectOk(f.mod.memPageAug(f.tdr, 0x200000, 0, pg));
    f.mod.memPageAug(f.tdr, 0x200000, 0, f.page());
    f.mod.setListener(null);
    f.mod.memPageAug(f.tdr, 0x200000, 0, f.page());
    expect(events).toHaveLength(2);
    expect(tdxEventToJson(events[0] as TdxCallEvent)).toMatchObject({
      type: 'seamcall',
      leaf: 'TDH.MEM.PAGE.AUG',
      status: 'TDX_SUCCESS',
      code: '0x0',
      rcx: '0x200000',
      rdx: `0x${f.tdr.toString(16)}`,
      r8: `0x${pg.toString(16)}`,
    });
    expect(tdxEventToJson(events[1] as TdxCallEvent)).toMatchObject({
      status: 'TDX_EPT_ENTRY_STATE_INCORRECT',
      code: '0xc0000b0d00000001',
      operand: 'RCX',
    });
  });
});
