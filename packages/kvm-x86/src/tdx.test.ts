// TDX through the facade: the exact SEAMCALL sequences KVM issues (first private fault on an
// empty mirror, private → shared conversion of a mapped page, teardown), the launch ioctls,
// MapGPA chunking, #VE/ACCEPT, SEPT_VE_DISABLE, GPAW 52; and replays of tdx_upm_test (explicit
// and implicit) and tdx_shared_mem_test (selftests.md B.8).

import { describe, expect, it } from 'vitest';
import type { KvmEvent } from './events.js';
import { checkInvariants } from './invariants.js';
import { Kvm } from './kvm.js';
import {
  allBytes,
  convertOnHypercall,
  expectClean,
  must,
  runAnswering,
  setPrivate,
} from './test-helpers.js';
import {
  KVM_CAP_EXIT_HYPERCALL,
  KVM_EXIT_HYPERCALL,
  KVM_EXIT_MEMORY_FAULT,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEMORY_EXIT_FLAG_PRIVATE,
} from './uapi.js';
import type { Vcpu } from './vcpu.js';

const AREA = 0x80000000;
const SZ_2M = 0x200000;
const SHARED_47 = 2 ** 47;

interface Td {
  kvm: Kvm;
  vcpu: Vcpu;
  events: KvmEvent[];
  fd: number;
}

function makeTd(options: { gpaw?: 48 | 52; septVeDisable?: boolean; finalize?: boolean } = {}): Td {
  const kvm = must(
    Kvm.create({
      type: 'tdx',
      gpaw: options.gpaw ?? 48,
      septVeDisable: options.septVeDisable ?? false,
    }),
  );
  const events: KvmEvent[] = [];
  kvm.events.on((e) => events.push(e));
  must(kvm.tdxInitVm());
  const vcpu = must(kvm.createVcpu());
  must(kvm.tdxInitVcpu(vcpu));
  must(kvm.enableCap(KVM_CAP_EXIT_HYPERCALL, 1 << 12));
  const fd = must(kvm.createGuestMemfd({ size: SZ_2M }));
  must(
    kvm.setUserMemoryRegion2({
      slot: 3,
      flags: KVM_MEM_GUEST_MEMFD,
      guestPhysAddr: AREA,
      memorySize: SZ_2M,
      guestMemfd: fd,
    }),
  );
  if (options.finalize ?? true) must(kvm.tdxFinalizeVm());
  return { kvm, vcpu, events, fd };
}

/** The SEAMCALL leaves in the events, in order. */
function seamcalls(events: readonly KvmEvent[]): string[] {
  return events.flatMap((e) => (e.type === 'seamcall' ? [e.leaf] : []));
}

/** Seamcalls and hooks, as "hook:op@level" / "LEAF@level". */
function trace(events: readonly KvmEvent[]): string[] {
  return events.flatMap((e) => {
    if (e.type === 'hook') return [`hook:${e.op}@${e.level}`];
    if (e.type === 'seamcall') return [e.level !== undefined ? `${e.leaf}@${e.level}` : e.leaf];
    return [];
  });
}

