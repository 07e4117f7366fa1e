// KVM_SET_USER_MEMORY_REGION2 and guest_memfd refusals, as set_memory_region_test and
// guest_memfd_test check them (selftests.md B.3, B.4), plus delete/move and lpage metadata.

import { describe, expect, it } from 'vitest';
import { Kvm } from './kvm.js';
import { KVM_LPAGE_MIXED_FLAG } from './memslot.js';
import { allBytes, expectClean, must } from './test-helpers.js';
import {
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
} from './uapi.js';

const MEM_REGION_GPA = 0xc0000000;
const MEM_REGION_SIZE = 0x200000;
const PUNCH = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE;

function vm(type: 'default' | 'sw_protected' | 'tdx' = 'sw_protected'): Kvm {
  return must(Kvm.create({ type }));
}

describe('set_memory_region_test (guest_memfd parts)', () => {
  it('flags: GUEST_MEMFD is v2-only; unknown bits and LOG_DIRTY_PAGES|GUEST_MEMFD are EINVAL', () => {
    const kvm = vm();
    const fd = must(kvm.createGuestMemfd({ size: MEM_REGION_SIZE }));
    const base = { slot: 10, guestPhysAddr: MEM_REGION_GPA, memorySize: MEM_REGION_SIZE };
    expect(kvm.setUserMemoryRegion({ ...base, flags: KVM_MEM_GUEST_MEMFD })).toMatchObject({
      error: 'EINVAL',
    });
    for (let bit = 3; bit < 32; bit++) {
      expect(kvm.setUserMemoryRegion2({ ...base, flags: 2 ** bit })).toMatchObject({
        error: 'EINVAL',
      });
    }
    expect(
      kvm.setUserMemoryRegion2({
        ...base,
        flags: KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_GUEST_MEMFD,
        guestMemfd: fd,
      }),
    ).toMatchObject({ error: 'EINVAL' });
    // GUEST_MEMFD is incompatible with READONLY.
    expect(
      kvm.setUserMemoryRegion2({
        ...base,
        flags: KVM_MEM_READONLY | KVM_MEM_GUEST_MEMFD,
        guestMemfd: fd,
      }),
    ).toMatchObject({ error: 'EINVAL' });
    expectClean(kvm);
  });

  it('binding: non-guest_memfd descriptors and another VM’s guest_memfd are EINVAL; offsets 1..4095 too', () => {
    const kvm = vm();
    const other = vm();
    const otherFd = must(other.createGuestMemfd({ size: MEM_REGION_SIZE }));
    const fd = must(kvm.createGuestMemfd({ size: MEM_REGION_SIZE }));
    const base = {
      slot: 10,
      flags: KVM_MEM_GUEST_MEMFD,
      guestPhysAddr: MEM_REGION_GPA,
      memorySize: MEM_REGION_SIZE,
    };
    for (const bad of [0, 3, 1000, otherFd]) {
      expect(kvm.setUserMemoryRegion2({ ...base, guestMemfd: bad })).toMatchObject({
        error: 'EINVAL',
      });
    }
    for (const off of [1, 7, 2048, 4095]) {
      expect(
        kvm.setUserMemoryRegion2({ ...base, guestMemfd: fd, guestMemfdOffset: off }),
      ).toMatchObject({
        error: 'EINVAL',
      });
    }
    // Past the end of the file.
    expect(
      kvm.setUserMemoryRegion2({ ...base, guestMemfd: fd, guestMemfdOffset: 0x1000 }),
    ).toMatchObject({
      error: 'EINVAL',
    });
    must(kvm.setUserMemoryRegion2({ ...base, guestMemfd: fd, guestMemfdOffset: 0 }));
    // Private memslots are immutable: only deletion is allowed.
    expect(
      kvm.setUserMemoryRegion2({ ...base, guestMemfd: fd, guestPhysAddr: 0xd0000000 }),
    ).toMatchObject({
      error: 'EINVAL',
    });
    expectClean(kvm);
  });

  it('overlap: re-creating slot 10 over slot 11 is EEXIST; overlapping gmem bindings are EINVAL', () => {
    const kvm = vm();
    const fd = must(kvm.createGuestMemfd({ size: 0x800000 }));
    const slot = (id: number, gpa: number, offset: number) =>
      kvm.setUserMemoryRegion2({
        slot: id,
        flags: KVM_MEM_GUEST_MEMFD,
        guestPhysAddr: gpa,
        memorySize: 0x400000,
        guestMemfd: fd,
        guestMemfdOffset: offset,
      });
    must(slot(10, 0xc0000000, 0));
    must(slot(11, 0x180000000, 0x400000));
    must(kvm.setUserMemoryRegion2({ slot: 10, guestPhysAddr: 0xc0000000, memorySize: 0 }));
    expect(slot(10, 0x17fe00000, 0)).toMatchObject({ error: 'EEXIST' });
    expect(slot(10, 0x180200000, 0)).toMatchObject({ error: 'EEXIST' });
    // No GPA overlap, but the file range is bound to slot 11 already.
    expect(slot(12, 0x200000000, 0x200000)).toMatchObject({ error: 'EINVAL' });
    must(slot(10, 0x100000000, 0));
    expectClean(kvm);
  });

  it('alignment, size 0 on a missing slot, slot ids, and move/flags changes', () => {
    const kvm = vm('default');
    expect(
      kvm.setUserMemoryRegion2({ slot: 1, guestPhysAddr: 0x1000, memorySize: 0x1001 }),
    ).toMatchObject({
      error: 'EINVAL',
    });
    expect(
      kvm.setUserMemoryRegion2({ slot: 1, guestPhysAddr: 0x1800, memorySize: 0x1000 }),
    ).toMatchObject({
      error: 'EINVAL',
    });
    expect(
      kvm.setUserMemoryRegion2({ slot: 1, guestPhysAddr: 0x1000, memorySize: 0 }),
    ).toMatchObject({
      error: 'EINVAL',
    });
    expect(
      kvm.setUserMemoryRegion2({ slot: 32764, guestPhysAddr: 0, memorySize: 0x1000 }),
    ).toMatchObject({
      error: 'EINVAL',
    });
    expect(
      kvm.setUserMemoryRegion2({ slot: 1, guestPhysAddr: 2 ** 52, memorySize: 0x1000 }),
    ).toMatchObject({
      error: 'EINVAL',
    });
    must(kvm.setUserMemoryRegion2({ slot: 1, guestPhysAddr: 0x100000, memorySize: 0x10000 }));
    const hva = kvm.memslots.get(1)?.userspaceAddr ?? 0;
    const vcpu = must(kvm.createVcpu());
    vcpu.write(0x100000, 4, 0x5c);
    // Move: same HVA, new GPA; the bytes follow the VMM memory.
    must(
      kvm.setUserMemoryRegion2({
        slot: 1,
        guestPhysAddr: 0x200000,
        memorySize: 0x10000,
        userspaceAddr: hva,
      }),
    );
    expect(kvm.mmu.directRoot && kvm.mmu.lookup(kvm.mmu.directRoot, 0x100)).toBeNull();
    expect(allBytes(vcpu.read(0x200000, 4).data, 0x5c)).toBe(true);
    // Changing the size or READONLY of an existing slot is EINVAL; a flags-only change is fine.
    expect(
      kvm.setUserMemoryRegion2({ slot: 1, guestPhysAddr: 0x200000, memorySize: 0x20000 }),
    ).toMatchObject({
      error: 'EINVAL',
    });
    expect(
      kvm.setUserMemoryRegion2({
        slot: 1,
        flags: KVM_MEM_READONLY,
        guestPhysAddr: 0x200000,
        memorySize: 0x10000,
      }),
    ).toMatchObject({ error: 'EINVAL' });
    must(
      kvm.setUserMemoryRegion2({
        slot: 1,
        flags: KVM_MEM_LOG_DIRTY_PAGES,
        guestPhysAddr: 0x200000,
        memorySize: 0x10000,
      }),
    );
    expectClean(kvm);
  });

  it('a TD has no read-only memslots (protected state) and no slots beyond the shared bit', () => {
    const kvm = vm('tdx');
    expect(
      kvm.setUserMemoryRegion2({
        slot: 1,
        flags: KVM_MEM_READONLY,
        guestPhysAddr: 0,
        memorySize: 0x1000,
      }),
    ).toMatchObject({ error: 'EINVAL' });
    // The last GFN carries bit 47: an alias.
    expect(
      kvm.setUserMemoryRegion2({ slot: 1, guestPhysAddr: 2 ** 47 - 0x1000, memorySize: 0x2000 }),
    ).toMatchObject({ error: 'EINVAL' });
    must(
      kvm.setUserMemoryRegion2({ slot: 1, guestPhysAddr: 2 ** 47 - 0x1000, memorySize: 0x1000 }),
    );
  });

  it('lpage_info: head and tail huge pages sticking out of the slot are disallowed', () => {
    const kvm = vm();
    must(kvm.setUserMemoryRegion2({ slot: 1, guestPhysAddr: 0x1ff000, memorySize: 0x402000 }));
    const slot = kvm.memslots.get(1);
    expect(slot?.lpageInfo[0]).toEqual(new Int32Array([1, 0, 0, 1]));
    expect(slot?.lpageInfo[1]).toEqual(new Int32Array([1]));
  });
});

