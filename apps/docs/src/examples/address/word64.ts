// 64-bit words (EPT entries, TDX statuses, register values) as two unsigned 32-bit halves, so
// hot paths never touch bigint; bigint and hex only at the edges (display, parsing, golden
// values). The example uses FROZEN_SPTE (0x80000000000005a0, arch/x86/kvm/mmu/spte.h) and a
// TDX status (TDX_OPERAND_BUSY|RCX = 0x8000020000000001).
import assert from 'node:assert/strict';
import {
  hex,
  hexBig,
  WORD64_ZERO,
  type Word64,
  word64,
  word64And,
  word64AndNot,
  word64Bit,
  word64BitMask,
  word64Equals,
  word64Field,
  word64FromBigInt,
  word64FromNumber,
  word64Hex,
  word64Or,
  word64ToBigInt,
  word64ToNumber,
} from '@kvmx/address';

// FROZEN_SPTE: suppress-#VE (bit 63) | 0x5a0, a value no present or MMIO SPTE can have.
const frozen: Word64 = word64(0x5a0, 0x8000_0000);
assert.equal(word64Hex(frozen), '0x80000000000005a0');
assert.equal(word64ToBigInt(frozen), 0x80000000000005a0n);
assert.deepEqual(word64FromBigInt(0x80000000000005a0n), frozen);
assert.equal(word64Bit(frozen, 63), 1);
assert.equal(word64Bit(frozen, 11), 0); // not shadow-present: KVM's bit 11 is clear
assert.equal(word64Field(frozen, 11, 0), 0x5a0);
// Halves are unsigned: an int32 from a typed array (-0x80000000) reads as 0x80000000.
assert.deepEqual(word64(0x5a0, -0x8000_0000), frozen);

// Masks compose without bigint: the PFN field 51:12 of an SPTE.
const spte = word64FromBigInt(0x8600000012345b37n);
const addrMask = word64AndNot(word64FromBigInt((1n << 52n) - 1n), word64FromNumber(0xfff));
assert.equal(word64Hex(word64And(spte, addrMask)), '0x12345000');
assert.equal(word64Field(spte, 51, 12), 0x12345); // crossing bit 32, fits 53 bits
assert.equal(word64Hex(word64Or(WORD64_ZERO, word64BitMask(63))), '0x8000000000000000');
assert.ok(word64Equals(word64And(spte, word64BitMask(63)), word64BitMask(63)));
assert.throws(() => word64Field(spte, 63, 0), RangeError); // 64 bits do not fit a number

// A TDX status: class and status in bits 63:32, the operand id in 31:0.
const busy = word64FromBigInt(0x8000020000000001n);
assert.equal(busy.hi, 0x80000200); // TDX_OPERAND_BUSY
assert.equal(busy.lo, 1); // RCX
assert.throws(() => word64ToNumber(busy), RangeError); // above 2^53
assert.equal(word64ToNumber(word64FromNumber(2 ** 52 - 1)), 2 ** 52 - 1);
assert.throws(() => word64FromNumber(2 ** 53), RangeError);
assert.throws(() => word64FromBigInt(1n << 64n), RangeError);

// hex() for numbers up to 2^53, hexBig() for full 64-bit values.
assert.equal(hex(2 ** 47), '0x800000000000');
assert.equal(hex(0), '0x0');
assert.throws(() => hex(-1), RangeError);
assert.equal(hexBig(0xffffffffffffffffn), '0xffffffffffffffff');