describe('TDX SEAMCALL sequences', () => {
  it('first private fault on an empty mirror: SEPT.ADD for each missing level, then AUG', () => {
    const t = makeTd();
    setPrivate(t.kvm, AREA, SZ_2M);
    t.events.length = 0;
    const r = t.vcpu.write(AREA + 0x5000, 8, 0x5a, { private: true });
    // The page is PENDING: the guest takes a #VE, no exit to userspace.
    expect(r.exit).toBeNull();
    expect(r.ve).toBe(AREA + 0x5000);
    expect(trace(t.events)).toEqual([
      'TDH.VP.ENTER', // TD exit: EPT violation on the private GPA
      'hook:link_external_spt@4',
      'TDH.MEM.SEPT.ADD@4',
      'hook:link_external_spt@3',
      'TDH.MEM.SEPT.ADD@3',
      'hook:link_external_spt@2',
      'TDH.MEM.SEPT.ADD@2',
      'hook:set_external_spte@1',
      'TDH.MEM.PAGE.AUG@1',
      'TDH.VP.ENTER', // re-entry; the access raises #VE, the TD leaves on an interrupt
    ]);
    expect(t.kvm.tdx?.module.septEntry(t.kvm.tdx.tdr, AREA + 0x5000)?.state).toBe('PENDING');
    expectClean(t.kvm);
    // The guest's #VE handler accepts; the write then lands in private memory.
    const acc = t.vcpu.accept(AREA + 0x5000);
    expect(acc.status).toBe('TDX_SUCCESS');
    expect(t.vcpu.resume().exit).toBeNull();
    expect(allBytes(t.vcpu.read(AREA + 0x5000, 8, { private: true }).data, 0x5a)).toBe(true);
    // The host's shared backing never saw it.
    expect(allBytes(must(t.kvm.hostRead(AREA + 0x5000, 8)), 0)).toBe(true);
    expectClean(t.kvm);
  });

  it('a mirror SPTE set through the external hooks is reported once, old -> new, after the hook', () => {
    // tdp_mmu_set_spte_atomic(): set_external_spte_present() freezes the SPTE, calls the
    // hook and writes the final value with raw writes; handle_changed_spte() (the spte
    // event) then runs once. A failing hook puts the old value back and reports nothing.
    const t = makeTd();
    t.vcpu.autoAccept = true;
    setPrivate(t.kvm, AREA, SZ_2M);
    t.events.length = 0;
    t.vcpu.write(AREA + 0x5000, 8, 0x5a, { private: true });
    const order = t.events.flatMap((e) => {
      if (e.type === 'hook') return [`hook:${e.op}@${e.level}`];
      if (e.type === 'spte' && e.root === 'mirror') return [`spte@${e.level} ${e.old}->${e.new}`];
      return [];
    });
    expect(order).toHaveLength(8);
    for (let i = 0; i < 8; i += 2) {
      expect(order[i]).toMatch(/^hook:/);
      // SHADOW_NONPRESENT_VALUE straight to the new value: FROZEN_SPTE is never reported.
      expect(order[i + 1]).toMatch(/^spte@\d 0x8000000000000000->0x/);
      expect(order[i + 1]).not.toContain('5a0');
    }
    expect(order[7]).toMatch(/^spte@1 /);
    expectClean(t.kvm);

    // PAGE.AUG busy (the S-EPT entry is locked): the hook fails, the old value is put back,
    // and no spte event is reported for the leaf, however often the fault is retried.
    const tdx = t.kvm.tdx;
    if (tdx === null) throw new Error('not a TD');
    const held = tdx.module.hold({ kind: 'septEntry', tdr: tdx.tdr, gpa: AREA + 0x6000, level: 0 });
    t.events.length = 0;
    t.vcpu.write(AREA + 0x6000, 8, 0x5a, { private: true });
    const augs = t.events.filter((e) => e.type === 'seamcall' && e.leaf === 'TDH.MEM.PAGE.AUG');
    expect(augs.length).toBeGreaterThan(0);
    expect(augs.every((e) => e.type === 'seamcall' && e.status === 'TDX_OPERAND_BUSY')).toBe(true);
    expect(t.events.filter((e) => e.type === 'spte' && e.root === 'mirror')).toEqual([]);
    held?.release();
  });

  it('private → shared conversion of a mapped page: BLOCK, TRACK, REMOVE, WBINVD', () => {
    const t = makeTd();
    t.vcpu.autoAccept = true;
    setPrivate(t.kvm, AREA, SZ_2M);
    expect(t.vcpu.write(AREA, 16, 0x77, { private: true }).exit).toBeNull();
    const kicks = t.vcpu.kicks;
    t.events.length = 0;
    must(t.kvm.setMemoryAttributes({ address: AREA, size: 0x1000, attributes: 0 }));
    expect(trace(t.events)).toEqual([
      'hook:remove_external_spte@1',
      'TDH.MEM.RANGE.BLOCK@1',
      'TDH.MEM.TRACK',
      'TDH.MEM.PAGE.REMOVE@1',
      'TDH.PHYMEM.PAGE.WBINVD',
    ]);
    expect(t.vcpu.kicks).toBe(kicks + 1); // tdx_track() kicks every vCPU
    expect(t.kvm.tdx?.module.septEntry(t.kvm.tdx.tdr, AREA)?.state).toBe('FREE');
    // Converting to private zaps only shared mappings: no SEAMCALL at all.
    expect(t.vcpu.write(AREA, 16, 0x12, { private: false }).exit).toBeNull();
    t.events.length = 0;
    setPrivate(t.kvm, AREA, 0x1000);
    expect(seamcalls(t.events)).toEqual([]);
    expect(t.events.some((e) => e.type === 'spte' && e.root === 'direct')).toBe(true);
    expectClean(t.kvm);
  });

  it('teardown: gmem release zaps private leaves with the HKID assigned, then HKID release, then reclaim', () => {
    const t = makeTd();
    t.vcpu.autoAccept = true;
    setPrivate(t.kvm, AREA, SZ_2M);
    expect(t.vcpu.write(AREA, 0x2000, 0x42, { private: true }).exit).toBeNull();
    expect(t.vcpu.write(AREA + SZ_2M - 0x1000, 8, 0x1, { private: false }).exit?.reason).toBe(
      KVM_EXIT_MEMORY_FAULT,
    );
    t.events.length = 0;
    const module = t.kvm.tdx?.module;
    t.kvm.destroy();
    const zap = [
      'TDH.MEM.RANGE.BLOCK',
      'TDH.MEM.TRACK',
      'TDH.MEM.PAGE.REMOVE',
      'TDH.PHYMEM.PAGE.WBINVD',
    ];
    const reclaims = (n: number) => new Array(n).fill('TDH.PHYMEM.PAGE.RECLAIM');
    const tdvps = module?.tdvpsPages ?? 0;
    const tdcs = module?.tdcsPages ?? 0;
    expect(seamcalls(t.events)).toEqual([
      ...zap,
      ...zap, // the two private pages, while the HKID is assigned
      'TDH.VP.FLUSH',
      'TDH.MNG.VPFLUSHDONE',
      'TDH.PHYMEM.CACHE.WB',
      'TDH.MNG.KEY.FREEID',
      ...reclaims(3), // the S-EPT tables (PT, PD, PDPT): free_external_spt
      ...reclaims(tdvps), // the vCPU: TDCX pages, then the TDVPR
      ...reclaims(tdcs + 1), // TDCS pages, then the TDR
      'TDH.PHYMEM.PAGE.WBINVD', // the TDR, with the global KeyID
    ]);
    // free_external_spt gets each table's own level, deepest first.
    expect(
      t.events.flatMap((e) => (e.type === 'hook' && e.op === 'free_external_spt' ? [e.level] : [])),
    ).toEqual([1, 2, 3]);
    const stats = t.kvm.pool.stats().byOwner;
    for (const owner of [
      'tdx_tdr',
      'tdx_tdcs',
      'tdx_tdvpr',
      'tdx_tdvpx',
      'kvm_page_table',
      'kvm_external_spt',
      'guest_memfd',
    ]) {
      expect(stats[owner]).toBeUndefined();
    }
    expect(t.kvm.bugs).toEqual([]);
  });
});

