import { describe, expect, it } from 'vitest';
import { cbitFromCpuid, cbitMask, hasCbit, isValidCbit } from './cbit.js';
import { isVmTypeName, usesCbit, vmTypeName, vmTypeNumber } from './vm-type.js';

describe('SNP C-bit', () => {
  it('comes from CPUID 0x8000001F EBX[5:0]', () => {
    expect(cbitFromCpuid(0x0000_0173)).toBe(0x33); // 51, with other EBX fields set above bit 5
    expect(cbitFromCpuid(0x2f)).toBe(47);
  });
  it('is checked and tested above 2^32', () => {
    expect(cbitMask(51)).toBe(2 ** 51);
    expect(hasCbit(2 ** 51 + 0x1000, 51)).toBe(true);
    expect(hasCbit(2 ** 51 - 1, 51)).toBe(false);
    expect(isValidCbit(52)).toBe(false);
    expect(isValidCbit(11)).toBe(false);
    expect(() => cbitMask(63)).toThrow(RangeError);
  });
});

describe('VM types (KVM_X86_*_VM)', () => {
  it('number as in uapi/asm/kvm.h', () => {
    expect(vmTypeNumber('default')).toBe(0);
    expect(vmTypeNumber('sw_protected')).toBe(1);
    expect(vmTypeNumber('snp')).toBe(4);
    expect(vmTypeNumber('tdx')).toBe(5);
    expect(vmTypeName(3)).toBe('sev_es');
    expect(vmTypeName(6)).toBeUndefined();
    expect(isVmTypeName('pdp11')).toBe(false);
    expect(usesCbit('sev_es')).toBe(true);
    expect(usesCbit('tdx')).toBe(false);
  });
});
