// TDX module completion statuses: bits 63:32 name the status (error, non-recoverable and fatal
// bits, class and code), bits 31:0 say which operand it is about — or, for TDH.VP.ENTER, the
// VMX exit reason, and for TDG.MEM.PAGE.ACCEPT a page level. KVM tests them the way
// arch/x86/kvm/vmx/tdx.c does (tdx_operand_busy(): `(err & TDX_SEAMCALL_STATUS_MASK) ==
// TDX_OPERAND_BUSY`), and `kvmx decode status` prints what decodeStatus() returns.
import assert from 'node:assert/strict';
import { word64 } from '@kvmx/address';
import {
  decodeStatus,
  formatStatus,
  isStatusError,
  isSuccess,
  LINUX_DIVERGENT_STATUS,
  LINUX_SW_STATUS_TABLE,
  OPERAND_ID_KET,
  OPERAND_ID_KOT,
  OPERAND_ID_R8,
  OPERAND_ID_R9,
  OPERAND_ID_RAX,
  OPERAND_ID_RCX,
  OPERAND_ID_RDX,
  OPERAND_ID_SEPT_ENTRY,
  OPERAND_ID_SEPT_TREE,
  OPERAND_ID_TD_EPOCH,
  OPERAND_ID_TDCX,
  OPERAND_ID_TDR,
  OPERAND_ID_TDVPR,
  OPERAND_ID_WBCACHE,
  OPERAND_NAMES,
  operandName,
  STATUS_SINCE_2_0,
  type StatusDecode,
  type StatusLowBits,
  SUCCESS_STATUS,
  statusHex,
  statusName,
  statusToBigInt,
  TDX_EPT_ENTRY_STATE_INCORRECT,
  TDX_EPT_WALK_FAILED,
  TDX_OPERAND_BUSY,
  TDX_OPERAND_INVALID,
  TDX_STATUS_TABLE,
  TDX_SUCCESS,
  type TdxStatus,
  tdxStatus,
} from '@kvmx/tdx-module';

assert.equal(TDX_SUCCESS, 0);
assert.ok(isSuccess(SUCCESS_STATUS));
assert.equal(formatStatus(SUCCESS_STATUS), 'TDX_SUCCESS');

// The contention answer KVM retries on: another thread holds the TD's S-EPT tree.
const busy: TdxStatus = tdxStatus(TDX_OPERAND_BUSY, OPERAND_ID_SEPT_TREE);
assert.equal(statusHex(busy), '0x8000020000000092');
assert.equal(statusToBigInt(busy), 0x8000020000000092n);
assert.equal(formatStatus(busy), 'TDX_OPERAND_BUSY|SEPT_TREE');
assert.equal(isStatusError(busy), true);
assert.equal(busy.hi, TDX_OPERAND_BUSY); // what tdx_operand_busy() compares, operand masked off
const d: StatusDecode = decodeStatus(busy);
assert.deepEqual(
  { name: d.name, class: d.class, details: d.details, operand: d.operand, fatal: d.fatal },
  { name: 'TDX_OPERAND_BUSY', class: 2, details: 0, operand: 'SEPT_TREE', fatal: false },
);
// Other operands the module names in busy/invalid answers.
const ids = [
  OPERAND_ID_RAX,
  OPERAND_ID_RCX,
  OPERAND_ID_RDX,
  OPERAND_ID_R8,
  OPERAND_ID_R9,
  OPERAND_ID_TDR,
  OPERAND_ID_TDCX,
  OPERAND_ID_TDVPR,
  OPERAND_ID_SEPT_TREE,
  OPERAND_ID_SEPT_ENTRY,
  OPERAND_ID_TD_EPOCH,
  OPERAND_ID_KOT,
  OPERAND_ID_KET,
  OPERAND_ID_WBCACHE,
];
assert.deepEqual(ids, [0, 1, 2, 8, 9, 128, 129, 130, 146, 147, 169, 186, 187, 188]);
assert.deepEqual(ids.map(operandName), [
  'RAX',
  'RCX',
  'RDX',
  'R8',
  'R9',
  'TDR',
  'TDCX',
  'TDVPR',
  'SEPT_TREE',
  'SEPT_ENTRY',
  'TD_EPOCH',
  'KOT',
  'KET',
  'WBCACHE',
]);
assert.equal(OPERAND_NAMES.get(OPERAND_ID_SEPT_ENTRY), 'SEPT_ENTRY');
assert.equal(operandName(200), null);

// Errors about the S-EPT: the entry state was wrong, or the walk hit a missing table.
assert.equal(
  formatStatus(tdxStatus(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_ID_RCX)),
  'TDX_EPT_ENTRY_STATE_INCORRECT|RCX',
);
assert.equal(statusName(TDX_EPT_WALK_FAILED), 'TDX_EPT_WALK_FAILED');
assert.equal(TDX_STATUS_TABLE.TDX_OPERAND_INVALID, TDX_OPERAND_INVALID);
// An unknown leaf in RAX: operand id 0 is named RAX only for operand statuses.
assert.equal(formatStatus(tdxStatus(TDX_OPERAND_INVALID, 0)), 'TDX_OPERAND_INVALID|RAX');
assert.equal(decodeStatus(tdxStatus(TDX_EPT_WALK_FAILED)).operand, null);

// TDH.VP.ENTER success carries the VMX exit reason (48 = EPT violation) in the low bits.
const exit = decodeStatus(word64(48, TDX_SUCCESS));
const low: StatusLowBits = exit.lowBits;
assert.equal(low, 'exitReason');
assert.equal(exit.operand, null);
// TDG.MEM.PAGE.ACCEPT's "already accepted" reports the level at which it is mapped.
assert.equal(decodeStatus(word64(1, 0x00000b0a)).lowBits, 'level');

// A TD gone fatal: error, non-recoverable and fatal bits together (0xE...).
const fatal = decodeStatus(word64(0, 0xe0000604));
assert.deepEqual(
  [fatal.name, fatal.error, fatal.nonRecoverable, fatal.fatal],
  ['TDX_TD_FATAL', true, true, true],
);

// Where Linux's headers disagree with the module: Linux's TDX_NON_RECOVERABLE_TD has the
// error bit clear (0x40000002...), the module's is 0x60000002. decode names both.
const linux = decodeStatus(word64(0, 0x4000_0002));
assert.equal(linux.known, false);
assert.equal(linux.classCodeMatch, 'TDX_NON_RECOVERABLE_TD');
assert.equal(linux.linuxName, 'TDX_NON_RECOVERABLE_TD');
assert.equal(LINUX_DIVERGENT_STATUS.get(0x4000_0002), 'TDX_NON_RECOVERABLE_TD');
// Software statuses Linux makes up around the SEAMCALL instruction (a #UD, a #GP, VMfailInvalid).
const gp = LINUX_SW_STATUS_TABLE.TDX_SEAMCALL_GP as TdxStatus;
assert.equal(statusHex(gp), '0x8000ff000000000d');
assert.equal(decodeStatus(gp).name, 'TDX_SEAMCALL_GP');
// Names only TDX module 2.0 defines (Dynamic PAMT) are listed, not modelled.
assert.ok(STATUS_SINCE_2_0.includes('TDX_INTERRUPTED_PAMT'));
assert.equal(decodeStatus(word64(0, 0x8000_0999)).name, 'UNKNOWN');