describe('TDG.MEM.PAGE.ACCEPT across an exit to userspace', () => {
  it('keeps its progress while waiting for resume(): another accept is refused with -EBUSY and changes nothing', () => {
    const t = makeTd();
    setPrivate(t.kvm, AREA, 0x1000);
    // The second page is still shared: its private fault is a memory-fault exit.
    const r = t.vcpu.accept(AREA, 0x2000);
    expect(r.ret).toBe(-14); // -EFAULT
    expect(r.exit).toEqual({
      reason: KVM_EXIT_MEMORY_FAULT,
      gpa: AREA + 0x1000,
      size: 4096,
      flags: KVM_MEMORY_EXIT_FLAG_PRIVATE,
    });
    expect(t.vcpu.accept(AREA + 0x10000).ret).toBe(-16); // -EBUSY
    setPrivate(t.kvm, AREA + 0x1000, 0x1000);
    const done = t.vcpu.resume();
    expect(done).toMatchObject({ ret: 0, exit: null, status: 'TDX_SUCCESS' });
    const tdx = t.kvm.tdx;
    if (tdx === null) throw new Error('not a TD');
    expect(tdx.module.septEntry(tdx.tdr, AREA)?.state).toBe('MAPPED');
    expect(tdx.module.septEntry(tdx.tdr, AREA + 0x1000)?.state).toBe('MAPPED');
    // The refused accept never ran: its page was neither AUGed nor accepted.
    expect(tdx.module.septEntry(tdx.tdr, AREA + 0x10000)?.state).not.toBe('MAPPED');
    expect(tdx.module.septEntry(tdx.tdr, AREA + 0x10000)?.state).not.toBe('PENDING');
    expectClean(t.kvm);
  });
});

