import { PG_LEVEL_2M, PG_LEVEL_4K } from '@kvmx/address';
import { describe, expect, it } from 'vitest';
import { ENOENT } from './errno.js';
import {
  isLargeRmpPossible,
  maxLevelForOrder,
  sevGmemInvalidate,
  sevGmemPrepare,
  sevPrivateMaxMappingLevel,
} from './gmem-hooks.js';
import { Rmp } from './rmp.js';
import type { RmpEvent } from './rmp-event.js';

const SNP = { snpActive: true, asid: 5 };
const PFN = 0x100000; // 2M-aligned host frame
const GFN = 0x400; // 2M-aligned guest frame (GPA 4 MiB)

describe('sev_gmem_prepare', () => {
  it('does nothing for a VM that is not an SNP guest', () => {
    const rmp = new Rmp();
    expect(sevGmemPrepare(rmp, { snpActive: false, asid: 5 }, PFN, GFN, 9)).toBe(0);
    expect(rmp.assignedEntries).toBe(0);
  });

  it('makes one 2M private entry when the folio is 2M and the whole region is shared', () => {
    const events: RmpEvent[] = [];
    const rmp = new Rmp({ onEvent: (e) => events.push(e) });
    expect(sevGmemPrepare(rmp, SNP, PFN + 7, GFN + 7, 9)).toBe(0);
    expect(rmp.entry(PFN + 7)).toMatchObject({
      assigned: true,
      pageSize: PG_LEVEL_2M,
      validated: false,
      immutable: false,
      asid: 5,
      gpa: (GFN + 7) * 4096,
    });
    expect(rmp.gpaOf(PFN)).toBe(GFN * 4096);
    expect(rmp.assignedEntries).toBe(512);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ op: 'rmpupdate', by: 'sev_gmem_prepare', pfn: PFN });
  });

  it('falls back to 4K for a small folio or when part of the region is assigned', () => {
    const rmp = new Rmp();
    expect(maxLevelForOrder(8)).toBe(PG_LEVEL_4K);
    expect(sevGmemPrepare(rmp, SNP, PFN + 1, GFN + 1, 0)).toBe(0);
    expect(rmp.levelOf(PFN + 1)).toBe(PG_LEVEL_4K);
    expect(isLargeRmpPossible(rmp, PFN + 2, 9)).toBe(false);
    expect(sevGmemPrepare(rmp, SNP, PFN + 2, GFN + 2, 9)).toBe(0);
    expect(rmp.entry(PFN + 2)).toMatchObject({ pageSize: PG_LEVEL_4K, gpa: (GFN + 2) * 4096 });
    expect(rmp.assignedEntries).toBe(2);
  });

  it('leaves an already-assigned page alone (a reused page stays private)', () => {
    const rmp = new Rmp();
    sevGmemPrepare(rmp, SNP, PFN, GFN, 0);
    rmp.pvalidate(5, GFN * 4096, PFN, PG_LEVEL_4K, true);
    expect(sevGmemPrepare(rmp, SNP, PFN, GFN + 99, 0)).toBe(0);
    expect(rmp.entry(PFN)).toMatchObject({ validated: true, gpa: GFN * 4096 });
  });

  it('returns -ENOENT when the RMP has no entry for the PFN', () => {
    const rmp = new Rmp({ maxPfn: 0x1000 });
    expect(sevGmemPrepare(rmp, SNP, 0x1000, GFN, 0)).toBe(-ENOENT);
  });
});

describe('sev_gmem_invalidate', () => {
  function twoHugePages() {
    const rmp = new Rmp();
    sevGmemPrepare(rmp, SNP, PFN, GFN, 9);
    sevGmemPrepare(rmp, SNP, PFN + 512, GFN + 512, 9);
    return rmp;
  }

  it('frees a whole 2M entry with one 2M RMPUPDATE', () => {
    const events: RmpEvent[] = [];
    const rmp = twoHugePages();
    rmp.setListener((e) => events.push(e));
    expect(sevGmemInvalidate(rmp, PFN, PFN + 512)).toEqual({
      sharedPages: 512,
      psmashed: 0,
      failed: [],
    });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ by: 'sev_gmem_invalidate', assigned: false, pfn: PFN });
    expect(rmp.assignedEntries).toBe(512);
  });

  it('PSMASHes a 2M entry when only part of it is freed, and frees only that part', () => {
    const rmp = twoHugePages();
    const r = sevGmemInvalidate(rmp, PFN + 256, PFN + 1024);
    expect(r).toEqual({ sharedPages: 256 + 512, psmashed: 1, failed: [] });
    expect(rmp.entry(PFN + 255)).toMatchObject({ assigned: true, pageSize: PG_LEVEL_4K });
    expect(rmp.isAssigned(PFN + 256)).toBe(false);
    expect(rmp.isAssigned(PFN + 512)).toBe(false);
    expect(rmp.assignedEntries).toBe(256);
  });

  it('a 2M-aligned start with fewer than 512 pages still splits', () => {
    const rmp = twoHugePages();
    expect(sevGmemInvalidate(rmp, PFN, PFN + 1)).toEqual({
      sharedPages: 1,
      psmashed: 1,
      failed: [],
    });
    expect(rmp.isAssigned(PFN)).toBe(false);
    expect(rmp.entry(PFN + 1)).toMatchObject({ assigned: true, pageSize: PG_LEVEL_4K });
  });

  it('skips unassigned PFNs and PFNs outside the table', () => {
    const rmp = new Rmp({ maxPfn: PFN + 1024 });
    sevGmemPrepare(rmp, SNP, PFN + 3, GFN + 3, 0);
    expect(sevGmemInvalidate(rmp, PFN, PFN + 2048)).toEqual({
      sharedPages: 1,
      psmashed: 0,
      failed: [],
    });
  });

  it('warns and goes on when an entry cannot be made shared (immutable)', () => {
    const rmp = new Rmp();
    rmp.rmpupdate(PFN, { gpa: 0, assigned: true, pageSize: PG_LEVEL_4K, immutable: true, asid: 5 });
    sevGmemPrepare(rmp, SNP, PFN + 1, GFN + 1, 0);
    expect(sevGmemInvalidate(rmp, PFN, PFN + 2)).toEqual({
      sharedPages: 1,
      psmashed: 0,
      failed: [PFN],
    });
  });
});

describe('sev_private_max_mapping_level', () => {
  it('is 0 off SNP, 4K when unassigned, else the RMP level', () => {
    const rmp = new Rmp();
    expect(sevPrivateMaxMappingLevel(rmp, { snpActive: false, asid: 5 }, PFN)).toBe(0);
    expect(sevPrivateMaxMappingLevel(rmp, SNP, PFN)).toBe(PG_LEVEL_4K);
    sevGmemPrepare(rmp, SNP, PFN, GFN, 9);
    expect(sevPrivateMaxMappingLevel(rmp, SNP, PFN + 300)).toBe(PG_LEVEL_2M);
    rmp.psmash(PFN);
    expect(sevPrivateMaxMappingLevel(rmp, SNP, PFN + 300)).toBe(PG_LEVEL_4K);
    expect(sevPrivateMaxMappingLevel(new Rmp({ maxPfn: 512 }), SNP, 4096)).toBe(PG_LEVEL_4K);
  });
});
