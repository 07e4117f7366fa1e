// The per-VM SEV state (struct kvm_sev_info) and the KVM_MEMORY_ENCRYPT_OP commands that build
// an SNP guest: KVM_SEV_INIT2, KVM_SEV_SNP_LAUNCH_START / LAUNCH_UPDATE / LAUNCH_FINISH.
// models arch/x86/kvm/svm/sev.c (torvalds/linux @0097f9d, read for this file):
// sev_mem_enc_ioctl() (the EPERM gate), __sev_guest_init() via sev_guest_init2(),
// snp_launch_start(), snp_launch_update(), sev_gmem_post_populate(), snp_launch_update_vmsa(),
// snp_launch_finish(), snp_page_reclaim(); and virt/kvm/guest_memfd.c kvm_gmem_populate().
// sev-snp.md A.8, selftests.md B.5–B.7.
//
// The SNP firmware (AMD-SP) is modelled only as far as the RMP and the launch record go:
// SNP_LAUNCH_UPDATE takes a Pre-Guest page (assigned, immutable, not validated) and leaves it
// Guest-Valid (validated, immutable clear) — derived from KVM freeing launched pages with a
// plain rmp_make_shared() in sev_gmem_invalidate(), which RMPUPDATE refuses on an immutable
// entry; the SNP firmware ABI itself was not read (UNVERIFIED). The launch digest is not
// computed: sev-snp.md does not document the firmware's measurement format, so the model
// keeps the ordered list of what was measured instead (UNVERIFIED digest).

import { PAGE_SIZE, PG_LEVEL_4K } from '@kvmx/address';
import { EEXIST, EINVAL, EIO, ENOTTY, EPERM } from './errno.js';
import { GHCB_VERSION_DEFAULT } from './ghcb-msr.js';
import type { Rmp } from './rmp.js';
import { rmpMakePrivate, rmpMakeShared } from './rmp-linux.js';
import {
  type SevAsidAllocator,
  type SevVmType,
  SVM_SEV_FEAT_SNP_ACTIVE,
  sevVmFlags,
} from './sev-vm.js';

/** enum sev_cmd_id values the model handles (uapi/asm/kvm.h). */
export const KVM_SEV_INIT2 = 22;
export const KVM_SEV_SNP_LAUNCH_START = 100;
export const KVM_SEV_SNP_LAUNCH_UPDATE = 101;
export const KVM_SEV_SNP_LAUNCH_FINISH = 102;

/** KVM_SEV_SNP_PAGE_TYPE_* (uapi/asm/kvm.h); VMSA (2) is the firmware's internal type. */
export const KVM_SEV_SNP_PAGE_TYPE_NORMAL = 1;
/** Firmware SNP_PAGE_TYPE_VMSA (include/linux/psp-sev.h enum: NORMAL 1, VMSA 2, ZERO 3 …). */
export const SNP_PAGE_TYPE_VMSA = 2;
export const KVM_SEV_SNP_PAGE_TYPE_ZERO = 3;
export const KVM_SEV_SNP_PAGE_TYPE_UNMEASURED = 4;
export const KVM_SEV_SNP_PAGE_TYPE_SECRETS = 5;
export const KVM_SEV_SNP_PAGE_TYPE_CPUID = 6;

/** Page-type names as scenario files write them (`initMemRegion.pageType`). */
export const SNP_PAGE_TYPE_NAMES: Readonly<Record<string, number>> = {
  normal: KVM_SEV_SNP_PAGE_TYPE_NORMAL,
  zero: KVM_SEV_SNP_PAGE_TYPE_ZERO,
  unmeasured: KVM_SEV_SNP_PAGE_TYPE_UNMEASURED,
  secrets: KVM_SEV_SNP_PAGE_TYPE_SECRETS,
  cpuid: KVM_SEV_SNP_PAGE_TYPE_CPUID,
};

/** SNP guest policy bits (sev.c SNP_POLICY_MASK_*; selftests' SNP_POLICY_*). */
export const SNP_POLICY_SMT = 1 << 16;
export const SNP_POLICY_RSVD_MBO = 1 << 17;
export const SNP_POLICY_DEBUG = 1 << 19;
export const SNP_POLICY_SINGLE_SOCKET = 1 << 20;
/** SNP_POLICY_MASK_VALID: API minor 7:0, API major 15:8, SMT, RSVD_MBO, DEBUG, SINGLE_SOCKET. */
export const SNP_POLICY_MASK_VALID =
  0xffff | SNP_POLICY_SMT | SNP_POLICY_RSVD_MBO | SNP_POLICY_DEBUG | SNP_POLICY_SINGLE_SOCKET;
