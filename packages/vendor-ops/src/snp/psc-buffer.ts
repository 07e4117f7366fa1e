// The GHCB page-state-change buffer (SVM_VMGEXIT_PSC): a header and up to 253 entries in the
// GHCB's shared buffer, which KVM walks, merges into ranges and forwards to userspace as
// KVM_HC_MAP_GPA_RANGE exits, writing its progress back into the buffer.
// models arch/x86/kvm/svm/sev.c (torvalds/linux @0097f9d, read for this file):
// snp_begin_psc(), snp_complete_one_psc(), __snp_complete_one_psc(), snp_complete_psc(), and
// the GHCB-registration check of sev_handle_vmgexit(); layout from
// arch/x86/include/asm/sev-common.h (struct psc_hdr, struct psc_entry). sev-snp.md A.6.

import { type Word64, word64, word64Field } from '@kvmx/address';
import {
  KVM_HC_MAP_GPA_RANGE,
  KVM_MAP_GPA_RANGE_DECRYPTED,
  KVM_MAP_GPA_RANGE_ENCRYPTED,
  KVM_MAP_GPA_RANGE_PAGE_SZ_2M,
  KVM_MAP_GPA_RANGE_PAGE_SZ_4K,
} from '../hypercall.js';
import { EINVAL } from './errno.js';

/** VMGEXIT_PSC_MAX_COUNT: entries a PSC buffer may hold (GHCB spec; KVM's bound). */
export const VMGEXIT_PSC_MAX_COUNT = 253;
/** VMGEXIT_PSC_MAX_ENTRY: what a Linux guest puts in one buffer. */
export const VMGEXIT_PSC_MAX_ENTRY = 64;
/** Entry operations (VMGEXIT_PSC_OP_*); PSMASH/UNSMASH are GHCB-spec values KVM does not act on. */
export const VMGEXIT_PSC_OP_PRIVATE = 1;
export const VMGEXIT_PSC_OP_SHARED = 2;
export const VMGEXIT_PSC_OP_PSMASH = 3;
export const VMGEXIT_PSC_OP_UNSMASH = 4;
/** SW_EXITINFO2 answers (SW_EXITINFO1 says "no action"). */
export const VMGEXIT_PSC_SUCCESS = 0;
export const VMGEXIT_PSC_ERROR_GENERIC = 0x100 * 2 ** 32;
export const VMGEXIT_PSC_ERROR_INVALID_HDR = 2 ** 32 + 1;
export const VMGEXIT_PSC_ERROR_INVALID_ENTRY = 2 ** 32 + 2;

/** struct psc_entry (one u64): cur_page 11:0, gfn 51:12, operation 55:52, pagesize 56. */
export interface PscEntry {
  curPage: number;
  gfn: number;
  operation: number;
  /** 0 = 4K, 1 = 2M. */
  pageSize: number;
}

/** struct psc_hdr + entries: the guest-owned buffer KVM reads and updates. */
export interface PscBuffer {
  /** First entry still to process (KVM advances it). */
  curEntry: number;
  /** Last entry, inclusive. */
  endEntry: number;
  entries: PscEntry[];
}

/** The entry as the u64 the guest writes. */
export function pscEntryToWord64(e: PscEntry): Word64 {
  const lo = ((e.curPage & 0xfff) | ((e.gfn % 2 ** 20) << 12)) >>> 0;
  const hi =
    (Math.floor(e.gfn / 2 ** 20) | ((e.operation & 0xf) << 20) | ((e.pageSize & 1) << 24)) >>> 0;
  return word64(lo, hi);
}

/** The entry a u64 holds. */
export function pscEntryFromWord64(w: Word64): PscEntry {
  return {
    curPage: word64Field(w, 11, 0),
    gfn: word64Field(w, 51, 12),
    operation: word64Field(w, 55, 52),
    pageSize: word64Field(w, 56, 56),
  };
}

/** Per-vCPU PSC progress (svm->sev_es.psc_inflight / psc_idx / psc_2m). */
export interface PscState {
  inflight: number;
  idx: number;
  is2m: boolean;
}

export function newPscState(): PscState {
  return { inflight: 0, idx: 0, is2m: false };
}

