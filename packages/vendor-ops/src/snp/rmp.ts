// The SEV-SNP Reverse Map Table: one entry per 4 KiB host frame, and the instructions that
// read and change it (RMPUPDATE, PSMASH, PVALIDATE, RMPADJUST), with the checks the CPU makes
// on guest and host accesses.
//
// Sources: arch/x86/virt/svm/sev.c (struct rmpentry / rmpentry_raw, __snp_lookup_rmpentry,
// psmash, rmpupdate), arch/x86/include/asm/sev.h (return codes), APM vol. 2 §15.36 as
// summarised in sev-snp.md A.1–A.2. Where the APM's exact failure code is not confirmed by a
// primary source the comment says UNVERIFIED.
//
// Representation (performance.md: no object per entry): the RMP is split into 2 MiB regions of
// 512 entries; a directory (Int32Array, one slot per region) points at a chunk in three typed
// arrays (flags, ASID, GPA frame). A region never written reads as all-zero entries, which is
// what the kernel's snp_rmptable_init() leaves: every page hypervisor-owned.
//
// Model decisions, each behaviour-preserving for every path KVM takes:
// - A 2M RMPUPDATE writes all 512 entries (assigned, ASID, consecutive GPAs, size bit), and a
//   2M PVALIDATE sets Validated in all 512. PSMASH then only has to clear the size bits: the
//   result is the same as the hardware's "512 4K entries with consecutive GPAs, all other
//   fields copied" (sev-snp.md A.2).
// - A hypervisor-owned entry (assigned = 0) is stored with ASID 0, GPA 0 and page size 4K, as
//   rmp_make_shared() writes them except for the size bit; nothing in KVM reads the size of an
//   unassigned entry (sev_gmem_prepare, sev_gmem_invalidate, sev_private_max_mapping_level and
//   sev_handle_rmp_fault all stop at !assigned).

import {
  PAGE_SIZE,
  PG_LEVEL_1G,
  PG_LEVEL_2M,
  PG_LEVEL_4K,
  type PgLevel,
  pagesPerHpage,
} from '@kvmx/address';
import { DEFAULT_BASE_PFN, DEFAULT_MAX_FRAMES } from '@kvmx/paging';
import {
  PFERR_FETCH_MASK,
  PFERR_GUEST_ENC_MASK,
  PFERR_GUEST_FINAL_MASK,
  PFERR_GUEST_RMP_MASK,
  PFERR_PRESENT_MASK,
  PFERR_WRITE_MASK,
  pferrSet,
} from '../pferr.js';
import { EFAULT } from './errno.js';
import {
  PFERR_GUEST_SIZEM_MASK,
  SVM_EXIT_VC_PAGE_NOT_VALIDATED,
  X86_PF_PROT,
  X86_PF_RMP,
  X86_PF_WRITE,
} from './npf-error-code.js';
import type { RmpEvent, RmpListener, RmpOp } from './rmp-event.js';
import {
  FAIL_INPUT,
  FAIL_OVERLAP,
  FAIL_PERMISSION,
  FAIL_SIZEMISMATCH,
  PVALIDATE_FAIL_NOUPDATE,
  RMP_SUCCESS,
  RMPADJUST_VMSA_PAGE_BIT,
} from './rmp-status.js';

/** RMP page-size field values (asm/sev.h). */
export const RMP_PG_SIZE_4K = 0;
export const RMP_PG_SIZE_2M = 1;
/** 4K entries per 2M region (PTRS_PER_PMD). */
export const PTRS_PER_PMD = 512;

/** RMP_TO_PG_LEVEL(): the RMP size field as a PG_LEVEL. */
export function rmpToPgLevel(pagesize: number): PgLevel {
  return pagesize === RMP_PG_SIZE_2M ? PG_LEVEL_2M : PG_LEVEL_4K;
}
/** PG_LEVEL_TO_RMP(): a PG_LEVEL (4K or 2M) as the RMP size field. */
export function pgLevelToRmp(level: PgLevel): number {
  return level === PG_LEVEL_2M ? RMP_PG_SIZE_2M : RMP_PG_SIZE_4K;
}