describe('TDX launch', () => {
  it('INIT_MEM_REGION premaps through the mirror, PAGE.ADDs and measures 16 × 256 bytes per page', () => {
    const t = makeTd({ finalize: false });
    must(t.kvm.hostWrite(AREA, new Uint8Array(0x2000).fill(0x11)));
    // The range must be private first.
    expect(t.kvm.tdxInitMemRegion(t.vcpu, { gpa: AREA, nrPages: 2 }, true)).toMatchObject({
      error: 'EINVAL',
    });
    setPrivate(t.kvm, AREA, SZ_2M);
    t.events.length = 0;
    expect(must(t.kvm.tdxInitMemRegion(t.vcpu, { gpa: AREA, nrPages: 2 }, true))).toBe(2);
    const extend = new Array(16).fill('TDH.MR.EXTEND');
    expect(seamcalls(t.events)).toEqual([
      'TDH.MEM.SEPT.ADD',
      'TDH.MEM.SEPT.ADD',
      'TDH.MEM.SEPT.ADD',
      'TDH.MEM.PAGE.ADD',
      ...extend,
      'TDH.MEM.PAGE.ADD',
      ...extend,
    ]);
    // set_external_spte before finalize only counts the page (no AUG).
    expect(t.events.filter((e) => e.type === 'hook' && e.op === 'set_external_spte')).toHaveLength(
      2,
    );
    expect(t.kvm.tdx?.nrPremapped).toBe(0);
    // A second populate of the same page: -EEXIST.
    expect(t.kvm.tdxInitMemRegion(t.vcpu, { gpa: AREA, nrPages: 1 }, false)).toMatchObject({
      error: 'EEXIST',
    });
    // Pre-fault and KVM_RUN wait for finalize.
    expect(t.kvm.preFaultMemory(t.vcpu, AREA + 0x3000, 0x1000)).toMatchObject({
      error: 'EOPNOTSUPP',
    });
    expect(t.vcpu.read(AREA, 4, { private: true }).ret).toBe(-22);
    must(t.kvm.tdxFinalizeVm());
    expect(t.kvm.tdx?.module.td(t.kvm.tdx.tdr)?.mrtd.value?.length).toBe(48);
    const r = t.vcpu.read(AREA, 0x2000, { private: true });
    expect(allBytes(r.data, 0x11)).toBe(true);
    expectClean(t.kvm);
  });

  it('GPAW 52 uses a 5-level mirror and S-EPT (four SEPT.ADDs) and shared bit 51', () => {
    const t = makeTd({ gpaw: 52 });
    t.vcpu.autoAccept = true;
    expect(t.kvm.mmu.rootLevel).toBe(5);
    expect(t.kvm.gfnDirectBits).toBe(2 ** 39);
    setPrivate(t.kvm, AREA, 0x1000);
    t.events.length = 0;
    t.vcpu.write(AREA, 4, 1, { private: true });
    expect(seamcalls(t.events).filter((l) => l === 'TDH.MEM.SEPT.ADD')).toHaveLength(4);
    // A shared access carries bit 51; the memory fault reports the canonical GPA.
    const r = t.vcpu.read(AREA + 2 ** 51, 4);
    expect(r.exit).toEqual({ reason: KVM_EXIT_MEMORY_FAULT, gpa: AREA, size: 4096, flags: 0 });
    expectClean(t.kvm);
  });

  it('refuses memslots whose GFNs carry the shared bit, and an unknown GPAW', () => {
    const t = makeTd();
    expect(
      t.kvm.setUserMemoryRegion2({ slot: 4, guestPhysAddr: SHARED_47, memorySize: 0x1000 }),
    ).toMatchObject({ error: 'EINVAL' });
    expect(Kvm.create({ type: 'tdx', gpaw: 50 })).toMatchObject({ error: 'EINVAL' });
    expectClean(t.kvm);
  });

  it('pre-fault after finalize: a private GPA is AUGed (PENDING), a shared one goes to the direct root', () => {
    const t = makeTd();
    setPrivate(t.kvm, AREA, 0x1000);
    expect(must(t.kvm.preFaultMemory(t.vcpu, AREA, 0x2000))).toBe(0x2000);
    const tdx = t.kvm.tdx;
    expect(tdx?.module.septEntry(tdx.tdr, AREA)?.state).toBe('PENDING');
    const direct = t.kvm.mmu.directRoot;
    expect(direct && t.kvm.mmu.lookup(direct, AREA / 0x1000 + 1)).not.toBeNull();
    expectClean(t.kvm);
  });

  it('SEPT_VE_DISABLE: a guest touching a PENDING page kills the VM', () => {
    const t = makeTd({ septVeDisable: true });
    setPrivate(t.kvm, AREA, 0x1000);
    const r = t.vcpu.read(AREA, 4, { private: true });
    expect(r.ret).toBe(-5);
    expect(t.kvm.dead).toMatch(/Guest access before accepting/);
    expect(t.vcpu.read(AREA, 4, { private: true }).ret).toBe(-5);
    expect(t.kvm.bugs).toEqual([]);
  });
});

