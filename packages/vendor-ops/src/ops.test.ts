import { FramePool } from '@kvmx/paging';
import { describe, expect, it } from 'vitest';
import { createVendorOps, supportedVmTypes } from './create.js';
import { EINVAL, errnoByName, errnoName } from './errno.js';
import {
  KVM_EINVAL,
  KVM_ENOSYS,
  KVM_MAP_GPA_RANGE_ENCRYPTED,
  kvmHcMapGpaRange,
} from './hypercall.js';
import type { VendorContext } from './ops.js';
import {
  PFERR_GUEST_FINAL_MASK,
  PFERR_PRIVATE_ACCESS,
  PFERR_RSVD_MASK,
  PFERR_WRITE_MASK,
  pferrClear,
  pferrHas,
  pferrSet,
} from './pferr.js';
import type { TdxOps } from './tdx-ops.js';

function ctx(): VendorContext {
  return {
    pool: new FramePool({ maxFrames: 1 << 16 }),
    emit: null,
    kickAllVcpus: () => {},
    bug: () => {},
  };
}

describe('PFERR bits above 32', () => {
  it('sets, tests and clears single-bit masks exactly', () => {
    let code = PFERR_WRITE_MASK + PFERR_GUEST_FINAL_MASK;
    expect(pferrHas(code, PFERR_PRIVATE_ACCESS)).toBe(false);
    code = pferrSet(code, PFERR_PRIVATE_ACCESS);
    expect(code).toBe(2 ** 49 + 2 ** 32 + 2);
    expect(pferrSet(code, PFERR_PRIVATE_ACCESS)).toBe(code);
    expect(pferrHas(code, PFERR_GUEST_FINAL_MASK)).toBe(true);
    expect(pferrClear(code, PFERR_PRIVATE_ACCESS)).toBe(2 ** 32 + 2);
  });
});

describe('errno', () => {
  it('names values both ways', () => {
    expect(errnoName(-EINVAL)).toBe('EINVAL');
    expect(errnoByName('EEXIST')).toBe(17);
    expect(errnoName(4242)).toBe('E4242');
  });
});

describe('KVM_HC_MAP_GPA_RANGE emulation', () => {
  it('needs the exit enabled, an aligned GPA and at least one page', () => {
    expect(kvmHcMapGpaRange(false, 0x1000, 1, 0)).toEqual({ kind: 'ret', ret: -KVM_ENOSYS });
    expect(kvmHcMapGpaRange(true, 0x1001, 1, 0)).toEqual({ kind: 'ret', ret: -KVM_EINVAL });
    expect(kvmHcMapGpaRange(true, 0x1000, 0, 0)).toEqual({ kind: 'ret', ret: -KVM_EINVAL });
    // Attributes pass through unchecked (the selftest uses its own flags).
    expect(kvmHcMapGpaRange(true, 0x1000, 3, 0xff)).toEqual({
      kind: 'exit',
      gpa: 0x1000,
      npages: 3,
      attrs: 0xff,
    });
  });
});