/** What a PSC step leads to. */
export type PscResult =
  /** KVM_EXIT_HYPERCALL (nr 12); continue with snpCompleteOnePsc() after userspace answers. */
  | {
      readonly kind: 'hypercall';
      readonly nr: number;
      readonly args: readonly [number, number, number];
    }
  /** Back to the guest: SW_EXITINFO1 = "no action", SW_EXITINFO2 = `exitInfo2`. */
  | { readonly kind: 'done'; readonly exitInfo2: number }
  /** KVM_RUN fails with this errno (e.g. an SNP guest's GHCB not registered). */
  | { readonly kind: 'error'; readonly errno: number };

/** models sev.c: snp_complete_psc(): reset the in-flight state and answer the guest. */
function snpCompletePsc(state: PscState, ret: number): PscResult {
  state.inflight = 0;
  state.idx = 0;
  state.is2m = false;
  return { kind: 'done', exitInfo2: ret };
}

/** models sev.c: __snp_complete_one_psc(): mark the in-flight entries done, advance cur_entry. */
function snpCompleteOnePscEntries(state: PscState, psc: PscBuffer): void {
  let idx = state.idx;
  for (; state.inflight > 0; state.inflight--, idx++) {
    const entry = psc.entries[idx];
    if (entry !== undefined) entry.curPage = entry.pageSize ? 512 : 1;
  }
  psc.curEntry = idx;
}

/**
 * models sev.c: sev_handle_vmgexit() for SVM_VMGEXIT_PSC: an SNP guest's GHCB must have been
 * registered with the MSR protocol's REG_GPA first, else KVM_RUN fails with -EINVAL.
 */
export function snpVmgexitPsc(
  exitHypercallEnabled: boolean,
  ghcbGpa: number,
  registeredGhcbGpa: number | null,
  state: PscState,
  psc: PscBuffer,
): PscResult {
  if (registeredGhcbGpa === null || registeredGhcbGpa !== ghcbGpa) {
    return { kind: 'error', errno: -EINVAL };
  }
  return snpBeginPsc(exitHypercallEnabled, state, psc);
}

/**
 * models sev.c: snp_begin_psc(). No KVM_HC_MAP_GPA_RANGE user exit → GENERIC. end_entry ≥ 253
 * → INVALID_HDR. Find the first entry with work left (cur_page > npages or a gfn not aligned
 * to npages → INVALID_ENTRY; a partly done 2M entry continues as 4K pages); none → success.
 * Merge the following entries with the same operation, the next gfn, cur_page 0 and the same
 * size; then PRIVATE/SHARED → one KVM_EXIT_HYPERCALL (gpa, total 4K pages, ENC_STAT | size
 * of the first entry), any other operation is marked done without an exit.
 *
 * Faithful quirks: the merge compares against the first entry's *original* gfn plus the
 * pages counted so far, and the 2M flag in args[2] follows the first entry's size bit even
 * when that entry was partly done and is being finished as 4K pages.
 */