// Flag bits of one entry (model layout; the raw Zen3/4 layout is bit0 assigned, bit1 pagesize,
// bit2 immutable, bit61 vmsa, bit62 validated — struct rmpentry_raw).
const F_ASSIGNED = 1;
const F_2M = 2;
const F_IMMUTABLE = 4;
const F_VALIDATED = 8;
const F_VMSA = 16;

/** Input of RMPUPDATE (struct rmp_state), with the size as a PG_LEVEL. */
export interface RmpState {
  readonly gpa: number;
  readonly assigned: boolean;
  readonly pageSize: PgLevel;
  readonly immutable: boolean;
  readonly asid: number;
}

/** One entry as RMPREAD would return it, plus Validated and VMSA (for display and checks). */
export interface RmpEntry {
  readonly pfn: number;
  readonly assigned: boolean;
  /** The authoritative size: that of the 2M-aligned entry (__snp_lookup_rmpentry). */
  readonly pageSize: PgLevel;
  readonly immutable: boolean;
  readonly validated: boolean;
  readonly vmsa: boolean;
  readonly asid: number;
  readonly gpa: number;
}

/** Result of snp_lookup_rmpentry(): `ret` 0 with the fields, or a negative errno. */
export type RmpLookup =
  | { readonly ret: 0; readonly assigned: boolean; readonly level: PgLevel }
  | { readonly ret: number; readonly assigned: false; readonly level: PgLevel };

/** Result of PVALIDATE / RMPADJUST: a return code in EAX (with CF), or a #VMEXIT(NPF). */
export type RmpGuestResult =
  | { readonly kind: 'rc'; readonly rc: number; readonly cf: boolean }
  | { readonly kind: 'npf'; readonly gpa: number; readonly errorCode: number };

/** checkGuestAccess(): the access passes the RMP checks. */
export const RMP_ACCESS_OK = 0;
/** checkGuestAccess(): the page is not validated: the guest takes #VC(PAGE_NOT_VALIDATED). */
export const RMP_ACCESS_VC = -SVM_EXIT_VC_PAGE_NOT_VALIDATED;

/** How a guest touches memory, for the RMP checks. */
export interface GuestAccess {
  /** The guest's effective C-bit (encrypted, private). */
  readonly enc: boolean;
  readonly write: boolean;
  /** Instruction fetches (and guest page-table walks) are always checked as private. */
  readonly fetch?: boolean;
}

export interface RmpOptions {
  /** First PFN the RMP does not cover (default: the frame pool's default end, 0x4100000). */
  readonly maxPfn?: number;
  /** Called for every change. */
  readonly onEvent?: RmpListener;
}

const REGION_SHIFT = 9;
const INITIAL_CHUNKS = 16;

export class Rmp {
  /** PFNs 0 .. maxPfn-1 are covered; memory above is permanently hypervisor-owned. */
  readonly maxPfn: number;
  /** The kernel function running the next instructions (`by` in events); null when unknown. */
  caller: string | null = null;
  private listener: RmpListener | null;
  private readonly dir: Int32Array;
  private flags: Uint8Array;
  private asids: Int32Array;
  private gfns: Float64Array;
  private chunks = 0;
  private assignedCount = 0;

  constructor(options: RmpOptions = {}) {
    const maxPfn = options.maxPfn ?? DEFAULT_BASE_PFN + DEFAULT_MAX_FRAMES;
    if (!Number.isSafeInteger(maxPfn) || maxPfn < PTRS_PER_PMD || maxPfn > 2 ** 31) {
      throw new RangeError(`RMP maxPfn must be in 512..2^31: ${maxPfn}`);
    }
    this.maxPfn = maxPfn;
    this.listener = options.onEvent ?? null;
    this.dir = new Int32Array(Math.ceil(maxPfn / PTRS_PER_PMD));
    this.flags = new Uint8Array(INITIAL_CHUNKS * PTRS_PER_PMD);
    this.asids = new Int32Array(INITIAL_CHUNKS * PTRS_PER_PMD);
    this.gfns = new Float64Array(INITIAL_CHUNKS * PTRS_PER_PMD);
  }

  /** Replace the event listener (null: no events are built). */
  setListener(listener: RmpListener | null): void {
    this.listener = listener;
  }

