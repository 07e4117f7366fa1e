import { word64FromBigInt } from '@kvmx/address';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OPERAND_ID_RCX, OPERAND_ID_SEPT_TREE, OPERAND_ID_TD_EPOCH } from './operand.js';
import {
  decodeStatus,
  formatStatus,
  statusHex,
  statusName,
  TDX_EPT_ENTRY_STATE_INCORRECT,
  TDX_OPERAND_BUSY,
  TDX_STATUS_TABLE,
  tdxStatus,
} from './status.js';

const dec = (v: bigint) => decodeStatus(word64FromBigInt(v));

describe('status table', () => {
  it('holds the module values Linux also defines (asm/shared/tdx_errno.h)', () => {
    const want: Record<string, bigint> = {
      TDX_SUCCESS: 0n,
      TDX_INTERRUPTED_RESUMABLE: 0x8000000300000000n,
      TDX_OPERAND_INVALID: 0xc000010000000000n,
      TDX_OPERAND_BUSY: 0x8000020000000000n,
      TDX_PREVIOUS_TLB_EPOCH_BUSY: 0x8000020100000000n,
      TDX_SYS_BUSY: 0x8000020200000000n,
      TDX_RND_NO_ENTROPY: 0x8000020300000000n,
      TDX_PAGE_METADATA_INCORRECT: 0xc000030000000000n,
      TDX_VCPU_NOT_ASSOCIATED: 0x8000070200000000n,
      TDX_KEY_GENERATION_FAILED: 0x8000080000000000n,
      TDX_KEY_STATE_INCORRECT: 0xc000081100000000n,
      TDX_KEY_CONFIGURED: 0x0000081500000000n,
      TDX_NO_HKID_READY_TO_WBCACHE: 0x0000082100000000n,
      TDX_FLUSHVP_NOT_DONE: 0x8000082400000000n,
      TDX_EPT_WALK_FAILED: 0xc0000b0000000000n,
      TDX_EPT_ENTRY_STATE_INCORRECT: 0xc0000b0d00000000n,
      TDX_METADATA_FIELD_NOT_READABLE: 0xc0000c0200000000n,
      TDX_NON_RECOVERABLE_TD: 0x6000000200000000n,
      TDX_NON_RECOVERABLE_TD_WRONG_APIC_MODE: 0xe000000700000000n,
    };
    for (const [name, value] of Object.entries(want)) {
      expect(BigInt(TDX_STATUS_TABLE[name] ?? -1) << 32n, name).toBe(value);
    }
  });

  it('has unique values', () => {
    const values = Object.values(TDX_STATUS_TABLE);
    expect(new Set(values).size).toBe(values.length);
  });

  it('names every table entry back from its value', () => {
    for (const [name, hi] of Object.entries(TDX_STATUS_TABLE)) expect(statusName(hi)).toBe(name);
  });
});

describe('decodeStatus', () => {
  it('decodes TDX_EPT_ENTRY_STATE_INCORRECT|SEPT_TREE (CONTRACTS §1 example)', () => {
    const d = dec(0xc0000b0d00000092n);
    expect(d).toMatchObject({
      name: 'TDX_EPT_ENTRY_STATE_INCORRECT',
      code: '0xc0000b0d00000092',
      class: 0x0b,
      details: 0x0d,
      operandId: 0x92,
      operand: 'SEPT_TREE',
      error: true,
      nonRecoverable: true,
      fatal: false,
      known: true,
    });
  });

  it('decodes operand ids RAX..R15 and the TD resources', () => {
    expect(dec(0xc000010000000000n).operand).toBe('RAX');
    expect(dec(0xc000010000000001n).operand).toBe('RCX');
    expect(dec(0xc00001000000000fn).operand).toBe('R15');
    expect(dec(0x8000020000000080n).operand).toBe('TDR');
    expect(dec(0x80000200000000a9n).operand).toBe('TD_EPOCH');
    expect(dec(0x80000200000000ban).operand).toBe('KOT');
    expect(dec(0x80000200000000bbn).operand).toBe('KET');
    expect(dec(0x80000200000000bcn).operand).toBe('WBCACHE');
    expect(dec(0x8000020000000093n).operand).toBe('SEPT_ENTRY');
    expect(dec(0x8000020000000004n).operand).toBeNull(); // RSP has no operand id
  });

  it('reads the low bits as a level for ACCEPT statuses and an exit reason for VP.ENTER', () => {
    const acc = dec(0x00000b0a00000001n);
    expect(acc).toMatchObject({
      name: 'TDX_PAGE_ALREADY_ACCEPTED',
      lowBits: 'level',
      operand: null,
      error: false,
    });
    const exit = dec(0x0000000000000030n);
    expect(exit).toMatchObject({
      name: 'TDX_SUCCESS',
      lowBits: 'exitReason',
      operandId: 48,
      operand: null,
    });
    expect(dec(0x6000000200000030n)).toMatchObject({
      name: 'TDX_NON_RECOVERABLE_TD',
      fatal: true,
      error: false,
    });
  });

  it("names Linux's software statuses and flags unknown values", () => {
    expect(dec(0x8000ff00ffff0000n).name).toBe('TDX_SEAMCALL_VMFAILINVALID');
    expect(dec(0x8000ff000000000dn).name).toBe('TDX_SEAMCALL_GP');
    const linuxNr = dec(0x4000000200000000n); // Linux's TDX_NON_RECOVERABLE_TD constant
    expect(linuxNr).toMatchObject({
      name: 'UNKNOWN',
      known: false,
      classCodeMatch: 'TDX_NON_RECOVERABLE_TD',
    });
  });

  it('round-trips bits for any 64-bit value (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (v) => {
        const d = dec(v);
        expect(BigInt(d.code)).toBe(v);
        expect(d.class).toBe(Number((v >> 40n) & 0xffn));
        expect(d.operandId).toBe(Number(v & 0xffffffffn));
        expect(d.error).toBe(v >> 63n === 1n);
        expect(d.nonRecoverable).toBe(((v >> 62n) & 1n) === 1n);
        expect(d.fatal).toBe(((v >> 61n) & 1n) === 1n);
      }),
    );
  });

  it('formats statuses with operand names', () => {
    expect(formatStatus(tdxStatus(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_ID_RCX))).toBe(
      'TDX_EPT_ENTRY_STATE_INCORRECT|RCX',
    );
    expect(formatStatus(tdxStatus(TDX_OPERAND_BUSY, OPERAND_ID_TD_EPOCH))).toBe(
      'TDX_OPERAND_BUSY|TD_EPOCH',
    );
    expect(formatStatus(tdxStatus(TDX_OPERAND_BUSY, OPERAND_ID_SEPT_TREE))).toBe(
      'TDX_OPERAND_BUSY|SEPT_TREE',
    );
    expect(statusHex(tdxStatus(TDX_OPERAND_BUSY, OPERAND_ID_SEPT_TREE))).toBe('0x8000020000000092');
  });
});