describe('TDX MapGPA', () => {
  it('splits into ≤ 2 MiB exits counted from the current GPA, shared bit stripped', () => {
    const t = makeTd();
    const start = AREA + 0x1000 + SHARED_47;
    const args: number[][] = [];
    let r = t.vcpu.mapGpa(AREA + 0x1000, 0x500000, true);
    expect(start).toBeGreaterThan(0);
    while (r.exit !== null) {
      expect(r.exit.reason).toBe(KVM_EXIT_HYPERCALL);
      if (r.exit.reason === KVM_EXIT_HYPERCALL) args.push([...r.exit.args]);
      r = t.vcpu.resume(0);
    }
    expect(args).toEqual([
      [AREA + 0x1000, 512, 0],
      [AREA + 0x201000, 512, 0],
      [AREA + 0x401000, 256, 0],
    ]);
    expect(r.tdvmcall).toEqual({ status: 'TDVMCALL_STATUS_SUCCESS', r11: 0 });
    // The VMCALL's GPA is R12 (shared bit included), not RCX (the exposed-register mask).
    const vmcalls = t.events.filter((e) => e.type === 'tdcall' && e.leaf === 'TDG.VP.VMCALL');
    expect(vmcalls).toEqual([
      {
        type: 'tdcall',
        leaf: 'TDG.VP.VMCALL',
        gpa: `0x${start.toString(16)}`,
        status: 'TDX_SUCCESS',
      },
    ]);
  });

  it('a pending event between chunks returns RETRY and the guest re-issues from R11', () => {
    const t = makeTd();
    let r = t.vcpu.mapGpa(AREA, 0x400000, false);
    expect(r.exit).toMatchObject({ args: [AREA, 512, 0x10] });
    t.vcpu.pendingInterrupt = true;
    r = t.vcpu.resume(0);
    // RETRY → the guest calls MapGPA again from 0x80200000: the next exit.
    expect(r.exit).toMatchObject({ args: [AREA + SZ_2M, 512, 0x10] });
    expect(t.events.filter((e) => e.type === 'tdcall' && e.leaf === 'TDG.VP.VMCALL')).toHaveLength(
      2,
    );
    r = t.vcpu.resume(0);
    expect(r.tdvmcall?.status).toBe('TDVMCALL_STATUS_SUCCESS');
  });

  it('returns the GHCI errors: unsupported, alignment, straddling, refused by userspace', () => {
    const t = makeTd();
    expect(t.vcpu.mapGpa(AREA + 0x10, 0x1000, false).tdvmcall?.status).toBe(
      'TDVMCALL_STATUS_ALIGN_ERROR',
    );
    const straddle = t.vcpu.mapGpa(SHARED_47 - 0x1000, 0x2000, false);
    expect(straddle.tdvmcall?.status).toBe('TDVMCALL_STATUS_INVALID_OPERAND');
    const r = t.vcpu.mapGpa(AREA, 0x1000, true);
    expect(r.exit?.reason).toBe(KVM_EXIT_HYPERCALL);
    expect(t.vcpu.resume(-11).tdvmcall).toEqual({
      status: 'TDVMCALL_STATUS_INVALID_OPERAND',
      r11: AREA + SHARED_47,
    });
    const noExit = must(Kvm.create({ type: 'tdx' }));
    must(noExit.tdxInitVm());
    const v = must(noExit.createVcpu());
    must(noExit.tdxInitVcpu(v));
    must(noExit.tdxFinalizeVm());
    expect(v.mapGpa(AREA, 0x1000, false).tdvmcall?.status).toBe(
      'TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED',
    );
  });
});

