import { PG_LEVEL_1G, PG_LEVEL_2M, PG_LEVEL_4K } from '@kvmx/address';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  PFERR_FETCH_MASK,
  PFERR_GUEST_ENC_MASK,
  PFERR_GUEST_RMP_MASK,
  PFERR_WRITE_MASK,
  pferrHas,
} from '../pferr.js';
import { EFAULT, EINVAL } from './errno.js';
import { PFERR_GUEST_SIZEM_MASK, X86_PF_RMP } from './npf-error-code.js';
import { linuxPvalidateRc, RMP_ACCESS_OK, RMP_ACCESS_VC, Rmp } from './rmp.js';
import type { RmpEvent } from './rmp-event.js';
import { rmpEventToJson } from './rmp-event.js';
import { psmash, rmpMakePrivate, rmpMakeShared, snpRmptablePsmash } from './rmp-linux.js';
import {
  FAIL_INPUT,
  FAIL_OVERLAP,
  FAIL_PERMISSION,
  FAIL_SIZEMISMATCH,
  PVALIDATE_FAIL_NOUPDATE,
  RMP_SUCCESS,
  RMPADJUST_VMSA_PAGE_BIT,
  rmpStatusName,
} from './rmp-status.js';

const ASID = 1;
const PFN = 0x100000; // 2M-aligned
const GPA = 0x200000; // 2M-aligned
const MB2 = 0x200000;

function priv(gpa: number, level: 1 | 2 = PG_LEVEL_4K, immutable = false) {
  return { gpa, assigned: true, pageSize: level, immutable, asid: ASID } as const;
}

