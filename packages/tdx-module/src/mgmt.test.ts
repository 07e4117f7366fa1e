import { FrameOwner } from '@kvmx/paging';
import { describe, expect, it } from 'vitest';
import { SeamRegs } from './regs.js';
import { formatStatus, type TdxStatus } from './status.js';
import { KotState, OpState, PageType, PT_4KB, TdLifecycle } from './td-state.js';
import { MNG_FIELDS, VP_FIELDS } from './tdx-module.js';
import { buildTd, expectOk, mapTables, newModule, pageOf } from './test-helpers.js';

const fmt = (s: TdxStatus) => formatStatus(s);

describe('TDH.MNG.CREATE / KEY.CONFIG / ADDCX', () => {
  it('refuses bad TDR pages, HKIDs, busy KOT/KET, and repeats', () => {
    const { mod, pool } = newModule({ packages: 2 });
    const tdr = pageOf(pool);
    expect(fmt(mod.mngCreate(tdr + 8, 33))).toBe('TDX_OPERAND_INVALID|RCX');
    expect(fmt(mod.mngCreate(0x1000, 33))).toBe('TDX_OPERAND_ADDR_RANGE_ERROR|RCX');
    expect(fmt(mod.mngCreate(tdr, 5))).toBe('TDX_OPERAND_INVALID|RDX'); // an MKTME KeyID
    expect(fmt(mod.mngCreate(tdr, 0x10000))).toBe('TDX_OPERAND_INVALID|RDX');
    const kot = mod.hold({ kind: 'kot' }, 'shared');
    expect(fmt(mod.mngCreate(tdr, 33))).toBe('TDX_OPERAND_BUSY|KOT');
    kot?.release();
    mod.entropyFailures = 1;
    expect(fmt(mod.mngCreate(tdr, 33))).toBe('TDX_RND_NO_ENTROPY');
    expectOk(mod.mngCreate(tdr, 33));
    expect(mod.pamt.pt(tdr / 4096, PT_4KB)).toBe(PageType.PT_TDR);
    expect(fmt(mod.mngCreate(tdr, 34))).toBe('TDX_PAGE_METADATA_INCORRECT|RCX');
    expect(fmt(mod.mngCreate(pageOf(pool), 33))).toBe('TDX_HKID_NOT_FREE');
    expect(mod.kotState[33]).toBe(KotState.HKID_ASSIGNED);

    // ADDCX before keys are configured; KEY.CONFIG per package; repeats are a warning.
    expect(fmt(mod.mngAddcx(tdr, pageOf(pool)))).toBe('TDX_TD_KEYS_NOT_CONFIGURED');
    expect(fmt(mod.mngAddcx(pageOf(pool), pageOf(pool)))).toBe('TDX_PAGE_METADATA_INCORRECT|RDX');
    const ket = mod.hold({ kind: 'ket', pkg: 0 });
    expect(fmt(mod.mngKeyConfig(tdr))).toBe('TDX_OPERAND_BUSY|KET');
    ket?.release();
    const tdrLock = mod.hold({ kind: 'page', hpa: tdr }, 'shared');
    expect(fmt(mod.mngKeyConfig(tdr))).toBe('TDX_OPERAND_BUSY|RCX');
    tdrLock?.release();
    expectOk(mod.onLp(0).mngKeyConfig(tdr));
    expect(mod.mngKeyConfig(tdr)).toEqual({ hi: 0x00000815, lo: 0 });
    expect(mod.td(tdr)?.lifecycle).toBe(TdLifecycle.TD_HKID_ASSIGNED);
    expectOk(mod.onLp(4).mngKeyConfig(tdr));
    expect(mod.td(tdr)?.lifecycle).toBe(TdLifecycle.TD_KEYS_CONFIGURED);
    expect(fmt(mod.mngKeyConfig(tdr))).toBe('TDX_LIFECYCLE_STATE_INCORRECT');
    // ADDCX: the page must be PT_NDA; the sixth page can fail for entropy.
    expect(fmt(mod.mngAddcx(tdr, tdr))).toBe('TDX_PAGE_METADATA_INCORRECT|RCX');
    for (let i = 0; i < 5; i++) expectOk(mod.mngAddcx(tdr, pageOf(pool)));
    mod.entropyFailures = 1;
    expect(fmt(mod.mngAddcx(tdr, pageOf(pool)))).toBe('TDX_RND_NO_ENTROPY');
    expectOk(mod.mngAddcx(tdr, pageOf(pool)));
    expect(mod.td(tdr)?.chldcnt).toBe(6);
  });
});

