// What happens inside the TD and how it reaches KVM: TDH.VP.ENTER returns TDX_SUCCESS with the
// VMX exit reason in the low bits and the exit's registers (RCX exit qualification, RDX extended
// exit qualification, R8 GPA; R10..R13 for a TDVMCALL). KVM's tdx_handle_exit() dispatches on
// them: an EPT violation on a missing private page is a fault to handle
// (tdx_handle_ept_violation()), a TDG.VP.VMCALL<MapGPA> becomes KVM_HC_MAP_GPA_RANGE
// (tdx_map_gpa()), and the answer goes back in R10/R11 on the next VP.ENTER.
import assert from 'node:assert/strict';
import { FrameOwner, FramePool } from '@kvmx/paging';
import {
  type AcceptOutcome,
  EXIT_REASON_EPT_VIOLATION,
  EXIT_REASON_EXTERNAL_INTERRUPT,
  EXIT_REASON_TDCALL,
  EXT_EXIT_QUAL_TYPE_ACCEPT,
  EXT_EXIT_QUAL_TYPE_NONE,
  EXT_EXIT_QUAL_TYPE_PENDING_EPT_VIOLATION,
  encodeTdParams,
  formatStatus,
  type GuestAccessOutcome,
  isSuccess,
  type MapGpaRequest,
  REG_R10,
  REG_R11,
  SeamRegs,
  TDG_MEM_PAGE_ACCEPT,
  TDH_VP_ENTER,
  TDVMCALL_MAP_GPA,
  type TdExit,
  TdxModule,
  type TdxStatus,
} from '@kvmx/tdx-module';

assert.deepEqual(
  [EXIT_REASON_EXTERNAL_INTERRUPT, EXIT_REASON_EPT_VIOLATION, EXIT_REASON_TDCALL],
  [1, 48, 77],
);
assert.deepEqual(
  [EXT_EXIT_QUAL_TYPE_NONE, EXT_EXIT_QUAL_TYPE_ACCEPT, EXT_EXIT_QUAL_TYPE_PENDING_EPT_VIOLATION],
  [0, 1, 6],
);
assert.equal(TDVMCALL_MAP_GPA, 0x10001);

const pool = new FramePool();
const mod = new TdxModule({ pool });
const page = (owner: FrameOwner = FrameOwner.HOST) => pool.alloc(owner) * 4096;
const ok = (s: TdxStatus) => assert.ok(isSuccess(s), formatStatus(s));
/** A runnable TD with one vCPU; `attributes` bit 28 is SEPT_VE_DISABLE. */
function runnableTd(attributes: number): { tdr: number; vcpu: number } {
  const tdr = page(FrameOwner.TDX_TDR);
  ok(mod.mngCreate(tdr, mod.keyIds.alloc()));
  ok(mod.mngKeyConfig(tdr));
  for (let i = 0; i < mod.tdcsPages; i++) ok(mod.mngAddcx(tdr, page(FrameOwner.TDX_TDCS)));
  const params = page();
  pool.write(params / 4096, 0, encodeTdParams({ maxVcpus: 1, attributes }));
  ok(mod.mngInit(tdr, params));
  const vcpu = page(FrameOwner.TDX_TDVPR);
  ok(mod.vpCreate(tdr, vcpu));
  for (let i = 1; i < mod.tdvpsPages; i++) ok(mod.vpAddcx(vcpu, page(FrameOwner.TDX_TDVPX)));
  ok(mod.vpInit(vcpu, 0));
  ok(mod.mrFinalize(tdr));
  return { tdr, vcpu };
}
const { tdr, vcpu } = runnableTd(1 << 28); // SEPT_VE_DISABLE, as KVM requires
const GPA = 0x10_0000;

// 1. The guest accepts a page KVM never mapped: the TD exits with an EPT violation whose
//    extended qualification says ACCEPT, so KVM maps the page (SEPT.ADD, PAGE.AUG) and re-enters.
ok(mod.enterGuest(vcpu));
const accept: AcceptOutcome = mod.tdgMemPageAccept(vcpu, GPA, 0);
assert.equal(accept.kind, 'exit');
const exit = (accept as { exit: TdExit }).exit;
assert.equal(exit.reason, EXIT_REASON_EPT_VIOLATION);
assert.equal(exit.extExitQualification & 0xf, EXT_EXIT_QUAL_TYPE_ACCEPT);
assert.equal(exit.gpa, GPA);
const entered = mod.enterResult(vcpu); // what TDH.VP.ENTER returned to KVM
assert.equal(formatStatus(entered?.status as TdxStatus), 'TDX_SUCCESS+0x30'); // exit reason 48
assert.equal(entered?.regs.get(8), GPA); // R8: the GPA
for (const level of [3, 2, 1])
  ok(mod.memSeptAdd(tdr, GPA - (GPA % 2 ** (12 + 9 * level)), level, page()));