describe('tdx_upm_test', () => {
  const FOCUS = AREA + 0x100000;
  const FOCUS_SIZE = 0xa000; // 40 KiB, 10 pages
  const GENERAL_1 = FOCUS + FOCUS_SIZE;
  const GENERAL_1_SIZE = AREA + SZ_2M - GENERAL_1; // 0xF6000

  function launch(): Td {
    const t = makeTd({ finalize: false });
    must(t.kvm.hostWrite(AREA, new Uint8Array(SZ_2M).fill(0x11)));
    setPrivate(t.kvm, AREA, SZ_2M);
    must(t.kvm.tdxInitMemRegion(t.vcpu, { gpa: AREA, nrPages: SZ_2M / 0x1000 }, true));
    must(t.kvm.tdxFinalizeVm());
    t.vcpu.autoAccept = true; // the guest's #VE handler accepts pending pages
    return t;
  }

  function readsAs(t: Td, gpa: number, size: number, byte: number, priv: boolean): boolean {
    const r = t.vcpu.read(gpa, size, { private: priv });
    expect(r.exit).toBeNull();
    return allBytes(r.data, byte);
  }

  function hostSees(t: Td, gpa: number, size: number, byte: number): boolean {
    return allBytes(must(t.kvm.hostRead(gpa, size)), byte);
  }

  for (const mode of ['explicit', 'implicit'] as const) {
    it(`${mode} conversions`, () => {
      const t = launch();
      const { kvm, vcpu } = t;
      const convert = convertOnHypercall(kvm);
      // Stage 1: private memory starts as the host's 0x11 (PAGE.ADD copied it); fill with 0x33.
      expect(readsAs(t, AREA, SZ_2M, 0x11, true)).toBe(true);
      expect(vcpu.write(AREA, SZ_2M, 0x33, { private: true }).exit).toBeNull();
      expect(hostSees(t, AREA, SZ_2M, 0x11)).toBe(true);
      expect(readsAs(t, AREA, SZ_2M, 0x33, true)).toBe(true);
      // Stage 2: the focus area becomes shared.
      if (mode === 'explicit') {
        const r = runAnswering(
          vcpu,
          () => vcpu.mapGpa(FOCUS, FOCUS_SIZE, true),
          (exit) => {
            expect(exit.args).toEqual([FOCUS, 10, 0]);
            return convert(exit);
          },
        );
        expect(r.tdvmcall?.status).toBe('TDVMCALL_STATUS_SUCCESS');
        // The shared backing kept the host's pre-launch bytes.
        expect(readsAs(t, FOCUS, FOCUS_SIZE, 0x11, false)).toBe(true);
        expect(vcpu.write(FOCUS, FOCUS_SIZE, 0x44, { private: false }).exit).toBeNull();
      } else {
        let faults = 0;
        let r = vcpu.write(FOCUS, FOCUS_SIZE, 0x44, { private: false });
        while (r.exit !== null) {
          expect(r.ret).toBe(-14);
          expect(r.exit).toEqual({
            reason: KVM_EXIT_MEMORY_FAULT,
            gpa: FOCUS + faults * 0x1000,
            size: 4096,
            flags: 0,
          });
          must(
            kvm.setMemoryAttributes({
              address: r.exit.reason === KVM_EXIT_MEMORY_FAULT ? r.exit.gpa : 0,
              size: 0x1000,
              attributes: 0,
            }),
          );
          faults++;
          r = vcpu.resume();
        }
        expect(faults).toBe(10);
      }
      expect(readsAs(t, AREA, 0x100000, 0x33, true)).toBe(true);
      expect(readsAs(t, GENERAL_1, GENERAL_1_SIZE, 0x33, true)).toBe(true);
      expect(hostSees(t, FOCUS, FOCUS_SIZE, 0x44)).toBe(true);
      expect(hostSees(t, AREA, 0x100000, 0x11)).toBe(true);
      must(kvm.hostWrite(FOCUS, new Uint8Array(FOCUS_SIZE).fill(0x22)));
      expect(readsAs(t, FOCUS, FOCUS_SIZE, 0x22, false)).toBe(true);
      // Stage 3: back to private; re-accepted pages read as zeros.
      if (mode === 'explicit') {
        const r = runAnswering(
          vcpu,
          () => vcpu.mapGpa(FOCUS, FOCUS_SIZE, false),
          (exit) => {
            expect(exit.args).toEqual([FOCUS, 10, 0x10]);
            return convert(exit);
          },
        );
        expect(r.tdvmcall?.status).toBe('TDVMCALL_STATUS_SUCCESS');
        expect(readsAs(t, FOCUS, FOCUS_SIZE, 0x00, true)).toBe(true);
      } else {
        let faults = 0;
        let r = vcpu.read(FOCUS, FOCUS_SIZE, { private: true });
        while (r.exit !== null) {
          expect(r.exit).toEqual({
            reason: KVM_EXIT_MEMORY_FAULT,
            gpa: FOCUS + faults * 0x1000,
            size: 4096,
            flags: 8,
          });
          setPrivate(kvm, FOCUS + faults * 0x1000, 0x1000);
          faults++;
          r = vcpu.resume();
        }
        expect(faults).toBe(10);
        expect(allBytes(r.data, 0)).toBe(true);
      }
      expect(readsAs(t, AREA, 0x100000, 0x33, true)).toBe(true);
      expect(hostSees(t, AREA, 0x100000, 0x11)).toBe(true);
      expect(hostSees(t, FOCUS, FOCUS_SIZE, 0x22)).toBe(true);
      expect(vcpu.write(AREA, SZ_2M, 0x33, { private: true }).exit).toBeNull();
      expect(readsAs(t, AREA, SZ_2M, 0x33, true)).toBe(true);
      expect(checkInvariants(kvm)).toEqual([]);
      kvm.destroy();
      expect(kvm.bugs).toEqual([]);
    }, 60_000);
  }
});

