// The GHCB MSR protocol: a SEV-ES/SNP guest puts a request in MSR_AMD64_SEV_ES_GHCB (info code
// in bits 11:0, data in 63:12) and executes VMGEXIT; KVM answers in the MSR, or exits to
// userspace — a one-page page-state change becomes KVM_EXIT_HYPERCALL(KVM_HC_MAP_GPA_RANGE),
// a TERM_REQ becomes KVM_EXIT_SYSTEM_EVENT(SEV_TERM). The MSR is 64 bits, so values are
// Word64 {lo, hi}.
// Kernel: arch/x86/kvm/svm/sev.c (sev_handle_vmgexit_msr_protocol, snp_begin_psc_msr,
// snp_complete_psc_msr); arch/x86/include/asm/sev-common.h (GHCB_MSR_*); GHCB spec §2.3.

import assert from 'node:assert/strict';
import { word64Hex } from '@kvmx/address';
import {
  GHCB_HV_FT_SNP,
  GHCB_HV_FT_SNP_AP_CREATION,
  GHCB_HV_FT_SUPPORTED,
  GHCB_MSR_AP_RESET_HOLD_REQ,
  GHCB_MSR_AP_RESET_HOLD_RESP,
  GHCB_MSR_CPUID_REQ,
  GHCB_MSR_CPUID_RESP,
  GHCB_MSR_HV_FT_REQ,
  GHCB_MSR_HV_FT_RESP,
  GHCB_MSR_INFO_MASK,
  GHCB_MSR_PREF_GPA_NONE,
  GHCB_MSR_PREF_GPA_REQ,
  GHCB_MSR_PREF_GPA_RESP,
  GHCB_MSR_PSC_REQ,
  GHCB_MSR_PSC_RESP,
  GHCB_MSR_PSC_RESP_ERROR,
  GHCB_MSR_PSC_RESP_OK,
  GHCB_MSR_REG_GPA_REQ,
  GHCB_MSR_REG_GPA_RESP,
  GHCB_MSR_SEV_INFO_REQ,
  GHCB_MSR_SEV_INFO_RESP,
  GHCB_MSR_TERM_REQ,
  GHCB_VERSION_DEFAULT,
  GHCB_VERSION_MIN,
  type GhcbMsrResult,
  type GhcbMsrVcpu,
  ghcbMsr,
  ghcbMsrData,
  ghcbMsrInfo,
  ghcbMsrPscReq,
  ghcbMsrPscRespVal,
  ghcbMsrRegGpaReq,
  ghcbMsrSevInfo,
  ghcbMsrTermReq,
  KVM_HC_MAP_GPA_RANGE,
  KVM_MAP_GPA_RANGE_ENCRYPTED,
  KVM_MAP_GPA_RANGE_PAGE_SZ_4K,
  KVM_SYSTEM_EVENT_SEV_TERM,
  SNP_PAGE_STATE_PRIVATE,
  SNP_PAGE_STATE_SHARED,
  sevHandleVmgexitMsrProtocol,
  snpBeginPscMsr,
  snpCompletePscMsr,
} from '@kvmx/vendor-ops';

// Request/response codes (asm/sev-common.h): each response is its request + 1, except SEV_INFO.
assert.deepEqual(
  [
    [GHCB_MSR_SEV_INFO_REQ, GHCB_MSR_SEV_INFO_RESP],
    [GHCB_MSR_CPUID_REQ, GHCB_MSR_CPUID_RESP],
    [GHCB_MSR_AP_RESET_HOLD_REQ, GHCB_MSR_AP_RESET_HOLD_RESP],
    [GHCB_MSR_PREF_GPA_REQ, GHCB_MSR_PREF_GPA_RESP],
    [GHCB_MSR_REG_GPA_REQ, GHCB_MSR_REG_GPA_RESP],
    [GHCB_MSR_PSC_REQ, GHCB_MSR_PSC_RESP],
    [GHCB_MSR_HV_FT_REQ, GHCB_MSR_HV_FT_RESP],
  ],
  [
    [0x002, 0x001],
    [0x004, 0x005],
    [0x006, 0x007],
    [0x010, 0x011],
    [0x012, 0x013],
    [0x014, 0x015],
    [0x080, 0x081],
  ],
);
assert.equal(GHCB_MSR_TERM_REQ, 0x100);
assert.equal(GHCB_MSR_INFO_MASK, 0xfff);
assert.deepEqual([GHCB_VERSION_MIN, GHCB_VERSION_DEFAULT], [1, 2]);
assert.equal(GHCB_HV_FT_SUPPORTED, GHCB_HV_FT_SNP | GHCB_HV_FT_SNP_AP_CREATION);
assert.deepEqual([SNP_PAGE_STATE_PRIVATE, SNP_PAGE_STATE_SHARED], [1, 2]);

