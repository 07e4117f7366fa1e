// The SEAMCALL register file: RAX..R15 as 64-bit values kept in uint32 halves.
//
// Why halves: S-EPT entries returned in RCX carry bit 63 (SVE), statuses bits 63:61, keyed
// physical addresses the HKID above bit 51; a double cannot hold them exactly and BigInt costs
// ~150 ns per call (performance.md B.4). Addresses (< 2^52) are read and written as numbers.
// Register indices equal the module's operand ids (RAX 0, RCX 1, RDX 2, RBX 3, RSP 4, RBP 5, RSI 6,
// RDI 7, R8..R15), so `OPERAND_ID_R8` indexes R8.

import { type Word64, word64FromBigInt, word64ToBigInt } from '@kvmx/address';

export const REG_RAX = 0;
export const REG_RCX = 1;
export const REG_RDX = 2;
export const REG_RBX = 3;
export const REG_RSP = 4;
export const REG_RBP = 5;
export const REG_RSI = 6;
export const REG_RDI = 7;
export const REG_R8 = 8;
export const REG_R9 = 9;
export const REG_R10 = 10;
export const REG_R11 = 11;
export const REG_R12 = 12;
export const REG_R13 = 13;
export const REG_R14 = 14;
export const REG_R15 = 15;

export const REG_NAMES: readonly string[] = Object.freeze([
  'rax',
  'rcx',
  'rdx',
  'rbx',
  'rsp',
  'rbp',
  'rsi',
  'rdi',
  'r8',
  'r9',
  'r10',
  'r11',
  'r12',
  'r13',
  'r14',
  'r15',
]);

const TWO32 = 2 ** 32;
/** Multiplying by 2^-32 is exact and, unlike a division, cheap (a divsd per set() adds up). */
const TWO_NEG32 = 2 ** -32;

/** Sixteen 64-bit registers. Reused across calls: no allocation on the hot path. */
export class SeamRegs {
  readonly lo = new Uint32Array(16);
  readonly hi = new Uint32Array(16);

  /** Set a register from a non-negative integer below 2^53 (an address, a count). */
  set(reg: number, value: number): this {
    const h = Math.floor(value * TWO_NEG32);
    this.hi[reg] = h;
    this.lo[reg] = value - h * TWO32;
    return this;
  }
  /** Set both halves. */
  setWord(reg: number, lo: number, hi: number): this {
    this.lo[reg] = lo;
    this.hi[reg] = hi;
    return this;
  }
  setBig(reg: number, value: bigint): this {
    const w = word64FromBigInt(value);
    return this.setWord(reg, w.lo, w.hi);
  }
  /** The register as a number; exact only when below 2^53 (check `fits53` when unsure). */
  get(reg: number): number {
    return (this.hi[reg] ?? 0) * TWO32 + (this.lo[reg] ?? 0);
  }
  /** True when the register's value is below 2^53 (so `get` is exact). */
  fits53(reg: number): boolean {
    return (this.hi[reg] ?? 0) < 0x200000;
  }
  word(reg: number): Word64 {
    return { lo: this.lo[reg] ?? 0, hi: this.hi[reg] ?? 0 };
  }
  big(reg: number): bigint {
    return word64ToBigInt(this.word(reg));
  }
  // Plain loops: TypedArray fill()/set() on 16 elements cost a builtin call each, and these
  // run on every TDH.VP.ENTER and SEAMCALL wrapper.
  clear(): this {
    const lo = this.lo;
    const hi = this.hi;
    for (let i = 0; i < 16; i++) {
      lo[i] = 0;
      hi[i] = 0;
    }
    return this;
  }
  copyFrom(other: SeamRegs): this {
    const lo = this.lo;
    const hi = this.hi;
    const olo = other.lo;
    const ohi = other.hi;
    for (let i = 0; i < 16; i++) {
      lo[i] = olo[i] as number;
      hi[i] = ohi[i] as number;
    }
    return this;
  }
  /** A fresh register file from named values (tests, CLI, scenarios). */
  static of(values: Partial<Record<(typeof REG_NAMES)[number], number | bigint>>): SeamRegs {
    const r = new SeamRegs();
    for (const [name, v] of Object.entries(values)) {
      const i = REG_NAMES.indexOf(name);
      if (i < 0 || v === undefined) continue;
      if (typeof v === 'bigint') r.setBig(i, v);
      else r.set(i, v);
    }
    return r;
  }
}
