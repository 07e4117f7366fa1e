// Observing and contending with the module. Every SEAMCALL and TDCALL can be reported to one
// listener (the source of `kvmx run --json`'s "seamcall" events, via tdxEventToJson()); nothing
// is built when nobody listens. Module locks are try-locks: a leaf that finds a resource held
// by another CPU returns TDX_OPERAND_BUSY with the operand naming it (the S-EPT tree, an entry,
// the TD epoch, …) — which KVM's tdx_operand_busy() retries. `hold()` stands for that other CPU.
import assert from 'node:assert/strict';
import { FrameOwner, FramePool } from '@kvmx/paging';
import {
  encodeTdParams,
  formatStatus,
  type HeldLock,
  type LockMode,
  type LockResource,
  LockTable,
  lockKey,
  type TdxCallEvent,
  type TdxEventListener,
  TdxModule,
  type TdxStatus,
  tdxEventToJson,
} from '@kvmx/tdx-module';

const pool = new FramePool();
const mod = new TdxModule({ pool });
const page = (owner: FrameOwner = FrameOwner.HOST) => pool.alloc(owner) * 4096;
const ok = (s: TdxStatus) => assert.equal(formatStatus(s), 'TDX_SUCCESS');
const tdr = page(FrameOwner.TDX_TDR);
ok(mod.mngCreate(tdr, mod.keyIds.alloc()));
ok(mod.mngKeyConfig(tdr));
for (let i = 0; i < mod.tdcsPages; i++) ok(mod.mngAddcx(tdr, page(FrameOwner.TDX_TDCS)));
const params = page();
pool.write(params / 4096, 0, encodeTdParams({ maxVcpus: 1 }));
ok(mod.mngInit(tdr, params));
const tdvpr = page(FrameOwner.TDX_TDVPR);
ok(mod.vpCreate(tdr, tdvpr));
for (let i = 1; i < mod.tdvpsPages; i++) ok(mod.vpAddcx(tdvpr, page(FrameOwner.TDX_TDVPX)));
ok(mod.vpInit(tdvpr, 0));
ok(mod.mrFinalize(tdr));

// Record every call from here on.
const events: TdxCallEvent[] = [];
const listener: TdxEventListener = (e) => events.push(e);
mod.setListener(listener);
const GPA = 0x20_0000;
const sept = page(FrameOwner.KVM_EXTERNAL_SPT);
ok(mod.memSeptAdd(tdr, 0, 3, sept));

// Another CPU holds the TD's S-EPT tree: SEPT.ADD answers BUSY naming it, and succeeds once the
// lock is released (KVM retries the fault).
const tree: HeldLock | null = mod.hold({ kind: 'sept', tdr }, 'exclusive');
const pd = page(FrameOwner.KVM_EXTERNAL_SPT);
assert.equal(formatStatus(mod.memSeptAdd(tdr, 0, 2, pd)), 'TDX_OPERAND_BUSY|SEPT_TREE');
tree?.release();
ok(mod.memSeptAdd(tdr, 0, 2, pd));
ok(mod.memSeptAdd(tdr, GPA, 1, page())); // the PT covering GPA
// One entry locked (its TDEL bit): AUG of that GPA is BUSY, the operand being RCX (the GPA).
const entry = mod.hold({ kind: 'septEntry', tdr, gpa: GPA, level: 0 });
assert.equal(formatStatus(mod.memPageAug(tdr, GPA, 0, page())), 'TDX_OPERAND_BUSY|RCX');
entry?.release();
ok(mod.memPageAug(tdr, GPA, 0, page(FrameOwner.GUEST_MEMFD)));
// The TD epoch: TRACK needs it exclusively; a vCPU entering holds it shared.
const epoch = mod.hold({ kind: 'epoch', tdr }, 'shared');
assert.equal(formatStatus(mod.memTrack(tdr)), 'TDX_OPERAND_BUSY|TD_EPOCH');
epoch?.release();
mod.setListener(null);
ok(mod.memTrack(tdr)); // not recorded

assert.deepEqual(
  events.map((e) => `${e.name} ${formatStatus(e.status)}`),
  [
    'TDH.MEM.SEPT.ADD TDX_SUCCESS',
    'TDH.MEM.SEPT.ADD TDX_OPERAND_BUSY|SEPT_TREE',
    'TDH.MEM.SEPT.ADD TDX_SUCCESS',
    'TDH.MEM.SEPT.ADD TDX_SUCCESS',
    'TDH.MEM.PAGE.AUG TDX_OPERAND_BUSY|RCX',
    'TDH.MEM.PAGE.AUG TDX_SUCCESS',
    'TDH.MEM.TRACK TDX_OPERAND_BUSY|TD_EPOCH',
  ],
);
// The JSON form `kvmx run --json` prints: the inputs as the caller passed them.
assert.deepEqual(tdxEventToJson(events[1] as TdxCallEvent), {
  type: 'seamcall',
  leaf: 'TDH.MEM.SEPT.ADD',
  status: 'TDX_OPERAND_BUSY',
  code: '0x8000020000000092',
  operand: 'SEPT_TREE',
  rcx: '0x2', // GPA 0 | level 2
  rdx: `0x${tdr.toString(16)}`,
  r8: `0x${pd.toString(16)}`, // the page offered as the new table
  r9: '0x0',
  lp: 0,
});

// The lock table alone: shared holders coexist, exclusive excludes.
const locks = new LockTable();
const res: LockResource = { kind: 'kot' };
const shared: LockMode = 'shared';
const a = locks.hold(res, shared);
const b = locks.hold(res, shared);
assert.ok(a !== null && b !== null);
assert.equal(locks.hold(res, 'exclusive'), null);
assert.equal(locks.canTake(lockKey(res), 'exclusive'), false);
a.release();
b.release();
assert.equal(locks.canTake(lockKey(res), 'exclusive'), true);
assert.equal(
  lockKey({ kind: 'septEntry', tdr: 0x1000, gpa: 0x20_0000, level: 0 }),
  lockKey({ kind: 'septEntry', tdr: 0x1000, gpa: 0x20_0000, level: 0 }),
);
assert.notEqual(lockKey({ kind: 'ket', pkg: 0 }), lockKey({ kind: 'ket', pkg: 1 }));
