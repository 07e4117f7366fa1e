import { PG_LEVEL_2M, PG_LEVEL_4K } from '@kvmx/address';
import { FramePool } from '@kvmx/paging';
import { describe, expect, it } from 'vitest';
import type { VendorContext, VendorEvent } from '../ops.js';
import {
  PFERR_GUEST_ENC_MASK,
  PFERR_GUEST_RMP_MASK,
  PFERR_PRIVATE_ACCESS,
  PFERR_WRITE_MASK,
  pferrHas,
} from '../pferr.js';
import {
  ghcbMsrPscReq,
  ghcbMsrPscRespVal,
  ghcbMsrRegGpaReq,
  SNP_PAGE_STATE_PRIVATE,
  SNP_PAGE_STATE_SHARED,
} from './ghcb-msr.js';
import { buildPscBuffers, VMGEXIT_PSC_OP_PRIVATE } from './psc-buffer.js';
import { RMP_ACCESS_OK, RMP_ACCESS_VC } from './rmp.js';
import type { NptMapping } from './rmp-invariant.js';
import { KVM_SEV_SNP_PAGE_TYPE_NORMAL } from './sev-guest.js';
import { SevOps, sevHost } from './sev-ops.js';

function context(events: VendorEvent[] = []): VendorContext {
  return {
    pool: new FramePool({ maxFrames: 1 << 16 }),
    emit: (e) => events.push(e),
    kickAllVcpus: () => {},
    bug: (m) => {
      throw new Error(m);
    },
  };
}

function snpVm(ctx = context()) {
  const ops = new SevOps('snp', ctx);
  expect(ops.vmmCreate()).toEqual({ ret: 0, fwError: 0 });
  ops.hypercallExitEnabled = true;
  return ops;
}

describe('SevOps flags', () => {
  it('sets kvm->arch per type: private memory only for SNP', () => {
    const ctx = context();
    expect(new SevOps('sev', ctx).arch).toMatchObject({
      hasPrivateMem: false,
      hasProtectedState: false,
      preFaultAllowed: true,
      gfnDirectBits: 0,
    });
    expect(new SevOps('sev_es', ctx).arch).toMatchObject({
      hasPrivateMem: false,
      hasProtectedState: true,
    });
    expect(new SevOps('snp', ctx).arch).toMatchObject({
      hasPrivateMem: true,
      hasProtectedState: true,
      preFaultAllowed: false,
    });
    expect(() => new SevOps('snp', ctx, { cbit: 52 })).toThrow(RangeError);
    expect(new SevOps('snp', ctx, { cbit: 47 }).cbit.position).toBe(47);
  });

  it('classifies faults: SNP private iff ENC; SEV-ES never', () => {
    const snp = snpVm();
    const enc = snp.faultErrorCode({ gpa: 0x1000, errorCode: PFERR_WRITE_MASK, enc: true });
    expect(pferrHas(enc, PFERR_PRIVATE_ACCESS)).toBe(true);
    expect(snp.faultErrorCode({ gpa: 0x1000, errorCode: PFERR_WRITE_MASK })).toBe(PFERR_WRITE_MASK);
    const es = new SevOps('sev_es', context());
    expect(es.vmmCreate().ret).toBe(0);
    const code = es.faultErrorCode({ gpa: 0x1000, errorCode: PFERR_GUEST_ENC_MASK });
    expect(pferrHas(code, PFERR_PRIVATE_ACCESS)).toBe(false);
    expect(es.checkGuestAccess(0x1000, 0x100000, PG_LEVEL_4K, { enc: true, write: true })).toBe(0);
  });

  it('shares one RMP and ASID space per host; VMs get different ASIDs', () => {
    const ctx = context();
    const a = snpVm(ctx);
    const b = snpVm(ctx);
    expect(a.rmp).toBe(b.rmp);
    expect(a.rmp).toBe(sevHost(ctx.pool).rmp);
    expect(a.sev.asid).not.toBe(b.sev.asid);
    b.vmDestroy();
    expect(snpVm(ctx).sev.asid).toBe(b.sev.asid);
  });
});

describe('SevOps events', () => {
  it('forwards RMP changes as rmp vendor events only while tracing', () => {
    const events: VendorEvent[] = [];
    const ops = snpVm(context(events));
    ops.gmemPrepare(0x100000, 0x200, 9);
    expect(events).toEqual([]);
    ops.setTracing(true);
    ops.gmemInvalidate(0x100000, 0x100200);
    expect(events).toEqual([
      {
        type: 'rmp',
        op: 'rmpupdate',
        by: 'sev_gmem_invalidate',
        pfn: '0x100000',
        gfn: '0x0',
        gpa: '0x0',
        assigned: false,
        level: 1,
        pageSize: 1,
        validated: false,
        asid: 0,
        immutable: false,
        vmsa: false,
      },
    ]);
  });
});

