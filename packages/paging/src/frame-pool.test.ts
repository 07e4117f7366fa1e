import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameOwner, frameOwnerName, isFrameOwner } from './frame-owner.js';
import { DEFAULT_BASE_PFN, FRAME_SIZE, FramePool, NO_FRAME } from './frame-pool.js';

describe('FramePool allocation', () => {
  it('hands out PFNs from basePfn with owner tags and counts them', () => {
    const pool = new FramePool();
    const a = pool.alloc(FrameOwner.KVM_PAGE_TABLE);
    const b = pool.alloc(FrameOwner.GUEST_MEMFD, 7);
    expect(a).toBe(DEFAULT_BASE_PFN);
    expect(b).toBe(DEFAULT_BASE_PFN + 1);
    expect(pool.owner(a)).toBe(FrameOwner.KVM_PAGE_TABLE);
    expect(pool.owner(b)).toBe(FrameOwner.GUEST_MEMFD);
    expect(pool.tag(b)).toBe(7);
    expect(pool.countOwnedBy(FrameOwner.GUEST_MEMFD)).toBe(1);
    expect(pool.stats()).toMatchObject({
      allocated: 2,
      byOwner: { kvm_page_table: 1, guest_memfd: 1 },
      allocs: 2,
      frees: 0,
      withContents: 0,
    });
  });

  it('reuses freed frames last-in first-out and refuses double frees', () => {
    const pool = new FramePool({ basePfn: 0x10 });
    const a = pool.alloc(FrameOwner.HOST);
    const b = pool.alloc(FrameOwner.HOST);
    expect(pool.free(a)).toBe(true);
    expect(pool.free(a)).toBe(false);
    expect(pool.free(0x5)).toBe(false); // below the pool
    expect(pool.free(0x1000)).toBe(false); // never handed out
    expect(pool.owner(a)).toBe(FrameOwner.FREE);
    expect(pool.alloc(FrameOwner.TDX_TDR)).toBe(a);
    expect(pool.free(b)).toBe(true);
    expect(pool.allocated).toBe(1);
  });

  it('returns NO_FRAME when the host is out of memory', () => {
    const pool = new FramePool({ maxFrames: 3 });
    expect(pool.alloc(FrameOwner.HOST)).not.toBe(NO_FRAME);
    expect(pool.alloc(FrameOwner.HOST)).not.toBe(NO_FRAME);
    expect(pool.alloc(FrameOwner.HOST)).not.toBe(NO_FRAME);
    expect(pool.alloc(FrameOwner.HOST)).toBe(NO_FRAME);
    expect(pool.allocContiguous(1, FrameOwner.HOST)).toBe(NO_FRAME);
  });

  it('allocates aligned contiguous runs (2 MiB folios) and recycles the gap', () => {
    const pool = new FramePool({ basePfn: 0x100001 });
    const first = pool.alloc(FrameOwner.HOST);
    const folio = pool.allocContiguous(512, FrameOwner.GUEST_MEMFD, 512);
    expect(folio % 512).toBe(0);
    expect(folio).toBeGreaterThan(first);
    for (let i = 0; i < 512; i++) expect(pool.owner(folio + i)).toBe(FrameOwner.GUEST_MEMFD);
    // The skipped frames between `first` and the folio are free and come back first.
    const next = pool.alloc(FrameOwner.HOST);
    expect(next).toBeGreaterThan(first);
    expect(next).toBeLessThan(folio);
    expect(pool.countOwnedBy(FrameOwner.GUEST_MEMFD)).toBe(512);
  });

  it('re-tags frames (a KVM page donated as an S-EPT page)', () => {
    const pool = new FramePool();
    const p = pool.alloc(FrameOwner.KVM_EXTERNAL_SPT);
    expect(pool.setOwner(p, FrameOwner.TDX_SEPT, 3)).toBe(true);
    expect(pool.owner(p)).toBe(FrameOwner.TDX_SEPT);
    expect(pool.tag(p)).toBe(3);
    expect(pool.countOwnedBy(FrameOwner.KVM_EXTERNAL_SPT)).toBe(0);
    expect(pool.framesOwnedBy(FrameOwner.TDX_SEPT)).toEqual([p]);
    pool.free(p);
    expect(pool.setOwner(p, FrameOwner.HOST)).toBe(false);
  });

  it('names owners', () => {
    expect(frameOwnerName(FrameOwner.TDX_SEPT)).toBe('tdx_sept');
    expect(frameOwnerName(99)).toBe('owner_99');
    expect(isFrameOwner(FrameOwner.SNP_FIRMWARE)).toBe(true);
    expect(isFrameOwner(15)).toBe(false);
  });
});