describe('RMP table', () => {
  it('starts with every page hypervisor-owned; lookups beyond the table are -EFAULT', () => {
    const rmp = new Rmp({ maxPfn: 0x1000 });
    expect(rmp.lookup(0)).toEqual({ ret: 0, assigned: false, level: PG_LEVEL_4K });
    expect(rmp.lookup(0xfff)).toEqual({ ret: 0, assigned: false, level: PG_LEVEL_4K });
    expect(rmp.lookup(0x1000).ret).toBe(-EFAULT);
    expect(rmp.entry(0x1000)).toBeUndefined();
    expect(rmp.assignedEntries).toBe(0);
  });

  it('RMPUPDATE 4K assigns one entry, not validated, and emits an rmp event', () => {
    const events: RmpEvent[] = [];
    const rmp = new Rmp({ onEvent: (e) => events.push(e) });
    rmp.caller = 'sev_gmem_prepare';
    expect(rmp.rmpupdate(PFN + 3, priv(GPA + 0x3000))).toBe(RMP_SUCCESS);
    expect(rmp.entry(PFN + 3)).toEqual({
      pfn: PFN + 3,
      assigned: true,
      pageSize: PG_LEVEL_4K,
      immutable: false,
      validated: false,
      vmsa: false,
      asid: ASID,
      gpa: GPA + 0x3000,
    });
    expect(rmp.isAssigned(PFN + 2)).toBe(false);
    expect(rmp.assignedEntries).toBe(1);
    expect(events).toHaveLength(1);
    expect(rmpEventToJson(events[0]!)).toEqual({
      type: 'rmp',
      op: 'rmpupdate',
      by: 'sev_gmem_prepare',
      pfn: '0x100003',
      gpa: '0x203000',
      assigned: true,
      pageSize: 1,
      validated: false,
      asid: 1,
      immutable: false,
      vmsa: false,
    });
  });

  it('RMPUPDATE 2M assigns the whole region with consecutive GPAs; size is authoritative', () => {
    const rmp = new Rmp();
    expect(rmp.rmpupdate(PFN, priv(GPA, PG_LEVEL_2M))).toBe(RMP_SUCCESS);
    expect(rmp.assignedEntries).toBe(512);
    expect(rmp.lookup(PFN + 511)).toEqual({ ret: 0, assigned: true, level: PG_LEVEL_2M });
    expect(rmp.gpaOf(PFN + 511)).toBe(GPA + 511 * 0x1000);
    expect(rmp.lookup(PFN + 512)).toEqual({ ret: 0, assigned: false, level: PG_LEVEL_4K });
  });

  it('RMPUPDATE refuses 2M requests that are not 2M-aligned (PFN or GPA) with FAIL_INPUT', () => {
    const rmp = new Rmp();
    expect(rmp.rmpupdate(PFN + 1, priv(GPA, PG_LEVEL_2M))).toBe(FAIL_INPUT);
    expect(rmp.rmpupdate(PFN, priv(GPA + 0x1000, PG_LEVEL_2M))).toBe(FAIL_INPUT);
    expect(rmp.rmpupdate(PFN, priv(GPA + 1))).toBe(FAIL_INPUT);
    expect(rmp.rmpupdate(PFN, { ...priv(GPA), asid: 0 })).toBe(FAIL_INPUT);
    expect(rmp.assignedEntries).toBe(0);
  });

  it('refuses a 2M region that would cross the end of the table, accepts the last 4K entry', () => {
    const rmp = new Rmp({ maxPfn: 0x1200 }); // last region 0x1000..0x11ff is fully covered
    expect(rmp.rmpupdate(0x1000, priv(0, PG_LEVEL_2M))).toBe(RMP_SUCCESS);
    const short = new Rmp({ maxPfn: 0x1100 }); // last region only half covered
    expect(short.rmpupdate(0x1000, priv(0, PG_LEVEL_2M))).toBe(FAIL_INPUT);
    expect(short.rmpupdate(0x10ff, priv(0xff000))).toBe(RMP_SUCCESS);
    expect(short.rmpupdate(0x1100, priv(0x100000))).toBe(FAIL_INPUT);
  });

  it('FAIL_OVERLAP: 4K inside an assigned 2M entry, and 2M over assigned 4K entries', () => {
    const rmp = new Rmp();
    expect(rmp.rmpupdate(PFN, priv(GPA, PG_LEVEL_2M))).toBe(RMP_SUCCESS);
    expect(rmp.rmpupdate(PFN + 7, priv(GPA + 0x7000))).toBe(FAIL_OVERLAP);
    expect(rmp.rmpupdate(PFN, { ...priv(0), assigned: false })).toBe(FAIL_OVERLAP);
    const other = new Rmp();
    expect(other.rmpupdate(PFN + 9, priv(GPA + 0x9000))).toBe(RMP_SUCCESS);
    expect(other.rmpupdate(PFN, priv(GPA, PG_LEVEL_2M))).toBe(FAIL_OVERLAP);
    // A 2M entry may be rewritten at 2M (unassign, reassign).
    expect(rmp.rmpupdate(PFN, { ...priv(0, PG_LEVEL_2M), assigned: false })).toBe(RMP_SUCCESS);
    expect(rmp.assignedEntries).toBe(0);
  });

  it('FAIL_PERMISSION for immutable entries until the firmware clears the bit', () => {
    const rmp = new Rmp();
    expect(rmp.rmpupdate(PFN + 1, priv(GPA + 0x1000, PG_LEVEL_4K, true))).toBe(RMP_SUCCESS);
    expect(rmpMakeShared(rmp, PFN + 1, PG_LEVEL_4K)).toBe(-EFAULT);
    expect(rmp.rmpupdate(PFN, priv(GPA, PG_LEVEL_2M))).toBe(FAIL_PERMISSION);
    expect(rmp.firmwareSetBits(PFN + 1, { immutable: false })).toBe(RMP_SUCCESS);
    expect(rmpMakeShared(rmp, PFN + 1, PG_LEVEL_4K)).toBe(0);
    expect(rmp.isAssigned(PFN + 1)).toBe(false);
    expect(rmp.firmwareSetBits(PFN + 1, { immutable: false })).toBe(FAIL_INPUT);
  });

  it('any RMPUPDATE of an assigned entry clears Validated', () => {
    const rmp = new Rmp();
    rmp.rmpupdate(PFN, priv(GPA));
    rmp.pvalidate(ASID, GPA, PFN, PG_LEVEL_4K, true);
    expect(rmp.isValidated(PFN)).toBe(true);
    expect(rmp.rmpupdate(PFN, priv(GPA))).toBe(RMP_SUCCESS); // same mapping, rewritten
    expect(rmp.isValidated(PFN)).toBe(false);
  });
});

