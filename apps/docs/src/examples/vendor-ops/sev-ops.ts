// SevOps: the SVM vendor ops of one SEV/SEV-ES/SNP VM, the object kvm-x86 calls for KVM's SEV
// entry points. The RMP and the ASID space belong to the host (sevHost(pool): one per frame
// pool, shared by every guest on it), so two SNP guests see one table. Shown here: a guest's
// page-state change through a GHCB PSC buffer (which needs the GHCB registered first with the
// MSR protocol), the RMP events as the vendor event stream carries them, and the RMP invariant
// the checker runs — every private mapping's frame assigned to this guest at that GPA, never
// mapped larger than its entry; every shared mapping's frame hypervisor-owned.
// Kernel: arch/x86/kvm/svm/sev.c (sev_handle_vmgexit, snp_begin_psc, sev_gmem_prepare),
// arch/x86/kvm/svm/svm.c (svm_vm_init).

import assert from 'node:assert/strict';
import { PG_LEVEL_2M, PG_LEVEL_4K } from '@kvmx/address';
import { FrameOwner, FramePool } from '@kvmx/paging';
import {
  checkRmpInvariant,
  EINVAL,
  ghcbMsrRegGpaReq,
  type NptMapping,
  type RmpCheckView,
  type RmpViolation,
  rmpCheckView,
  rmpMakePrivate,
  rmpVendorEvent,
  type SevHost,
  SevOps,
  type SevOpsOptions,
  type SevVcpu,
  sevHost,
  type VendorContext,
  type VendorEvent,
  VMGEXIT_PSC_OP_PRIVATE,
  VMGEXIT_PSC_SUCCESS,
} from '@kvmx/vendor-ops';

const pool = new FramePool();
const events: VendorEvent[] = [];
const ctx: VendorContext = {
  pool,
  emit: (e) => events.push(e),
  kickAllVcpus: () => {},
  bug: () => {},
};
const host: SevHost = sevHost(pool);
assert.equal(sevHost(pool), host); // one per host
const options: SevOpsOptions = { cbit: 51, host };
const a = new SevOps('snp', ctx, options);
const b = new SevOps('snp', ctx, options);
assert.equal(a.rmp, b.rmp); // all SNP guests share the host's RMP
assert.throws(() => new SevOps('snp', ctx, { cbit: 5 }), RangeError); // bad input, not a KVM answer
assert.equal(a.vmmCreate().ret, 0);
assert.equal(b.vmmCreate().ret, 0);
assert.deepEqual([a.sev.asid, b.sev.asid], [1, 2]);

// A PSC buffer before the GHCB is registered: KVM_RUN fails with -EINVAL.
a.hypercallExitEnabled = true; // KVM_CAP_EXIT_HYPERCALL with KVM_HC_MAP_GPA_RANGE
const buffer = {
  curEntry: 0,
  endEntry: 0,
  entries: [{ curPage: 0, gfn: 0x100, operation: VMGEXIT_PSC_OP_PRIVATE, pageSize: 0 }],
};
assert.deepEqual(a.vmgexitPsc(0, 0x5000, buffer), { kind: 'error', errno: -EINVAL });
// GHCB_MSR_REG_GPA_REQ for GFN 5, then the same buffer: one exit, then done.
assert.equal(a.vmgexitMsr(0, ghcbMsrRegGpaReq(5)).kind, 'resume');
const state: SevVcpu = a.vcpu(0);
assert.equal(state.ghcbRegisteredGpa, 0x5000);
assert.deepEqual(a.vmgexitPsc(0, 0x5000, buffer), {
  kind: 'hypercall',
  nr: 12,
  args: [0x10_0000, 1, 0x10],
});
assert.equal(state.pending, 'psc');
assert.deepEqual(a.completePsc(0, 0), { kind: 'done', exitInfo2: VMGEXIT_PSC_SUCCESS });
assert.deepEqual(a.completePsc(0, 0), { kind: 'error', errno: -EINVAL }); // nothing in flight

// guest_memfd hands guest A a page at GFN 0x100: sev_gmem_prepare assigns it (traced).
const pfn = pool.alloc(FrameOwner.GUEST_MEMFD);
a.setTracing(true);
events.length = 0;
assert.equal(a.gmemPrepare(pfn, 0x100, 0), 0);
assert.deepEqual(events, [
  {
    type: 'rmp',
    op: 'rmpupdate',
    by: 'sev_gmem_prepare',
    pfn: `0x${pfn.toString(16)}`,
    gfn: '0x100',
    gpa: '0x100000',
    assigned: true,
    level: 1,
    pageSize: 1,
    validated: false,
    asid: 1,
    immutable: false,
    vmsa: false,
  },
]);
assert.deepEqual(
  rmpVendorEvent({
    type: 'rmp',
    op: 'psmash',
    by: null,
    pfn: 0x200,
    gpa: 0,
    assigned: false,
    pageSize: 1,
    validated: false,
    asid: 0,
    immutable: false,
    vmsa: false,
  }).gfn,
  '0x0',
);

// `check root: rmp` and the invariant.
const view: RmpCheckView = a.rmpView(0x10_0000, pfn);
assert.deepEqual(view, { mapped: true, level: PG_LEVEL_4K, state: 'unvalidated' });
assert.deepEqual(rmpCheckView(a.rmp, 2, 0x10_0000, pfn), {
  mapped: false,
  level: PG_LEVEL_4K,
  state: 'unvalidated',
}); // not B's
const good: NptMapping[] = [{ gfn: 0x100, level: PG_LEVEL_4K, pfn, private: true }];
assert.deepEqual(a.checkRmp(good), []);
// The same frame mapped into guest B, or as a shared page, or a private page never assigned:
const found: RmpViolation[] = checkRmpInvariant(a.rmp, 2, good);
assert.match(found[0]?.detail ?? '', /RMP entry belongs to ASID 1, not 2/);
assert.match(
  a.checkRmp([{ ...good[0], private: false } as NptMapping])[0]?.detail ?? '',
  /shared mapping gfn 0x100 .* frame is assigned in the RMP/,
);
const other = pool.alloc(FrameOwner.GUEST_MEMFD);
assert.match(
  a.checkRmp([{ gfn: 0x101, level: PG_LEVEL_4K, pfn: other, private: true }])[0]?.detail ?? '',
  /not assigned/,
);
// A 2M private mapping over 4K RMP entries breaks the size rule.
const base = 0x4_0000;
for (let i = 0; i < 512; i++)
  assert.equal(rmpMakePrivate(a.rmp, base + i, 0x4000_0000 + i * 0x1000, PG_LEVEL_4K, 1, false), 0);
assert.match(
  a.checkRmp([{ gfn: 0x4_0000, level: PG_LEVEL_2M, pfn: base, private: true }])[0]?.detail ?? '',
  /mapped at level 2 over RMP entries of level 1/,
);
