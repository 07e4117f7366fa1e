import { PG_LEVEL_4K } from '@kvmx/address';
import { describe, expect, it } from 'vitest';
import { EEXIST, EINVAL, EIO, ENOTTY, EPERM } from './errno.js';
import { Rmp } from './rmp.js';
import {
  INITIAL_VMSA_GPA,
  KVM_SEV_INIT2,
  KVM_SEV_SNP_LAUNCH_START,
  KVM_SEV_SNP_PAGE_TYPE_CPUID,
  KVM_SEV_SNP_PAGE_TYPE_NORMAL,
  KVM_SEV_SNP_PAGE_TYPE_UNMEASURED,
  KVM_SEV_SNP_PAGE_TYPE_ZERO,
  SevGuest,
  SNP_DEFAULT_POLICY,
  SNP_POLICY_DEBUG,
  SNP_POLICY_RSVD_MBO,
  type SnpPopulateContext,
} from './sev-guest.js';
import { SevAsidAllocator, SVM_SEV_FEAT_DEBUG_SWAP, SVM_SEV_FEAT_SNP_ACTIVE } from './sev-vm.js';

const SUPPORTED = SVM_SEV_FEAT_DEBUG_SWAP;

function snpGuest() {
  const rmp = new Rmp();
  const g = new SevGuest('snp', rmp);
  expect(g.init2({}, 0, SUPPORTED, new SevAsidAllocator())).toEqual({ ret: 0, fwError: 0 });
  return { rmp, g };
}

/** A memslot of 16 pages at GFN 0x100 with guest_memfd frames at PFN 0x100000 + i. */
function populateCtx(privateGfns: Set<number>) {
  const prepared = new Set<number>();
  const copied: number[] = [];
  const zeroed: number[] = [];
  const ctx: SnpPopulateContext = {
    slotCanBePrivate: (gfn) => gfn >= 0x100 && gfn < 0x110,
    slotPagesFrom: (gfn) => 0x110 - gfn,
    memIsPrivate: (gfn) => privateGfns.has(gfn),
    gmemGetPfn: (gfn) => ({ pfn: 0x100000 + gfn - 0x100, prepared: prepared.has(gfn) }),
    copySource: (gfn) => copied.push(gfn),
    zeroPage: (pfn) => zeroed.push(pfn),
    markPrepared: (gfn) => prepared.add(gfn),
  };
  return { ctx, prepared, copied, zeroed };
}

function range(from: number, n: number): Set<number> {
  return new Set(Array.from({ length: n }, (_, i) => from + i));
}

describe('KVM_SEV_INIT2 (sev_init2_tests)', () => {
  it('initialises each SEV type; SNP gets SNP_ACTIVE and GHCB version 2', () => {
    const asids = new SevAsidAllocator({ maxSevAsid: 10, minSevAsid: 5 });
    const sev = new SevGuest('sev', new Rmp());
    expect(sev.init2({}, 0, SUPPORTED, asids).ret).toBe(0);
    expect([sev.asid, sev.ghcbVersion, sev.snpActive]).toEqual([5, 0, false]);
    const es = new SevGuest('sev_es', new Rmp());
    expect(es.init2({ vmsaFeatures: SVM_SEV_FEAT_DEBUG_SWAP }, 0, SUPPORTED, asids).ret).toBe(0);
    expect([es.asid, es.ghcbVersion, es.vmsaFeatures]).toEqual([1, 2, SVM_SEV_FEAT_DEBUG_SWAP]);
    const snp = new SevGuest('snp', new Rmp());
    expect(snp.init2({}, 0, SUPPORTED, asids).ret).toBe(0);
    expect(snp.vmsaFeatures).toBe(SVM_SEV_FEAT_SNP_ACTIVE);
    expect(snp.snpActive).toBe(true);
  });

  it('refuses flags, unsupported features, features on plain SEV, vCPUs, bad versions', () => {
    const asids = new SevAsidAllocator();
    for (let bit = 0; bit < 32; bit++) {
      const g = new SevGuest('snp', new Rmp());
      expect(g.init2({ flags: 2 ** bit }, 0, SUPPORTED, asids).ret).toBe(-EINVAL);
    }
    const sev = new SevGuest('sev', new Rmp());
    expect(sev.init2({ vmsaFeatures: SVM_SEV_FEAT_DEBUG_SWAP }, 0, SUPPORTED, asids).ret).toBe(
      -EINVAL,
    );
    expect(sev.init2({ ghcbVersion: 1 }, 0, SUPPORTED, asids).ret).toBe(-EINVAL);
    const es = new SevGuest('sev_es', new Rmp());
    expect(es.init2({ vmsaFeatures: 1 << 7 }, 0, SUPPORTED, asids).ret).toBe(-EINVAL);
    expect(es.init2({ ghcbVersion: 3 }, 0, SUPPORTED, asids).ret).toBe(-EINVAL);
    expect(es.init2({}, 1, SUPPORTED, asids).ret).toBe(-EINVAL);
    expect(es.active).toBe(false);
  });

  it('makes a second INIT2 on an SNP guest EPERM (commands < 100 are refused)', () => {
    const { g } = snpGuest();
    expect(g.memEncOpAllowed(KVM_SEV_INIT2)).toBe(-EPERM);
    expect(g.memEncOpAllowed(KVM_SEV_SNP_LAUNCH_START)).toBe(0);
    expect(g.init2({}, 0, SUPPORTED, new SevAsidAllocator()).ret).toBe(-EPERM);
  });
});

