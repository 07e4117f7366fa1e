// Which vendor code runs a VM: kvm_x86_ops is VMX's or SVM's, and the VM type picks the private
// memory behaviour (kvm_arch_init_vm, vt_vm_init/tdx_vm_init, svm_vm_init). createVendorOps()
// returns the KvmX86Ops of a new VM: its kvm->arch flags (VmArch) and the hooks the common MMU
// calls. The first hook every fault meets is the classification: the hardware error code plus
// PFERR_PRIVATE_ACCESS when the access is private — the attributes for SW_PROTECTED (in
// kvm_mmu_page_fault), a clear shared bit for TDX (vt_is_tdx_private_gpa), the ENC bit for SNP
// (npf_interception), never for DEFAULT. TdxOps then shows the external S-EPT hooks and
// KVM_TDX_* steps as SEAMCALLs (VendorEvent), with the BUG they hit when called out of order.
// Kernel: arch/x86/kvm/x86.c, mmu/mmu.c, vmx/tdx.c, vmx/common.h, svm/svm.c.

import assert from 'node:assert/strict';
import {
  PG_LEVEL_2M,
  PG_LEVEL_4K,
  type PgLevel,
  pagesPerHpage,
  type VmTypeName,
} from '@kvmx/address';
import { FrameOwner, FramePool } from '@kvmx/paging';
import { TdxModule } from '@kvmx/tdx-module';
import {
  createVendorOps,
  DefaultOps,
  EINVAL,
  EIO,
  type HwFault,
  isKvmInjectionName,
  KVM_INJECTIONS,
  type KvmInjection,
  type KvmInjectionName,
  type KvmX86Ops,
  PFERR_PRIVATE_ACCESS,
  PFERR_RSVD_MASK,
  PFERR_WRITE_MASK,
  pferrHas,
  pgLevelToTdxSeptLevel,
  SevOps,
  SwProtectedOps,
  supportedVmTypes,
  TD_STATE_INITIALIZED,
  TD_STATE_RUNNABLE,
  TD_STATE_UNINITIALIZED,
  TDX_CONFIG_FLAGS_NO_RBP_MOD,
  TDX_TD_ATTR_SEPT_VE_DISABLE,
  TdxOps,
  type TdxVcpu,
  type VendorContext,
  type VendorEvent,
  type VendorVmOptions,
  VMX_EPT_MISCONFIG_WX_VALUE,
  type VmArch,
} from '@kvmx/vendor-ops';

const pool = new FramePool();
const events: VendorEvent[] = [];
const bugs: string[] = [];
let kicks = 0;
const ctx: VendorContext = {
  pool,
  emit: (e) => events.push(e),
  kickAllVcpus: () => kicks++,
  bug: (m) => bugs.push(m),
};

const types: VmTypeName[] = supportedVmTypes();
assert.deepEqual(types, ['default', 'sw_protected', 'sev', 'sev_es', 'snp', 'tdx']);
const options: VendorVmOptions = { gpaw: 48, cbit: 51 };
const ops = new Map<VmTypeName, KvmX86Ops>();
for (const t of types) {
  const o = createVendorOps(t, ctx, options);
  assert.ok(o !== null);
  ops.set(t, o);
}
assert.ok(ops.get('default') instanceof DefaultOps);
assert.ok(ops.get('sw_protected') instanceof SwProtectedOps);
assert.ok(ops.get('snp') instanceof SevOps);
assert.ok(ops.get('tdx') instanceof TdxOps);
assert.equal(createVendorOps('snp', ctx, { cbit: 60 }), null); // no such C-bit: KVM_CREATE_VM fails

// kvm->arch per type: [has_private_mem, has_protected_state, pre_fault_allowed, direct bits, MMIO value].
const arch = (t: VmTypeName): VmArch => (ops.get(t) as KvmX86Ops).arch;
assert.deepEqual(
  types.map((t) => [
    arch(t).hasPrivateMem,
    arch(t).hasProtectedState,
    arch(t).preFaultAllowed,
    arch(t).gfnDirectBits,
    arch(t).shadowMmioValue,
  ]),
  [
    [false, false, true, 0, VMX_EPT_MISCONFIG_WX_VALUE],
    [true, false, true, 0, VMX_EPT_MISCONFIG_WX_VALUE],
    [false, false, true, 0, VMX_EPT_MISCONFIG_WX_VALUE],
    [false, true, true, 0, VMX_EPT_MISCONFIG_WX_VALUE],
    [true, true, false, 0, VMX_EPT_MISCONFIG_WX_VALUE],
    [true, true, false, 2 ** 35, 0], // the shared bit (47) as a GFN bit; a TD's MMIO SPTE is 0
  ],
);
assert.equal(VMX_EPT_MISCONFIG_WX_VALUE, 0b110); // EPT W|X without R: a misconfiguration

// Fault classification: is PFERR_PRIVATE_ACCESS added?
const privateGfns = new Set([0x8_0000]);
const isPrivate = (t: VmTypeName, fault: HwFault) =>
  pferrHas(
    (ops.get(t) as KvmX86Ops).faultErrorCode(fault, (gfn) => privateGfns.has(gfn)),
    PFERR_PRIVATE_ACCESS,
  );
