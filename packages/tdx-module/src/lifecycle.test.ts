import { FrameOwner } from '@kvmx/paging';
import { describe, expect, it } from 'vitest';
import { formatStatus, type TdxStatus } from './status.js';
import { OpState, PageType, TdLifecycle, VcpuState } from './td-state.js';
import {
  EXIT_REASON_EPT_VIOLATION,
  EXIT_REASON_EXTERNAL_INTERRUPT,
  encodeTdParams,
  type TdxCallEvent,
} from './tdx-module.js';
import { buildTd, expectOk, mapTables, newModule, pageOf } from './test-helpers.js';

const fmt = (s: TdxStatus) => formatStatus(s);
const GPA = 0x40000000; // 1 GiB

describe('a whole TD life', () => {
  it('create → keys → init → vCPUs → PAGE.ADD+MR.EXTEND → finalize → AUG/ACCEPT → BLOCK/TRACK/REMOVE → teardown → reclaim', () => {
    const f = buildTd({ packages: 2, nvcpus: 2 });
    const { mod, pool, tdr } = f;
    const td = mod.td(tdr);
    expect(td?.lifecycle).toBe(TdLifecycle.TD_KEYS_CONFIGURED);
    expect(td?.opState).toBe(OpState.INITIALIZED);
    expect(td?.numVcpus).toBe(2);

    const events: TdxCallEvent[] = [];
    mod.setListener((e) => events.push(e));

    // Measured initial image: 2 pages, each PAGE.ADD + 16 × MR.EXTEND (KVM_TDX_MEASURE_MEMORY_REGION).
    mapTables(f, GPA);
    const src = f.page(FrameOwner.VMM_SHARED);
    pool.fill(src / 4096, 0, 4096, 0xab);
    const added: number[] = [];
    for (let i = 0; i < 2; i++) {
      const target = f.page(FrameOwner.GUEST_MEMFD);
      added.push(target);
      expectOk(mod.memPageAdd(tdr, GPA + i * 4096, target, src), 'PAGE.ADD');
      for (let c = 0; c < 4096; c += 256)
        expectOk(mod.mrExtend(tdr, GPA + i * 4096 + c), 'MR.EXTEND');
      expect(pool.readByte(target / 4096, 100)).toBe(0xab);
    }
    expect(mod.septEntry(tdr, GPA)?.state).toBe('MAPPED');
    expectOk(mod.mrFinalize(tdr), 'MR.FINALIZE');
    expect(td?.opState).toBe(OpState.RUNNABLE);
    expect(td?.mrtd.value?.length).toBe(48);
    // PAGE.ADD is refused after finalize.
    expect(fmt(mod.memPageAdd(tdr, GPA + 0x2000, f.page(), src))).toBe('TDX_OP_STATE_INCORRECT');

    // Runtime private memory: AUG (PENDING), the guest ACCEPTs (zeroed, MAPPED).
    const aug = f.page(FrameOwner.GUEST_MEMFD);
    pool.fill(aug / 4096, 0, 4096, 0x5a);
    const gpa2 = GPA + 0x3000;
    expectOk(mod.memPageAug(tdr, gpa2, 0, aug), 'PAGE.AUG');
    expect(mod.septEntry(tdr, gpa2)?.state).toBe('PENDING');
    const vcpu = f.vcpus[0] as number;
    expectOk(mod.enterGuest(vcpu), 'VP.ENTER');
    const acc = mod.tdgMemPageAccept(vcpu, gpa2, 0);
    expect(acc.kind === 'status' && fmt(acc.status)).toBe('TDX_SUCCESS');
    expect(pool.isZero(aug / 4096)).toBe(true);
    expect(mod.septEntry(tdr, gpa2)?.state).toBe('MAPPED');
    const write = mod.guestAccess(vcpu, gpa2 + 8, true);
    expect(write).toEqual({ kind: 'ok', pfn: aug / 4096 });
    const exit = mod.exitGuest(vcpu);
    expect(exit.status).toEqual({ hi: 0, lo: EXIT_REASON_EXTERNAL_INTERRUPT });

    // Private → shared: BLOCK, TRACK, (kick), REMOVE, WBINVD with the TD's HKID.
    expectOk(mod.memRangeBlock(tdr, gpa2, 0), 'RANGE.BLOCK');
    expect(mod.septEntry(tdr, gpa2)?.state).toBe('BLOCKED');
    expectOk(mod.memTrack(tdr), 'TRACK');
    expectOk(mod.memPageRemove(tdr, gpa2, 0), 'PAGE.REMOVE');
    expect(mod.out.get(1)).toBe(aug);
    expect(mod.septEntry(tdr, gpa2)?.state).toBe('FREE');
    expectOk(mod.phymemPageWbinvd(aug, f.hkid), 'PAGE.WBINVD');

    // Teardown as tdx_mmu_release_hkid: VP.FLUSH on each vCPU's LP, VPFLUSHDONE, CACHE.WB per
    // package, KEY.FREEID; then RECLAIM every page and the TDR last.
    for (const v of f.vcpus) expectOk(mod.vpFlush(v), 'VP.FLUSH');
    expectOk(mod.mngVpflushdone(tdr), 'VPFLUSHDONE');
    expect(td?.lifecycle).toBe(TdLifecycle.TD_BLOCKED);
    expect(fmt(mod.mngKeyFreeid(tdr))).toBe('TDX_WBCACHE_NOT_COMPLETE');
    mod.onLp(0);
    expectOk(mod.phymemCacheWb(false), 'CACHE.WB pkg0');
    mod.onLp(mod.lpsPerPackage);
    expectOk(mod.phymemCacheWb(false), 'CACHE.WB pkg1');
    expect(fmt(mod.phymemCacheWb(false))).toBe('TDX_NO_HKID_READY_TO_WBCACHE');
    mod.onLp(0);
    expectOk(mod.mngKeyFreeid(tdr), 'KEY.FREEID');
    expect(td?.lifecycle).toBe(TdLifecycle.TD_TEARDOWN);
    expect(mod.kotState[f.hkid]).toBe(0);

    // The TDR cannot go first.
    expect(fmt(mod.phymemPageReclaim(tdr))).toBe('TDX_TD_ASSOCIATED_PAGES_EXIST');
    const children: number[] = [...added];
    for (const t of td?.tdcx ?? []) children.push(t * 4096);
    for (const v of f.vcpus) for (const p of mod.vcpu(v)?.pages ?? []) children.push(p * 4096);
    // S-EPT pages: everything the PAMT says is PT_EPT owned by this TD.
    for (let pfn = pool.basePfn; pfn < pool.basePfn + pool.stats().highWater; pfn++) {
      if (mod.pamt.pt(pfn, 0) === PageType.PT_EPT) children.push(pfn * 4096);
    }
    for (const p of children) {
      expectOk(mod.phymemPageReclaim(p), `RECLAIM ${p.toString(16)}`);
    }
    expect(td?.chldcnt).toBe(0);
    expectOk(mod.phymemPageReclaim(tdr), 'RECLAIM TDR');
    expect(mod.out.get(1)).toBe(PageType.PT_TDR);
    expect(mod.td(tdr)).toBeUndefined();
    expectOk(mod.phymemPageWbinvd(tdr, mod.tdxKeyIdStart), 'WBINVD TDR');

    // The event stream saw every call with its leaf name and status.
    const names = events.map((e) => e.name);
    expect(names).toContain('TDH.MEM.PAGE.ADD');
    expect(names).toContain('TDH.MR.EXTEND');
    expect(names).toContain('TDG.MEM.PAGE.ACCEPT');
    expect(names.filter((n) => n === 'TDH.VP.ENTER')).toHaveLength(1);
    expect(events.find((e) => e.name === 'TDH.MNG.KEY.FREEID')?.status).toEqual({
      hi: 0x80000817,
      lo: 0,
    });
  });

  it('needs a module with TDH.VP.INIT version 1 for the x2APIC ID (upstream KVM)', () => {
    const f = buildTd({ version: 'newer', nvcpus: 0 });
    const a = f.page(FrameOwner.TDX_TDVPR);
    const b = f.page(FrameOwner.TDX_TDVPR);
    for (const v of [a, b]) {
      expectOk(f.mod.vpCreate(f.tdr, v));
      for (let j = 1; j < f.mod.tdvpsPages; j++) expectOk(f.mod.vpAddcx(v, f.page()));
    }
    expectOk(f.mod.vpInit(a, 0, 0));
    expect(fmt(f.mod.vpInit(b, 0, 0))).toBe('TDX_X2APIC_ID_NOT_UNIQUE');
    expectOk(f.mod.vpInit(b, 0, 1));
    const old = buildTd({ nvcpus: 0 });
    const v = old.page();
    expectOk(old.mod.vpCreate(old.tdr, v));
    expect(fmt(old.mod.vpInit(v, 0, 0))).toBe('TDX_OPERAND_INVALID|RAX');
  });

  it('runs the module boot sequence Linux uses when started uninitialised', () => {
    const { mod, pool } = newModule({ ready: false, packages: 2, lpsPerPackage: 2 });
    const tdr = pageOf(pool);
    expect(fmt(mod.mngCreate(tdr, 33))).toBe('TDX_SYS_NOT_READY');
    expectOk(mod.sysInit());
    expect(fmt(mod.sysInit())).toBe('TDX_SYS_INIT_NOT_PENDING');
    expect(fmt(mod.sysConfig(32))).toBe('TDX_SYS_LP_INIT_NOT_DONE');
    for (let lp = 0; lp < 4; lp++) expectOk(mod.onLp(lp).sysLpInit());
    expect(fmt(mod.sysLpInit())).toBe('TDX_SYS_LP_INIT_DONE');
    expectOk(mod.sysConfig(32));
    expectOk(mod.onLp(0).sysKeyConfig());
    expect(fmt(mod.mngCreate(tdr, 33))).toBe('TDX_SYS_NOT_READY');
    expectOk(mod.onLp(2).sysKeyConfig());
    expectOk(mod.mngCreate(tdr, 33));
    // The global KeyID is reserved.
    expect(fmt(mod.mngCreate(pageOf(pool), 32))).toBe('TDX_HKID_NOT_FREE');
  });

  it('VP.ENTER runs guest code and returns its exit (EPT violation on an unaccepted GPA)', () => {
    const f = buildTd();
    const { mod, tdr } = f;
    expectOk(mod.mrFinalize(tdr));
    const vcpu = f.vcpus[0] as number;
    mod.guestRunner = (v) => {
      const r = mod.tdgMemPageAccept(v, GPA, 0);
      expect(r.kind).toBe('exit');
    };
    const s = mod.vpEnter(vcpu);
    expect(s).toEqual({ hi: 0, lo: EXIT_REASON_EPT_VIOLATION });
    expect(mod.out.get(8)).toBe(GPA); // R8 = faulting GPA
    expect(mod.out.get(2) & 0xf).toBe(1); // RDX: extended exit qualification type ACCEPT
    expect(mod.td(tdr)?.refcount[1]).toBe(0);
  });

  it('checks TD_PARAMS fields in MNG.INIT with their operand ids', () => {
    const cases: [Parameters<typeof encodeTdParams>[0], string][] = [
      [{ maxVcpus: 0 }, 'TDX_OPERAND_INVALID|MAX_VCPUS'],
      [{ maxVcpus: 1, attributes: 1 << 5 }, 'TDX_OPERAND_INVALID|ATTRIBUTES'],
      [{ maxVcpus: 1, xfam: 1 }, 'TDX_OPERAND_INVALID|XFAM'],
      [{ maxVcpus: 1, tscFrequency: 0 }, 'TDX_OPERAND_INVALID|TSC_FREQUENCY'],
    ];
    for (const [params, want] of cases) {
      const { mod, pool } = newModule();
      const tdr = pageOf(pool);
      expectOk(mod.mngCreate(tdr, 33));
      expectOk(mod.mngKeyConfig(tdr));
      expect(fmt(mod.mngInit(tdr, pageOf(pool)))).toBe('TDX_TDCS_NOT_ALLOCATED');
      for (let i = 0; i < 6; i++) expectOk(mod.mngAddcx(tdr, pageOf(pool)));
      expect(fmt(mod.mngAddcx(tdr, pageOf(pool)))).toBe('TDX_TDCX_NUM_INCORRECT');
      const p = pageOf(pool);
      pool.write(p / 4096, 0, encodeTdParams(params));
      expect(fmt(mod.mngInit(tdr, p))).toBe(want);
      expect(fmt(mod.mngInit(tdr, p + 512))).toBe('TDX_OPERAND_INVALID|RDX');
    }
  });

  it('keeps vCPU states: UNINITIALIZED → READY → ACTIVE → READY', () => {
    const f = buildTd({ nvcpus: 0 });
    const v = f.page();
    expectOk(f.mod.vpCreate(f.tdr, v));
    expect(f.mod.vcpu(v)?.state).toBe(VcpuState.VCPU_UNINITIALIZED);
    expect(fmt(f.mod.vpInit(v, 0))).toBe('TDX_TDCX_NUM_INCORRECT');
    for (let j = 1; j < f.mod.tdvpsPages; j++) expectOk(f.mod.vpAddcx(v, f.page()));
    expect(fmt(f.mod.vpAddcx(v, f.page()))).toBe('TDX_TDCX_NUM_INCORRECT');
    expectOk(f.mod.vpInit(v, 0));
    expect(fmt(f.mod.vpInit(v, 0))).toBe('TDX_VCPU_STATE_INCORRECT');
    expect(fmt(f.mod.vpAddcx(v, f.page()))).toBe('TDX_VCPU_STATE_INCORRECT');
    expect(fmt(f.mod.enterGuest(v))).toBe('TDX_OP_STATE_INCORRECT');
    expectOk(f.mod.mrFinalize(f.tdr));
    expectOk(f.mod.enterGuest(v));
    expect(f.mod.vcpu(v)?.state).toBe(VcpuState.VCPU_ACTIVE);
    f.mod.exitGuest(v);
    expect(f.mod.vcpu(v)?.state).toBe(VcpuState.VCPU_READY);
  });
});