/** snp_default_policy() of the selftests with SMT on. */
export const SNP_DEFAULT_POLICY = SNP_POLICY_RSVD_MBO | SNP_POLICY_SMT;

/** GPA of the initial VMSA in the RMP (INITIAL_VMSA_GPA). */
export const INITIAL_VMSA_GPA = 0xfffffffff000;

/** What the SNP firmware measured, in order: the model's stand-in for the launch digest. */
export interface SnpMeasuredPage {
  readonly gpa: number;
  readonly type: number;
  /** UNMEASURED pages are recorded with measured = false. */
  readonly measured: boolean;
}

/** struct kvm_sev_init. */
export interface SevInit2Args {
  readonly vmsaFeatures?: number;
  readonly flags?: number;
  readonly ghcbVersion?: number;
}

/** struct kvm_sev_snp_launch_update (in/out: advanced by the pages done). */
export interface SnpLaunchUpdateParams {
  gfnStart: number;
  len: number;
  readonly type: number;
  readonly flags?: number;
}

/** What snp_launch_update() / kvm_gmem_populate() need from the rest of KVM. */
export interface SnpPopulateContext {
  /** kvm_slot_can_be_private(gfn_to_memslot(gfn)). */
  slotCanBePrivate(gfn: number): boolean;
  /** Pages from `gfn` to the end of its memslot (kvm_gmem_populate clamps to it). */
  slotPagesFrom(gfn: number): number;
  /** kvm_mem_is_private(gfn): the attribute set by KVM_SET_MEMORY_ATTRIBUTES. */
  memIsPrivate(gfn: number): boolean;
  /**
   * __kvm_gmem_get_pfn(): the guest_memfd page for `gfn` (allocated if needed) and whether it
   * is already prepared (uptodate), or a negative errno.
   */
  gmemGetPfn(gfn: number): { readonly pfn: number; readonly prepared: boolean } | number;
  /** Copy the source page (the shared backing at the same GPA, CONTRACTS §2) into `pfn`. */
  copySource(gfn: number, pfn: number): void;
  /** The firmware zeroes a ZERO page. */
  zeroPage(pfn: number): void;
  /** kvm_gmem_mark_prepared(): the folio is initialised. */
  markPrepared(gfn: number): void;
}

/** Result of a launch command: 0 or -errno, and the firmware error (cmd.error). */
export interface SevCmdResult {
  readonly ret: number;
  readonly fwError: number;
}

const ok: SevCmdResult = { ret: 0, fwError: 0 };
function fail(errno: number): SevCmdResult {
  return { ret: -errno, fwError: 0 };
}

/** struct kvm_sev_info of one VM, with the SNP launch commands. */
export class SevGuest {
  readonly vmType: SevVmType;
  readonly rmp: Rmp;
  /** sev->active: KVM_SEV_INIT2 succeeded. */
  active = false;
  /** sev_snp_guest(): active and SVM_SEV_FEAT_SNP_ACTIVE in vmsa_features. */
  snpActive = false;
  asid = 0;
  ghcbVersion = 0;
  vmsaFeatures = 0;
  policy = 0;
  /** sev->snp_context: SNP_GCTX_CREATE done (LAUNCH_START). */
  snpContext = false;
  /** SNP_LAUNCH_FINISH done. */
  launchFinished = false;
  /** kvm->arch.pre_fault_allowed. */
  preFaultAllowed: boolean;
  /** The measured pages in order (firmware launch digest input; digest not computed). */
  readonly measured: SnpMeasuredPage[] = [];
  /** Pages that could not be returned to the hypervisor (snp_leak_pages). */
  readonly leaked: number[] = [];

  constructor(vmType: SevVmType, rmp: Rmp) {
    this.vmType = vmType;
    this.rmp = rmp;
    this.preFaultAllowed = sevVmFlags(vmType).preFaultAllowed;
  }

  /**
   * models sev.c: sev_mem_enc_ioctl()'s gate: once an SNP guest, any command below
   * KVM_SEV_SNP_LAUNCH_START is -EPERM (so a second INIT2 is EPERM). 0 when allowed.
   */
  memEncOpAllowed(cmdId: number): number {
    if (this.snpActive && cmdId < KVM_SEV_SNP_LAUNCH_START) return -EPERM;
    return 0;
  }