describe('FramePool contents', () => {
  it('reads a never-written frame as zeros without storing anything', () => {
    const pool = new FramePool();
    const p = pool.alloc(FrameOwner.VMM_SHARED);
    expect(pool.read(p, 0, FRAME_SIZE).every((b) => b === 0)).toBe(true);
    expect(pool.readLo(p, 511)).toBe(0);
    expect(pool.hasContents(p)).toBe(false);
    pool.fill(p, 0, 100, 0);
    expect(pool.hasContents(p)).toBe(false);
    expect(pool.stats().withContents).toBe(0);
  });

  it('writes, fills, copies and zeroes byte ranges', () => {
    const pool = new FramePool();
    const a = pool.alloc(FrameOwner.VMM_SHARED);
    const b = pool.alloc(FrameOwner.GUEST_MEMFD);
    pool.write(a, 4090, Uint8Array.of(1, 2, 3, 4, 5, 6));
    expect(Array.from(pool.read(a, 4088, 8))).toEqual([0, 0, 1, 2, 3, 4, 5, 6]);
    pool.fill(a, 0, 16, 0xab);
    expect(pool.readByte(a, 15)).toBe(0xab);
    expect(pool.readByte(a, 16)).toBe(0);
    pool.copy(b, 100, a, 4090, 6);
    expect(Array.from(pool.read(b, 100, 6))).toEqual([1, 2, 3, 4, 5, 6]);
    pool.copy(a, 1, a, 0, 16); // overlapping, like memmove
    expect(pool.readByte(a, 16)).toBe(0xab);
    pool.zero(a, 0, 8);
    expect(pool.readByte(a, 7)).toBe(0);
    expect(pool.isZero(a)).toBe(false);
    pool.zero(a);
    expect(pool.hasContents(a)).toBe(false);
    expect(pool.isZero(a)).toBe(true);
    // copying from a frame without contents zeroes the destination range
    pool.copy(b, 100, a, 0, 3);
    expect(Array.from(pool.read(b, 100, 6))).toEqual([0, 0, 0, 4, 5, 6]);
  });

  it('rejects ranges outside the frame and PFNs outside the pool', () => {
    const pool = new FramePool();
    const a = pool.alloc(FrameOwner.HOST);
    expect(() => pool.write(a, 4095, Uint8Array.of(1, 2))).toThrow(RangeError);
    expect(() => pool.read(a, -1, 1)).toThrow(RangeError);
    expect(() => pool.read(a + 1, 0, 1)).toThrow(RangeError);
    expect(() => pool.readLo(a, 512)).toThrow(RangeError);
  });

  it('stores 64-bit words little-endian, as the CPU reads a table', () => {
    const pool = new FramePool();
    const t = pool.allocFilled(FrameOwner.KVM_PAGE_TABLE, 0, 0x80000000 | 0);
    expect(pool.readHi(t, 0)).toBe(0x80000000 | 0);
    expect(pool.readLo(t, 511)).toBe(0);
    pool.writeWord64(t, 1, 0x12345b37, 0x86000000 | 0);
    expect(Array.from(pool.read(t, 8, 8))).toEqual([0x37, 0x5b, 0x34, 0x12, 0, 0, 0, 0x86]);
    expect(Array.from(pool.read(t, 0, 8))).toEqual([0, 0, 0, 0, 0, 0, 0, 0x80]);
  });

  it('fills frames with interleaved values, more of them than it keeps templates of', () => {
    // A fault-in alternates the mirror's SHADOW_NONPRESENT_VALUE and the S-EPT's FREE entry;
    // six values cycle past the template cache, and a template is never written through.
    const pool = new FramePool();
    const values: Array<[number, number]> = [
      [0, 0x80000000 | 0],
      [0x7, 0x80000000 | 0],
      [-1, -1],
      [0x12345678, 0],
      [0, 1],
      [0x1000, 0x7fffffff],
    ];
    const frames: Array<[number, number, number]> = [];
    for (let round = 0; round < 3; round++) {
      for (const [lo, hi] of values) {
        const t = pool.allocFilled(FrameOwner.KVM_PAGE_TABLE, lo, hi);
        pool.writeWord64(t, 3, 0x55, 0x66);
        frames.push([t, lo, hi]);
      }
    }
    for (const [t, lo, hi] of frames) {
      for (const i of [0, 2, 4, 511]) {
        expect(pool.readLo(t, i)).toBe(lo);
        expect(pool.readHi(t, i)).toBe(hi);
      }
      expect(pool.readLo(t, 3)).toBe(0x55);
    }
  });

  it('drops contents on free: a recycled frame reads as zeros', () => {
    const pool = new FramePool();
    const a = pool.alloc(FrameOwner.HOST);
    pool.fill(a, 0, FRAME_SIZE, 0xff);
    pool.free(a);
    const again = pool.alloc(FrameOwner.HOST);
    expect(again).toBe(a);
    expect(pool.isZero(again)).toBe(true);
    // its old slot is recycled zeroed for the next writer
    const other = pool.alloc(FrameOwner.HOST);
    pool.write(other, 0, Uint8Array.of(9));
    expect(Array.from(pool.read(other, 0, 4))).toEqual([9, 0, 0, 0]);
    expect(pool.stats().withContents).toBe(1);
  });

  it('keeps contents across store growth', () => {
    const pool = new FramePool();
    const frames: number[] = [];
    for (let i = 0; i < 300; i++) {
      const p = pool.alloc(FrameOwner.GUEST_MEMFD);
      pool.fill(p, 0, FRAME_SIZE, (i % 255) + 1);
      frames.push(p);
    }
    pool.reserve(1000);
    frames.forEach((p, i) => {
      expect(pool.readByte(p, 4095)).toBe((i % 255) + 1);
    });
    expect(pool.stats().contentBytes).toBe(300 * FRAME_SIZE);
  });

  it('reserveFrames() changes capacity only: the same PFNs, owners and contents follow', () => {
    const a = new FramePool();
    const b = new FramePool();
    const first = [a, b].map((p) => p.alloc(FrameOwner.HOST));
    a.reserveFrames(20000);
    const seq = (p: FramePool) => {
      const out: number[] = [];
      for (let i = 0; i < 12000; i++) {
        const f = p.alloc(i % 3 === 0 ? FrameOwner.KVM_PAGE_TABLE : FrameOwner.GUEST_MEMFD);
        if (i % 97 === 0) p.writeWord64(f, 1, i, 0);
        out.push(f, p.owner(f), p.readLo(f, 1));
      }
      return out;
    };
    expect(seq(a)).toEqual(seq(b));
    expect(first[0]).toBe(first[1]);
    expect(a.stats()).toEqual(b.stats());
  });

  it('matches a byte-array model under random writes, fills, copies and frees', () => {
    const op = fc.oneof(
      fc.record({
        k: fc.constant('write' as const),
        f: fc.nat(3),
        off: fc.nat(4095),
        v: fc.nat(255),
      }),
      fc.record({
        k: fc.constant('fill' as const),
        f: fc.nat(3),
        off: fc.nat(4095),
        len: fc.nat(4096),
        v: fc.constantFrom(0, 0x5a),
      }),
      fc.record({
        k: fc.constant('copy' as const),
        f: fc.nat(3),
        g: fc.nat(3),
        off: fc.nat(4095),
        off2: fc.nat(4095),
        len: fc.nat(300),
      }),
      fc.record({ k: fc.constant('realloc' as const), f: fc.nat(3) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const pool = new FramePool();
        const pfns = [0, 1, 2, 3].map(() => pool.alloc(FrameOwner.HOST));
        const model = pfns.map(() => new Uint8Array(FRAME_SIZE));
        for (const o of ops) {
          const p = pfns[o.f] as number;
          const m = model[o.f] as Uint8Array;
          if (o.k === 'write') {
            pool.write(p, o.off, Uint8Array.of(o.v));
            m[o.off] = o.v;
          } else if (o.k === 'fill') {
            const len = Math.min(o.len, FRAME_SIZE - o.off);
            pool.fill(p, o.off, len, o.v);
            m.fill(o.v, o.off, o.off + len);
          } else if (o.k === 'copy') {
            const len = Math.min(o.len, FRAME_SIZE - o.off, FRAME_SIZE - o.off2);
            pool.copy(p, o.off, pfns[o.g] as number, o.off2, len);
            const src = (model[o.g] as Uint8Array).slice(o.off2, o.off2 + len);
            m.set(src, o.off);
          } else {
            pool.free(p);
            pfns[o.f] = pool.alloc(FrameOwner.HOST);
            m.fill(0);
          }
        }
        pfns.forEach((p, i) => {
          const got = pool.read(p, 0, FRAME_SIZE);
          const want = model[i] as Uint8Array;
          const firstDiff = got.findIndex((b, j) => b !== want[j]);
          expect(firstDiff).toBe(-1);
        });
        expect(pool.allocated).toBe(4);
      }),
      { numRuns: 200 },
    );
  });
});