// Building and reading MSR values: info in 11:0, GHCBData in 63:12.
const reg = ghcbMsrRegGpaReq(0x1_2345);
assert.equal(word64Hex(reg), '0x12345012');
assert.deepEqual([ghcbMsrInfo(reg), ghcbMsrData(reg)], [GHCB_MSR_REG_GPA_REQ, 0x1_2345]);
assert.equal(word64Hex(ghcbMsr(GHCB_MSR_HV_FT_REQ)), '0x80');
// A PSC request: GFN in data bits 39:0, the operation in 43:40 (MSR bits 55:52).
assert.equal(word64Hex(ghcbMsrPscReq(0x80, SNP_PAGE_STATE_SHARED)), '0x20000000080014');
assert.equal(word64Hex(ghcbMsrTermReq(1, 2)), '0x21100'); // reason set 1, code 2
assert.equal(word64Hex(GHCB_MSR_PSC_RESP_ERROR), '0x8000000000000015');
assert.equal(ghcbMsrPscRespVal(GHCB_MSR_PSC_RESP_OK), 0);

const snpVcpu: GhcbMsrVcpu = {
  snpActive: true,
  ghcbVersion: 2,
  cbit: 51,
  exitHypercallEnabled: true,
};
const esVcpu: GhcbMsrVcpu = { ...snpVcpu, snpActive: false };

// SEV_INFO: max/min version and the C-bit position.
const info: GhcbMsrResult = sevHandleVmgexitMsrProtocol(snpVcpu, ghcbMsr(GHCB_MSR_SEV_INFO_REQ));
assert.deepEqual(info, { kind: 'resume', msr: ghcbMsrSevInfo(2, GHCB_VERSION_MIN, 51) });
assert.ok(info.kind === 'resume');
assert.equal(word64Hex(info.msr), '0x2000133000001');
// HV_FT: the features KVM advertises. PREF_GPA: no preference.
const ft = sevHandleVmgexitMsrProtocol(snpVcpu, ghcbMsr(GHCB_MSR_HV_FT_REQ));
assert.ok(ft.kind === 'resume');
assert.equal(ghcbMsrData(ft.msr), GHCB_HV_FT_SUPPORTED);
const pref = sevHandleVmgexitMsrProtocol(snpVcpu, ghcbMsr(GHCB_MSR_PREF_GPA_REQ));
assert.ok(pref.kind === 'resume');
assert.equal(ghcbMsrData(pref.msr), GHCB_MSR_PREF_GPA_NONE);
// REG_GPA: the GHCB page is registered and echoed back.
assert.deepEqual(sevHandleVmgexitMsrProtocol(snpVcpu, reg), {
  kind: 'resume',
  msr: ghcbMsr(GHCB_MSR_REG_GPA_RESP, 0x1_2345),
  registeredGpa: 0x1_2345_000,
});
// AP reset hold: the vCPU halts until a SIPI.
assert.equal(
  sevHandleVmgexitMsrProtocol(esVcpu, ghcbMsr(GHCB_MSR_AP_RESET_HOLD_REQ)).kind,
  'ap_reset_hold',
);
// CPUID: answered from the guest's CPUID (EBX of leaf 0x8000001f here).
const cpuid = sevHandleVmgexitMsrProtocol(
  { ...snpVcpu, cpuid: () => [0, 0x33, 0, 0] },
  ghcbMsr(GHCB_MSR_CPUID_REQ, 0x8000_001f * 2 ** 20 + (1 << 18)), // fn in 63:32, reg 1 in 31:30
);
assert.ok(cpuid.kind === 'resume');
assert.equal(ghcbMsrInfo(cpuid.msr), GHCB_MSR_CPUID_RESP);
assert.equal(cpuid.msr.hi, 0x33);

// PSC through the MSR: one 4K page, one KVM_EXIT_HYPERCALL; userspace's ret becomes the answer.
const psc = sevHandleVmgexitMsrProtocol(snpVcpu, ghcbMsrPscReq(0x80, SNP_PAGE_STATE_PRIVATE));
assert.deepEqual(psc, {
  kind: 'hypercall',
  nr: KVM_HC_MAP_GPA_RANGE,
  args: [0x8_0000, 1, KVM_MAP_GPA_RANGE_ENCRYPTED | KVM_MAP_GPA_RANGE_PAGE_SZ_4K],
});
assert.deepEqual(snpCompletePscMsr(0), GHCB_MSR_PSC_RESP_OK);
assert.deepEqual(snpCompletePscMsr(-22), GHCB_MSR_PSC_RESP_ERROR);
// Without the hypercall exit, or with an unknown operation, the guest gets the error at once.
assert.deepEqual(
  snpBeginPscMsr({ ...snpVcpu, exitHypercallEnabled: false }, ghcbMsrPscReq(0x80, 1)),
  {
    kind: 'resume',
    msr: GHCB_MSR_PSC_RESP_ERROR,
  },
);
assert.deepEqual(snpBeginPscMsr(snpVcpu, ghcbMsrPscReq(0x80, 7)), {
  kind: 'resume',
  msr: GHCB_MSR_PSC_RESP_ERROR,
});

// SNP-only requests from an SEV-ES guest, and TERM_REQ: the guest is terminated.
const term = ghcbMsrTermReq();
assert.deepEqual(sevHandleVmgexitMsrProtocol(esVcpu, reg), {
  kind: 'system_event',
  type: KVM_SYSTEM_EVENT_SEV_TERM,
  data: [reg],
});
assert.deepEqual(sevHandleVmgexitMsrProtocol(snpVcpu, term), {
  kind: 'system_event',
  type: 6,
  data: [term],
});
