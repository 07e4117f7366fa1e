// SEV, SEV-ES and SNP through the facade: the selftests of selftests.md B.5 (sev_init2_tests),
// B.6 (sev_smoke_test's SNP launch and TERM_REQ) and B.7 (the SNP conversion tests), plus
// the RMP paths they rely on (PVALIDATE, #VC on an unvalidated page, host writes).

import { PAGE_SIZE } from '@kvmx/address';
import {
  EFAULT,
  EINVAL,
  ENOTTY,
  GHCB_MSR_REG_GPA_RESP,
  ghcbMsr,
  ghcbMsrRegGpaReq,
  ghcbMsrTermReq,
  KVM_SEV_SNP_PAGE_TYPE_NORMAL,
  KVM_SEV_SNP_PAGE_TYPE_ZERO,
  PVALIDATE_FAIL_NOUPDATE,
  rmpMakeShared,
  SVM_EXIT_VC_PAGE_NOT_VALIDATED,
} from '@kvmx/vendor-ops';
import { describe, expect, it } from 'vitest';
import type { KvmEvent } from './events.js';
import { checkInvariants } from './invariants.js';
import { Kvm } from './kvm.js';
import { allBytes, convertOnHypercall, expectClean, must, runAnswering } from './test-helpers.js';
import {
  KVM_CAP_EXIT_HYPERCALL,
  KVM_EXIT_HYPERCALL,
  KVM_EXIT_MEMORY_FAULT,
  KVM_EXIT_SYSTEM_EVENT,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  KVM_MEMORY_EXIT_FLAG_PRIVATE,
} from './uapi.js';
import type { Vcpu } from './vcpu.js';

const GPA = 0x100000;
const SLOT_SIZE = 4 * 1024 * 1024;

/** An SNP VM as vm_sev_launch() builds it: INIT2, LAUNCH_START, one gmem slot, one vCPU. */
function snpVm(): { kvm: Kvm; vcpu: Vcpu } {
  const kvm = must(Kvm.create({ type: 'snp' }));
  must(kvm.sevInit2());
  must(kvm.snpLaunchStart());
  const vcpu = must(kvm.createVcpu());
  must(kvm.enableCap(KVM_CAP_EXIT_HYPERCALL, 1 << 12));
  const fd = must(kvm.createGuestMemfd({ size: SLOT_SIZE }));
  must(
    kvm.setUserMemoryRegion2({
      slot: 0,
      flags: KVM_MEM_GUEST_MEMFD,
      guestPhysAddr: GPA,
      memorySize: SLOT_SIZE,
      guestMemfd: fd,
      guestMemfdOffset: 0,
    }),
  );
  return { kvm, vcpu };
}

function setPrivate(kvm: Kvm, gpa: number, size: number, priv: boolean): void {
  must(
    kvm.setMemoryAttributes({
      address: gpa,
      size,
      attributes: priv ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
    }),
  );
}