  /**
   * models sev.c: __sev_guest_init() for KVM_SEV_INIT2. -EINVAL when vCPUs exist, flags ≠ 0,
   * vmsa_features outside the supported set (none for plain SEV), ghcb_version > 2 (or ≠ 0
   * for plain SEV), or already active; -EBUSY-like ASID exhaustion is passed through. SEV-ES
   * and SNP default to GHCB version 2; SNP adds SVM_SEV_FEAT_SNP_ACTIVE.
   */
  init2(
    args: SevInit2Args,
    vcpusCreated: number,
    supportedVmsaFeatures: number,
    asids: SevAsidAllocator,
  ): SevCmdResult {
    const gate = this.memEncOpAllowed(KVM_SEV_INIT2);
    if (gate !== 0) return { ret: gate, fwError: 0 };
    const features = args.vmsaFeatures ?? 0;
    const flags = args.flags ?? 0;
    let ghcbVersion = args.ghcbVersion ?? 0;
    const es = this.vmType !== 'sev';
    if (this.active || vcpusCreated > 0 || flags !== 0) return fail(EINVAL);
    if (!es && (features !== 0 || ghcbVersion !== 0)) return fail(EINVAL);
    if ((features & ~supportedVmsaFeatures) !== 0) return fail(EINVAL);
    if (ghcbVersion > GHCB_VERSION_DEFAULT) return fail(EINVAL);
    if (es && ghcbVersion === 0) ghcbVersion = GHCB_VERSION_DEFAULT;
    const asid = asids.alloc(this.vmType);
    if (asid < 0) return { ret: asid, fwError: 0 };
    this.asid = asid;
    this.active = true;
    this.ghcbVersion = ghcbVersion;
    this.vmsaFeatures = features | (this.vmType === 'snp' ? SVM_SEV_FEAT_SNP_ACTIVE : 0);
    this.snpActive = this.vmType === 'snp';
    return ok;
  }

  /**
   * models sev.c: snp_launch_start(): -ENOTTY unless an SNP guest; -EINVAL for a second
   * context, flags ≠ 0, policy bits outside SNP_POLICY_MASK_VALID, or RSVD_MBO (bit 17) clear.
   * Then GCTX_CREATE, SNP_LAUNCH_START and SNP_ACTIVATE (binding the ASID) in the firmware.
   */
  snpLaunchStart(policy: number, flags = 0): SevCmdResult {
    if (!this.snpActive) return fail(ENOTTY);
    if (this.snpContext) return fail(EINVAL);
    if (flags !== 0) return fail(EINVAL);
    if (policy < 0 || policy > 0xffffffff || (policy & ~SNP_POLICY_MASK_VALID) !== 0) {
      return fail(EINVAL);
    }
    if ((policy & SNP_POLICY_RSVD_MBO) === 0) return fail(EINVAL);
    this.policy = policy;
    this.snpContext = true;
    return ok;
  }

  /**
   * models sev.c: snp_launch_update() + virt/kvm/guest_memfd.c: kvm_gmem_populate() +
   * sev.c: sev_gmem_post_populate(), one 4K page at a time. -EINVAL without an SNP context, for
   * a length not page-aligned, flags ≠ 0, a bad page type, or a memslot without guest_memfd.
   * Per page: the GFN must be private (else -EINVAL), its guest_memfd page not prepared
   * (-EEXIST) and unassigned in the RMP (-EEXIST; lookup error -EINVAL); the source is copied
   * (not for ZERO), the page made private and immutable (rmp_make_private), and the firmware's
   * SNP_LAUNCH_UPDATE measures it and leaves it validated. A failure on the first page fails
   * the command with -EIO (cmd.error = the firmware error); a failure later returns 0 with
   * `params` advanced past the pages done, as the kernel writes them back.
   */
  snpLaunchUpdate(params: SnpLaunchUpdateParams, ctx: SnpPopulateContext): SevCmdResult {
    if (!this.snpActive || !this.snpContext) return fail(EINVAL);
    const t = params.type;
    if (
      params.len % PAGE_SIZE !== 0 ||
      (params.flags ?? 0) !== 0 ||
      (t !== KVM_SEV_SNP_PAGE_TYPE_NORMAL &&
        t !== KVM_SEV_SNP_PAGE_TYPE_ZERO &&
        t !== KVM_SEV_SNP_PAGE_TYPE_UNMEASURED &&
        t !== KVM_SEV_SNP_PAGE_TYPE_SECRETS &&
        t !== KVM_SEV_SNP_PAGE_TYPE_CPUID)
    ) {
      return fail(EINVAL);
    }
    if (!ctx.slotCanBePrivate(params.gfnStart)) return fail(EINVAL);
    const npages = Math.min(params.len / PAGE_SIZE, ctx.slotPagesFrom(params.gfnStart));
    let i = 0;
    let ret = 0;
    for (; i < npages; i++) {
      ret = this.populateOne(params.gfnStart + i, t, ctx);
      if (ret !== 0) break;
    }
    const count = ret !== 0 && i === 0 ? ret : i;
    if (count < 0) return { ret: -EIO, fwError: 0 };
    params.gfnStart += count;
    params.len -= count * PAGE_SIZE;
    return ok;
  }

