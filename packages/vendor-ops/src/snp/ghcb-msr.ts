// The GHCB MSR protocol: a SEV-ES/SNP guest writes a request into MSR_AMD64_SEV_ES_GHCB with a
// non-zero info code in bits 11:0 and executes VMGEXIT; KVM answers in the same MSR or exits to
// userspace.
// models arch/x86/kvm/svm/sev.c (torvalds/linux @0097f9d, read for this file):
// sev_handle_vmgexit_msr_protocol(), snp_begin_psc_msr(), snp_complete_psc_msr(); constants
// from arch/x86/include/asm/sev-common.h. sev-snp.md A.6.
//
// The MSR is 64 bits wide and the PSC request uses bits 55:52, so values are Word64 (lo/hi).

import { type Word64, word64, word64Field } from '@kvmx/address';
import {
  KVM_HC_MAP_GPA_RANGE,
  KVM_MAP_GPA_RANGE_DECRYPTED,
  KVM_MAP_GPA_RANGE_ENCRYPTED,
  KVM_MAP_GPA_RANGE_PAGE_SZ_4K,
} from '../hypercall.js';

/** Bits 11:0 of the MSR select the request (GHCB_MSR_INFO_MASK). */
export const GHCB_MSR_INFO_MASK = 0xfff;
export const GHCB_MSR_SEV_INFO_RESP = 0x001;
export const GHCB_MSR_SEV_INFO_REQ = 0x002;
export const GHCB_MSR_CPUID_REQ = 0x004;
export const GHCB_MSR_CPUID_RESP = 0x005;
export const GHCB_MSR_AP_RESET_HOLD_REQ = 0x006;
export const GHCB_MSR_AP_RESET_HOLD_RESP = 0x007;
export const GHCB_MSR_PREF_GPA_REQ = 0x010;
export const GHCB_MSR_PREF_GPA_RESP = 0x011;
export const GHCB_MSR_REG_GPA_REQ = 0x012;
export const GHCB_MSR_REG_GPA_RESP = 0x013;
export const GHCB_MSR_PSC_REQ = 0x014;
export const GHCB_MSR_PSC_RESP = 0x015;
export const GHCB_MSR_HV_FT_REQ = 0x080;
export const GHCB_MSR_HV_FT_RESP = 0x081;
export const GHCB_MSR_TERM_REQ = 0x100;

/** "No preference" answer to PREF_GPA: all ones in GHCBData[63:12] (52 bits). */
export const GHCB_MSR_PREF_GPA_NONE = 2 ** 52 - 1;
/** GHCB protocol versions KVM speaks (GHCB_VERSION_MIN; SEV-ES/SNP default version 2). */
export const GHCB_VERSION_MIN = 1;
export const GHCB_VERSION_DEFAULT = 2;
/** GHCB_HV_FT_SNP | GHCB_HV_FT_SNP_AP_CREATION: the features KVM advertises. */
export const GHCB_HV_FT_SNP = 1 << 0;
export const GHCB_HV_FT_SNP_AP_CREATION = 1 << 1;
export const GHCB_HV_FT_SUPPORTED = GHCB_HV_FT_SNP | GHCB_HV_FT_SNP_AP_CREATION;

/** enum psc_op: the MSR protocol's page-state operations (GHCBData[55:52]). */
export const SNP_PAGE_STATE_PRIVATE = 1;
export const SNP_PAGE_STATE_SHARED = 2;

/** GHCB_MSR_PSC_RESP with status 0. */
export const GHCB_MSR_PSC_RESP_OK: Word64 = Object.freeze(word64(GHCB_MSR_PSC_RESP, 0));
/** GHCB_MSR_PSC_RESP_ERROR: BIT_ULL(63) | GHCB_MSR_PSC_RESP, the generic error answer. */
export const GHCB_MSR_PSC_RESP_ERROR: Word64 = Object.freeze(word64(GHCB_MSR_PSC_RESP, 0x80000000));

/** KVM_SYSTEM_EVENT_SEV_TERM: the system-event type of a guest termination request. */
export const KVM_SYSTEM_EVENT_SEV_TERM = 6;

/** The request code in bits 11:0. */
export function ghcbMsrInfo(msr: Word64): number {
  return msr.lo & GHCB_MSR_INFO_MASK;
}

