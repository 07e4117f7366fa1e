// Snapshots: a whole VM — host frames, KVM's paging trees, the TDX module's state (TDR, TDCS,
// S-EPT, PAMT), memory attributes, memslots, guest_memfd files, vCPUs and the exits they wait
// in — saved to JSON and loaded back losslessly, so a long exploration can be resumed or a
// state shared. Here a TD after a private write is saved, restored, and both copies continue
// with the same step: the same SEAMCALLs, the same bytes, the same clean invariants.

import assert from 'node:assert/strict';
import {
  exploreVmConfig,
  prologue,
  restore,
  SNAPSHOT_FORMAT,
  type Snapshot,
  SnapshotError,
  StepExecutor,
  snapshot,
  snapshotFromJson,
  snapshotToJson,
} from '@kvmx/explore';
import type { KvmEvent } from '@kvmx/kvm-x86';
import type { StepOp } from '@kvmx/scenario';

const config = exploreVmConfig('tdx');
const original = StepExecutor.create(config);
assert.ok(original instanceof StepExecutor);
for (const op of prologue('tdx')) original.execute(op);
const write: StepOp = {
  op: 'write',
  args: { gpa: 0x5000, size: 16, byte: 0xab, private: true, vcpu: 0 },
};
assert.equal(original.execute(write).run?.exit, null);

// Save, as JSON text, and load.
const saved: Snapshot = snapshot(original, config);
assert.equal(saved.format, SNAPSHOT_FORMAT);
assert.equal(SNAPSHOT_FORMAT, 'kvmx-snapshot/1');
const text = snapshotToJson(saved);
const copy = restore(snapshotFromJson(text));
assert.ok(copy instanceof StepExecutor);
assert.notEqual(copy.kvm, original.kvm);

// Both continue with the same step: a private write next to the first page (AUG + ACCEPT).
const leavesOf = (ex: StepExecutor): { leaves: string[]; off: () => void } => {
  const leaves: string[] = [];
  const off = ex.kvm.events.on((e: KvmEvent) => {
    if (e.type === 'seamcall' || e.type === 'tdcall') leaves.push(e.leaf);
  });
  return { leaves, off };
};
const ra = leavesOf(original);
const rb = leavesOf(copy);
const a = ra.leaves;
const b = rb.leaves;
const next: StepOp = {
  op: 'write',
  args: { gpa: 0x6000, size: 16, byte: 0xcd, private: true, vcpu: 1 },
};
assert.deepEqual(original.execute(next), copy.execute(next));
assert.deepEqual(a, [
  'TDH.VP.ENTER',
  'TDH.MEM.PAGE.AUG',
  '#VE',
  'TDG.MEM.PAGE.ACCEPT',
  'TDH.VP.ENTER',
]);
assert.deepEqual(b, a);
// The restored TD kept its private bytes (written before the snapshot) in its S-EPT pages.
const read: StepOp = { op: 'read', args: { gpa: 0x5000, size: 16, private: true, vcpu: 0 } };
assert.deepEqual(copy.execute(read).run?.data, new Uint8Array(16).fill(0xab));
assert.deepEqual(copy.violations(), []);
// State that is code cannot be saved: an event listener is still attached.
assert.throws(() => snapshot(copy, config), SnapshotError);
ra.off();
rb.off();
// The same state in both: leaves per level, frames per owner, the TD's S-EPT entry.
assert.deepEqual(copy.kvm.mmu.leafCount, original.kvm.mmu.leafCount);
assert.deepEqual(copy.kvm.pool.stats().byOwner, original.kvm.pool.stats().byOwner);
const septState = (ex: StepExecutor) => {
  const tdx = ex.kvm.tdx;
  return tdx === null ? undefined : tdx.module.septEntry(tdx.tdr, 0x6000)?.state;
};
assert.equal(septState(copy), 'MAPPED');
assert.equal(septState(original), 'MAPPED');
assert.ok(snapshotToJson(snapshot(copy, config)).length > 0);

// Not a snapshot: SnapshotError, not a half-built VM.
assert.throws(() => snapshotFromJson('{"format":"something-else"}'), SnapshotError);
assert.throws(() => restore({ ...saved, format: 'x' } as unknown as Snapshot), SnapshotError);