  // ---- reading ------------------------------------------------------------------------

  /** True when the RMP has an entry for `pfn`. */
  covers(pfn: number): boolean {
    return Number.isInteger(pfn) && pfn >= 0 && pfn < this.maxPfn;
  }

  /** Entries currently assigned (4K entries; a 2M page counts 512). */
  get assignedEntries(): number {
    return this.assignedCount;
  }

  isAssigned(pfn: number): boolean {
    return (this.flagsOf(pfn) & F_ASSIGNED) !== 0;
  }
  isValidated(pfn: number): boolean {
    return (this.flagsOf(pfn) & F_VALIDATED) !== 0;
  }
  isImmutable(pfn: number): boolean {
    return (this.flagsOf(pfn) & F_IMMUTABLE) !== 0;
  }
  isVmsa(pfn: number): boolean {
    return (this.flagsOf(pfn) & F_VMSA) !== 0;
  }
  asidOf(pfn: number): number {
    const i = this.indexOf(pfn);
    return i < 0 ? 0 : (this.asids[i] as number);
  }
  /** The GPA the entry maps (0 when hypervisor-owned). */
  gpaOf(pfn: number): number {
    const i = this.indexOf(pfn);
    return i < 0 ? 0 : (this.gfns[i] as number) * PAGE_SIZE;
  }
  /** The authoritative page size: the size bit of the 2M-aligned entry. */
  levelOf(pfn: number): PgLevel {
    return (this.flagsOf(pfn - (pfn % PTRS_PER_PMD)) & F_2M) !== 0 ? PG_LEVEL_2M : PG_LEVEL_4K;
  }

  /** The entry as a value (display, checks); undefined when `pfn` is not covered. */
  entry(pfn: number): RmpEntry | undefined {
    if (!this.covers(pfn)) return undefined;
    const f = this.flagsOf(pfn);
    return {
      pfn,
      assigned: (f & F_ASSIGNED) !== 0,
      pageSize: this.levelOf(pfn),
      immutable: (f & F_IMMUTABLE) !== 0,
      validated: (f & F_VALIDATED) !== 0,
      vmsa: (f & F_VMSA) !== 0,
      asid: this.asidOf(pfn),
      gpa: this.gpaOf(pfn),
    };
  }

  /** models arch/x86/virt/svm/sev.c: snp_lookup_rmpentry() (-EFAULT beyond the table). */
  lookup(pfn: number): RmpLookup {
    if (!this.covers(pfn)) return { ret: -EFAULT, assigned: false, level: PG_LEVEL_4K };
    return { ret: 0, assigned: this.isAssigned(pfn), level: this.levelOf(pfn) };
  }

  /** Calls `fn` for every assigned 4K entry, in PFN order. */
  forEachAssigned(fn: (pfn: number) => void): void {
    for (let r = 0; r < this.dir.length; r++) {
      const c = this.dir[r] as number;
      if (c === 0) continue;
      const base = (c - 1) * PTRS_PER_PMD;
      for (let i = 0; i < PTRS_PER_PMD; i++) {
        if (((this.flags[base + i] as number) & F_ASSIGNED) !== 0) fn(r * PTRS_PER_PMD + i);
      }
    }
  }

  // ---- hypervisor instructions --------------------------------------------------------