describe('B.5 sev_init2_tests', () => {
  it('INIT2 with an all-zero struct works on SEV, SEV-ES and SNP and is EINVAL on types 0 and 1', () => {
    for (const type of ['sev', 'sev_es', 'snp'] as const) {
      const kvm = must(Kvm.create({ type }));
      expect(kvm.sevInit2().ok).toBe(true);
      expect(kvm.sev?.sev.asid).toBeGreaterThan(0);
    }
    for (const type of ['default', 'sw_protected'] as const) {
      const r = must(Kvm.create({ type })).sevInit2();
      expect(r).toEqual({ ok: false, error: 'EINVAL', errno: EINVAL });
    }
  });

  it('every flags bit is EINVAL; vmsa_features: any bit on SEV, DEBUG_SWAP (bit 5) allowed on SEV-ES/SNP', () => {
    for (const type of ['sev', 'sev_es', 'snp'] as const) {
      for (let bit = 0; bit < 32; bit++) {
        const kvm = must(Kvm.create({ type }));
        expect(kvm.sev?.init2({ flags: 2 ** bit }).ret).toBe(-EINVAL);
      }
      const kvm = must(Kvm.create({ type }));
      expect(kvm.sevInit2({ vmsaFeatures: 1 << 5 }).ok).toBe(type !== 'sev');
      expect(must(Kvm.create({ type })).sevInit2({ vmsaFeatures: 1 << 6 }).ok).toBe(false);
    }
  });

  it('LAUNCH_START is ENOTTY on SEV and SEV-ES; a bad C-bit position refuses the VM', () => {
    const kvm = must(Kvm.create({ type: 'sev_es' }));
    must(kvm.sevInit2());
    expect(kvm.snpLaunchStart()).toMatchObject({ ok: false, errno: ENOTTY });
    expect(Kvm.create({ type: 'snp', cbit: 52 }).ok).toBe(false);
    expect(Kvm.create({ type: 'snp', cbit: 47 }).ok).toBe(true);
  });

  it('flags per type: private memory only on SNP, protected state on SEV-ES and SNP', () => {
    const flags = (type: 'sev' | 'sev_es' | 'snp') => {
      const a = must(Kvm.create({ type })).arch;
      return [a.hasPrivateMem, a.hasProtectedState];
    };
    expect(flags('sev')).toEqual([false, false]);
    expect(flags('sev_es')).toEqual([false, true]);
    expect(flags('snp')).toEqual([true, true]);
  });
});

describe('B.6 sev_smoke_test (SNP)', () => {
  it('launches with LAUNCH_UPDATE pages and LAUNCH_FINISH, then TERM_REQ is SYSTEM_EVENT SEV_TERM 0x100', () => {
    const { kvm, vcpu } = snpVm();
    setPrivate(kvm, GPA, 2 * PAGE_SIZE, true);
    must(kvm.hostWrite(GPA, new Uint8Array(PAGE_SIZE).fill(0x5a)));
    expect(
      must(kvm.snpLaunchUpdate({ gpa: GPA, size: PAGE_SIZE, type: KVM_SEV_SNP_PAGE_TYPE_NORMAL })),
    ).toBe(1);
    expect(
      must(
        kvm.snpLaunchUpdate({
          gpa: GPA + PAGE_SIZE,
          size: PAGE_SIZE,
          type: KVM_SEV_SNP_PAGE_TYPE_ZERO,
        }),
      ),
    ).toBe(1);
    // The same page twice: already prepared (EEXIST on the first page → EIO).
    expect(
      kvm.snpLaunchUpdate({ gpa: GPA, size: PAGE_SIZE, type: KVM_SEV_SNP_PAGE_TYPE_NORMAL }).ok,
    ).toBe(false);
    expect(kvm.rmpView(GPA)).toEqual({ mapped: true, level: 1, state: 'validated' });
    must(kvm.snpLaunchFinish());
    expect(kvm.arch.preFaultAllowed).toBe(true);
    // The guest reads its launched pages privately: the copied source and the zero page.
    expect(allBytes(vcpu.read(GPA, PAGE_SIZE, { private: true }).data, 0x5a)).toBe(true);
    expect(allBytes(vcpu.read(GPA + PAGE_SIZE, 16, { private: true }).data, 0)).toBe(true);
    const r = vcpu.vmgexitMsr(ghcbMsrTermReq());
    expect(r.exit).toEqual({ reason: KVM_EXIT_SYSTEM_EVENT, eventType: 6, data: [0x100] });
    expectClean(kvm);
    kvm.destroy();
    expect(kvm.pool.countOwnedBy(14)).toBe(0);
  });
});