describe('vendor ops per VM type', () => {
  it('supports every VM type; SEV types take a C-bit in 12..51', () => {
    expect(supportedVmTypes()).toEqual(['default', 'sw_protected', 'sev', 'sev_es', 'snp', 'tdx']);
    for (const t of ['sev', 'sev_es', 'snp'] as const) {
      const ops = createVendorOps(t, ctx());
      expect(ops?.vmType).toBe(t);
      expect(ops?.arch.hasPrivateMem).toBe(t === 'snp');
      expect(ops?.arch.hasProtectedState).toBe(t !== 'sev');
    }
    expect(createVendorOps('snp', ctx(), { cbit: 47 })).not.toBeNull();
    expect(createVendorOps('snp', ctx(), { cbit: 52 })).toBeNull();
    expect(createVendorOps('sev', ctx(), { cbit: 11 })).toBeNull();
  });

  it('flags: has_private_mem, has_protected_state, pre_fault_allowed, direct bits, MMIO value', () => {
    const d = createVendorOps('default', ctx());
    const s = createVendorOps('sw_protected', ctx());
    const t48 = createVendorOps('tdx', ctx(), { gpaw: 48 });
    const t52 = createVendorOps('tdx', ctx(), { gpaw: 52 });
    expect(d?.arch).toEqual({
      hasPrivateMem: false,
      hasProtectedState: false,
      preFaultAllowed: true,
      gfnDirectBits: 0,
      shadowMmioValue: 6,
    });
    expect(s?.arch).toEqual({
      hasPrivateMem: true,
      hasProtectedState: false,
      preFaultAllowed: true,
      gfnDirectBits: 0,
      shadowMmioValue: 6,
    });
    expect(t48?.arch).toEqual({
      hasPrivateMem: true,
      hasProtectedState: true,
      preFaultAllowed: false,
      gfnDirectBits: 2 ** 35,
      shadowMmioValue: 0,
    });
    expect(t52?.arch.gfnDirectBits).toBe(2 ** 39);
    expect(t48?.privateMaxMappingLevel(0)).toBe(1);
    expect(s?.privateMaxMappingLevel(0)).toBe(0);
  });

  it('classifies faults: never (default), by attributes (sw_protected), by the shared bit (TDX)', () => {
    const d = createVendorOps('default', ctx());
    const s = createVendorOps('sw_protected', ctx());
    const t = createVendorOps('tdx', ctx()) as TdxOps;
    const priv = () => true;
    expect(d?.faultErrorCode({ gpa: 0x1000, errorCode: 0 }, priv)).toBe(0);
    expect(s?.faultErrorCode({ gpa: 0x1000, errorCode: 0 }, priv)).toBe(PFERR_PRIVATE_ACCESS);
    expect(s?.faultErrorCode({ gpa: 0x1000, errorCode: 0 }, () => false)).toBe(0);
    // A reserved-bit (MMIO) fault is never private.
    expect(s?.faultErrorCode({ gpa: 0x1000, errorCode: PFERR_RSVD_MASK }, priv)).toBe(
      PFERR_RSVD_MASK,
    );
    // TDX: a private EPT violation is always a write.
    expect(t.faultErrorCode({ gpa: 0x1000, errorCode: 0 })).toBe(
      PFERR_PRIVATE_ACCESS + PFERR_WRITE_MASK,
    );
    expect(t.faultErrorCode({ gpa: 0x1000 + 2 ** 47, errorCode: 0 })).toBe(0);
    expect(t.faultErrorCode({ gpa: 2 ** 47 - 0x1000, errorCode: 0 })).toBe(
      PFERR_PRIVATE_ACCESS + PFERR_WRITE_MASK,
    );
  });

  it('TDX ops refuse the S-EPT hooks before INIT_VM and mapping levels above 4K', () => {
    const bugs: string[] = [];
    const c = { ...ctx(), bug: (m: string) => bugs.push(m) };
    const t = createVendorOps('tdx', c) as TdxOps;
    expect(t.setExternalSpte(0x80000, 1, 0x100000)).toBe(-EINVAL);
    expect(t.finalize()).toBe(-EINVAL);
    expect(t.vcpuInit(0)).toBe(-EINVAL);
    expect(t.tdInit(1)).toBe(0);
    expect(t.setExternalSpte(0x80000, 2, 0x100000)).toBe(-EINVAL);
    expect(bugs).toHaveLength(2);
    expect(t.tdInit(1)).toBe(-EINVAL); // only once
  });
});

describe('KVM_MAP_GPA_RANGE attribute encoding', () => {
  it('ENCRYPTED is ENC_STAT(1) = bit 4', () => {
    expect(KVM_MAP_GPA_RANGE_ENCRYPTED).toBe(0x10);
  });
});