describe('TD build-state and op-state checks', () => {
  it('MR.FINALIZE needs vCPUs and runs once; VP.CREATE and MR.EXTEND only before it', () => {
    const f = buildTd({ nvcpus: 0 });
    const { mod, tdr } = f;
    expect(fmt(mod.mrFinalize(tdr))).toBe('TDX_NO_VCPUS');
    const v = f.page(FrameOwner.TDX_TDVPR);
    expectOk(mod.vpCreate(tdr, v));
    expect(fmt(mod.mrFinalize(tdr))).toBe('TDX_NO_VCPUS'); // created is not initialised
    for (let j = 1; j < mod.tdvpsPages; j++) expectOk(mod.vpAddcx(v, f.page()));
    expectOk(mod.vpInit(v, 0));
    const busy = mod.hold({ kind: 'page', hpa: tdr }, 'shared');
    expect(fmt(mod.mrFinalize(tdr))).toBe('TDX_OPERAND_BUSY|RCX');
    busy?.release();
    expectOk(mod.mrFinalize(tdr));
    expect(fmt(mod.mrFinalize(tdr))).toBe('TDX_OP_STATE_INCORRECT');
    expect(fmt(mod.vpCreate(tdr, f.page()))).toBe('TDX_OP_STATE_INCORRECT');
    expect(fmt(mod.mrExtend(tdr, 0))).toBe('TDX_OP_STATE_INCORRECT');
    expect(fmt(mod.mngInit(tdr, f.page()))).toBe('TDX_OP_STATE_INCORRECT');
  });

  it('caps vCPUs at MAX_VCPUS', () => {
    const f = buildTd({ nvcpus: 2, params: { maxVcpus: 2 } });
    const v = f.page();
    expectOk(f.mod.vpCreate(f.tdr, v));
    for (let j = 1; j < f.mod.tdvpsPages; j++) expectOk(f.mod.vpAddcx(v, f.page()));
    expect(fmt(f.mod.vpInit(v, 0))).toBe('TDX_MAX_VCPUS_EXCEEDED');
  });

  it('reads the kept fields with MNG.RD and VP.RD (module field ids)', () => {
    const f = buildTd();
    const { mod, tdr } = f;
    expectOk(mod.mngRd(tdr, MNG_FIELDS.OP_STATE));
    expect(mod.out.get(8)).toBe(OpState.INITIALIZED);
    expectOk(mod.mngRd(tdr, MNG_FIELDS.TD_EPOCH));
    expect(mod.out.get(8)).toBe(1);
    expectOk(mod.mngRd(tdr, MNG_FIELDS.CHLDCNT));
    expect(mod.out.get(8)).toBe(6 + mod.tdvpsPages);
    const v = f.vcpus[0] as number;
    expectOk(mod.vpRd(v, VP_FIELDS.TDVPS_PAGE_PA));
    expect(mod.out.get(8)).toBe(v);
    expect(fmt(mod.mngRd(tdr, 0x1234n))).toBe('TDX_METADATA_FIELD_ID_INCORRECT|RDX');
    // TD VMCS writes as KVM's tdx_vcpu_init does (POSTED_INTR_NV = 0x0002).
    expectOk(mod.vpWr(v, 0x0002n, 0xf2n, 0xffffn));
    expect(mod.out.get(8)).toBe(0);
    expectOk(mod.vpWr(v, 0x0002n, 0xabcdn, 0xff00n));
    expect(mod.out.get(8)).toBe(0xf2);
    expectOk(mod.vpRd(v, 0x0002n));
    expect(mod.out.get(8)).toBe(0xabf2);
    expect(fmt(mod.vpWr(v, 0x9010000200000001n, 1n))).toBe('TDX_METADATA_FIELD_ID_INCORRECT|RDX');
    expectOk(mod.mrFinalize(tdr));
    const digest = mod.td(tdr)?.mrtd.value as Uint8Array;
    expectOk(mod.mngRd(tdr, MNG_FIELDS.MRTD + 1n));
    expect(mod.out.lo[8]).toBe(new DataView(digest.buffer, digest.byteOffset).getUint32(8, true));
    // After VPFLUSHDONE the TDR fields still read, the TDCS ones do not.
    expectOk(mod.vpFlush(v));
    expectOk(mod.mngVpflushdone(tdr));
    expectOk(mod.mngRd(tdr, MNG_FIELDS.LIFECYCLE_STATE));
    expect(mod.out.get(8)).toBe(TdLifecycle.TD_BLOCKED);
    expect(fmt(mod.mngRd(tdr, MNG_FIELDS.OP_STATE))).toBe('TDX_TD_KEYS_NOT_CONFIGURED');
  });
});