describe('B.7a SNP test_conversion (shared → private → shared)', () => {
  it('MSR PSC exits carry gpa, 1 page and 0x10 / 0; PVALIDATE after conversion; host sees shared bytes', () => {
    const { kvm, vcpu } = snpVm();
    must(kvm.snpLaunchFinish());
    const g = GPA + 0x10000;
    const reg = vcpu.vmgexitMsr(ghcbMsrRegGpaReq(0x42));
    expect(reg.ghcbMsr).toEqual(ghcbMsr(GHCB_MSR_REG_GPA_RESP, 0x42));
    must(kvm.hostWrite(g, new Uint8Array(1).fill(0xab)));
    expect(vcpu.read(g, 1, { private: false }).data?.[0]).toBe(0xab);
    expect(vcpu.write(g, 1, 0xcd, { private: false }).exit).toBeNull();

    const toPrivate = vcpu.mapGpa(g, PAGE_SIZE, false);
    expect(toPrivate.exit).toEqual({
      reason: KVM_EXIT_HYPERCALL,
      nr: 12,
      args: [g, 1, 0x10],
      flags: 0,
    });
    setPrivate(kvm, g, PAGE_SIZE, true);
    expect(vcpu.resume(0)).toEqual({ ret: 0, exit: null });
    // Before PVALIDATE a private access takes #VC(PAGE_NOT_VALIDATED) once KVM mapped it.
    const vc = vcpu.write(g, 1, 0xef, { private: true });
    expect(vc.vc).toBe(SVM_EXIT_VC_PAGE_NOT_VALIDATED);
    expect(kvm.rmpView(g)).toEqual({ mapped: true, level: 1, state: 'unvalidated' });
    expect(vcpu.pvalidate(g, PAGE_SIZE, true).pvalidated).toEqual({ pages4k: 1, pages2m: 0 });
    expect(kvm.rmpView(g)?.state).toBe('validated');
    expect(vcpu.write(g, PAGE_SIZE, 0xef, { private: true }).exit).toBeNull();
    expect(allBytes(vcpu.read(g, PAGE_SIZE, { private: true }).data, 0xef)).toBe(true);
    // PVALIDATE twice is NOUPDATE: fatal for a Linux guest.
    expect(vcpu.pvalidate(g, PAGE_SIZE, true).pvalidateRc).toBe(PVALIDATE_FAIL_NOUPDATE);
    expectClean(kvm);

    expect(vcpu.pvalidate(g, PAGE_SIZE, false).pvalidated).toEqual({ pages4k: 1, pages2m: 0 });
    const toShared = vcpu.mapGpa(g, PAGE_SIZE, true);
    expect(toShared.exit).toEqual({
      reason: KVM_EXIT_HYPERCALL,
      nr: 12,
      args: [g, 1, 0],
      flags: 0,
    });
    setPrivate(kvm, g, PAGE_SIZE, false);
    vcpu.resume(0);
    must(kvm.hostWrite(g, new Uint8Array(1).fill(0xbc)));
    expect(vcpu.read(g, 1, { private: false }).data?.[0]).toBe(0xbc);
    vcpu.write(g, 1, 0xde, { private: false });
    expect(must(kvm.hostRead(g, 1))[0]).toBe(0xde);
    expectClean(kvm);
  });

  it('a private access to a shared GFN is a private memory-fault exit; PSC errors reach the guest', () => {
    const { kvm, vcpu } = snpVm();
    const r = vcpu.write(GPA, 1, 1, { private: true });
    expect(r.exit).toEqual({
      reason: KVM_EXIT_MEMORY_FAULT,
      gpa: GPA,
      size: PAGE_SIZE,
      flags: KVM_MEMORY_EXIT_FLAG_PRIVATE,
    });
    vcpu.resume(0); // the VMM ignored it: the access faults again
    expect(vcpu.hasPendingExit).toBe(true);
    setPrivate(kvm, GPA, PAGE_SIZE, true);
    expect(vcpu.resume(0).vc).toBe(SVM_EXIT_VC_PAGE_NOT_VALIDATED);
    const psc = vcpu.mapGpa(GPA + PAGE_SIZE, PAGE_SIZE, false);
    expect(psc.exit?.reason).toBe(KVM_EXIT_HYPERCALL);
    expect(vcpu.resume(-22).pscError).toBeGreaterThan(0);
  });
});