describe('guest_memfd_test', () => {
  it('create: flags must be 0, sizes 1..4095 are EINVAL, files are independent', () => {
    const kvm = vm();
    for (let bit = 0; bit < 64; bit += 7) {
      expect(kvm.createGuestMemfd({ size: 0x1000, flags: 2 ** bit })).toMatchObject({
        error: 'EINVAL',
      });
    }
    for (let size = 1; size < 4096; size += 97) {
      expect(kvm.createGuestMemfd({ size })).toMatchObject({ error: 'EINVAL' });
    }
    expect(kvm.createGuestMemfd({ size: 0 })).toMatchObject({ error: 'EINVAL' });
    const a = must(kvm.createGuestMemfd({ size: 0x1000 }));
    const b = must(kvm.createGuestMemfd({ size: 0x2000 }));
    expect(a).not.toBe(b);
    expect(kvm.gmems.get(a)?.size).toBe(0x1000);
    expect(kvm.gmems.get(b)?.size).toBe(0x2000);
  });

  it('fallocate: alignment, allocation beyond the size, punching beyond it, modes', () => {
    const kvm = vm();
    const total = 0x4000;
    const fd = must(kvm.createGuestMemfd({ size: total }));
    must(kvm.gmemFallocate(fd, FALLOC_FL_KEEP_SIZE, 0, total));
    expect(kvm.gmems.get(fd)?.pages.size).toBe(4);
    expect(kvm.gmemFallocate(fd, PUNCH, 0x1000 - 1, 0x1000)).toMatchObject({ error: 'EINVAL' });
    expect(kvm.gmemFallocate(fd, FALLOC_FL_KEEP_SIZE, total, 0x1000)).toMatchObject({
      error: 'EINVAL',
    });
    expect(kvm.gmemFallocate(fd, FALLOC_FL_KEEP_SIZE, total + 0x1000, 0x1000)).toMatchObject({
      error: 'EINVAL',
    });
    must(kvm.gmemFallocate(fd, PUNCH, total, 0x1000));
    must(kvm.gmemFallocate(fd, PUNCH, total + 0x1000, 0x1000));
    expect(kvm.gmemFallocate(fd, PUNCH, 0x1000, 0x1000 - 1)).toMatchObject({ error: 'EINVAL' });
    expect(kvm.gmemFallocate(fd, 0, 0, 0x1000)).toMatchObject({ error: 'EOPNOTSUPP' });
    expect(kvm.gmemFallocate(fd, FALLOC_FL_KEEP_SIZE | 0x8, 0, 0x1000)).toMatchObject({
      error: 'EOPNOTSUPP',
    });
    must(kvm.gmemFallocate(fd, PUNCH, 0x1000, 0x1000));
    expect(kvm.gmems.get(fd)?.pages.size).toBe(3);
    must(kvm.gmemFallocate(fd, FALLOC_FL_KEEP_SIZE, 0x1000, 0x1000));
    expect(kvm.gmems.get(fd)?.pages.size).toBe(4);
    for (const [offset, len] of [
      [0, 1],
      [0, 4095],
      [0, 4097],
      [1, 1],
      [1, 4095],
      [1, 4096],
      [1, 4097],
      [4096, 1],
      [4096, 4095],
      [4096, 4097],
    ] as const) {
      expect(kvm.gmemFallocate(fd, PUNCH, offset, len)).toMatchObject({ error: 'EINVAL' });
    }
    must(kvm.gmemClose(fd));
    expect(kvm.gmemFallocate(fd, PUNCH, 0, 0x1000)).toMatchObject({ error: 'EBADF' });
    expect(kvm.pool.countOwnedBy(4)).toBe(0);
  });

  it('a punch hole zaps the range (a single-root VM ignores the PRIVATE filter); a re-fault gets a zeroed page', () => {
    const kvm = vm();
    const vcpu = must(kvm.createVcpu());
    const fd = must(kvm.createGuestMemfd({ size: 0x2000 }));
    must(
      kvm.setUserMemoryRegion2({
        slot: 1,
        flags: KVM_MEM_GUEST_MEMFD,
        guestPhysAddr: 0x10000,
        memorySize: 0x2000,
        guestMemfd: fd,
      }),
    );
    must(
      kvm.setMemoryAttributes({
        address: 0x10000,
        size: 0x1000,
        attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
      }),
    );
    vcpu.write(0x10000, 0x2000, 0xee);
    const root = kvm.mmu.directRoot;
    if (root === null) throw new Error('no root');
    must(kvm.gmemFallocate(fd, PUNCH, 0, 0x2000));
    expect(kvm.mmu.lookup(root, 0x10)).toBeNull(); // the private page
    // kvm_gfn_range_filter_to_root_types(): without mirrored TDP the filter selects the
    // direct root, so the shared page in the range is zapped too (its bytes survive).
    expect(kvm.mmu.lookup(root, 0x11)).toBeNull();
    expect(allBytes(vcpu.read(0x10000, 0x1000).data, 0)).toBe(true);
    expect(allBytes(vcpu.read(0x11000, 0x1000).data, 0xee)).toBe(true);
    expectClean(kvm);
  });

  it('release (close) zaps private mappings and detaches the slot: private faults then exit', () => {
    const kvm = vm();
    const vcpu = must(kvm.createVcpu());
    const fd = must(kvm.createGuestMemfd({ size: 0x1000 }));
    must(
      kvm.setUserMemoryRegion2({
        slot: 1,
        flags: KVM_MEM_GUEST_MEMFD,
        guestPhysAddr: 0x10000,
        memorySize: 0x1000,
        guestMemfd: fd,
      }),
    );
    must(
      kvm.setMemoryAttributes({
        address: 0x10000,
        size: 0x1000,
        attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
      }),
    );
    vcpu.write(0x10000, 8, 0x1);
    must(kvm.gmemClose(fd));
    const r = vcpu.read(0x10000, 8);
    expect(r.exit).toEqual({ reason: 39, gpa: 0x10000, size: 4096, flags: 8 });
    expect(kvm.destroyed).toBe(false);
    expectClean(kvm);
  });
});

