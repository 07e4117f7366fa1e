// Taking a private page away from a running TD, as KVM's tdx_sept_remove_private_spte() and
// tdx_sept_zap_private_spte() do: TDH.MEM.RANGE.BLOCK (no new TLB entries), TDH.MEM.TRACK
// (a new TLB epoch), kick the vCPUs out so nobody still runs in the old epoch, then
// TDH.MEM.PAGE.REMOVE and TDH.PHYMEM.PAGE.WBINVD with the TD's KeyID. Skipping a step gives the
// module's answer, never a crash. Also: UNBLOCK, removing an emptied S-EPT table
// (TDH.MEM.SEPT.REMOVE), and splitting a 2M private page with TDH.MEM.PAGE.DEMOTE.
import assert from 'node:assert/strict';
import { FrameOwner, FramePool } from '@kvmx/paging';
import { encodeTdParams, formatStatus, TdxModule, type TdxStatus } from '@kvmx/tdx-module';

const pool = new FramePool();
const mod = new TdxModule({ pool });
const page = (owner: FrameOwner = FrameOwner.HOST) => pool.alloc(owner) * 4096;
const ok = (s: TdxStatus) => assert.equal(formatStatus(s), 'TDX_SUCCESS');
// A runnable TD with two vCPUs (see td-lifecycle.ts for the steps).
const hkid = mod.keyIds.alloc();
const tdr = page(FrameOwner.TDX_TDR);
ok(mod.mngCreate(tdr, hkid));
ok(mod.mngKeyConfig(tdr));
for (let i = 0; i < mod.tdcsPages; i++) ok(mod.mngAddcx(tdr, page(FrameOwner.TDX_TDCS)));
const params = page();
pool.write(params / 4096, 0, encodeTdParams({ maxVcpus: 2 }));
ok(mod.mngInit(tdr, params));
const vcpus = [0, 1].map(() => {
  const tdvpr = page(FrameOwner.TDX_TDVPR);
  ok(mod.vpCreate(tdr, tdvpr));
  for (let i = 1; i < mod.tdvpsPages; i++) ok(mod.vpAddcx(tdvpr, page(FrameOwner.TDX_TDVPX)));
  ok(mod.vpInit(tdvpr, 0));
  return tdvpr;
});
const [a, b] = vcpus as [number, number];
ok(mod.mrFinalize(tdr));
const GPA = 0x4000_0000;
for (const level of [3, 2, 1]) {
  ok(mod.memSeptAdd(tdr, GPA - (GPA % 2 ** (12 + 9 * level)), level, page()));
}
const priv = page(FrameOwner.GUEST_MEMFD);
ok(mod.memPageAug(tdr, GPA, 0, priv));

// REMOVE straight away: refused, the page is not blocked (RDX: level 0, PENDING).
assert.equal(formatStatus(mod.memPageRemove(tdr, GPA, 0)), 'TDX_GPA_RANGE_NOT_BLOCKED|RCX');
// vCPU a is inside the TD, in the current TLB epoch (1).
const td = mod.td(tdr);
assert.equal(td?.tdEpoch, 1);
ok(mod.enterGuest(a));
ok(mod.memRangeBlock(tdr, GPA, 0));
assert.equal(mod.septEntry(tdr, GPA)?.state, 'PENDING_BLOCKED');
assert.equal(
  formatStatus(mod.memRangeBlock(tdr, GPA, 0)),
  'TDX_GPA_RANGE_ALREADY_BLOCKED|RCX', // a warning, not an error: bit 63 is clear
);
assert.equal(formatStatus(mod.memPageRemove(tdr, GPA, 0)), 'TDX_TLB_TRACKING_NOT_DONE|RCX');
ok(mod.memTrack(tdr)); // epoch 2
assert.equal(td?.tdEpoch, 2);
ok(mod.enterGuest(b)); // b enters in epoch 2
// a may still hold a stale translation from epoch 1: REMOVE must wait for it to leave.
assert.equal(formatStatus(mod.memPageRemove(tdr, GPA, 0)), 'TDX_TLB_TRACKING_NOT_DONE|RCX');
assert.equal(formatStatus(mod.memTrack(tdr)), 'TDX_PREVIOUS_TLB_EPOCH_BUSY');
// KVM's kick (tdx_track(): kvm_make_all_cpus_request(KVM_REQ_OUTSIDE_GUEST_MODE)).
mod.exitGuest(a);
ok(mod.memPageRemove(tdr, GPA, 0));
assert.equal(mod.out.get(1), priv); // RCX: the page's HPA, back to the host
assert.equal(mod.septEntry(tdr, GPA)?.state, 'FREE');
ok(mod.phymemPageWbinvd(priv, hkid)); // flush its cache lines written with the TD's key
mod.exitGuest(b);