describe('B.7b SNP sev_conversions_test (a page that starts private)', () => {
  it('launched private, rescinded, converted to shared and back with PVALIDATE', () => {
    const { kvm, vcpu } = snpVm();
    const g = GPA + 0x20000;
    setPrivate(kvm, g, PAGE_SIZE, true);
    must(kvm.hostWrite(g, new Uint8Array(PAGE_SIZE).fill(0xab)));
    must(kvm.snpLaunchUpdate({ gpa: g, size: PAGE_SIZE, type: KVM_SEV_SNP_PAGE_TYPE_NORMAL }));
    must(kvm.snpLaunchFinish());
    expect(allBytes(vcpu.read(g, PAGE_SIZE, { private: true }).data, 0xab)).toBe(true);
    expect(vcpu.pvalidate(g, PAGE_SIZE, false).pvalidated?.pages4k).toBe(1);
    const convert = convertOnHypercall(kvm);
    expect(runAnswering(vcpu, () => vcpu.mapGpa(g, PAGE_SIZE, true), convert).exit).toBeNull();
    // Shared now: the private page is unmapped, its frame still assigned until freed (legal).
    expectClean(kvm);
    must(kvm.hostWrite(g, new Uint8Array(1).fill(0xcd)));
    expect(vcpu.read(g, 1, { private: false }).data?.[0]).toBe(0xcd);
    vcpu.write(g, 1, 0xef, { private: false });
    expect(must(kvm.hostRead(g, 1))[0]).toBe(0xef);
    expect(runAnswering(vcpu, () => vcpu.mapGpa(g, PAGE_SIZE, false), convert).exit).toBeNull();
    expect(vcpu.pvalidate(g, PAGE_SIZE, true).pvalidated?.pages4k).toBe(1);
    vcpu.write(g, PAGE_SIZE, 0xab, { private: true });
    expect(allBytes(vcpu.read(g, PAGE_SIZE, { private: true }).data, 0xab)).toBe(true);
    expect(vcpu.vmgexitMsr(ghcbMsrTermReq()).exit?.reason).toBe(KVM_EXIT_SYSTEM_EVENT);
    expectClean(kvm);
  });
});

describe('SNP RMP paths', () => {
  it('a 2M PVALIDATE over 4K RMP entries fails SIZEMISMATCH and the guest redoes it at 4K', () => {
    const { kvm, vcpu } = snpVm();
    const g = GPA + 0x100000; // 2M-aligned: 0x200000
    setPrivate(kvm, g, 0x200000, true);
    const r = vcpu.pvalidate(g, 0x200000, true);
    expect(r.pvalidated).toEqual({ pages4k: 512, pages2m: 0 });
    expect(kvm.rmpView(g + 0x1ff000)?.state).toBe('validated');
    expectClean(kvm);
  });

  it('a conversion of more than one page uses GHCB PSC buffers: one exit per merged range', () => {
    const { kvm, vcpu } = snpVm();
    const exits: number[][] = [];
    const r = runAnswering(
      vcpu,
      () => vcpu.mapGpa(GPA, 8 * PAGE_SIZE, false),
      (e) => {
        exits.push([...e.args]);
        return convertOnHypercall(kvm)(e);
      },
    );
    expect(r.exit).toBeNull();
    expect(exits).toEqual([[GPA, 8, 0x10]]);
    expect(kvm.memIsPrivate(GPA / PAGE_SIZE + 7)).toBe(true);
  });

  it('host writes to an assigned frame are refused (RMP #PF), to a shared one allowed', () => {
    const { kvm, vcpu } = snpVm();
    const events: KvmEvent[] = [];
    kvm.events.on((e) => events.push(e));
    setPrivate(kvm, GPA, PAGE_SIZE, true);
    vcpu.pvalidate(GPA, PAGE_SIZE, true);
    const pfn =
      kvm.mmu.directRoot === null
        ? -1
        : (kvm.mmu.lookup(kvm.mmu.directRoot, GPA / PAGE_SIZE)?.pfn ?? -1);
    expect(kvm.hostWriteFrame(pfn, 0, new Uint8Array(8))).toMatchObject({
      ok: false,
      errno: EFAULT,
    });
    expect(events.some((e) => e.type === 'rmp' && e.op === 'host_write_fault')).toBe(true);
    expect(events.some((e) => e.type === 'rmp' && e.by === 'sev_gmem_prepare')).toBe(true);
    // The shared backing of the same GPA is the VMM's own frame: writable.
    expect(kvm.hostWrite(GPA, new Uint8Array(8)).ok).toBe(true);
    // Punching the hole frees the frame back to shared; then host writes pass.
    kvm.gmemFallocate(11, 3, 0, PAGE_SIZE);
    expect(checkInvariants(kvm)).toEqual([]);
  });
});