const plain: HwFault = { gpa: 0x8000_0000, errorCode: PFERR_WRITE_MASK };
assert.deepEqual(
  types.map((t) => isPrivate(t, plain)),
  [false, true, false, false, false, true], // SW_PROTECTED: the attributes; TDX: no shared bit
);
assert.equal(isPrivate('sw_protected', { ...plain, errorCode: PFERR_RSVD_MASK }), false); // MMIO
assert.equal(isPrivate('tdx', { ...plain, gpa: 2 ** 47 + 0x8000_0000 }), false); // shared alias
assert.equal(isPrivate('snp', { ...plain, enc: true }), false); // not an SNP guest before INIT2
const snp = ops.get('snp') as SevOps;
assert.equal(snp.vmmCreate().ret, 0); // KVM_SEV_INIT2 + KVM_SEV_SNP_LAUNCH_START
assert.equal(isPrivate('snp', { ...plain, enc: true }), true); // C-bit set
assert.equal(isPrivate('snp', plain), false); // the GPA says nothing for SNP
assert.equal(isPrivate('sev_es', { ...plain, enc: true }), false); // encrypted, never "private"
// A private TDX fault is always handled as a write (tdx_handle_ept_violation).
const tdxCode = (ops.get('tdx') as KvmX86Ops).faultErrorCode(
  { gpa: 0x1000, errorCode: 0 },
  () => false,
);
assert.equal(pferrHas(tdxCode, PFERR_WRITE_MASK), true);

// ---- TdxOps: KVM_TDX_INIT_VM, the external S-EPT hooks, finalize -------------------------
const module = new TdxModule({ pool });
const td = new TdxOps(ctx, module, 48, true);
assert.equal(td.attributes, TDX_TD_ATTR_SEPT_VE_DISABLE); // bit 28, KVM's only supported one
assert.equal(TDX_CONFIG_FLAGS_NO_RBP_MOD, 1 << 2); // always set in TD_PARAMS
assert.equal(td.state, TD_STATE_UNINITIALIZED);
td.setTracing(true);
events.length = 0;
assert.equal(td.tdInit(1), 0);
assert.equal(td.state, TD_STATE_INITIALIZED);
assert.equal(td.hkidAssigned, true);
assert.equal(td.tdInit(1), -EINVAL); // once
assert.equal(td.vcpuInit(0), 0);
const vcpu: TdxVcpu | undefined = td.vcpus.get(0);
assert.equal(vcpu?.tdcx.length, module.tdvpsPages - 1);
assert.equal(events[0]?.type === 'seamcall' && events[0].leaf, 'TDH.MNG.CREATE');

// link_external_spt down to GFN 0x80000: TDH.MEM.SEPT.ADD with the GFN the entry maps,
// aligned to its level (the iterator's gfn), at the module's level (PG_LEVEL − 1).
assert.equal(pgLevelToTdxSeptLevel(4), 3);
events.length = 0;
for (const level of [4, 3, 2]) {
  const span = pagesPerHpage(level as PgLevel);
  const table = pool.alloc(FrameOwner.KVM_EXTERNAL_SPT);
  assert.equal(td.linkExternalSpt(0x8_0000 - (0x8_0000 % span), level, table), 0);
}
// A table GPA not aligned to its level is refused by the module: a KVM bug, -EIO.
assert.equal(td.linkExternalSpt(0x8_0001, 2, pool.alloc(FrameOwner.KVM_EXTERNAL_SPT)), -EIO);
assert.match(bugs.shift() ?? '', /SEAMCALL failed: TDX_OPERAND_INVALID/);
events.pop();
assert.deepEqual(
  events.map((e) => (e.type === 'seamcall' ? `${e.leaf}@${e.level} ${e.status}` : e.type)),
  [
    'TDH.MEM.SEPT.ADD@4 TDX_SUCCESS',
    'TDH.MEM.SEPT.ADD@3 TDX_SUCCESS',
    'TDH.MEM.SEPT.ADD@2 TDX_SUCCESS',
  ],
);
// set_external_spte before the TD is runnable only counts a premapped page (INIT_MEM_REGION
// adds it); finalize with a premapped page left is EINVAL.
assert.equal(td.setExternalSpte(0x8_0000, PG_LEVEL_4K, pool.alloc(FrameOwner.GUEST_MEMFD)), 0);
assert.equal(td.nrPremapped, 1);
assert.equal(td.finalize(), -EINVAL);
// A 2M private leaf is a KVM bug for TDX (4K only): KVM_BUG_ON, -EINVAL.
assert.equal(
  td.setExternalSpte(0x8_0200, PG_LEVEL_2M, pool.alloc(FrameOwner.GUEST_MEMFD)),
  -EINVAL,
);
assert.match(bugs[0] ?? '', /tdx_sept_set_private_spte: level 2/);
assert.equal(td.privateMaxMappingLevel(), PG_LEVEL_4K);
assert.equal(TD_STATE_RUNNABLE, 2);
assert.equal(kicks, 0);

// Injected KVM bugs (`kvmx explore --inject NAME`), each with the VM type to explore it on.
const inj: readonly KvmInjection[] = KVM_INJECTIONS;
assert.ok(inj.length >= 9);
const name = 'remove-without-track';
assert.ok(isKvmInjectionName(name));
const chosen: KvmInjectionName = name;
assert.equal(KVM_INJECTIONS.find((i) => i.name === chosen)?.vm, 'tdx');
assert.equal(isKvmInjectionName('no-such-bug'), false);
