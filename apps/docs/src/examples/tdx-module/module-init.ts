// Bringing the TDX module up the way Linux does at boot (arch/x86/virt/vmx/tdx/tdx.c:
// init_tdx_module(): TDH.SYS.INIT once, TDH.SYS.LP.INIT on every logical processor,
// TDH.SYS.CONFIG with the global private KeyID, TDH.SYS.KEY.CONFIG once per package), the
// leaves the module refuses before SYS_READY, and the raw SEAMCALL interface: RAX = leaf |
// version << 16, the other operands in a register file, outputs written back into it.
import assert from 'node:assert/strict';
import { FramePool } from '@kvmx/paging';
import {
  allowedBeforeSysReady,
  formatStatus,
  isSuccess,
  type ModuleVersion,
  maxLeafVersion,
  REG_NAMES,
  REG_R8,
  REG_R9,
  REG_R10,
  REG_R11,
  REG_R12,
  REG_R13,
  REG_R14,
  REG_R15,
  REG_RAX,
  REG_RBP,
  REG_RBX,
  REG_RCX,
  REG_RDI,
  REG_RDX,
  REG_RSI,
  REG_RSP,
  SEAMCALL_LEAF_NAMES,
  type SeamcallResult,
  SeamRegs,
  SYS_STATE_NAMES,
  SysState,
  seamcallLeafByName,
  seamcallLeafName,
  TDCALL_LEAF_NAMES,
  TDG_MEM_PAGE_ACCEPT,
  TDG_VP_VMCALL,
  TDH_MEM_PAGE_ADD,
  TDH_MEM_PAGE_AUG,
  TDH_MEM_PAGE_DEMOTE,
  TDH_MEM_PAGE_PROMOTE,
  TDH_MEM_PAGE_REMOVE,
  TDH_MEM_RANGE_BLOCK,
  TDH_MEM_RANGE_UNBLOCK,
  TDH_MEM_SEPT_ADD,
  TDH_MEM_SEPT_REMOVE,
  TDH_MEM_TRACK,
  TDH_MNG_ADDCX,
  TDH_MNG_CREATE,
  TDH_MNG_INIT,
  TDH_MNG_KEY_CONFIG,
  TDH_MNG_KEY_FREEID,
  TDH_MNG_RD,
  TDH_MNG_VPFLUSHDONE,
  TDH_MR_EXTEND,
  TDH_MR_FINALIZE,
  TDH_PHYMEM_CACHE_WB,
  TDH_PHYMEM_PAGE_RDMD,
  TDH_PHYMEM_PAGE_RECLAIM,
  TDH_PHYMEM_PAGE_WBINVD,
  TDH_SYS_CONFIG,
  TDH_SYS_INIT,
  TDH_SYS_KEY_CONFIG,
  TDH_SYS_LP_INIT,
  TDH_VP_ADDCX,
  TDH_VP_CREATE,
  TDH_VP_ENTER,
  TDH_VP_FLUSH,
  TDH_VP_INIT,
  TDH_VP_RD,
  TDH_VP_WR,
  TdxModule,
  type TdxModuleOptions,
} from '@kvmx/tdx-module';

// Leaf numbers of the module's ABI (the RAX values KVM and the TDX host code use).
const leaves = {
  TDH_VP_ENTER,
  TDH_MNG_ADDCX,
  TDH_MEM_PAGE_ADD,
  TDH_MEM_SEPT_ADD,
  TDH_VP_ADDCX,
  TDH_MEM_PAGE_AUG,
  TDH_MEM_RANGE_BLOCK,
  TDH_MNG_KEY_CONFIG,
  TDH_MNG_CREATE,
  TDH_VP_CREATE,
  TDH_MNG_RD,
  TDH_MEM_PAGE_DEMOTE,
  TDH_MR_EXTEND,
  TDH_MR_FINALIZE,
  TDH_VP_FLUSH,
  TDH_MNG_VPFLUSHDONE,
  TDH_MNG_KEY_FREEID,
  TDH_MNG_INIT,
  TDH_VP_INIT,
  TDH_MEM_PAGE_PROMOTE,
  TDH_PHYMEM_PAGE_RDMD,
  TDH_VP_RD,
  TDH_PHYMEM_PAGE_RECLAIM,
  TDH_MEM_PAGE_REMOVE,
  TDH_MEM_SEPT_REMOVE,
  TDH_SYS_KEY_CONFIG,
  TDH_SYS_INIT,
  TDH_SYS_LP_INIT,
  TDH_MEM_TRACK,
  TDH_MEM_RANGE_UNBLOCK,
  TDH_PHYMEM_CACHE_WB,
  TDH_PHYMEM_PAGE_WBINVD,
  TDH_VP_WR,
  TDH_SYS_CONFIG,
};
assert.deepEqual(
  Object.values(leaves),
  [
    0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 26, 28, 29, 30, 31,
    33, 35, 38, 39, 40, 41, 43, 45,
  ],
);
// Each name is the constant's, with dots: TDH_MEM_PAGE_AUG is "TDH.MEM.PAGE.AUG".
for (const [name, leaf] of Object.entries(leaves)) {
  assert.equal(seamcallLeafName(leaf), name.replaceAll('_', '.'));
  assert.equal(seamcallLeafByName(name.replaceAll('_', '.')), leaf);
}
assert.equal(SEAMCALL_LEAF_NAMES.get(5), 'TDH.MEM.PAGE.RELOCATE'); // named, not modelled
assert.equal(seamcallLeafByName('TDH.MEM.PAGE.MOVE'), undefined);
// Guest-side TDCALL leaves (a different instruction, its own numbering).
assert.equal(TDCALL_LEAF_NAMES.get(TDG_MEM_PAGE_ACCEPT), 'TDG.MEM.PAGE.ACCEPT');
assert.equal(TDCALL_LEAF_NAMES.get(TDG_VP_VMCALL), 'TDG.VP.VMCALL');