  /**
   * RMPUPDATE (hypervisor): write the entry for `pfn` (a whole 2M region for a 2M state).
   * Refusals: PFN outside the RMP or a 2M request not 2M-aligned → FAIL_INPUT; an immutable
   * entry → FAIL_PERMISSION (only the firmware may change it); a 4K update inside an assigned
   * 2M entry, or a 2M update over assigned 4K entries → FAIL_OVERLAP. The codes for these
   * three refusals are the APM's as far as sev-snp.md reads it — UNVERIFIED. Every update
   * clears Validated and VMSA (APM: "any RMPUPDATE … clears Validated").
   */
  rmpupdate(pfn: number, state: RmpState): number {
    if (!this.covers(pfn)) return FAIL_INPUT;
    const assigned = state.assigned;
    const asid = assigned ? state.asid : 0;
    const gpa = assigned ? state.gpa : 0;
    if (!Number.isSafeInteger(gpa) || gpa < 0 || gpa % PAGE_SIZE !== 0) return FAIL_INPUT;
    if (assigned && (!Number.isInteger(asid) || asid <= 0)) return FAIL_INPUT;
    if (state.pageSize === PG_LEVEL_2M) {
      if (pfn % PTRS_PER_PMD !== 0 || pfn + PTRS_PER_PMD > this.maxPfn) return FAIL_INPUT;
      if (assigned && gpa % (PAGE_SIZE * PTRS_PER_PMD) !== 0) return FAIL_INPUT;
      const wasHuge = (this.flagsOf(pfn) & F_2M) !== 0;
      for (let i = 0; i < PTRS_PER_PMD; i++) {
        const f = this.flagsOf(pfn + i);
        if ((f & F_IMMUTABLE) !== 0) return FAIL_PERMISSION;
        if (!wasHuge && (f & F_ASSIGNED) !== 0) return FAIL_OVERLAP;
      }
      let f = 0;
      if (assigned) f = F_ASSIGNED | F_2M | (state.immutable ? F_IMMUTABLE : 0);
      const gfn0 = gpa / PAGE_SIZE;
      for (let i = 0; i < PTRS_PER_PMD; i++) {
        this.write(pfn + i, f, asid, assigned ? gfn0 + i : 0);
      }
      this.emit('rmpupdate', pfn);
      return RMP_SUCCESS;
    }
    if (state.pageSize !== PG_LEVEL_4K) return FAIL_INPUT;
    const aligned = pfn - (pfn % PTRS_PER_PMD);
    const fa = this.flagsOf(aligned);
    if ((fa & F_2M) !== 0 && (fa & F_ASSIGNED) !== 0) {
      return (fa & F_IMMUTABLE) !== 0 ? FAIL_PERMISSION : FAIL_OVERLAP;
    }
    if ((this.flagsOf(pfn) & F_IMMUTABLE) !== 0) return FAIL_PERMISSION;
    const f = assigned ? F_ASSIGNED | (state.immutable ? F_IMMUTABLE : 0) : 0;
    this.write(pfn, f, asid, gpa / PAGE_SIZE);
    this.emit('rmpupdate', pfn);
    return RMP_SUCCESS;
  }

  /**
   * PSMASH (hypervisor): split the 2M entry at 2M-aligned `pfn` into 512 4K entries with
   * consecutive GPAs, every other field (Validated included) kept. Refusals: not 2M-aligned,
   * outside the RMP, or no 2M entry there → FAIL_INPUT (UNVERIFIED code; KVM only PSMASHes an
   * entry it has just seen at 2M). FAIL_INUSE (concurrent use) cannot happen in the model.
   */
  psmash(pfn: number): number {
    if (!this.covers(pfn) || pfn % PTRS_PER_PMD !== 0) return FAIL_INPUT;
    if ((this.flagsOf(pfn) & F_2M) === 0) return FAIL_INPUT;
    const base = this.chunkBase(pfn);
    for (let i = 0; i < PTRS_PER_PMD; i++) {
      this.flags[base + i] = (this.flags[base + i] as number) & ~F_2M;
    }
    this.emit('psmash', pfn);
    return RMP_SUCCESS;
  }

  // ---- guest instructions -------------------------------------------------------------