describe('tdx_shared_mem_test', () => {
  it('the guest and the host exchange values through a page converted to shared', () => {
    const t = makeTd({ finalize: false });
    setPrivate(t.kvm, AREA, 0x1000);
    must(t.kvm.tdxInitMemRegion(t.vcpu, { gpa: AREA, nrPages: 1 }, true));
    must(t.kvm.tdxFinalizeVm());
    const { kvm, vcpu } = t;
    // Run 1: MapGPA(gpa | s_bit, 4K) → HYPERCALL with the untagged GPA, DECRYPTED.
    const r1 = vcpu.mapGpa(AREA, 0x1000, true);
    expect(r1.exit).toEqual({ reason: KVM_EXIT_HYPERCALL, nr: 12, args: [AREA, 1, 0], flags: 1 });
    must(kvm.setMemoryAttributes({ address: AREA, size: 0x1000, attributes: 0 }));
    expect(vcpu.resume(0).tdvmcall?.status).toBe('TDVMCALL_STATUS_SUCCESS');
    // Run 2: the guest writes 0xcafecafe through the shared alias; the host sees it.
    const le = (v: number) => new Uint8Array(new Uint32Array([v]).buffer);
    expect(vcpu.writeBytes(AREA + SHARED_47, le(0xcafecafe)).exit).toBeNull();
    expect(must(kvm.hostRead(AREA, 4))).toEqual(le(0xcafecafe));
    must(kvm.hostWrite(AREA, le(0xabcdabcd)));
    // Run 3: the guest reads the host's value.
    expect(vcpu.read(AREA + SHARED_47, 4).data).toEqual(le(0xabcdabcd));
    expectClean(kvm);
  });

  it('verify_host_reading_private_mem: the host never sees private writes', () => {
    const t = makeTd();
    t.vcpu.autoAccept = true;
    setPrivate(t.kvm, AREA, 0x1000);
    const le = (v: number) => new Uint8Array(new Uint32Array([v]).buffer);
    expect(t.vcpu.writeBytes(AREA, le(0xabcd), { private: true }).exit).toBeNull();
    const first = must(t.kvm.hostRead(AREA, 4));
    expect(t.vcpu.writeBytes(AREA, le(0xfedc), { private: true }).exit).toBeNull();
    expect(must(t.kvm.hostRead(AREA, 4))).toEqual(first);
    expectClean(t.kvm);
  });
});

