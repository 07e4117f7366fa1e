// A TD from creation to the reclaim of its last page, as KVM drives it: tdx_td_init()
// (TDH.MNG.CREATE with a KeyID from tdx_guest_keyid_alloc(), KEY.CONFIG on every package,
// MNG.ADDCX for each TDCS page, MNG.INIT with TD_PARAMS), tdx_vcpu_init() (VP.CREATE, VP.ADDCX,
// VP.INIT), and tdx_mmu_release_hkid() + tdx_reclaim_page() at the end (VP.FLUSH, VPFLUSHDONE,
// PHYMEM.CACHE.WB per package, KEY.FREEID, PHYMEM.PAGE.RECLAIM of every page, the TDR last).
// The module's own state is visible along the way: TDR life-cycle, TDCS op state, vCPU
// state, KOT entries, PAMT page types, and the metadata TDH.MNG.RD / TDH.VP.RD return.
import assert from 'node:assert/strict';
import { FrameOwner, FramePool } from '@kvmx/paging';
import {
  encodeTdParams,
  formatStatus,
  HKID_SHIFT,
  KotState,
  LastLookupMap,
  MAX_NUM_TDCS_PAGES,
  MIN_NUM_TDCS_PAGES,
  MNG_FIELDS,
  OP_STATE_NAMES,
  OpState,
  opStateAllows,
  PAGE_TYPE_NAMES,
  PageType,
  type Pamt,
  PT_1GB,
  PT_2MB,
  PT_4KB,
  TD_LIFECYCLE_NAMES,
  TDH_MEM_PAGE_ADD,
  TDH_MEM_PAGE_AUG,
  type Td,
  TdLifecycle,
  type TdParams,
  TdxKeyIdPool,
  TdxModule,
  type TdxStatus,
  type Vcpu,
  VcpuState,
  VP_FIELDS,
} from '@kvmx/tdx-module';

const pool = new FramePool();
const mod = new TdxModule({ pool, packages: 2, lpsPerPackage: 2 });
const page = (owner: FrameOwner) => pool.alloc(owner) * 4096;
const ok = (s: TdxStatus) => assert.equal(formatStatus(s), 'TDX_SUCCESS');

// KeyIDs: the module's global KeyID is the first TDX KeyID; TDs get the ones after it.
const keyIds: TdxKeyIdPool = mod.keyIds;
const hkid = keyIds.alloc();
assert.equal(hkid, mod.guestHkidStart);
assert.equal(mod.keyedPa(0x1000, hkid), (BigInt(hkid) << BigInt(HKID_SHIFT)) | 0x1000n);
const tiny = new TdxKeyIdPool(33, 1); // a host with a single guest KeyID
assert.equal(tiny.alloc(), 33);
assert.equal(tiny.alloc(), -1); // Linux: -ENOSPC, no more TDs
assert.equal(tiny.free(33), true);

// TDH.MNG.CREATE: the TDR page becomes PT_TDR in the PAMT; the KeyID is now ASSIGNED.
const tdr = page(FrameOwner.TDX_TDR);
ok(mod.mngCreate(tdr, hkid));
const td = mod.td(tdr) as Td;
assert.equal(TD_LIFECYCLE_NAMES[td.lifecycle], 'TD_HKID_ASSIGNED');
assert.equal(mod.kotState[hkid], KotState.HKID_ASSIGNED);
const pamt: Pamt = mod.pamt;
assert.equal(PAGE_TYPE_NAMES[pamt.pt(tdr / 4096, PT_4KB)], 'PT_TDR');
// KEY.CONFIG must run once on each package; the TD is not usable before.
assert.equal(
  formatStatus(mod.mngAddcx(tdr, page(FrameOwner.TDX_TDCS))),
  'TDX_TD_KEYS_NOT_CONFIGURED',
);
ok(mod.onLp(0).mngKeyConfig(tdr));
assert.equal(formatStatus(mod.onLp(1).mngKeyConfig(tdr)), 'TDX_KEY_CONFIGURED'); // same package
ok(mod.onLp(2).mngKeyConfig(tdr));
assert.equal(td.lifecycle, TdLifecycle.TD_KEYS_CONFIGURED);
mod.onLp(0);
// TDCS pages: the module wants exactly tdcsPages of them (6..9 depending on the module).
assert.ok(mod.tdcsPages >= MIN_NUM_TDCS_PAGES && mod.tdcsPages <= MAX_NUM_TDCS_PAGES);
for (let i = 0; i < mod.tdcsPages; i++) ok(mod.mngAddcx(tdr, page(FrameOwner.TDX_TDCS)));
assert.equal(pamt.pt(td.tdcx[0] as number, PT_4KB), PageType.PT_TDCX);
// TD_PARAMS in a host page: 52-bit GPAW (5-level S-EPT), SEPT_VE_DISABLE (attribute bit 28).
const params: TdParams = { maxVcpus: 2, gpaw: 52, attributes: 1 << 28 };
const paramsPage = page(FrameOwner.HOST);
pool.write(paramsPage / 4096, 0, encodeTdParams(params));
ok(mod.mngInit(tdr, paramsPage));
assert.equal(OP_STATE_NAMES[td.opState], 'OP_STATE_INITIALIZED');
assert.equal(td.septVeDisable, true);
// What each op state allows: PAGE.ADD only while building, PAGE.AUG also once runnable.
assert.equal(opStateAllows(TDH_MEM_PAGE_ADD, OpState.INITIALIZED), true);
assert.equal(opStateAllows(TDH_MEM_PAGE_ADD, OpState.RUNNABLE), false);
assert.equal(opStateAllows(TDH_MEM_PAGE_AUG, OpState.RUNNABLE), true);

