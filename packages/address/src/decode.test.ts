import { describe, expect, it } from 'vitest';
import { decodeGpa, gpaDecodeToJson } from './decode.js';

function json(input: number, opts: Parameters<typeof decodeGpa>[1]) {
  const r = decodeGpa(input, opts);
  if (!r.ok) throw new Error(r.error);
  return gpaDecodeToJson(r.value);
}

describe('decodeGpa (kvmx addr)', () => {
  it('decodes a TD shared alias as CONTRACTS §1 says', () => {
    expect(json(0x800000001000, { vmType: 'tdx', gpaw: 48 })).toMatchObject({
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
  });

  it('decodes a TD private address and keeps the page offset in the aliases', () => {
    const j = json(0x1234, { vmType: 'tdx' });
    expect(j).toMatchObject({ isPrivateGpa: true, isAddrDirect: false, gfn: '0x1' });
    expect(j.sharedGpa).toBe('0x800000001234');
    expect(j.privateGpa).toBe('0x1234');
    expect(j.offset).toBe('0x234');
  });

  it('adds level 5 with GPAW 52 and uses bit 51', () => {
    const j = json(2 ** 52 - 1, { vmType: 'tdx', gpaw: 52 });
    expect(j.indices).toEqual({ '1': 511, '2': 511, '3': 511, '4': 511, '5': 15 });
    expect(j).toMatchObject({ sharedBit: 51, gfn: '0x7fffffffff', isAddrDirect: true });
  });

  it('gives other VM types no shared bit and 4-level paging unless GPAW 52', () => {
    const j = json(0x800000001000, { vmType: 'snp' });
    expect(j).toMatchObject({
      sharedBit: null,
      gfnSharedMask: '0x0',
      gfnDirectBits: '0x0',
      gfn: '0x800000001',
      isPrivateGpa: false,
      isAddrDirect: true,
      sharedGpa: '0x800000001000',
      privateGpa: '0x800000001000',
      cbit: 51,
      cbitSet: false,
    });
    expect(Object.keys(j.indices as object)).toEqual(['1', '2', '3', '4']);
    const far = json(2 ** 50, { vmType: 'default' });
    expect(far.reachable).toBe(false);
    expect(json(2 ** 50, { vmType: 'default', gpaw: 52 }).reachable).toBe(true);
    expect(json(2 ** 51 + 0x1000, { vmType: 'snp' }).cbitSet).toBe(true);
    expect(json(2 ** 47, { vmType: 'sev', cbit: 47 }).cbitSet).toBe(true);
  });

  it('refuses what CONTRACTS calls bad input', () => {
    expect(decodeGpa(2 ** 52, { vmType: 'default' })).toEqual({
      ok: false,
      error: 'address 0x10000000000000 is at or above 2^52 (MAXPHYADDR 52)',
    });
    expect(decodeGpa(2 ** 48, { vmType: 'tdx' }).ok).toBe(false);
    expect(decodeGpa(2 ** 48 - 1, { vmType: 'tdx' }).ok).toBe(true);
    expect(decodeGpa(2 ** 48, { vmType: 'tdx', gpaw: 52 }).ok).toBe(true);
    expect(decodeGpa(0, { vmType: 'tdx', gpaw: 50 })).toEqual({
      ok: false,
      error: 'GPAW must be 48 or 52, got 50',
    });
    expect(decodeGpa(0, { vmType: 'snp', cbit: 60 }).ok).toBe(false);
    expect(decodeGpa(-1, { vmType: 'tdx' }).ok).toBe(false);
  });
});