describe('the rmp invariant', () => {
  it('a private mapping whose frame a buggy host made shared in the RMP is a violation', () => {
    const { kvm, vcpu } = snpVm();
    setPrivate(kvm, GPA, PAGE_SIZE, true);
    vcpu.pvalidate(GPA, PAGE_SIZE, true);
    expectClean(kvm);
    const root = kvm.mmu.directRoot;
    const leaf = root === null ? null : kvm.mmu.lookup(root, GPA / PAGE_SIZE);
    if (leaf === null || kvm.sev === null) throw new Error('no private mapping');
    expect(rmpMakeShared(kvm.sev.rmp, leaf.pfn, 1)).toBe(0);
    const found = checkInvariants(kvm).filter((v) => v.invariant === 'rmp');
    expect(found).toHaveLength(1);
    expect(found[0]?.detail).toMatch(/private mapping gfn 0x100/);
  });
});

describe('SNP page-state changes', () => {
  it('3 MiB from an unaligned GPA: contiguous exits of at most 253 pages, none crossing 2 MiB pieces', () => {
    const { kvm, vcpu } = snpVm();
    const start = GPA + PAGE_SIZE;
    const exits: (readonly [number, number, number])[] = [];
    const r = runAnswering(
      vcpu,
      () => vcpu.mapGpa(start, 3 * 1024 * 1024, false),
      (e) => {
        exits.push(e.args);
        return convertOnHypercall(kvm)(e);
      },
    );
    expect(r.exit).toBeNull();
    expect(r.pscError).toBeUndefined();
    let next = start;
    for (const [gpa, npages, attrs] of exits) {
      expect(gpa).toBe(next);
      expect(npages).toBeLessThanOrEqual(253);
      expect(attrs).toBe(0x10);
      next += npages * PAGE_SIZE;
    }
    expect(next).toBe(start + 3 * 1024 * 1024);
    expect(kvm.memIsPrivate((start + 3 * 1024 * 1024 - PAGE_SIZE) / PAGE_SIZE)).toBe(true);
    expectClean(kvm);
  });

  it('without KVM_CAP_EXIT_HYPERCALL the page-state change fails back to the guest, no exit', () => {
    const kvm = must(Kvm.create({ type: 'snp' }));
    must(kvm.sevInit2());
    must(kvm.snpLaunchStart());
    const vcpu = must(kvm.createVcpu());
    const one = vcpu.mapGpa(GPA, PAGE_SIZE, false);
    expect(one.exit).toBeNull();
    expect(one.pscError).toBeGreaterThan(0);
    const many = vcpu.mapGpa(GPA, 4 * PAGE_SIZE, false);
    expect(many.exit).toBeNull();
    expect(many).toMatchObject({ ret: 0, exit: null, pscError: expect.any(Number) });
    expect(many.pscError).toBeGreaterThan(0);
  });
});