describe('PSMASH', () => {
  it('splits a 2M entry into 512 4K entries, keeping GPAs and Validated', () => {
    const events: RmpEvent[] = [];
    const rmp = new Rmp({ onEvent: (e) => events.push(e) });
    rmp.rmpupdate(PFN, priv(GPA, PG_LEVEL_2M));
    expect(rmp.pvalidate(ASID, GPA, PFN, PG_LEVEL_2M, true)).toEqual({
      kind: 'rc',
      rc: 0,
      cf: false,
    });
    expect(rmp.psmash(PFN)).toBe(RMP_SUCCESS);
    for (const i of [0, 1, 255, 511]) {
      expect(rmp.entry(PFN + i)).toMatchObject({
        assigned: true,
        pageSize: PG_LEVEL_4K,
        validated: true,
        gpa: GPA + i * 0x1000,
        asid: ASID,
      });
    }
    expect(events.map((e) => [e.op, e.pageSize])).toEqual([
      ['rmpupdate', PG_LEVEL_2M],
      ['pvalidate', PG_LEVEL_2M],
      ['psmash', PG_LEVEL_4K],
    ]);
    // Now a 4K page inside may change alone.
    expect(rmpMakeShared(rmp, PFN + 5, PG_LEVEL_4K)).toBe(0);
    expect(rmp.assignedEntries).toBe(511);
  });

  it('refuses unaligned addresses and regions that are not 2M entries', () => {
    const rmp = new Rmp({ maxPfn: 0x200000 });
    rmp.rmpupdate(PFN, priv(GPA, PG_LEVEL_2M));
    expect(rmp.psmash(PFN + 1)).toBe(FAIL_INPUT);
    expect(rmp.psmash(PFN + 512)).toBe(FAIL_INPUT);
    expect(psmash(rmp, 0x200000)).toBe(-EINVAL);
    // KVM's wrapper aligns the PFN down first.
    expect(snpRmptablePsmash(rmp, PFN + 77)).toBe(RMP_SUCCESS);
    expect(rmp.levelOf(PFN)).toBe(PG_LEVEL_4K);
    expect(rmp.psmash(PFN)).toBe(FAIL_INPUT);
  });
});

describe('PVALIDATE', () => {
  function privatePage() {
    const rmp = new Rmp();
    expect(rmpMakePrivate(rmp, PFN + 1, GPA + 0x1000, PG_LEVEL_4K, ASID, false)).toBe(0);
    return rmp;
  }

  it('validates, reports no-update with CF=1, rescinds', () => {
    const rmp = privatePage();
    const first = rmp.pvalidate(ASID, GPA + 0x1000, PFN + 1, PG_LEVEL_4K, true);
    expect(first).toEqual({ kind: 'rc', rc: 0, cf: false });
    expect(linuxPvalidateRc(first)).toBe(0);
    const again = rmp.pvalidate(ASID, GPA + 0x1000, PFN + 1, PG_LEVEL_4K, true);
    expect(again).toEqual({ kind: 'rc', rc: 0, cf: true });
    expect(linuxPvalidateRc(again)).toBe(PVALIDATE_FAIL_NOUPDATE);
    expect(rmp.pvalidate(ASID, GPA + 0x1000, PFN + 1, PG_LEVEL_4K, false)).toEqual({
      kind: 'rc',
      rc: 0,
      cf: false,
    });
    expect(rmp.isValidated(PFN + 1)).toBe(false);
  });

  it('4K on a 2M RMP entry is an #NPF with RMP and SIZEM; after PSMASH it succeeds', () => {
    const rmp = new Rmp();
    rmp.rmpupdate(PFN, priv(GPA, PG_LEVEL_2M));
    const r = rmp.pvalidate(ASID, GPA + 0x5000, PFN + 5, PG_LEVEL_4K, true);
    expect(r.kind).toBe('npf');
    if (r.kind !== 'npf') return;
    expect(r.gpa).toBe(GPA + 0x5000);
    expect(pferrHas(r.errorCode, PFERR_GUEST_RMP_MASK)).toBe(true);
    expect(pferrHas(r.errorCode, PFERR_GUEST_SIZEM_MASK)).toBe(true);
    expect(pferrHas(r.errorCode, PFERR_GUEST_ENC_MASK)).toBe(true);
    expect(linuxPvalidateRc(r)).toBeUndefined();
    rmp.psmash(PFN);
    expect(rmp.pvalidate(ASID, GPA + 0x5000, PFN + 5, PG_LEVEL_4K, true)).toEqual({
      kind: 'rc',
      rc: 0,
      cf: false,
    });
    expect(rmp.isValidated(PFN + 4)).toBe(false);
  });

  it('2M on 4K RMP entries returns FAIL_SIZEMISMATCH (the guest falls back to 4K)', () => {
    const rmp = new Rmp();
    for (let i = 0; i < 512; i++) rmp.rmpupdate(PFN + i, priv(GPA + i * 0x1000));
    const r = rmp.pvalidate(ASID, GPA, PFN, PG_LEVEL_2M, true);
    expect(r).toEqual({ kind: 'rc', rc: FAIL_SIZEMISMATCH, cf: false });
    expect(rmpStatusName(FAIL_SIZEMISMATCH)).toBe('FAIL_SIZEMISMATCH');
    expect(rmp.isValidated(PFN)).toBe(false);
  });

  it('2M at an unaligned GPA or PFN is FAIL_INPUT', () => {
    const rmp = new Rmp();
    rmp.rmpupdate(PFN, priv(GPA, PG_LEVEL_2M));
    expect(rmp.pvalidate(ASID, GPA + 0x1000, PFN, PG_LEVEL_2M, true)).toMatchObject({
      rc: FAIL_INPUT,
    });
    expect(rmp.pvalidate(ASID, GPA, PFN + 1, PG_LEVEL_2M, true)).toMatchObject({
      rc: FAIL_INPUT,
    });
  });

  it('a page not assigned to this guest at this GPA is an #NPF without SIZEM', () => {
    const rmp = privatePage();
    for (const [asid, gpa, pfn] of [
      [2, GPA + 0x1000, PFN + 1], // another guest's page
      [ASID, GPA + 0x2000, PFN + 1], // remapped at another GPA
      [ASID, GPA + 0x2000, PFN + 2], // hypervisor-owned
    ] as const) {
      const r = rmp.pvalidate(asid, gpa, pfn, PG_LEVEL_4K, true);
      expect(r.kind).toBe('npf');
      if (r.kind === 'npf') {
        expect(pferrHas(r.errorCode, PFERR_GUEST_RMP_MASK)).toBe(true);
        expect(pferrHas(r.errorCode, PFERR_GUEST_SIZEM_MASK)).toBe(false);
      }
    }
    expect(rmp.isValidated(PFN + 1)).toBe(false);
  });
});