// BLOCK then UNBLOCK (after tracking) puts an entry back as it was.
const GPA2 = GPA + 0x1000;
ok(mod.memPageAug(tdr, GPA2, 0, page(FrameOwner.GUEST_MEMFD)));
ok(mod.memRangeBlock(tdr, GPA2, 0));
assert.equal(
  formatStatus(mod.memRangeUnblock(tdr, GPA2, 0)),
  'TDX_TLB_TRACKING_NOT_DONE|SEPT_TREE',
);
ok(mod.memTrack(tdr));
ok(mod.memRangeUnblock(tdr, GPA2, 0));
assert.equal(mod.septEntry(tdr, GPA2)?.state, 'PENDING');

// Removing the page table under GPA: it must be blocked, tracked — and empty.
ok(mod.memRangeBlock(tdr, GPA, 1));
ok(mod.memTrack(tdr));
assert.equal(formatStatus(mod.memSeptRemove(tdr, GPA, 1)), 'TDX_EPT_PAGE_NOT_FREE|RCX');
ok(mod.memRangeUnblock(tdr, GPA, 1));
ok(mod.memRangeBlock(tdr, GPA2, 0));
ok(mod.memTrack(tdr));
ok(mod.memPageRemove(tdr, GPA2, 0));
ok(mod.memRangeBlock(tdr, GPA, 1));
ok(mod.memTrack(tdr));
const table = mod.septEntry(tdr, GPA, 1)?.pfn;
ok(mod.memSeptRemove(tdr, GPA, 1));
assert.equal(mod.out.get(1), (table as number) * 4096); // the S-EPT page, back to the host
assert.equal(mod.septEntry(tdr, GPA, 1)?.state, 'FREE');

// A 2M private page (a 2M guest_memfd folio) split into 512 4K pages: block, track, demote
// with a new S-EPT page for the 4K table.
const GPA_2M = GPA + 0x20_0000;
const folio = pool.allocContiguous(512, FrameOwner.GUEST_MEMFD, 512) * 4096;
ok(mod.memPageAug(tdr, GPA_2M, 1, folio));
assert.equal(mod.septEntry(tdr, GPA_2M, 1)?.state, 'PENDING');
assert.equal(
  formatStatus(mod.memPageDemote(tdr, GPA_2M, 1, page())),
  'TDX_GPA_RANGE_NOT_BLOCKED|RCX',
);
ok(mod.memRangeBlock(tdr, GPA_2M, 1));
ok(mod.memTrack(tdr));
ok(mod.memPageDemote(tdr, GPA_2M, 1, page()));
assert.equal(mod.septEntry(tdr, GPA_2M, 1)?.state, 'NL_MAPPED');
const last = mod.septEntry(tdr, GPA_2M + 0x1f_f000, 0);
assert.equal(last?.state, 'PENDING'); // each 4K piece keeps the huge page's state
assert.equal(last?.pfn, folio / 4096 + 511);
// PROMOTE merges them back — only once the table is blocked and tracked.
assert.equal(formatStatus(mod.memPagePromote(tdr, GPA_2M, 1)), 'TDX_GPA_RANGE_NOT_BLOCKED|RCX');
ok(mod.memRangeBlock(tdr, GPA_2M, 1));
ok(mod.memTrack(tdr));
ok(mod.memPagePromote(tdr, GPA_2M, 1));
assert.equal(mod.septEntry(tdr, GPA_2M, 1)?.state, 'PENDING');