describe('vCPU association and teardown', () => {
  it('ties a vCPU to one LP until VP.FLUSH on that LP', () => {
    const f = buildTd({ nvcpus: 1 });
    const { mod, tdr } = f;
    const v = f.vcpus[0] as number;
    expectOk(mod.mrFinalize(tdr));
    mod.onLp(1);
    expect(fmt(mod.enterGuest(v))).toBe('TDX_VCPU_ASSOCIATED');
    expect(fmt(mod.vpFlush(v))).toBe('TDX_VCPU_NOT_ASSOCIATED');
    expect(fmt(mod.mngVpflushdone(tdr))).toBe('TDX_FLUSHVP_NOT_DONE');
    mod.onLp(0);
    expectOk(mod.enterGuest(v));
    expect(fmt(mod.vpFlush(v))).toBe('TDX_OPERAND_BUSY|RCX'); // it is running
    mod.exitGuest(v);
    expectOk(mod.vpFlush(v));
    expect(fmt(mod.vpFlush(v))).toBe('TDX_VCPU_NOT_ASSOCIATED');
    // After the flush the vCPU may run on another LP (and is associated there).
    mod.onLp(3);
    expectOk(mod.enterGuest(v));
    mod.exitGuest(v);
    expectOk(mod.vpFlush(v));
    mod.onLp(0);
    expectOk(mod.mngVpflushdone(tdr));
    expect(mod.kotState[f.hkid]).toBe(KotState.HKID_FLUSHED);
    expect(fmt(mod.mngVpflushdone(tdr))).toBe('TDX_LIFECYCLE_STATE_INCORRECT');
    expect(fmt(mod.enterGuest(v))).toBe('TDX_TD_KEYS_NOT_CONFIGURED');
    expect(fmt(mod.vpFlush(v))).toBe('TDX_TD_KEYS_NOT_CONFIGURED');
  });

  it('CACHE.WB: start/resume, interruption, busy package, nothing to do', () => {
    const f = buildTd();
    const { mod, tdr } = f;
    expect(fmt(mod.phymemCacheWb(false))).toBe('TDX_NO_HKID_READY_TO_WBCACHE');
    expect(fmt(mod.phymemCacheWb(true))).toBe('TDX_WBCACHE_RESUME_ERROR');
    expect(fmt(mod.mngKeyFreeid(tdr))).toBe('TDX_LIFECYCLE_STATE_INCORRECT');
    expectOk(mod.vpFlush(f.vcpus[0] as number));
    expectOk(mod.mngVpflushdone(tdr));
    const wb = mod.hold({ kind: 'wbcache', pkg: 0 });
    expect(fmt(mod.phymemCacheWb(false))).toBe('TDX_OPERAND_BUSY|WBCACHE');
    wb?.release();
    const r = SeamRegs.of({ rcx: 2 });
    expect(fmt(mod.seamcall(40, r).status)).toBe('TDX_OPERAND_INVALID|RCX');
    mod.cacheWbInterrupts = 2;
    expect(fmt(mod.phymemCacheWb(false))).toBe('TDX_INTERRUPTED_RESUMABLE');
    expect(fmt(mod.phymemCacheWb(true))).toBe('TDX_INTERRUPTED_RESUMABLE');
    expect(fmt(mod.mngKeyFreeid(tdr))).toBe('TDX_WBCACHE_NOT_COMPLETE');
    expectOk(mod.phymemCacheWb(true));
    expectOk(mod.mngKeyFreeid(tdr));
    expect(mod.kotState[f.hkid]).toBe(KotState.HKID_FREE);
    // The HKID can be used by a new TD.
    expectOk(mod.mngCreate(f.page(), f.hkid));
  });

  it('RECLAIM, RDMD and WBINVD follow the PAMT', () => {
    const f = buildTd();
    const { mod, tdr } = f;
    const gpa = 0x100000;
    mapTables(f, gpa);
    const pg = f.page();
    expectOk(mod.memPageAug(tdr, gpa, 0, pg));
    expectOk(mod.memRangeBlock(tdr, gpa, 0));
    expectOk(mod.phymemPageRdmd(pg));
    expect([mod.out.get(1), mod.out.get(2), mod.out.get(8), mod.out.get(9)]).toEqual([
      PageType.PT_REG,
      tdr,
      0,
      1,
    ]);
    expect(fmt(mod.phymemPageReclaim(f.page()))).toBe('TDX_PAGE_METADATA_INCORRECT|RCX');
    expect(fmt(mod.phymemPageReclaim(pg))).toBe('TDX_LIFECYCLE_STATE_INCORRECT');
    expect(mod.out.get(1)).toBe(PageType.PT_REG); // RCX/RDX/R8 are reported even on failure
    expect(fmt(mod.phymemPageWbinvd(pg, f.hkid))).toBe('TDX_PAGE_METADATA_INCORRECT|RCX');
    expect(fmt(mod.phymemPageWbinvd(pg + 0x10, f.hkid))).toBe('TDX_OPERAND_INVALID|RCX');
    expectOk(mod.phymemPageWbinvd(f.page(), f.hkid));
  });
});