describe('RMPADJUST', () => {
  it('lets VMPL0 mark a VMSA page for a higher VMPL and refuses others', () => {
    const rmp = new Rmp();
    rmp.rmpupdate(PFN + 1, priv(GPA + 0x1000));
    const attrs = 1 | RMPADJUST_VMSA_PAGE_BIT;
    expect(rmp.rmpadjust(ASID, GPA + 0x1000, PFN + 1, PG_LEVEL_4K, 1, attrs)).toMatchObject({
      rc: FAIL_PERMISSION,
    });
    expect(rmp.rmpadjust(ASID, GPA + 0x1000, PFN + 1, PG_LEVEL_4K, 0, 0)).toMatchObject({
      rc: FAIL_PERMISSION,
    });
    expect(rmp.rmpadjust(ASID, GPA + 0x1000, PFN + 1, PG_LEVEL_4K, 0, attrs)).toMatchObject({
      rc: 0,
    });
    expect(rmp.isVmsa(PFN + 1)).toBe(true);
    expect(rmp.rmpadjust(ASID, GPA, PFN, PG_LEVEL_2M, 0, attrs)).toMatchObject({ kind: 'npf' });
  });
});

describe('RMP access checks', () => {
  function validated2M() {
    const rmp = new Rmp();
    rmp.rmpupdate(PFN, priv(GPA, PG_LEVEL_2M));
    rmp.pvalidate(ASID, GPA, PFN, PG_LEVEL_2M, true);
    return rmp;
  }

  it('a private access needs an assigned, matching, validated page of the NPT size', () => {
    const rmp = validated2M();
    const w = { enc: true, write: true };
    expect(rmp.checkGuestAccess(ASID, GPA + 0x1234, PFN + 1, PG_LEVEL_2M, w)).toBe(RMP_ACCESS_OK);
    expect(rmp.checkGuestAccess(ASID, GPA + 0x1000, PFN + 1, PG_LEVEL_1G, w)).toBe(RMP_ACCESS_OK);
    const small = rmp.checkGuestAccess(ASID, GPA + 0x1000, PFN + 1, PG_LEVEL_4K, w);
    expect(pferrHas(small, PFERR_GUEST_RMP_MASK)).toBe(true);
    expect(pferrHas(small, PFERR_GUEST_ENC_MASK)).toBe(true);
    expect(pferrHas(small, PFERR_WRITE_MASK)).toBe(true);
    expect(rmp.checkGuestAccess(2, GPA + 0x1000, PFN + 1, PG_LEVEL_2M, w)).toBeGreaterThan(0);
    rmp.psmash(PFN);
    rmp.pvalidate(ASID, GPA + 0x1000, PFN + 1, PG_LEVEL_4K, false);
    expect(rmp.checkGuestAccess(ASID, GPA + 0x1000, PFN + 1, PG_LEVEL_4K, w)).toBe(RMP_ACCESS_VC);
    expect(rmp.checkGuestAccess(ASID, GPA, PFN, PG_LEVEL_4K, w)).toBe(RMP_ACCESS_OK);
    const huge = rmp.checkGuestAccess(ASID, GPA, PFN, PG_LEVEL_2M, w);
    expect(pferrHas(huge, PFERR_GUEST_RMP_MASK)).toBe(true);
  });

  it('a private access to a hypervisor-owned page faults; a fetch counts as private', () => {
    const rmp = new Rmp();
    const r = rmp.checkGuestAccess(ASID, GPA, PFN, PG_LEVEL_4K, { enc: true, write: false });
    expect(pferrHas(r, PFERR_GUEST_RMP_MASK)).toBe(true);
    expect(pferrHas(r, PFERR_WRITE_MASK)).toBe(false);
    const f = rmp.checkGuestAccess(ASID, GPA, PFN, PG_LEVEL_4K, {
      enc: false,
      write: false,
      fetch: true,
    });
    expect(pferrHas(f, PFERR_FETCH_MASK)).toBe(true);
    expect(pferrHas(f, PFERR_GUEST_ENC_MASK)).toBe(true);
  });

  it('a shared write to an assigned page faults without ENC; shared reads pass', () => {
    const rmp = validated2M();
    const sw = rmp.checkGuestAccess(ASID, GPA, PFN, PG_LEVEL_4K, { enc: false, write: true });
    expect(pferrHas(sw, PFERR_GUEST_RMP_MASK)).toBe(true);
    expect(pferrHas(sw, PFERR_GUEST_ENC_MASK)).toBe(false);
    expect(rmp.checkGuestAccess(ASID, GPA, PFN, PG_LEVEL_4K, { enc: false, write: false })).toBe(
      RMP_ACCESS_OK,
    );
    expect(
      rmp.checkGuestAccess(ASID, GPA + MB2, PFN + 512, PG_LEVEL_4K, { enc: false, write: true }),
    ).toBe(RMP_ACCESS_OK);
  });

  it('host writes to assigned frames are RMP violations; reads see ciphertext', () => {
    const rmp = validated2M();
    const code = rmp.hostAccessCheck(PFN + 3, true);
    expect(pferrHas(code, X86_PF_RMP)).toBe(true);
    expect(rmp.hostAccessCheck(PFN + 3, false)).toBe(0);
    expect(rmp.hostReadsCiphertext(PFN + 3)).toBe(true);
    expect(rmp.hostAccessCheck(PFN + 512, true)).toBe(0);
    expect(rmp.hostReadsCiphertext(PFN + 512)).toBe(false);
  });
});