// Metadata as KVM reads it (tdx_td_init reads nothing back; debugfs-like tools do).
ok(mod.mngRd(tdr, MNG_FIELDS.GPAW));
assert.equal(mod.out.get(8), 1); // GPAW 52
ok(mod.mngRd(tdr, MNG_FIELDS.EPTP));
assert.equal(mod.out.get(8) & 0x3f, 6 | (4 << 3)); // WB, 5-level walk
ok(mod.mngRd(tdr, MNG_FIELDS.NUM_TDCX));
assert.equal(mod.out.get(8), mod.tdcsPages);
assert.equal(formatStatus(mod.mngRd(tdr, 0x1234n)), 'TDX_METADATA_FIELD_ID_INCORRECT|RDX');

// A vCPU: TDVPR, the remaining TDVPS pages, VP.INIT.
const tdvpr = page(FrameOwner.TDX_TDVPR);
ok(mod.vpCreate(tdr, tdvpr));
for (let i = 1; i < mod.tdvpsPages; i++) ok(mod.vpAddcx(tdvpr, page(FrameOwner.TDX_TDVPX)));
const vcpu = mod.vcpu(tdvpr) as Vcpu;
assert.equal(vcpu.state, VcpuState.VCPU_UNINITIALIZED);
ok(mod.vpInit(tdvpr, 0));
assert.equal(vcpu.state, VcpuState.VCPU_READY);
ok(mod.vpRd(tdvpr, VP_FIELDS.TDVPS_PAGE_PA));
assert.equal(mod.out.get(8), tdvpr); // element 0 is the TDVPR itself
ok(mod.mrFinalize(tdr));
assert.equal(td.opState, OpState.RUNNABLE);
ok(mod.mngRd(tdr, MNG_FIELDS.CHLDCNT));
assert.equal(mod.out.get(8), mod.tdcsPages + mod.tdvpsPages); // pages the TD holds

// PHYMEM.PAGE.RDMD: the PAMT entry of any page — type, owner TDR, size.
ok(mod.phymemPageRdmd(tdvpr));
assert.equal(mod.out.get(1), PageType.PT_TDVPR);
assert.equal(mod.out.get(2), tdr);
assert.equal(mod.out.get(8), PT_4KB);
assert.deepEqual([PT_4KB, PT_2MB, PT_1GB], [0, 1, 2]);

// Teardown (tdx_mmu_release_hkid): flush the vCPU, then the TD's caches, then free the KeyID.
assert.equal(formatStatus(mod.mngVpflushdone(tdr)), 'TDX_FLUSHVP_NOT_DONE');
ok(mod.vpFlush(tdvpr));
ok(mod.mngVpflushdone(tdr));
assert.equal(td.lifecycle, TdLifecycle.TD_BLOCKED);
assert.equal(formatStatus(mod.mngKeyFreeid(tdr)), 'TDX_WBCACHE_NOT_COMPLETE');
ok(mod.onLp(0).phymemCacheWb(false)); // one LP per package
ok(mod.onLp(2).phymemCacheWb(false));
ok(mod.mngKeyFreeid(tdr));
assert.equal(td.lifecycle, TdLifecycle.TD_TEARDOWN);
assert.equal(mod.kotState[hkid], KotState.HKID_FREE); // only now may KVM free its IDA entry
assert.ok(keyIds.free(hkid));

// Reclaim: the TDR goes last, after every page the TD owns.
assert.equal(formatStatus(mod.phymemPageReclaim(tdr)), 'TDX_TD_ASSOCIATED_PAGES_EXIST');
for (const pfn of [...td.tdcx, ...vcpu.pages]) ok(mod.phymemPageReclaim(pfn * 4096));
ok(mod.phymemPageReclaim(tdr));
// The TD and vCPU tables remember their last lookup (a fault-in looks the same TD up several
// times); a reclaim that removes an entry makes them forget it, so the TD is gone at once.
assert.ok(mod.tds instanceof LastLookupMap);
assert.equal(mod.td(tdr), undefined);
assert.equal(mod.vcpu(tdvpr), undefined);
assert.equal(pamt.pt(tdr / 4096, PT_4KB), PageType.PT_NDA);
// The TDR was written with the global KeyID: flush it with that KeyID before reuse.
ok(mod.phymemPageWbinvd(tdr, mod.tdxKeyIdStart));
