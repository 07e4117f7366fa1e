import { DEFAULT_CBIT } from '@kvmx/address';
import { describe, expect, it } from 'vitest';
import { EBUSY } from './errno.js';
import {
  guestPteAddrLegal,
  isSevVmType,
  SevAsidAllocator,
  sevCbit,
  sevVmFlags,
  sevVmTypeNumber,
  splitCbit,
  withCbit,
} from './sev-vm.js';

describe('SEV VM types', () => {
  it('numbers them as KVM_X86_SEV_VM (2), SEV_ES (3), SNP (4)', () => {
    expect(sevVmTypeNumber('sev')).toBe(2);
    expect(sevVmTypeNumber('sev_es')).toBe(3);
    expect(sevVmTypeNumber('snp')).toBe(4);
    expect(isSevVmType('snp')).toBe(true);
    expect(isSevVmType('tdx')).toBe(false);
    expect(isSevVmType('sw_protected')).toBe(false);
  });

  it('gives private memory only to SNP, protected state to SEV-ES and SNP', () => {
    expect(sevVmFlags('sev')).toMatchObject({
      hasPrivateMem: false,
      hasProtectedState: false,
      preFaultAllowed: true,
      memoryEncrypted: true,
      snpActive: false,
    });
    expect(sevVmFlags('sev_es')).toMatchObject({
      hasPrivateMem: false,
      hasProtectedState: true,
      preFaultAllowed: true,
    });
    expect(sevVmFlags('snp')).toMatchObject({
      hasPrivateMem: true,
      hasProtectedState: true,
      preFaultAllowed: false,
      snpActive: true,
    });
    for (const t of ['sev', 'sev_es', 'snp'] as const) expect(sevVmFlags(t).needInit).toBe(true);
  });
});

describe('C-bit', () => {
  it('defaults to 51 and refuses positions outside 12..51', () => {
    expect(sevCbit()).toEqual({ position: DEFAULT_CBIT, meMask: 2 ** 51 });
    expect(sevCbit(47)?.meMask).toBe(2 ** 47);
    expect(sevCbit(52)).toBeUndefined();
    expect(sevCbit(11)).toBeUndefined();
  });

  it('splits a guest PTE address into the untagged GPA and the ENC bit, at bit 51 and 47', () => {
    const c51 = sevCbit(51)!;
    expect(splitCbit(2 ** 51 + 0x1000, c51)).toEqual({ gpa: 0x1000, enc: true });
    expect(splitCbit(0x1000, c51)).toEqual({ gpa: 0x1000, enc: false });
    expect(splitCbit(2 ** 52 - 4096, c51)).toEqual({ gpa: 2 ** 51 - 4096, enc: true });
    const c47 = sevCbit(47)!;
    expect(splitCbit(2 ** 47 + 2 ** 46, c47)).toEqual({ gpa: 2 ** 46, enc: true });
    expect(withCbit(0x1000, true, c51)).toBe(2 ** 51 + 0x1000);
    expect(withCbit(withCbit(0x1000, true, c51), false, c51)).toBe(0x1000);
    expect(withCbit(2 ** 51 + 0x1000, true, c51)).toBe(2 ** 51 + 0x1000);
  });

  it('treats the C-bit as legal in guest PTEs (sev_vcpu_after_set_cpuid)', () => {
    const c51 = sevCbit(51)!;
    expect(guestPteAddrLegal(2 ** 51 + 0x1000, 48, c51)).toBe(true);
    expect(guestPteAddrLegal(2 ** 48 + 0x1000, 48, c51)).toBe(false);
  });
});

describe('SEV ASIDs', () => {
  it('gives SEV guests [min, max] and SEV-ES/SNP guests [1, min-1], lowest first', () => {
    const a = new SevAsidAllocator({ maxSevAsid: 6, minSevAsid: 4 });
    expect(a.range('sev')).toEqual([4, 6]);
    expect(a.range('snp')).toEqual([1, 3]);
    expect(a.alloc('snp')).toBe(1);
    expect(a.alloc('sev_es')).toBe(2);
    expect(a.alloc('sev')).toBe(4);
    expect(a.alloc('snp')).toBe(3);
    expect(a.alloc('snp')).toBe(-EBUSY);
    a.free(2);
    expect(a.alloc('snp')).toBe(2);
  });
});