export function snpBeginPsc(
  exitHypercallEnabled: boolean,
  state: PscState,
  psc: PscBuffer,
): PscResult {
  if (!exitHypercallEnabled) return snpCompletePsc(state, VMGEXIT_PSC_ERROR_GENERIC);
  for (;;) {
    if (state.inflight !== 0) return snpCompletePsc(state, VMGEXIT_PSC_ERROR_GENERIC);
    const idxStart = psc.curEntry;
    const idxEnd = psc.endEntry;
    if (idxEnd >= VMGEXIT_PSC_MAX_COUNT) {
      return snpCompletePsc(state, VMGEXIT_PSC_ERROR_INVALID_HDR);
    }
    let idx = idxStart;
    let start: PscEntry | undefined;
    let gfn = 0;
    let npages = 0;
    let huge = false;
    for (; idx <= idxEnd; idx++, psc.curEntry++) {
      const e = psc.entries[idx];
      if (e === undefined) return snpCompletePsc(state, VMGEXIT_PSC_ERROR_INVALID_ENTRY);
      start = e;
      gfn = e.gfn;
      huge = e.pageSize !== 0;
      npages = huge ? 512 : 1;
      if (e.curPage > npages || gfn % npages !== 0) {
        return snpCompletePsc(state, VMGEXIT_PSC_ERROR_INVALID_ENTRY);
      }
      if (e.curPage !== 0) {
        npages -= e.curPage;
        gfn += e.curPage;
        huge = false;
      }
      if (npages !== 0) break;
    }
    if (idx > idxEnd || start === undefined) return snpCompletePsc(state, VMGEXIT_PSC_SUCCESS);

    state.is2m = huge;
    state.idx = idx;
    state.inflight = 1;
    while (++idx <= idxEnd) {
      const e = psc.entries[idx];
      if (
        e === undefined ||
        e.operation !== start.operation ||
        e.gfn !== start.gfn + npages ||
        e.curPage !== 0 ||
        (e.pageSize !== 0) !== huge
      ) {
        break;
      }
      state.inflight++;
      npages += huge ? 512 : 1;
    }

    if (start.operation === VMGEXIT_PSC_OP_PRIVATE || start.operation === VMGEXIT_PSC_OP_SHARED) {
      const enc =
        start.operation === VMGEXIT_PSC_OP_PRIVATE
          ? KVM_MAP_GPA_RANGE_ENCRYPTED
          : KVM_MAP_GPA_RANGE_DECRYPTED;
      const size = start.pageSize ? KVM_MAP_GPA_RANGE_PAGE_SZ_2M : KVM_MAP_GPA_RANGE_PAGE_SZ_4K;
      return {
        kind: 'hypercall',
        nr: KVM_HC_MAP_GPA_RANGE,
        args: [gfn * 4096, npages, enc | size],
      };
    }
    // Unsupported operations (PSMASH/UNSMASH): consider the range done, look for the next.
    snpCompleteOnePscEntries(state, psc);
  }
}

/**
 * models sev.c: snp_complete_one_psc(): userspace's hypercall.ret ≠ 0 → GENERIC to the guest;
 * else the merged entries are marked done and the next range starts (maybe another exit).
 */
export function snpCompleteOnePsc(
  exitHypercallEnabled: boolean,
  state: PscState,
  psc: PscBuffer,
  ret: number,
): PscResult {
  if (ret !== 0) return snpCompletePsc(state, VMGEXIT_PSC_ERROR_GENERIC);
  snpCompleteOnePscEntries(state, psc);
  return snpBeginPsc(exitHypercallEnabled, state, psc);
}

/**
 * The guest side: PSC buffers for converting [gpa, gpa+size) with `operation`, cut as
 * CONTRACTS §2 pins it — pieces of at most 2 MiB counted from the current GPA — so each piece
 * becomes its own VMGEXIT. A piece that is exactly one 2M-aligned 2 MiB page is one 2M entry;
 * any other piece is 4K entries, at most `maxEntries` (253) per buffer, so an unaligned 2 MiB
 * piece needs more than one buffer (and KVM exits at most 253 pages at a time for it).
 * `gpa` and `size` must be 4K-aligned.
 */
export function buildPscBuffers(
  gpa: number,
  size: number,
  operation: number,
  maxEntries: number = VMGEXIT_PSC_MAX_COUNT,
): PscBuffer[] {
  const out: PscBuffer[] = [];
  const pieceMax = 512;
  let gfn = Math.floor(gpa / 4096);
  let left = Math.floor(size / 4096);
  while (left > 0) {
    const piece = Math.min(left, pieceMax);
    if (piece === pieceMax && gfn % 512 === 0) {
      out.push({
        curEntry: 0,
        endEntry: 0,
        entries: [{ curPage: 0, gfn, operation, pageSize: 1 }],
      });
    } else {
      for (let done = 0; done < piece; ) {
        const n = Math.min(maxEntries, piece - done);
        const entries: PscEntry[] = [];
        for (let i = 0; i < n; i++) {
          entries.push({ curPage: 0, gfn: gfn + done + i, operation, pageSize: 0 });
        }
        out.push({ curEntry: 0, endEntry: n - 1, entries });
        done += n;
      }
    }
    gfn += piece;
    left -= piece;
  }
  return out;
}