  /**
   * PVALIDATE (guest at `asid`): set (`validate`) or clear the Validated bit of the page the
   * guest maps at `gpa`, backed by host frame `pfn`, at `level` (4K or 2M). Per APM
   * Table 15-40 (sev-snp.md A.2):
   * - 4K on a 2M RMP entry → #VMEXIT(NPF) with RMP and SIZEM, so that KVM PSMASHes;
   * - 2M on 4K RMP entries → FAIL_SIZEMISMATCH, and the guest retries with 4K pages;
   * - 2M at a GPA or PFN not 2M-aligned → FAIL_INPUT (UNVERIFIED code);
   * - a page not assigned to this guest at this GPA, or immutable → #VMEXIT(NPF) with RMP;
   * - the bit already has the value → rc 0 with CF=1 (Linux: PVALIDATE_FAIL_NOUPDATE).
   * The NPF error code carries PRESENT|RMP|ENC|FINAL (PVALIDATE is a private access).
   */
  pvalidate(
    asid: number,
    gpa: number,
    pfn: number,
    level: PgLevel,
    validate: boolean,
  ): RmpGuestResult {
    const check = this.guestInstrCheck(asid, gpa, pfn, level);
    if (check !== null) return check;
    const n = level === PG_LEVEL_2M ? PTRS_PER_PMD : 1;
    const current = (this.flagsOf(pfn) & F_VALIDATED) !== 0;
    if (current === validate) return rc(RMP_SUCCESS, true);
    const base = this.chunkBase(pfn) + (pfn % PTRS_PER_PMD);
    for (let i = 0; i < n; i++) {
      const f = this.flags[base + i] as number;
      this.flags[base + i] = validate ? f | F_VALIDATED : f & ~F_VALIDATED;
    }
    this.emit('pvalidate', pfn);
    return rc(RMP_SUCCESS, false);
  }

  /**
   * RMPADJUST (guest at `asid`, running at `vmpl`): change the attributes of the page for a
   * higher VMPL. `attrs` is RDX as the guest passes it: target VMPL in 7:0, permission mask
   * in 15:8, RMPADJUST_VMSA_PAGE_BIT (16). The model keeps only the VMSA attribute (the
   * permission masks are not modelled). Same size rules as PVALIDATE. A target VMPL not
   * above the caller's, or VMSA set by a vCPU not at VMPL0 → FAIL_PERMISSION.
   */
  rmpadjust(
    asid: number,
    gpa: number,
    pfn: number,
    level: PgLevel,
    vmpl: number,
    attrs: number,
  ): RmpGuestResult {
    const check = this.guestInstrCheck(asid, gpa, pfn, level);
    if (check !== null) return check;
    const target = attrs & 0xff;
    const vmsa = (attrs & RMPADJUST_VMSA_PAGE_BIT) !== 0;
    if (target <= vmpl || target > 3) return rc(FAIL_PERMISSION, false);
    if (vmsa && vmpl !== 0) return rc(FAIL_PERMISSION, false);
    const n = level === PG_LEVEL_2M ? PTRS_PER_PMD : 1;
    const base = this.chunkBase(pfn) + (pfn % PTRS_PER_PMD);
    for (let i = 0; i < n; i++) {
      const f = this.flags[base + i] as number;
      this.flags[base + i] = vmsa ? f | F_VMSA : f & ~F_VMSA;
    }
    this.emit('rmpadjust', pfn);
    return rc(RMP_SUCCESS, false);
  }

  // ---- access checks ------------------------------------------------------------------

  /**
   * The RMP checks on a guest access through a nested mapping of `nptLevel` (APM Table 15-39,
   * sev-snp.md A.2). Returns RMP_ACCESS_OK, RMP_ACCESS_VC (#VC PAGE_NOT_VALIDATED), or the
   * #NPF error code (a positive number with PFERR_GUEST_RMP_MASK set).
   * - Private (C=1) accesses, instruction fetches: the frame must be covered, assigned to
   *   `asid`, at this GPA, mutable, and of the NPT mapping's size (2M/1G ⇔ a 2M entry);
   *   then Validated, else #VC.
   * - Shared (C=0) writes: the frame must be hypervisor-owned. Shared reads pass (an assigned
   *   page reads as ciphertext).
   */
  checkGuestAccess(
    asid: number,
    gpa: number,
    pfn: number,
    nptLevel: PgLevel,
    access: GuestAccess,
  ): number {
    const fetch = access.fetch === true;
    if (access.enc || fetch) {
      if (!this.covers(pfn)) return npfCode(access, false);
      const f = this.flagsOf(pfn);
      if ((f & F_ASSIGNED) === 0 || (f & F_IMMUTABLE) !== 0) return npfCode(access, false);
      if (this.asidOf(pfn) !== asid || this.gpaOf(pfn) !== gpa - (gpa % PAGE_SIZE)) {
        return npfCode(access, false);
      }
      const rmpHuge = this.levelOf(pfn) === PG_LEVEL_2M;
      const nptHuge = nptLevel === PG_LEVEL_2M || nptLevel === PG_LEVEL_1G;
      if (rmpHuge !== nptHuge) return npfCode(access, false);
      if ((f & F_VALIDATED) === 0) return RMP_ACCESS_VC;
      return RMP_ACCESS_OK;
    }
    if (access.write && this.isAssigned(pfn)) return npfCode(access, false);
    return RMP_ACCESS_OK;
  }

