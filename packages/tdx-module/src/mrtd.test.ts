/// <reference types="node" />
// The second SHA-384 implementation is node:crypto (test only; the package itself uses @noble/hashes).
import { createHash } from 'node:crypto';
import { FrameOwner } from '@kvmx/paging';
import { describe, expect, it } from 'vitest';
import { Mrtd, mrtdHex, mrtdRecord } from './mrtd.js';
import { buildTd, expectOk, mapTables } from './test-helpers.js';

/** The 128-byte record, written out byte by byte (tdx-module.md §5), independently of mrtdRecord. */
function record(name: string, gpa: bigint): Buffer {
  const b = Buffer.alloc(128);
  for (let i = 0; i < name.length; i++) b[i] = name.charCodeAt(i);
  for (let i = 0; i < 8; i++) b[16 + i] = Number((gpa >> BigInt(8 * i)) & 0xffn);
  return b;
}

describe('MRTD', () => {
  it('writes records as the module does: 16-byte name, little-endian GPA, zeros', () => {
    const r = mrtdRecord('MEM.PAGE.ADD', 0x1234_5678_9000);
    expect(Buffer.from(r).equals(record('MEM.PAGE.ADD', 0x123456789000n))).toBe(true);
    expect(r[16]).toBe(0x00);
    expect(r[17]).toBe(0x90);
    expect(r[21]).toBe(0x12);
    expect([...r.subarray(24)].every((x) => x === 0)).toBe(true);
  });

  it('is SHA-384 over the records in call order (known answer, node:crypto)', () => {
    const f = buildTd();
    const { mod, pool, tdr } = f;
    const gpa = 0x80000000;
    mapTables(f, gpa);
    const src = f.page(FrameOwner.VMM_SHARED);
    const content = new Uint8Array(4096);
    for (let i = 0; i < 4096; i++) content[i] = (i * 7 + 3) & 0xff;
    pool.write(src / 4096, 0, content);
    expectOk(mod.memPageAdd(tdr, gpa, f.page(), src));
    expectOk(mod.memPageAdd(tdr, gpa + 0x1000, f.page(), src));
    expectOk(mod.mrExtend(tdr, gpa + 0x100));
    expectOk(mod.mrExtend(tdr, gpa + 0x1f00));
    expectOk(mod.mrFinalize(tdr));

    const h = createHash('sha384');
    h.update(record('MEM.PAGE.ADD', BigInt(gpa)));
    h.update(record('MEM.PAGE.ADD', BigInt(gpa + 0x1000)));
    h.update(record('MR.EXTEND', BigInt(gpa + 0x100)));
    h.update(content.subarray(0x100, 0x200));
    h.update(record('MR.EXTEND', BigInt(gpa + 0x1f00)));
    h.update(content.subarray(0xf00, 0x1000));
    const want = h.digest('hex');
    const got = mod.td(tdr)?.mrtd.value;
    expect(got).toBeDefined();
    expect(mrtdHex(got as Uint8Array)).toBe(`0x${want}`);
  });

  it('of an empty TD is SHA-384 of the empty message', () => {
    const m = new Mrtd();
    expect(mrtdHex(m.finalize())).toBe(`0x${createHash('sha384').digest('hex')}`);
  });

  it('refuses MR.EXTEND on unaligned, unmapped and pending GPAs', () => {
    const f = buildTd();
    const { mod, tdr } = f;
    const gpa = 0x80000000;
    expect(mod.mrExtend(tdr, gpa + 0x80)).toEqual({ hi: 0xc0000100, lo: 1 });
    // No tables: the walk stops at the root's FREE entry (level 3).
    expect(mod.mrExtend(tdr, gpa)).toEqual({ hi: 0xc0000b00, lo: 1 });
    expect(mod.out.get(2)).toBe(3); // RDX: level 3, public state FREE (0)
    expect(mod.out.hi[1]).toBe(0x80000000); // RCX: a FREE entry reads as SVE only
    mapTables(f, gpa);
    expectOk(mod.memPageAug(tdr, gpa, 0, f.page()));
    expect(mod.mrExtend(tdr, gpa)).toEqual({ hi: 0xc0000b03, lo: 1 });
    expect(mod.out.get(2)).toBe(0x0200); // level 0, PENDING (public 0x02)
  });
});