describe('TDX BUSY handling (one retry after kicking vCPUs out)', () => {
  it('TDH.MEM.TRACK busy while a vCPU holds the epoch: kick, retry once, succeed', () => {
    const t = makeTd();
    t.vcpu.autoAccept = true;
    setPrivate(t.kvm, AREA, 0x1000);
    expect(t.vcpu.write(AREA, 8, 1, { private: true }).exit).toBeNull();
    const tdx = t.kvm.tdx;
    if (tdx === null) throw new Error('not a TD');
    // A vCPU "in the guest" elsewhere holds the TD epoch; the kick forces it out.
    const held = tdx.module.hold({ kind: 'epoch', tdr: tdx.tdr }, 'shared');
    t.kvm.onKick = () => held?.release();
    t.events.length = 0;
    must(t.kvm.setMemoryAttributes({ address: AREA, size: 0x1000, attributes: 0 }));
    expect(seamcalls(t.events)).toEqual([
      'TDH.MEM.RANGE.BLOCK',
      'TDH.MEM.TRACK', // TDX_OPERAND_BUSY
      'TDH.MEM.TRACK', // after tdx_no_vcpus_enter_start()
      'TDH.MEM.PAGE.REMOVE',
      'TDH.PHYMEM.PAGE.WBINVD',
    ]);
    const statuses = t.events.flatMap((e) =>
      e.type === 'seamcall' && e.leaf === 'TDH.MEM.TRACK' ? [e.status] : [],
    );
    expect(statuses).toEqual(['TDX_OPERAND_BUSY', 'TDX_SUCCESS']);
    expect(tdx.waitForSeptZap).toBe(false);
    expectClean(t.kvm);
  });

  it('still busy after the retry: KVM_BUG_ON', () => {
    const t = makeTd();
    t.vcpu.autoAccept = true;
    setPrivate(t.kvm, AREA, 0x1000);
    t.vcpu.write(AREA, 8, 1, { private: true });
    const tdx = t.kvm.tdx;
    if (tdx === null) throw new Error('not a TD');
    tdx.module.hold({ kind: 'septEntry', tdr: tdx.tdr, gpa: AREA, level: 0 });
    must(t.kvm.setMemoryAttributes({ address: AREA, size: 0x1000, attributes: 0 }));
    expect(t.kvm.bugs.length).toBeGreaterThan(0);
    expect(t.kvm.setMemoryAttributes({ address: AREA, size: 0x1000, attributes: 8 })).toMatchObject(
      { error: 'EIO' },
    );
  });
});

describe('TDX before finalize', () => {
  it('a premapped page blocks FINALIZE (nr_premapped); tearing it down drops the count without a SEAMCALL error', () => {
    const t = makeTd({ finalize: false });
    setPrivate(t.kvm, AREA, 0x1000);
    // KVM maps the page through the mirror (as INIT_MEM_REGION's post-populate does) but no
    // PAGE.ADD follows: set_external_spte only counted it.
    const mapped = t.kvm.tdpMapPage(t.vcpu, AREA, 2 ** 49 + 2 ** 32);
    expect(mapped.ret).toBe(0);
    expect(t.kvm.tdx?.nrPremapped).toBe(1);
    expectClean(t.kvm);
    expect(t.kvm.tdxFinalizeVm()).toMatchObject({ error: 'EINVAL' });
    t.events.length = 0;
    must(t.kvm.setMemoryAttributes({ address: AREA, size: 0x1000, attributes: 0 }));
    // tdx_sept_zap_private_spte(): BLOCK finds no page, the premapped count drops, no TRACK.
    expect(seamcalls(t.events)).toEqual(['TDH.MEM.RANGE.BLOCK']);
    expect(t.kvm.tdx?.nrPremapped).toBe(0);
    expect(t.kvm.bugs).toEqual([]);
    must(t.kvm.tdxFinalizeVm());
    expectClean(t.kvm);
  });

  it('a TD torn down before finalize: added pages are removed without TRACK, everything reclaimed', () => {
    const t = makeTd({ finalize: false });
    setPrivate(t.kvm, AREA, 0x2000);
    must(t.kvm.tdxInitMemRegion(t.vcpu, { gpa: AREA, nrPages: 2 }, false));
    t.events.length = 0;
    t.kvm.destroy();
    const leaves = seamcalls(t.events);
    expect(leaves.slice(0, 6)).toEqual([
      'TDH.MEM.RANGE.BLOCK',
      'TDH.MEM.PAGE.REMOVE',
      'TDH.PHYMEM.PAGE.WBINVD',
      'TDH.MEM.RANGE.BLOCK',
      'TDH.MEM.PAGE.REMOVE',
      'TDH.PHYMEM.PAGE.WBINVD',
    ]);
    expect(leaves).not.toContain('TDH.MEM.TRACK');
    expect(t.kvm.bugs).toEqual([]);
    expect(t.kvm.pool.stats().byOwner.tdx_tdr).toBeUndefined();
  });
});