/** A GHCB MSR value from an info code and GHCBData[63:12] (`data`, < 2^52). */
export function ghcbMsr(info: number, data = 0): Word64 {
  const hiPart = Math.floor(data / 2 ** 20); // data bits 51:20 → MSR bits 63:32
  const loPart = data - hiPart * 2 ** 20; // data bits 19:0 → MSR bits 31:12
  return word64(loPart * 2 ** 12 + (info & GHCB_MSR_INFO_MASK), hiPart);
}

/** GHCBData[63:12] as a number (52 bits). */
export function ghcbMsrData(msr: Word64): number {
  return word64Field(msr, 63, 12);
}

/** GHCB_MSR_PSC_REQ_GFN(gfn, op): the guest's page-state-change request. */
export function ghcbMsrPscReq(gfn: number, op: number): Word64 {
  return ghcbMsr(GHCB_MSR_PSC_REQ, (op & 0xf) * 2 ** 40 + (gfn % 2 ** 40));
}

/** GHCB_MSR_REG_GPA_REQ_VAL(gfn): register the GHCB page's GFN. */
export function ghcbMsrRegGpaReq(gfn: number): Word64 {
  return ghcbMsr(GHCB_MSR_REG_GPA_REQ, gfn);
}

/** GHCB_MSR_TERM_REQ with a reason set (15:12) and code (23:16). */
export function ghcbMsrTermReq(reasonSet = 0, reasonCode = 0): Word64 {
  return word64(GHCB_MSR_TERM_REQ | ((reasonSet & 0xf) << 12) | ((reasonCode & 0xff) << 16), 0);
}

/** GHCB_MSR_PSC_RESP_VAL(): the status in bits 63:32 of a PSC response. */
export function ghcbMsrPscRespVal(msr: Word64): number {
  return msr.hi >>> 0;
}

/** What the vCPU's SEV state provides to the MSR protocol. */
export interface GhcbMsrVcpu {
  /** sev_snp_guest(kvm). */
  readonly snpActive: boolean;
  /** sev->ghcb_version (2 unless KVM_SEV_INIT2 asked for another). */
  readonly ghcbVersion: number;
  /** sev_enc_bit: the C-bit position. */
  readonly cbit: number;
  /** user_exit_on_hypercall(kvm, KVM_HC_MAP_GPA_RANGE): KVM_CAP_EXIT_HYPERCALL has bit 12. */
  readonly exitHypercallEnabled: boolean;
  /** The guest's CPUID as KVM's intercept answers it: [eax, ebx, ecx, edx] for leaf `fn`. */
  readonly cpuid?: (fn: number) => readonly [number, number, number, number];
}

/** What the VMGEXIT leads to. */
export type GhcbMsrResult =
  /** Back to the guest with the GHCB MSR holding `msr`. */
  | { readonly kind: 'resume'; readonly msr: Word64; readonly registeredGpa?: number }
  /** KVM_EXIT_HYPERCALL (KVM_HC_MAP_GPA_RANGE); complete with snpCompletePscMsr(). */
  | {
      readonly kind: 'hypercall';
      readonly nr: number;
      readonly args: readonly [number, number, number];
    }
  /** KVM_EXIT_SYSTEM_EVENT, type SEV_TERM, ndata 1, data[0] = the raw MSR; KVM_RUN returns 0. */
  | { readonly kind: 'system_event'; readonly type: number; readonly data: readonly [Word64] }
  /** AP reset hold: the vCPU halts until a SIPI (the MSR already holds the response). */
  | { readonly kind: 'ap_reset_hold'; readonly msr: Word64 };

/**
 * models sev.c: sev_handle_vmgexit_msr_protocol(). SEV_INFO, CPUID, AP_RESET_HOLD, HV_FT for
 * every SEV-ES/SNP guest; PREF_GPA, REG_GPA and PSC only for SNP guests (others are
 * terminated); TERM_REQ → SEV_TERM system event; unknown codes leave the MSR as it was.
 */