describe('RMP laws', () => {
  it('random RMPUPDATE/PSMASH/PVALIDATE sequences keep the table consistent', () => {
    const op = fc.record({
      kind: fc.constantFrom('priv4k', 'priv2m', 'shared4k', 'shared2m', 'psmash', 'pval'),
      region: fc.integer({ min: 0, max: 3 }),
      index: fc.integer({ min: 0, max: 511 }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const rmp = new Rmp();
        for (const o of ops) {
          const base = PFN + o.region * 512;
          const gbase = GPA + o.region * MB2;
          const pfn = base + o.index;
          const gpa = gbase + o.index * 0x1000;
          switch (o.kind) {
            case 'priv4k':
              rmp.rmpupdate(pfn, priv(gpa));
              break;
            case 'priv2m':
              rmp.rmpupdate(base, priv(gbase, PG_LEVEL_2M));
              break;
            case 'shared4k':
              rmpMakeShared(rmp, pfn, PG_LEVEL_4K);
              break;
            case 'shared2m':
              rmpMakeShared(rmp, base, PG_LEVEL_2M);
              break;
            case 'psmash':
              rmp.psmash(base);
              break;
            case 'pval':
              rmp.pvalidate(ASID, gpa, pfn, PG_LEVEL_4K, true);
              break;
          }
        }
        let counted = 0;
        let wrongGpa = 0;
        rmp.forEachAssigned((pfn) => {
          counted++;
          // Every assigned page maps its own GPA in this test's layout.
          if (rmp.gpaOf(pfn) !== GPA + (pfn - PFN) * 0x1000) wrongGpa++;
        });
        expect(counted).toBe(rmp.assignedEntries);
        expect(wrongGpa).toBe(0);
        let bad = 0;
        for (let r = 0; r < 4; r++) {
          const base = PFN + r * 512;
          const huge = rmp.levelOf(base) === PG_LEVEL_2M;
          for (let i = 0; i < 512; i++) {
            // A 2M entry is authoritative for all 512 frames: all assigned, same validity.
            if (huge && !rmp.isAssigned(base + i)) bad++;
            if (huge && rmp.isValidated(base + i) !== rmp.isValidated(base)) bad++;
            // Validated only ever on assigned entries.
            if (!rmp.isAssigned(base + i) && rmp.isValidated(base + i)) bad++;
          }
        }
        expect(bad).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});