ok(mod.memPageAug(tdr, GPA, 0, page(FrameOwner.GUEST_MEMFD)));

// 2. Touching an AUGed page before accepting it: with SEPT_VE_DISABLE the TD exits with a
//    PENDING_EPT_VIOLATION. KVM calls that a guest bug (tdx_is_sept_violation_unexpected_pending():
//    the VM was killed; newer kernels hand userspace a memory-fault exit instead).
ok(mod.enterGuest(vcpu));
const early: GuestAccessOutcome = mod.guestAccess(vcpu, GPA, false);
assert.equal(early.kind, 'exit');
if (early.kind === 'exit') {
  assert.equal(early.exit.extExitQualification, EXT_EXIT_QUAL_TYPE_PENDING_EPT_VIOLATION);
  assert.equal(early.exit.exitQualification & 1, 1); // a read
}
// Through the raw TDCALL interface now: RAX = leaf, RCX = GPA | level.
ok(mod.enterGuest(vcpu));
const raw = mod.tdcall(vcpu, TDG_MEM_PAGE_ACCEPT, new SeamRegs().set(1, GPA));
assert.ok(raw.kind === 'status' && isSuccess(raw.status));
const done = mod.guestAccess(vcpu, GPA + 8, true);
assert.equal(done.kind, 'ok');
// A shared GPA is not the module's business: the VMM's shared EPT translates it.
assert.equal(mod.guestAccess(vcpu, 2 ** 47 + GPA, false).kind, 'shared');

// 3. MapGPA: the guest converts [GPA, GPA + 8 KiB) to shared (shared bit set in the address).
const req: MapGpaRequest | null = mod.tdgVpVmcallMapGpa(vcpu, 2 ** 47 + GPA, 0x2000);
assert.ok(req !== null);
assert.equal(req.toShared, true);
assert.equal(req.exit.reason, EXIT_REASON_TDCALL);
assert.deepEqual(req.exit.vmcall, {
  r10: 0,
  r11: TDVMCALL_MAP_GPA,
  r12: 2 ** 47 + GPA,
  r13: 0x2000,
});
// KVM answers on the next VP.ENTER: R10 = 0 (TDVMCALL_STATUS_SUCCESS).
ok(mod.enterGuest(vcpu, new SeamRegs().set(REG_R10, 0).set(REG_R11, 0)));
assert.deepEqual(mod.vmcallReturn(vcpu), { r10: { hi: 0, lo: 0 }, r11: 0 });
// Another TDVMCALL sub-function (GHCI <ReportFatalError> = 0x10003) is passed through as is.
const fatal = mod.tdgVpVmcall(vcpu, 0x10003, 0, 0);
assert.equal(fatal?.vmcall?.r11, 0x10003);

// 4. A host interrupt: VP.ENTER returns with exit reason 1 and KVM simply re-enters. The raw
//    SEAMCALL runs the guest code the model is given (here: nothing) and exits the same way.
ok(mod.enterGuest(vcpu));
assert.deepEqual(mod.exitGuest(vcpu).status, { hi: 0, lo: EXIT_REASON_EXTERNAL_INTERRUPT });
let ran = 0;
mod.guestRunner = () => {
  ran++;
};
const r = mod.seamcall(TDH_VP_ENTER, new SeamRegs().set(1, vcpu));
assert.equal(ran, 1);
assert.deepEqual(r.status, { hi: 0, lo: EXIT_REASON_EXTERNAL_INTERRUPT });
assert.deepEqual(mod.vpEnter(vcpu), { hi: 0, lo: EXIT_REASON_EXTERNAL_INTERRUPT });

// 5. Without SEPT_VE_DISABLE, touching a PENDING page raises #VE inside the guest instead.
const other = runnableTd(0);
for (const level of [3, 2, 1])
  ok(mod.memSeptAdd(other.tdr, GPA - (GPA % 2 ** (12 + 9 * level)), level, page()));
ok(mod.memPageAug(other.tdr, GPA, 0, page(FrameOwner.GUEST_MEMFD)));
ok(mod.enterGuest(other.vcpu));
assert.deepEqual(mod.guestAccess(other.vcpu, GPA, false), { kind: 've' });