describe('memory attributes (KVM_SET_MEMORY_ATTRIBUTES)', () => {
  it('validation', () => {
    const def = vm('default');
    expect(def.setMemoryAttributes({ address: 0, size: 0x1000, attributes: 8 })).toMatchObject({
      error: 'EINVAL',
    });
    const kvm = vm();
    expect(
      kvm.setMemoryAttributes({ address: 0, size: 0x1000, attributes: 8, flags: 1 }),
    ).toMatchObject({
      error: 'EINVAL',
    });
    expect(kvm.setMemoryAttributes({ address: 0, size: 0x1000, attributes: 4 })).toMatchObject({
      error: 'EINVAL',
    });
    expect(kvm.setMemoryAttributes({ address: 0, size: 0, attributes: 8 })).toMatchObject({
      error: 'EINVAL',
    });
    expect(kvm.setMemoryAttributes({ address: 0x800, size: 0x1000, attributes: 8 })).toMatchObject({
      error: 'EINVAL',
    });
    expect(kvm.setMemoryAttributes({ address: 0, size: 0x800, attributes: 8 })).toMatchObject({
      error: 'EINVAL',
    });
    // Attributes belong to GFNs, not memslots: no slot needed.
    must(kvm.setMemoryAttributes({ address: 2 ** 40, size: 2 ** 30, attributes: 8 }));
    expect(kvm.memIsPrivate(2 ** 28 + 5)).toBe(true);
    expect(kvm.attributes.intervalCount).toBe(1);
  });

  it('tracks KVM_LPAGE_MIXED_FLAG per huge page and clears it when the range is uniform again', () => {
    const kvm = vm();
    must(kvm.setUserMemoryRegion2({ slot: 1, guestPhysAddr: 0x40000000, memorySize: 0x40000000 }));
    const slot = kvm.memslots.get(1);
    if (slot === undefined) throw new Error('no slot');
    must(kvm.setMemoryAttributes({ address: 0x40201000, size: 0x1000, attributes: 8 }));
    expect(slot.isMixed(0x40200, 2)).toBe(true);
    expect(slot.isMixed(0x40000, 2)).toBe(false);
    expect(slot.isMixed(0x40000, 3)).toBe(true);
    expect((slot.disallowLpage(0x40200, 2) & KVM_LPAGE_MIXED_FLAG) !== 0).toBe(true);
    must(kvm.setMemoryAttributes({ address: 0x40200000, size: 0x200000, attributes: 8 }));
    expect(slot.isMixed(0x40200, 2)).toBe(false);
    expect(slot.isMixed(0x40000, 3)).toBe(true);
    must(kvm.setMemoryAttributes({ address: 0x40000000, size: 0x40000000, attributes: 8 }));
    expect(slot.isMixed(0x40000, 3)).toBe(false);
  });
});