  /**
   * The RMP check on a host (hypervisor) access to frame `pfn`: a write to an assigned frame
   * raises a host #PF with X86_PF_RMP, and the write does not happen. Returns 0 when the
   * access may proceed, else the #PF error code.
   */
  hostAccessCheck(pfn: number, write: boolean): number {
    if (write && this.isAssigned(pfn)) return X86_PF_RMP + X86_PF_WRITE + X86_PF_PROT;
    return 0;
  }

  /** A host read of an assigned frame sees ciphertext, never the guest's bytes. */
  hostReadsCiphertext(pfn: number): boolean {
    return this.isAssigned(pfn);
  }

  // ---- firmware -----------------------------------------------------------------------

  /**
   * A change the SNP firmware (AMD-SP) makes directly, bypassing RMPUPDATE's restrictions:
   * e.g. SNP_LAUNCH_UPDATE validating a page, SNP_PAGE_RECLAIM clearing Immutable. Only the
   * Validated / Immutable / VMSA bits of an existing entry; returns FAIL_INPUT when `pfn` is
   * not covered or not assigned.
   */
  firmwareSetBits(
    pfn: number,
    bits: { readonly validated?: boolean; readonly immutable?: boolean; readonly vmsa?: boolean },
  ): number {
    if (!this.covers(pfn) || !this.isAssigned(pfn)) return FAIL_INPUT;
    const i = this.chunkBase(pfn) + (pfn % PTRS_PER_PMD);
    let f = this.flags[i] as number;
    if (bits.validated !== undefined) f = bits.validated ? f | F_VALIDATED : f & ~F_VALIDATED;
    if (bits.immutable !== undefined) f = bits.immutable ? f | F_IMMUTABLE : f & ~F_IMMUTABLE;
    if (bits.vmsa !== undefined) f = bits.vmsa ? f | F_VMSA : f & ~F_VMSA;
    this.flags[i] = f;
    this.emit('firmware', pfn);
    return RMP_SUCCESS;
  }

  // ---- internals ----------------------------------------------------------------------

  /** The ownership and size checks PVALIDATE and RMPADJUST share; null when they pass. */
  private guestInstrCheck(
    asid: number,
    gpa: number,
    pfn: number,
    level: PgLevel,
  ): RmpGuestResult | null {
    const pageGpa = gpa - (gpa % PAGE_SIZE);
    if (level !== PG_LEVEL_4K && level !== PG_LEVEL_2M) return rc(FAIL_INPUT, false);
    if (level === PG_LEVEL_2M) {
      const span = pagesPerHpage(PG_LEVEL_2M);
      // An unaligned SPA is refused only against a 2M entry: a 2M request on 4K entries is a
      // size mismatch whatever the SPA (KVM backs SNP guests with 4K guest_memfd pages, and
      // Linux guests' 2M PVALIDATEs fall back to 4K on FAIL_SIZEMISMATCH).
      if (gpa % (PAGE_SIZE * span) !== 0) return rc(FAIL_INPUT, false);
      if (pfn % span !== 0 && this.covers(pfn) && this.levelOf(pfn) === PG_LEVEL_2M) {
        return rc(FAIL_INPUT, false);
      }
    }
    const enc: GuestAccess = { enc: true, write: true };
    if (!this.covers(pfn)) return npf(pageGpa, npfCode(enc, false));
    const f = this.flagsOf(pfn);
    if (
      (f & F_ASSIGNED) === 0 ||
      (f & F_IMMUTABLE) !== 0 ||
      this.asidOf(pfn) !== asid ||
      this.gpaOf(pfn) !== pageGpa
    ) {
      return npf(pageGpa, npfCode(enc, false));
    }
    const rmpLevel = this.levelOf(pfn);
    if (level === PG_LEVEL_4K && rmpLevel === PG_LEVEL_2M) {
      return npf(pageGpa, npfCode(enc, true));
    }
    if (level === PG_LEVEL_2M && rmpLevel === PG_LEVEL_4K) return rc(FAIL_SIZEMISMATCH, false);
    return null;
  }