export function sevHandleVmgexitMsrProtocol(vcpu: GhcbMsrVcpu, msr: Word64): GhcbMsrResult {
  const info = ghcbMsrInfo(msr);
  const terminate: GhcbMsrResult = {
    kind: 'system_event',
    type: KVM_SYSTEM_EVENT_SEV_TERM,
    data: [msr],
  };
  switch (info) {
    case GHCB_MSR_SEV_INFO_REQ:
      return { kind: 'resume', msr: ghcbMsrSevInfo(vcpu.ghcbVersion, GHCB_VERSION_MIN, vcpu.cbit) };
    case GHCB_MSR_CPUID_REQ: {
      if (vcpu.cpuid === undefined) return { kind: 'resume', msr };
      const fn = msr.hi >>> 0;
      const reg = (msr.lo >>> 30) & 0x3;
      const value = vcpu.cpuid(fn)[reg] ?? 0;
      // GHCBData[63:32] = the register, info = CPUID_RESP; bits 31:12 keep the request's.
      return {
        kind: 'resume',
        msr: word64(((msr.lo & ~GHCB_MSR_INFO_MASK) | GHCB_MSR_CPUID_RESP) >>> 0, value >>> 0),
      };
    }
    case GHCB_MSR_AP_RESET_HOLD_REQ:
      // Result (GHCBData[63:12]) preset to 0: a non-SIPI return.
      return { kind: 'ap_reset_hold', msr: ghcbMsr(GHCB_MSR_AP_RESET_HOLD_RESP, 0) };
    case GHCB_MSR_HV_FT_REQ:
      return { kind: 'resume', msr: ghcbMsr(GHCB_MSR_HV_FT_RESP, GHCB_HV_FT_SUPPORTED) };
    case GHCB_MSR_PREF_GPA_REQ:
      if (!vcpu.snpActive) return terminate;
      return { kind: 'resume', msr: ghcbMsr(GHCB_MSR_PREF_GPA_RESP, GHCB_MSR_PREF_GPA_NONE) };
    case GHCB_MSR_REG_GPA_REQ: {
      if (!vcpu.snpActive) return terminate;
      const gfn = ghcbMsrData(msr);
      return {
        kind: 'resume',
        msr: ghcbMsr(GHCB_MSR_REG_GPA_RESP, gfn),
        registeredGpa: gfn * 4096,
      };
    }
    case GHCB_MSR_PSC_REQ:
      if (!vcpu.snpActive) return terminate;
      return snpBeginPscMsr(vcpu, msr);
    case GHCB_MSR_TERM_REQ:
      return terminate;
    default:
      return { kind: 'resume', msr };
  }
}

/** GHCB_MSR_SEV_INFO(max, min, cbit): versions in 63:48 / 47:32, C-bit in 31:24. */
export function ghcbMsrSevInfo(maxVersion: number, minVersion: number, cbit: number): Word64 {
  return word64(
    (((cbit & 0xff) << 24) | GHCB_MSR_SEV_INFO_RESP) >>> 0,
    (((maxVersion & 0xffff) << 16) | (minVersion & 0xffff)) >>> 0,
  );
}

/**
 * models sev.c: snp_begin_psc_msr(): an operation other than PRIVATE/SHARED, or no
 * KVM_HC_MAP_GPA_RANGE user exit, → PSC_RESP_ERROR and back to the guest; else one
 * KVM_EXIT_HYPERCALL for the single 4K page: args = (gfn << 12, 1, ENCRYPTED|DECRYPTED |
 * PAGE_SZ_4K). hypercall.ret is pre-zeroed (QEMU ≤ 9.2 compatibility).
 */
export function snpBeginPscMsr(vcpu: GhcbMsrVcpu, msr: Word64): GhcbMsrResult {
  const data = ghcbMsrData(msr); // op in data bits 43:40, gfn in 39:0
  const op = Math.floor(data / 2 ** 40) % 16;
  const gfn = data % 2 ** 40;
  if (op !== SNP_PAGE_STATE_PRIVATE && op !== SNP_PAGE_STATE_SHARED) {
    return { kind: 'resume', msr: GHCB_MSR_PSC_RESP_ERROR };
  }
  if (!vcpu.exitHypercallEnabled) return { kind: 'resume', msr: GHCB_MSR_PSC_RESP_ERROR };
  const enc =
    op === SNP_PAGE_STATE_PRIVATE ? KVM_MAP_GPA_RANGE_ENCRYPTED : KVM_MAP_GPA_RANGE_DECRYPTED;
  return {
    kind: 'hypercall',
    nr: KVM_HC_MAP_GPA_RANGE,
    args: [gfn * 4096, 1, enc | KVM_MAP_GPA_RANGE_PAGE_SZ_4K],
  };
}

/** models sev.c: snp_complete_psc_msr(): userspace's hypercall.ret → the GHCB MSR answer. */
export function snpCompletePscMsr(ret: number): Word64 {
  return ret !== 0 ? GHCB_MSR_PSC_RESP_ERROR : GHCB_MSR_PSC_RESP_OK;
}