  /**
   * models sev.c: snp_launch_finish() with snp_launch_update_vmsa(): -ENOTTY unless SNP,
   * -EINVAL without a context or with flags ≠ 0. Each vCPU's VMSA page becomes private and
   * immutable at INITIAL_VMSA_GPA and is measured (firmware LAUNCH_UPDATE, type VMSA); then
   * SNP_LAUNCH_FINISH, and pre_fault_allowed becomes true.
   */
  snpLaunchFinish(vmsaPfns: readonly number[], flags = 0): SevCmdResult {
    if (!this.snpActive) return fail(ENOTTY);
    if (!this.snpContext) return fail(EINVAL);
    if (flags !== 0) return fail(EINVAL);
    const saved = this.rmp.caller;
    this.rmp.caller = 'snp_launch_update_vmsa';
    try {
      for (const pfn of vmsaPfns) {
        const rc = rmpMakePrivate(this.rmp, pfn, INITIAL_VMSA_GPA, PG_LEVEL_4K, this.asid, true);
        if (rc !== 0) return { ret: rc, fwError: 0 };
        this.firmwareLaunchUpdate(pfn, INITIAL_VMSA_GPA, SNP_PAGE_TYPE_VMSA);
      }
    } finally {
      this.rmp.caller = saved;
    }
    this.launchFinished = true;
    this.preFaultAllowed = true;
    return ok;
  }

  /**
   * models sev.c: snp_page_reclaim(): firmware SNP_PAGE_RECLAIM (clears Immutable) then
   * rmp_make_shared(); a page that cannot be made shared is leaked (snp_leak_pages) and the
   * error returned.
   */
  snpPageReclaim(pfn: number): number {
    const saved = this.rmp.caller;
    this.rmp.caller = 'snp_page_reclaim';
    this.rmp.firmwareSetBits(pfn, { immutable: false });
    const rc = rmpMakeShared(this.rmp, pfn, PG_LEVEL_4K);
    this.rmp.caller = saved;
    if (rc !== 0) this.leaked.push(pfn);
    return rc;
  }

  /** One page of kvm_gmem_populate() + sev_gmem_post_populate(); 0 or -errno. */
  private populateOne(gfn: number, type: number, ctx: SnpPopulateContext): number {
    if (!ctx.memIsPrivate(gfn)) return -EINVAL;
    const got = ctx.gmemGetPfn(gfn);
    if (typeof got === 'number') return got;
    if (got.prepared) return -EEXIST;
    const { pfn } = got;
    const e = this.rmp.lookup(pfn);
    if (e.ret !== 0) return -EINVAL;
    if (e.assigned) return -EEXIST;
    if (type !== KVM_SEV_SNP_PAGE_TYPE_ZERO) ctx.copySource(gfn, pfn);
    const saved = this.rmp.caller;
    this.rmp.caller = 'sev_gmem_post_populate';
    const rc = rmpMakePrivate(this.rmp, pfn, gfn * PAGE_SIZE, PG_LEVEL_4K, this.asid, true);
    if (rc === 0) {
      if (type === KVM_SEV_SNP_PAGE_TYPE_ZERO) ctx.zeroPage(pfn);
      this.firmwareLaunchUpdate(pfn, gfn * PAGE_SIZE, type);
    }
    this.rmp.caller = saved;
    if (rc !== 0) return rc;
    ctx.markPrepared(gfn);
    return 0;
  }

  /** The firmware's SNP_LAUNCH_UPDATE: Pre-Guest → Guest-Valid, and the launch record. */
  private firmwareLaunchUpdate(pfn: number, gpa: number, type: number): void {
    this.rmp.firmwareSetBits(pfn, {
      validated: true,
      immutable: false,
      vmsa: type === SNP_PAGE_TYPE_VMSA,
    });
    this.measured.push({ gpa, type, measured: type !== KVM_SEV_SNP_PAGE_TYPE_UNMEASURED });
  }
}