  private flagsOf(pfn: number): number {
    const i = this.indexOf(pfn);
    return i < 0 ? 0 : (this.flags[i] as number);
  }

  /** Index of `pfn` in the entry arrays, or -1 when its region was never written. */
  private indexOf(pfn: number): number {
    if (!(pfn >= 0 && pfn < this.maxPfn)) return -1;
    const c = this.dir[Math.floor(pfn / PTRS_PER_PMD)] as number;
    if (c === 0) return -1;
    return (c - 1) * PTRS_PER_PMD + (pfn % PTRS_PER_PMD);
  }

  /** Base index of the chunk of `pfn`'s region, allocating it. `pfn` must be covered. */
  private chunkBase(pfn: number): number {
    const r = pfn >>> REGION_SHIFT;
    let c = this.dir[r] as number;
    if (c === 0) {
      if ((this.chunks + 1) * PTRS_PER_PMD > this.flags.length) this.grow();
      c = ++this.chunks;
      this.dir[r] = c;
    }
    return (c - 1) * PTRS_PER_PMD;
  }

  private grow(): void {
    const size = this.flags.length * 2;
    const flags = new Uint8Array(size);
    flags.set(this.flags);
    const asids = new Int32Array(size);
    asids.set(this.asids);
    const gfns = new Float64Array(size);
    gfns.set(this.gfns);
    this.flags = flags;
    this.asids = asids;
    this.gfns = gfns;
  }

  private write(pfn: number, f: number, asid: number, gfn: number): void {
    const i = this.chunkBase(pfn) + (pfn % PTRS_PER_PMD);
    const was = ((this.flags[i] as number) & F_ASSIGNED) !== 0;
    const now = (f & F_ASSIGNED) !== 0;
    if (was !== now) this.assignedCount += now ? 1 : -1;
    this.flags[i] = f;
    this.asids[i] = asid;
    this.gfns[i] = gfn;
  }

  private emit(op: RmpOp, pfn: number): void {
    if (this.listener === null) return;
    const f = this.flagsOf(pfn);
    const event: RmpEvent = {
      type: 'rmp',
      op,
      by: this.caller,
      pfn,
      gpa: this.gpaOf(pfn),
      assigned: (f & F_ASSIGNED) !== 0,
      pageSize: this.levelOf(pfn),
      validated: (f & F_VALIDATED) !== 0,
      asid: this.asidOf(pfn),
      immutable: (f & F_IMMUTABLE) !== 0,
      vmsa: (f & F_VMSA) !== 0,
    };
    this.listener(event);
  }
}

function rc(code: number, cf: boolean): RmpGuestResult {
  return { kind: 'rc', rc: code, cf };
}

function npf(gpa: number, errorCode: number): RmpGuestResult {
  return { kind: 'npf', gpa, errorCode };
}

/** The #NPF error code of an RMP check failure for `access`. */
function npfCode(access: GuestAccess, sizeMismatch: boolean): number {
  let code = PFERR_PRESENT_MASK + PFERR_GUEST_RMP_MASK + PFERR_GUEST_FINAL_MASK;
  if (access.write) code += PFERR_WRITE_MASK;
  if (access.fetch === true) code += PFERR_FETCH_MASK;
  if (access.enc || access.fetch === true) code = pferrSet(code, PFERR_GUEST_ENC_MASK);
  if (sizeMismatch) code = pferrSet(code, PFERR_GUEST_SIZEM_MASK);
  return code;
}

/**
 * Linux's guest pvalidate() return: the EAX code, or PVALIDATE_FAIL_NOUPDATE (255) when the
 * instruction set CF. An NPF never returns to the guest's instruction (KVM resolves it and the
 * guest retries), so it has no return code: undefined.
 */
export function linuxPvalidateRc(result: RmpGuestResult): number | undefined {
  if (result.kind === 'npf') return undefined;
  return result.cf ? PVALIDATE_FAIL_NOUPDATE : result.rc;
}