describe('SNP conversion, vendor side (selftests B.7a)', () => {
  it('shared -> private -> shared with PVALIDATE, the RMP invariant holding throughout', () => {
    const ops = snpVm();
    const gpa = 0x10000;
    const gfn = gpa / 4096;
    const gmemPfn = 0x100010; // the guest_memfd frame behind the GFN
    const sharedPfn = 0x100800; // the VMM's shared page behind the GFN
    const mappings: NptMapping[] = [{ gfn, level: PG_LEVEL_4K, pfn: sharedPfn, private: false }];
    expect(ops.checkRmp(mappings)).toEqual([]);

    // The guest registers its GHCB and asks for the page to become private.
    const reg = ops.vmgexitMsr(0, ghcbMsrRegGpaReq(0x20));
    expect(reg).toMatchObject({ kind: 'resume' });
    expect(ops.vcpu(0).ghcbRegisteredGpa).toBe(0x20000);
    const exit = ops.vmgexitMsr(0, ghcbMsrPscReq(gfn, SNP_PAGE_STATE_PRIVATE));
    expect(exit).toEqual({ kind: 'hypercall', nr: 12, args: [gpa, 1, 0x10] });
    const resp = ops.completePscMsr(0, 0);
    expect([resp.lo & 0xfff, ghcbMsrPscRespVal(resp)]).toEqual([0x015, 0]);

    // The VMM made it private; the first private access faults it in: gmem_prepare.
    mappings[0] = { gfn, level: PG_LEVEL_4K, pfn: gmemPfn, private: true };
    expect(ops.privateMaxMappingLevel(gmemPfn)).toBe(PG_LEVEL_4K);
    expect(ops.gmemPrepare(gmemPfn, gfn, 0)).toBe(0);
    expect(ops.checkRmp(mappings)).toEqual([]);
    const w = { enc: true, write: true };
    expect(ops.checkGuestAccess(gpa, gmemPfn, PG_LEVEL_4K, w)).toBe(RMP_ACCESS_VC);
    expect(ops.pvalidate(gpa, gmemPfn, PG_LEVEL_4K, true)).toEqual({
      kind: 'rc',
      rc: 0,
      cf: false,
    });
    expect(ops.checkGuestAccess(gpa, gmemPfn, PG_LEVEL_4K, w)).toBe(RMP_ACCESS_OK);
    expect(ops.rmpView(gpa, gmemPfn)).toEqual({ mapped: true, level: 1, state: 'validated' });

    // Back to shared: rescind, PSC(SHARED), the VMM converts and frees the gmem page.
    expect(ops.pvalidate(gpa, gmemPfn, PG_LEVEL_4K, false)).toMatchObject({ rc: 0, cf: false });
    expect(ops.vmgexitMsr(0, ghcbMsrPscReq(gfn, SNP_PAGE_STATE_SHARED))).toEqual({
      kind: 'hypercall',
      nr: 12,
      args: [gpa, 1, 0],
    });
    ops.completePscMsr(0, 0);
    // A shared write through a stale mapping of the still-assigned frame is an RMP #NPF.
    const stale = ops.checkGuestAccess(gpa, gmemPfn, PG_LEVEL_4K, { enc: false, write: true });
    expect(pferrHas(stale, PFERR_GUEST_RMP_MASK)).toBe(true);
    mappings[0] = { gfn, level: PG_LEVEL_4K, pfn: sharedPfn, private: false };
    ops.gmemInvalidate(gmemPfn, gmemPfn + 1);
    expect(ops.rmp.isAssigned(gmemPfn)).toBe(false);
    expect(ops.checkRmp(mappings)).toEqual([]);
  });

  it('a 4K PVALIDATE on a 2M RMP page: #NPF, sev_handle_rmp_fault PSMASHes and zaps', () => {
    const ops = snpVm();
    const gfn = 0x400;
    ops.gmemPrepare(0x100000, gfn, 9);
    expect(ops.privateMaxMappingLevel(0x100000)).toBe(PG_LEVEL_2M);
    const r = ops.pvalidate((gfn + 1) * 4096, 0x100001, PG_LEVEL_4K, true);
    expect(r.kind).toBe('npf');
    const zaps: number[][] = [];
    const outcome = ops.handleRmpFault((gfn + 1) * 4096, {
      memIsPrivate: () => true,
      slotCanBePrivate: () => true,
      gmemGetPfn: (g) => 0x100000 + (g - gfn),
      zapGfnRange: (s, e) => zaps.push([s, e]),
    });
    expect(outcome).toBe('psmash_zap');
    expect(zaps).toEqual([[gfn + 1, gfn + 1 + 512]]);
    expect(ops.privateMaxMappingLevel(0x100000)).toBe(PG_LEVEL_4K);
    expect(ops.pvalidate((gfn + 1) * 4096, 0x100001, PG_LEVEL_4K, true)).toMatchObject({ rc: 0 });
  });

  it('a PSC buffer needs a registered GHCB; its exits come one range at a time', () => {
    const ops = snpVm();
    const [psc] = buildPscBuffers(0x200000, 0x200000, VMGEXIT_PSC_OP_PRIVATE);
    expect(ops.vmgexitPsc(0, 0x5000, psc!)).toEqual({ kind: 'error', errno: -22 });
    ops.vmgexitMsr(0, ghcbMsrRegGpaReq(5));
    expect(ops.vmgexitPsc(0, 0x5000, psc!)).toEqual({
      kind: 'hypercall',
      nr: 12,
      args: [0x200000, 512, 0x11],
    });
    expect(ops.vcpu(0).pending).toBe('psc');
    expect(ops.completePsc(0, 0)).toEqual({ kind: 'done', exitInfo2: 0 });
    expect(ops.vcpu(0).pending).toBe(null);
  });

  it('a page that starts private (B.7b): launched, rescinded, shared, private again', () => {
    const ops = snpVm();
    const gfn = 0x30;
    let gmemPfn = 0x100030;
    const prepared = new Set<number>();
    const privateGfns = new Set([gfn]);
    const r = ops.snpLaunchUpdate(
      { gfnStart: gfn, len: 0x1000, type: KVM_SEV_SNP_PAGE_TYPE_NORMAL },
      {
        slotCanBePrivate: () => true,
        slotPagesFrom: () => 16,
        memIsPrivate: (g) => privateGfns.has(g),
        gmemGetPfn: (g) => ({ pfn: gmemPfn + (g - gfn), prepared: prepared.has(g) }),
        copySource: () => {},
        zeroPage: () => {},
        markPrepared: (g) => prepared.add(g),
      },
    );
    expect(r.ret).toBe(0);
    expect(ops.snpLaunchFinish([0x100fff]).ret).toBe(0);
    const gpa = gfn * 4096;
    // Launched pages are already validated: the guest uses them at once.
    expect(ops.checkGuestAccess(gpa, gmemPfn, PG_LEVEL_4K, { enc: true, write: true })).toBe(
      RMP_ACCESS_OK,
    );
    expect(ops.rmpView(gpa, gmemPfn)).toEqual({ mapped: true, level: 1, state: 'validated' });
    // Rescind, PSC(SHARED), VMM converts and punches the hole.
    expect(ops.pvalidate(gpa, gmemPfn, PG_LEVEL_4K, false)).toMatchObject({ rc: 0, cf: false });
    expect(ops.vmgexitMsr(0, ghcbMsrPscReq(gfn, SNP_PAGE_STATE_SHARED))).toMatchObject({
      args: [gpa, 1, 0],
    });
    ops.completePscMsr(0, 0);
    privateGfns.delete(gfn);
    ops.gmemInvalidate(gmemPfn, gmemPfn + 1);
    expect(ops.rmpView(gpa, gmemPfn)).toEqual({ mapped: false, level: 1, state: 'shared' });
    // PSC(PRIVATE): a new guest_memfd page is prepared on the next private fault.
    expect(ops.vmgexitMsr(0, ghcbMsrPscReq(gfn, SNP_PAGE_STATE_PRIVATE))).toMatchObject({
      args: [gpa, 1, 0x10],
    });
    ops.completePscMsr(0, 0);
    gmemPfn = 0x100040;
    expect(ops.gmemPrepare(gmemPfn, gfn, 0)).toBe(0);
    expect(ops.pvalidate(gpa, gmemPfn, PG_LEVEL_4K, true)).toMatchObject({ rc: 0, cf: false });
    expect(ops.checkRmp([{ gfn, level: PG_LEVEL_4K, pfn: gmemPfn, private: true }])).toEqual([]);
  });

  it('LAUNCH_FINISH allows pre-faulting', () => {
    const ops = snpVm();
    expect(ops.arch.preFaultAllowed).toBe(false);
    expect(ops.snpLaunchFinish([0x100fff]).ret).toBe(0);
    expect(ops.arch.preFaultAllowed).toBe(true);
  });
});
