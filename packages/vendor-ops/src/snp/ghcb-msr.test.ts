import { word64, word64ToBigInt } from '@kvmx/address';
import { describe, expect, it } from 'vitest';
import {
  GHCB_MSR_PSC_RESP_ERROR,
  GHCB_MSR_PSC_RESP_OK,
  type GhcbMsrVcpu,
  ghcbMsr,
  ghcbMsrData,
  ghcbMsrPscReq,
  ghcbMsrPscRespVal,
  ghcbMsrRegGpaReq,
  ghcbMsrSevInfo,
  ghcbMsrTermReq,
  KVM_SYSTEM_EVENT_SEV_TERM,
  SNP_PAGE_STATE_PRIVATE,
  SNP_PAGE_STATE_SHARED,
  sevHandleVmgexitMsrProtocol,
  snpCompletePscMsr,
} from './ghcb-msr.js';

const SNP: GhcbMsrVcpu = { snpActive: true, ghcbVersion: 2, cbit: 51, exitHypercallEnabled: true };
const SEV_ES: GhcbMsrVcpu = { ...SNP, snpActive: false };
const big = word64ToBigInt;

describe('GHCB MSR encoding', () => {
  it('puts the PSC op in 55:52 and the GFN in 51:12 (GHCB_MSR_PSC_REQ_GFN)', () => {
    expect(big(ghcbMsrPscReq(0x12345, SNP_PAGE_STATE_PRIVATE))).toBe(
      (1n << 52n) | (0x12345n << 12n) | 0x14n,
    );
    const top = ghcbMsrPscReq(2 ** 40 - 1, SNP_PAGE_STATE_SHARED);
    expect(big(top)).toBe((2n << 52n) | (((1n << 40n) - 1n) << 12n) | 0x14n);
    expect(big(ghcbMsrRegGpaReq(0xabcde))).toBe((0xabcden << 12n) | 0x12n);
    expect(ghcbMsrData(ghcbMsr(0x13, 2 ** 52 - 1))).toBe(2 ** 52 - 1);
  });

  it('answers SEV_INFO with versions in 63:48/47:32 and the C-bit in 31:24', () => {
    const r = sevHandleVmgexitMsrProtocol(SNP, word64(0x002, 0));
    expect(r).toEqual({ kind: 'resume', msr: ghcbMsrSevInfo(2, 1, 51) });
    expect(big(ghcbMsrSevInfo(2, 1, 51))).toBe(0x0002_0001_3300_0001n);
  });
});

describe('sev_handle_vmgexit_msr_protocol', () => {
  it('registers the GHCB GFN of an SNP guest and echoes it with 0x013', () => {
    const r = sevHandleVmgexitMsrProtocol(SNP, ghcbMsrRegGpaReq(0x7f123));
    expect(r.kind).toBe('resume');
    if (r.kind !== 'resume') return;
    expect(r.msr.lo & 0xfff).toBe(0x013);
    expect(ghcbMsrData(r.msr)).toBe(0x7f123);
    expect(r.registeredGpa).toBe(0x7f123000);
  });

  it('turns a PSC request into KVM_EXIT_HYPERCALL nr 12 with ENCRYPTED/DECRYPTED | 4K', () => {
    const gpa = 0x10_0000_0000;
    expect(
      sevHandleVmgexitMsrProtocol(SNP, ghcbMsrPscReq(gpa / 4096, SNP_PAGE_STATE_PRIVATE)),
    ).toEqual({ kind: 'hypercall', nr: 12, args: [gpa, 1, 0x10] });
    expect(
      sevHandleVmgexitMsrProtocol(SNP, ghcbMsrPscReq(gpa / 4096, SNP_PAGE_STATE_SHARED)),
    ).toEqual({ kind: 'hypercall', nr: 12, args: [gpa, 1, 0] });
  });

  it('answers PSC_RESP (status 0) or PSC_RESP_ERROR after userspace', () => {
    expect(snpCompletePscMsr(0)).toEqual(GHCB_MSR_PSC_RESP_OK);
    expect(ghcbMsrPscRespVal(snpCompletePscMsr(0))).toBe(0);
    expect(big(snpCompletePscMsr(-22))).toBe((1n << 63n) | 0x15n);
  });

  it('refuses a bad PSC op, or a PSC without the MAP_GPA_RANGE exit, in the MSR', () => {
    expect(sevHandleVmgexitMsrProtocol(SNP, ghcbMsrPscReq(0x100, 3))).toEqual({
      kind: 'resume',
      msr: GHCB_MSR_PSC_RESP_ERROR,
    });
    const noExit = { ...SNP, exitHypercallEnabled: false };
    expect(
      sevHandleVmgexitMsrProtocol(noExit, ghcbMsrPscReq(0x100, SNP_PAGE_STATE_PRIVATE)),
    ).toEqual({ kind: 'resume', msr: GHCB_MSR_PSC_RESP_ERROR });
  });

  it('terminates a non-SNP guest that sends an SNP-only request, and any TERM_REQ', () => {
    for (const msr of [
      ghcbMsrPscReq(0x100, SNP_PAGE_STATE_PRIVATE),
      ghcbMsrRegGpaReq(0x100),
      word64(0x010, 0),
    ]) {
      expect(sevHandleVmgexitMsrProtocol(SEV_ES, msr)).toEqual({
        kind: 'system_event',
        type: KVM_SYSTEM_EVENT_SEV_TERM,
        data: [msr],
      });
    }
    const term = sevHandleVmgexitMsrProtocol(SNP, ghcbMsrTermReq());
    expect(term).toEqual({ kind: 'system_event', type: 6, data: [word64(0x100, 0)] });
  });

  it('answers PREF_GPA with "none", HV_FT with SNP|AP_CREATION, CPUID from the guest CPUID', () => {
    const pref = sevHandleVmgexitMsrProtocol(SNP, word64(0x010, 0));
    expect(pref.kind === 'resume' && ghcbMsrData(pref.msr)).toBe(2 ** 52 - 1);
    const ft = sevHandleVmgexitMsrProtocol(SNP, word64(0x080, 0));
    expect(ft.kind === 'resume' && big(ft.msr)).toBe((3n << 12n) | 0x81n);
    const withCpuid: GhcbMsrVcpu = {
      ...SNP,
      cpuid: (fn) => (fn === 0x8000001f ? [0x1, 0x33, 0x1fd, 0x64] : [0, 0, 0, 0]),
    };
    // Request EBX (selector 1) of leaf 0x8000001F.
    const req = word64((1 << 30) | 0x004, 0x8000001f);
    const r = sevHandleVmgexitMsrProtocol(withCpuid, req);
    expect(r.kind === 'resume' && big(r.msr)).toBe((0x33n << 32n) | (1n << 30n) | 0x005n);
  });

  it('leaves the MSR unchanged for an unknown request', () => {
    const msr = word64(0x0fe, 0x1234);
    expect(sevHandleVmgexitMsrProtocol(SNP, msr)).toEqual({ kind: 'resume', msr });
  });
});
