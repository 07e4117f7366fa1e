// A private page faulted into a running TD, SEAMCALL by SEAMCALL, as KVM issues them:
// tdx_sept_link_private_spt() -> TDH.MEM.SEPT.ADD for each missing S-EPT table, then
// tdx_mem_page_aug() -> TDH.MEM.PAGE.AUG (the entry becomes PENDING), and the guest's
// TDG.MEM.PAGE.ACCEPT (PENDING -> MAPPED, page zeroed). Module levels: 0 = 4K, 1 = 2M, 2 = 1G.
import assert from 'node:assert/strict';
import { FrameOwner, FramePool } from '@kvmx/paging';
import {
  encodeTdParams,
  formatStatus,
  isSuccess,
  TDX_EPT_WALK_FAILED,
  TdxModule,
} from '@kvmx/tdx-module';

const pool = new FramePool();
const mod = new TdxModule({ pool }); // SYS.INIT/LP.INIT/CONFIG/KEY.CONFIG done, as after boot
const page = (owner: FrameOwner = FrameOwner.HOST) => pool.alloc(owner) * 4096;

// tdx_td_init(): MNG.CREATE with a KeyID, KEY.CONFIG on each package, ADDCX, MNG.INIT.
const tdr = page(FrameOwner.TDX_TDR);
assert.equal(formatStatus(mod.mngCreate(tdr, mod.keyIds.alloc())), 'TDX_SUCCESS');
for (let pkg = 0; pkg < mod.packages; pkg++) {
  assert.ok(isSuccess(mod.onLp(pkg * mod.lpsPerPackage).mngKeyConfig(tdr)));
}
mod.onLp(0);
for (let i = 0; i < mod.tdcsPages; i++) assert.ok(isSuccess(mod.mngAddcx(tdr, page())));
const params = page();
pool.write(params / 4096, 0, encodeTdParams({ maxVcpus: 1 })); // GPAW 48: 4-level S-EPT
assert.ok(isSuccess(mod.mngInit(tdr, params)));
// tdx_vcpu_init(): VP.CREATE, VP.ADDCX for the remaining TDVPS pages, VP.INIT.
const tdvpr = page(FrameOwner.TDX_TDVPR);
assert.ok(isSuccess(mod.vpCreate(tdr, tdvpr)));
for (let i = 1; i < mod.tdvpsPages; i++) assert.ok(isSuccess(mod.vpAddcx(tdvpr, page())));
assert.ok(isSuccess(mod.vpInit(tdvpr, 0)));
assert.ok(isSuccess(mod.mrFinalize(tdr))); // the TD is RUNNABLE: pages now come by AUG

const GPA = 0x4000_0000; // 1 GiB
// No S-EPT tables below the root yet: the walk fails and RDX names the level it stopped at.
const walk = mod.memPageAug(tdr, GPA, 0, page());
assert.equal(walk.hi, TDX_EPT_WALK_FAILED);
assert.equal(formatStatus(walk), 'TDX_EPT_WALK_FAILED|RCX');
assert.equal(mod.out.get(2), 3); // RDX: the level-3 (PML4) entry is FREE

// KVM links the missing tables top-down: PDPT (level 3 entry), PD (2), PT (1)...
for (const level of [3, 2, 1]) {
  const base = GPA - (GPA % 2 ** (12 + 9 * level));
  assert.ok(isSuccess(mod.memSeptAdd(tdr, base, level, page(FrameOwner.KVM_EXTERNAL_SPT))));
}
// ...then AUGs the page: the 4K entry is PENDING until the guest accepts it.
const pfnPage = page(FrameOwner.GUEST_MEMFD);
assert.equal(formatStatus(mod.memPageAug(tdr, GPA, 0, pfnPage)), 'TDX_SUCCESS');
assert.equal(mod.septEntry(tdr, GPA)?.state, 'PENDING');
// A second AUG of the same GPA is refused; RDX = entry details (level 0, state PENDING 0x02).
assert.equal(
  formatStatus(mod.memPageAug(tdr, GPA, 0, page())),
  'TDX_EPT_ENTRY_STATE_INCORRECT|RCX',
);
assert.equal(mod.out.get(2), 0x0200);

// The guest accepts the page from inside the TD: PENDING -> MAPPED.
assert.ok(isSuccess(mod.enterGuest(tdvpr)));
const accept = mod.tdgMemPageAccept(tdvpr, GPA, 0);
assert.equal(accept.kind, 'status');
assert.ok(accept.kind === 'status' && isSuccess(accept.status));
assert.equal(mod.septEntry(tdr, GPA)?.state, 'MAPPED');
assert.equal(mod.septEntry(tdr, GPA)?.pfn, pfnPage / 4096);
