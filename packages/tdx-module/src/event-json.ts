// The JSON form of a SEAMCALL/TDCALL event (CONTRACTS §1 `kvmx run --json`):
// {"type":"seamcall","leaf":"TDH.MEM.PAGE.AUG","status":"TDX_SUCCESS","code":"0x0",...}.
// `leaf` is the module's name with dots, `status` the base status name without the operand,
// `code` the full 64-bit value. Extra fields: operand, the input operands, the LP.

import { word64Hex } from '@kvmx/address';
import { decodeStatus } from './status.js';
import type { TdxCallEvent } from './tdx-module.js';

export function tdxEventToJson(e: TdxCallEvent): Record<string, unknown> {
  const d = decodeStatus(e.status);
  return {
    type: e.type,
    leaf: e.name,
    status: d.name,
    code: d.code,
    operand: d.operand,
    ...(e.version !== 0 ? { version: e.version } : {}),
    rcx: word64Hex(e.rcx),
    rdx: word64Hex(e.rdx),
    r8: word64Hex(e.r8),
    r9: word64Hex(e.r9),
    lp: e.lp,
  };
}