// Versions: module 1.5 knows VP.INIT version 0 only; upstream KVM needs version 1 (x2APIC ID
// in R8), which newer modules accept.
const v15: ModuleVersion = '1.5';
assert.equal(maxLeafVersion(TDH_VP_INIT, v15), 0);
assert.equal(maxLeafVersion(TDH_VP_INIT, 'newer'), 1);
assert.equal(maxLeafVersion(TDH_MEM_SEPT_ADD, v15), 1);

// Registers: the numbering of the SEAMCALL ABI (and of operand ids RAX..R15).
assert.deepEqual(
  [REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI],
  [0, 1, 2, 3, 4, 5, 6, 7],
);
assert.deepEqual(
  [REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15],
  [8, 9, 10, 11, 12, 13, 14, 15],
);
assert.equal(REG_NAMES[REG_R8], 'r8');

// A module straight out of reset: only the SYS leaves may run.
const pool = new FramePool();
const options: TdxModuleOptions = { pool, packages: 2, lpsPerPackage: 2, ready: false };
const mod = new TdxModule(options);
assert.equal(SYS_STATE_NAMES[mod.sysState], 'SYSINIT_PENDING');
assert.equal(allowedBeforeSysReady(TDH_MNG_CREATE), false);
assert.equal(allowedBeforeSysReady(TDH_SYS_LP_INIT), true);
const raw = SeamRegs.of({ rcx: pool.alloc(1) * 4096, rdx: 33 });
const early: SeamcallResult = mod.seamcall(TDH_MNG_CREATE, raw);
assert.equal(formatStatus(early.status), 'TDX_SYS_NOT_READY');

assert.ok(isSuccess(mod.sysInit()));
assert.equal(formatStatus(mod.sysInit()), 'TDX_SYS_INIT_NOT_PENDING'); // only once
// TDH.SYS.CONFIG before every LP did LP.INIT is refused.
assert.equal(formatStatus(mod.sysConfig(32)), 'TDX_SYS_LP_INIT_NOT_DONE');
for (let lp = 0; lp < mod.numLps; lp++) assert.ok(isSuccess(mod.onLp(lp).sysLpInit()));
assert.equal(formatStatus(mod.onLp(0).sysLpInit()), 'TDX_SYS_LP_INIT_DONE');
// The global KeyID is the first TDX KeyID (32 here); one outside the TDX range is refused.
assert.equal(formatStatus(mod.sysConfig(5)), 'TDX_OPERAND_INVALID|R8');
assert.ok(isSuccess(mod.sysConfig(32)));
assert.equal(mod.sysState, SysState.SYSCONFIG_DONE);
// KEY.CONFIG on one LP of each package; the module is ready after the last one.
assert.ok(isSuccess(mod.onLp(0).sysKeyConfig()));
assert.equal(mod.sysState, SysState.SYSCONFIG_DONE);
assert.equal(mod.packageOf(2), 1);
assert.ok(isSuccess(mod.onLp(2).sysKeyConfig()));
assert.equal(mod.sysState, SysState.SYS_READY);
assert.equal(mod.guestHkidStart, 33); // TD KeyIDs follow the global one

// Now MNG.CREATE runs, through the raw interface: RCX = TDR page, RDX = HKID.
const created = mod.seamcall(TDH_MNG_CREATE, raw);
assert.ok(isSuccess(created.status));
// A version the leaf does not have, or a leaf number the module does not know: OPERAND_INVALID.
assert.equal(
  formatStatus(mod.seamcall(TDH_MNG_CREATE | (1 << 16), raw).status),
  'TDX_OPERAND_INVALID|RAX',
);
assert.equal(formatStatus(mod.seamcall(0x7777, new SeamRegs()).status), 'TDX_OPERAND_INVALID|RAX');
// Register values are 64-bit: read back as numbers, bigints or halves.
const r = new SeamRegs().setBig(REG_RDX, 0xffff_ffff_0000_1000n);
assert.equal(r.fits53(REG_RDX), false);
assert.deepEqual(r.word(REG_RDX), { lo: 0x1000, hi: 0xffff_ffff });
assert.equal(r.set(REG_RCX, 2 ** 52 - 4096).get(REG_RCX), 2 ** 52 - 4096);
assert.equal(new SeamRegs().copyFrom(r).big(REG_RDX), 0xffff_ffff_0000_1000n);
assert.equal(r.clear().get(REG_RDX), 0);