describe('KVM_SEV_SNP_LAUNCH_START', () => {
  it('needs an SNP guest, one context, flags 0, valid policy bits with RSVD_MBO', () => {
    const es = new SevGuest('sev_es', new Rmp());
    expect(es.snpLaunchStart(SNP_DEFAULT_POLICY).ret).toBe(-ENOTTY);
    const { g } = snpGuest();
    expect(g.snpLaunchStart(0).ret).toBe(-EINVAL);
    expect(g.snpLaunchStart(SNP_POLICY_RSVD_MBO | (1 << 18)).ret).toBe(-EINVAL);
    expect(g.snpLaunchStart(SNP_DEFAULT_POLICY, 1).ret).toBe(-EINVAL);
    expect(g.snpLaunchStart(SNP_DEFAULT_POLICY | SNP_POLICY_DEBUG).ret).toBe(0);
    expect(g.snpLaunchStart(SNP_DEFAULT_POLICY).ret).toBe(-EINVAL);
  });
});

describe('KVM_SEV_SNP_LAUNCH_UPDATE', () => {
  function launched() {
    const s = snpGuest();
    expect(s.g.snpLaunchStart(SNP_DEFAULT_POLICY).ret).toBe(0);
    return s;
  }

  it('makes each page assigned, validated, mutable, measured, 4K', () => {
    const { rmp, g } = launched();
    const { ctx, copied } = populateCtx(range(0x100, 4));
    const params = { gfnStart: 0x100, len: 0x4000, type: KVM_SEV_SNP_PAGE_TYPE_NORMAL };
    expect(g.snpLaunchUpdate(params, ctx)).toEqual({ ret: 0, fwError: 0 });
    expect(params).toMatchObject({ gfnStart: 0x104, len: 0 });
    expect(copied).toEqual([0x100, 0x101, 0x102, 0x103]);
    expect(rmp.entry(0x100002)).toMatchObject({
      assigned: true,
      validated: true,
      immutable: false,
      pageSize: PG_LEVEL_4K,
      asid: g.asid,
      gpa: 0x102000,
    });
    expect(g.measured.map((m) => m.gpa)).toEqual([0x100000, 0x101000, 0x102000, 0x103000]);
  });

  it('zeroes ZERO pages without copying; records UNMEASURED pages as not measured', () => {
    const { g } = launched();
    const { ctx, copied, zeroed } = populateCtx(range(0x100, 2));
    g.snpLaunchUpdate({ gfnStart: 0x100, len: 0x1000, type: KVM_SEV_SNP_PAGE_TYPE_ZERO }, ctx);
    g.snpLaunchUpdate(
      { gfnStart: 0x101, len: 0x1000, type: KVM_SEV_SNP_PAGE_TYPE_UNMEASURED },
      ctx,
    );
    expect(copied).toEqual([0x101]);
    expect(zeroed).toEqual([0x100000]);
    expect(g.measured.map((m) => [m.type, m.measured])).toEqual([
      [KVM_SEV_SNP_PAGE_TYPE_ZERO, true],
      [KVM_SEV_SNP_PAGE_TYPE_UNMEASURED, false],
    ]);
  });

  it('refuses bad parameters and a missing context with EINVAL', () => {
    const { g: noCtx } = snpGuest();
    const { ctx } = populateCtx(range(0x100, 4));
    const p = () => ({ gfnStart: 0x100, len: 0x1000, type: KVM_SEV_SNP_PAGE_TYPE_NORMAL });
    expect(noCtx.snpLaunchUpdate(p(), ctx).ret).toBe(-EINVAL);
    const { g } = launched();
    expect(g.snpLaunchUpdate({ ...p(), len: 0x800 }, ctx).ret).toBe(-EINVAL);
    expect(g.snpLaunchUpdate({ ...p(), flags: 1 }, ctx).ret).toBe(-EINVAL);
    expect(g.snpLaunchUpdate({ ...p(), type: 2 }, ctx).ret).toBe(-EINVAL);
    expect(g.snpLaunchUpdate({ ...p(), type: 0 }, ctx).ret).toBe(-EINVAL);
    expect(g.snpLaunchUpdate({ ...p(), gfnStart: 0x200 }, ctx).ret).toBe(-EINVAL);
  });

  it('fails with EIO when the first page is not private, already prepared, or assigned', () => {
    const { rmp, g } = launched();
    const shared = populateCtx(new Set());
    const p = () => ({ gfnStart: 0x100, len: 0x2000, type: KVM_SEV_SNP_PAGE_TYPE_CPUID });
    expect(g.snpLaunchUpdate(p(), shared.ctx).ret).toBe(-EIO);
    const { ctx, prepared } = populateCtx(range(0x100, 2));
    prepared.add(0x100);
    expect(g.snpLaunchUpdate(p(), ctx).ret).toBe(-EIO);
    prepared.clear();
    rmpMakeAssigned(rmp, 0x100000);
    expect(g.snpLaunchUpdate(p(), ctx).ret).toBe(-EIO);
    expect(EEXIST).toBe(17);
  });

  it('stops early with partial progress when a later page fails', () => {
    const { g } = launched();
    const { ctx } = populateCtx(range(0x100, 3));
    const params = { gfnStart: 0x100, len: 0x5000, type: KVM_SEV_SNP_PAGE_TYPE_NORMAL };
    expect(g.snpLaunchUpdate(params, ctx).ret).toBe(0);
    expect(params).toMatchObject({ gfnStart: 0x103, len: 0x2000 });
  });

  it('clamps the range to the end of the memslot', () => {
    const { g } = launched();
    const { ctx } = populateCtx(range(0x10e, 10));
    const params = { gfnStart: 0x10e, len: 0x5000, type: KVM_SEV_SNP_PAGE_TYPE_NORMAL };
    expect(g.snpLaunchUpdate(params, ctx).ret).toBe(0);
    expect(params).toMatchObject({ gfnStart: 0x110, len: 0x3000 });
  });
});

