import { describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { memoryIo } from '../io.js';

async function run(...argv: string[]) {
  const io = memoryIo();
  const code = await runCli(argv, io);
  return { code, out: io.stdout, err: io.stderr };
}

describe('kvmx decode spte', () => {
  it('decodes the typical 4K shared leaf with every CONTRACTS §1 field', async () => {
    const r = await run('decode', 'spte', '0x8600000123456b37', '--json');
    expect(r.code).toBe(0);
    expect(r.err).toEqual([]);
    expect(r.out).toHaveLength(1);
    expect(JSON.parse(r.out[0] as string)).toEqual({
      input: '0x8600000123456b37',
      vm: 'ept',
      kind: 'present',
      present: true,
      readable: true,
      writable: true,
      executable: true,
      memtype: 6,
      ipat: false,
      large: false,
      accessed: true,
      dirty: true,
      userExec: false,
      mmuPresent: true,
      adMode: 'enabled',
      savedReadable: false,
      savedExecutable: false,
      hostWritable: true,
      mmuWritable: true,
      suppressVe: true,
      pfn: '0x123456',
      frozen: false,
      shadowNonpresent: false,
      mmio: false,
      mmioGeneration: null,
      mmioGfn: null,
    });
  });

  it('decodes each field at its bit, one JSON line per input', async () => {
    const inputs = [
      '0x1', // R
      '0x2', // W
      '0x4', // X
      '0x28', // memtype 5
      '0x40', // IPAT
      '0x80', // PS
      '0x100', // A
      '0x200', // D
      '0x400', // user exec
      '0x800', // bit 11
      '0x0010000000000000', // AD disabled
      '0x0020000000000000', // AD wrprot-only
      '0x0040000000000000', // saved R (54)
      '0x0100000000000000', // saved X (56)
      '0x0200000000000000', // host writable (57)
      '0x0400000000000000', // mmu writable (58)
      '0x000ffffffffff000', // pfn bits 51:12
    ];
    const r = await run('decode', 'spte', ...inputs, '--json');
    expect(r.code).toBe(0);
    const rows = r.out.map((l) => JSON.parse(l));
    expect(rows.map((x) => x.readable)).toEqual([true, ...Array(16).fill(false)]);
    expect(rows[1].writable).toBe(true);
    expect(rows[2].executable).toBe(true);
    expect(rows[3].memtype).toBe(5);
    expect(rows[4].ipat).toBe(true);
    expect(rows[5].large).toBe(true);
    expect(rows[6].accessed).toBe(true);
    expect(rows[7].dirty).toBe(true);
    expect(rows[8].userExec).toBe(true);
    expect([rows[9].present, rows[9].mmuPresent]).toEqual([true, true]);
    expect(rows[10].adMode).toBe('disabled');
    expect(rows[11].adMode).toBe('wrprot_only');
    expect(rows[12].savedReadable).toBe(true);
    expect(rows[13].savedExecutable).toBe(true);
    expect(rows[14].hostWritable).toBe(true);
    expect(rows[15].mmuWritable).toBe(true);
    expect(rows[16].pfn).toBe('0xffffffffff');
    expect(rows.filter((x) => x.suppressVe)).toHaveLength(0);
  });

  it('names FROZEN_SPTE, SHADOW_NONPRESENT_VALUE and MMIO SPTEs', async () => {
    const r = await run(
      'decode',
      'spte',
      '0x80000000000005a0',
      '0x8000000000000000',
      '0x7ff00000012347fe',
      '--json',
    );
    const [frozen, empty, mmio] = r.out.map((l) => JSON.parse(l));
    expect(frozen).toMatchObject({
      kind: 'frozen',
      frozen: true,
      present: false,
      mmio: false,
      suppressVe: true,
    });
    expect(empty).toMatchObject({
      kind: 'nonpresent',
      shadowNonpresent: true,
      frozen: false,
      mmio: false,
    });
    // W|X with all 19 generation bits set: generation 0x7ffff, GFN 0x1234
    expect(mmio).toMatchObject({
      kind: 'mmio',
      mmio: true,
      mmioGeneration: 0x7ffff,
      mmioGfn: '0x1234',
    });
  });

  it("--vm tdx uses TDX's MMIO value 0 (RWX and SUPPRESS_VE clear)", async () => {
    const ept = await run('decode', 'spte', '0x1234000', '0x1234006', '--json');
    const tdx = await run('decode', 'spte', '0x1234000', '0x1234006', '--vm', 'tdx', '--json');
    expect(ept.out.map((l) => JSON.parse(l).mmio)).toEqual([false, true]);
    expect(tdx.out.map((l) => JSON.parse(l).mmio)).toEqual([true, false]);
    expect(JSON.parse(tdx.out[0] as string).vm).toBe('tdx');
  });

  it('prints a readable view by default', async () => {
    const r = await run('decode', 'spte', '0x80000000000005a0');
    expect(r.code).toBe(0);
    expect(r.out[0]).toContain('FROZEN_SPTE');
    expect(r.out.join('\n')).toContain('suppress-#VE(63) true');
  });

  it('bad input: exit 2, one line on stderr, nothing on stdout', async () => {
    for (const bad of ['0xzz', '0x10000000000000000', '-1']) {
      const r = await run('decode', 'spte', '0x1', bad, '--json');
      expect(r.code).toBe(2);
      expect(r.out).toEqual([]);
      expect(r.err).toHaveLength(1);
    }
    const vm = await run('decode', 'spte', '0x1', '--vm', 'nope');
    expect(vm.code).toBe(2);
    expect(vm.err).toHaveLength(1);
    const none = await run('decode', 'spte');
    expect(none.code).toBe(2);
  });
});
