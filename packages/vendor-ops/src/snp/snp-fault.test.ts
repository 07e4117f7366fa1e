import { describe, expect, it } from 'vitest';
import {
  PFERR_GUEST_ENC_MASK,
  PFERR_GUEST_RMP_MASK,
  PFERR_IMPLICIT_ACCESS,
  PFERR_PRIVATE_ACCESS,
  PFERR_WRITE_MASK,
  pferrHas,
} from '../pferr.js';
import { EFAULT } from './errno.js';
import { sevGmemPrepare } from './gmem-hooks.js';
import { Rmp } from './rmp.js';
import {
  needsRmpFaultHandling,
  type RmpFaultContext,
  sevHandleRmpFault,
  snpNpfErrorCode,
} from './snp-fault.js';

describe('npf_interception: private = ENC', () => {
  it('adds PFERR_PRIVATE_ACCESS (bit 49) for an SNP guest when ENC (bit 34) is set', () => {
    const code = snpNpfErrorCode(PFERR_WRITE_MASK + PFERR_GUEST_ENC_MASK, true);
    expect(pferrHas(code, PFERR_PRIVATE_ACCESS)).toBe(true);
    expect(code).toBe(PFERR_WRITE_MASK + PFERR_GUEST_ENC_MASK + PFERR_PRIVATE_ACCESS);
    expect(snpNpfErrorCode(PFERR_WRITE_MASK, true)).toBe(PFERR_WRITE_MASK);
    const viaFlag = snpNpfErrorCode(PFERR_WRITE_MASK, true, true);
    expect(pferrHas(viaFlag, PFERR_PRIVATE_ACCESS)).toBe(true);
  });

  it('never makes a SEV or SEV-ES fault private, encrypted or not', () => {
    const code = snpNpfErrorCode(PFERR_GUEST_ENC_MASK, false);
    expect(pferrHas(code, PFERR_PRIVATE_ACCESS)).toBe(false);
    expect(pferrHas(code, PFERR_GUEST_ENC_MASK)).toBe(true);
  });

  it('clears synthetic bits the hardware must never report', () => {
    const code = snpNpfErrorCode(PFERR_IMPLICIT_ACCESS + PFERR_PRIVATE_ACCESS + 1, false);
    expect(code).toBe(1);
  });

  it('calls sev_handle_rmp_fault only after a handled fault with the RMP bit', () => {
    expect(needsRmpFaultHandling(1, PFERR_GUEST_RMP_MASK)).toBe(true);
    expect(needsRmpFaultHandling(0, PFERR_GUEST_RMP_MASK)).toBe(false);
    expect(needsRmpFaultHandling(1, PFERR_GUEST_ENC_MASK)).toBe(false);
  });
});

describe('sev_handle_rmp_fault', () => {
  const GFN = 0x400;
  const PFN = 0x100000;
  function setup(privateGfns = true) {
    const rmp = new Rmp();
    const zaps: [number, number][] = [];
    const ctx: RmpFaultContext = {
      memIsPrivate: () => privateGfns,
      slotCanBePrivate: (gfn) => gfn < 0x10000,
      gmemGetPfn: (gfn) => (gfn >= GFN && gfn < GFN + 1024 ? PFN + (gfn - GFN) : -EFAULT),
      zapGfnRange: (s, e) => zaps.push([s, e]),
    };
    return { rmp, ctx, zaps };
  }

  it('PSMASHes a 2M entry and zaps gfn .. gfn+511 so the NPT is rebuilt at 4K', () => {
    const { rmp, ctx, zaps } = setup();
    sevGmemPrepare(rmp, { snpActive: true, asid: 1 }, PFN, GFN, 9);
    expect(sevHandleRmpFault(rmp, ctx, (GFN + 5) * 4096 + 0x10)).toBe('psmash_zap');
    expect(rmp.levelOf(PFN)).toBe(1);
    expect(zaps).toEqual([[GFN + 5, GFN + 5 + 512]]);
    // A second fault finds 4K entries: spurious, nothing zapped.
    expect(sevHandleRmpFault(rmp, ctx, (GFN + 5) * 4096)).toBe('spurious');
    expect(zaps).toHaveLength(1);
  });

  it('ignores faults it cannot explain, as the kernel warns and returns', () => {
    const shared = setup(false);
    expect(sevHandleRmpFault(shared.rmp, shared.ctx, GFN * 4096)).toBe('not_private');
    const { rmp, ctx, zaps } = setup();
    expect(sevHandleRmpFault(rmp, ctx, 0x10000 * 4096)).toBe('not_gmem_slot');
    expect(sevHandleRmpFault(rmp, ctx, 0x100 * 4096)).toBe('no_backing');
    expect(sevHandleRmpFault(rmp, ctx, GFN * 4096)).toBe('not_assigned');
    expect(zaps).toEqual([]);
  });
});
