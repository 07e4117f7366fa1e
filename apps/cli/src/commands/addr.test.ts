import { describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { memoryIo } from '../io.js';

async function run(...argv: string[]) {
  const io = memoryIo();
  const code = await runCli(argv, io);
  return { code, out: io.stdout, err: io.stderr };
}

describe('kvmx addr', () => {
  it('prints one JSON object per address with the CONTRACTS §1 fields', async () => {
    const r = await run(
      'addr',
      '0x800000001000',
      '0x1000',
      '--vm',
      'tdx',
      '--gpaw',
      '48',
      '--json',
    );
    expect(r.code).toBe(0);
    expect(r.err).toEqual([]);
    expect(r.out).toHaveLength(2);
    const [shared, priv] = r.out.map((l) => JSON.parse(l));
    expect(shared).toMatchObject({
      input: '0x800000001000',
      vmType: 'tdx',
      gpaw: 48,
      sharedBit: 47,
      gfnSharedMask: '0x800000000',
      gfnDirectBits: '0x800000000',
      rawGfn: '0x800000001',
      gfn: '0x1',
      isPrivateGpa: false,
      isAddrDirect: true,
      sharedGpa: '0x800000001000',
      privateGpa: '0x1000',
      offset: '0x0',
      indices: { '1': 1, '2': 0, '3': 0, '4': 256 },
    });
    expect(priv).toMatchObject({ input: '0x1000', isPrivateGpa: true, isAddrDirect: false });
  });

  it('defaults to tdx GPAW 48 and accepts sizes and decimals', async () => {
    const r = await run('addr', '4GiB', '4096', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out[0] ?? '')).toMatchObject({
      input: '0x100000000',
      vmType: 'tdx',
      gpaw: 48,
    });
    expect(JSON.parse(r.out[1] ?? '')).toMatchObject({ input: '0x1000' });
  });

  it('draws the bit fields in the readable view', async () => {
    const r = await run('addr', '0x800000001000');
    expect(r.code).toBe(0);
    const text = r.out.join('\n');
    expect(text).toContain('0x800000001000  tdx, GPAW 48, 4-level EPT, shared bit 47');
    expect(text).toContain('PML4 [47:39]');
    expect(text).toContain('100000000');
    expect(text).toContain('idx 256');
    expect(text).toContain('shared bit 47 is 1: shared alias');
    expect(text).toContain('kvm_is_private_gpa false');
    expect(text).toContain('direct root (shared EPT)');
    expect(text).not.toContain('\u001b['); // no colour when not asked for
  });

  it('shows PML5 with GPAW 52 and the C-bit for SNP', async () => {
    const t = (await run('addr', '0x8000000000000', '--gpaw', '52')).out.join('\n');
    expect(t).toContain('PML5 [51:48]');
    expect(t).toContain('shared bit 51 is 1');
    const s = (await run('addr', '0x1000', '--vm', 'snp')).out.join('\n');
    expect(s).toContain('C-bit 51 is 0');
    expect(s).toContain('the only (direct) root');
  });

  it.each([
    [['addr', 'zz'], /^kvmx: address: expected a number.*got "zz"$/],
    [
      ['addr', '0x10000000000000'],
      /^kvmx: address 0x10000000000000 is out of range: must be below 2\^52/,
    ],
    [['addr', '0x1', '--gpaw', '50'], /^kvmx: --gpaw: must be 48 or 52, got "50"$/],
    [['addr', '0x1', '--vm', 'pdp11'], /^kvmx: --vm: unknown VM type "pdp11"/],
    [
      ['addr', '0x1000000000000'],
      /^kvmx: address 0x1000000000000 is at or above 2\^48, outside a TD/,
    ],
    [['addr', '0x1', '--cbit', '99', '--vm', 'snp'], /^kvmx: --cbit: must be an integer/],
    [['addr'], /missing required argument/],
    [['addr', '1', '--frob'], /unknown option/],
  ])('bad input %j exits 2 with one line', async (argv, message) => {
    const r = await run(...argv);
    expect(r.code).toBe(2);
    expect(r.out).toEqual([]);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(message);
  });

  it('prints nothing for the good addresses when one is bad', async () => {
    const r = await run('addr', '0x1000', 'zz', '--json');
    expect(r.code).toBe(2);
    expect(r.out).toEqual([]);
  });

  it('has --help', async () => {
    const r = await run('addr', '--help');
    expect(r.code).toBe(0);
    expect(r.out.join('\n')).toContain('--gpaw <bits>');
  });
});