function rmpMakeAssigned(rmp: Rmp, pfn: number) {
  rmp.rmpupdate(pfn, {
    gpa: 0x100000,
    assigned: true,
    pageSize: PG_LEVEL_4K,
    immutable: false,
    asid: 9,
  });
}

describe('KVM_SEV_SNP_LAUNCH_FINISH', () => {
  it('measures each VMSA at INITIAL_VMSA_GPA, then allows pre-faulting', () => {
    const { rmp, g } = snpGuest();
    expect(g.snpLaunchFinish([])).toEqual({ ret: -EINVAL, fwError: 0 });
    g.snpLaunchStart(SNP_DEFAULT_POLICY);
    expect(g.snpLaunchFinish([], 1).ret).toBe(-EINVAL);
    expect(g.preFaultAllowed).toBe(false);
    expect(g.snpLaunchFinish([0x200000, 0x200001]).ret).toBe(0);
    expect(rmp.entry(0x200001)).toMatchObject({
      assigned: true,
      vmsa: true,
      validated: true,
      gpa: INITIAL_VMSA_GPA,
    });
    expect(g.measured.map((m) => m.gpa)).toEqual([INITIAL_VMSA_GPA, INITIAL_VMSA_GPA]);
    expect([g.launchFinished, g.preFaultAllowed]).toEqual([true, true]);
    expect(new SevGuest('sev_es', new Rmp()).snpLaunchFinish([]).ret).toBe(-ENOTTY);
  });

  it('reclaims an immutable page back to the hypervisor (snp_page_reclaim)', () => {
    const { rmp, g } = snpGuest();
    rmp.rmpupdate(0x300000, {
      gpa: 0,
      assigned: true,
      pageSize: PG_LEVEL_4K,
      immutable: true,
      asid: g.asid,
    });
    expect(g.snpPageReclaim(0x300000)).toBe(0);
    expect(rmp.isAssigned(0x300000)).toBe(false);
    expect(g.leaked).toEqual([]);
  });
});
