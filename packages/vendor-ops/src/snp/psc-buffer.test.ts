import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EINVAL } from './errno.js';
import {
  buildPscBuffers,
  newPscState,
  type PscBuffer,
  type PscEntry,
  type PscResult,
  pscEntryFromWord64,
  pscEntryToWord64,
  snpBeginPsc,
  snpCompleteOnePsc,
  snpVmgexitPsc,
  VMGEXIT_PSC_ERROR_GENERIC,
  VMGEXIT_PSC_ERROR_INVALID_ENTRY,
  VMGEXIT_PSC_ERROR_INVALID_HDR,
  VMGEXIT_PSC_OP_PRIVATE,
  VMGEXIT_PSC_OP_PSMASH,
  VMGEXIT_PSC_OP_SHARED,
} from './psc-buffer.js';

const P = VMGEXIT_PSC_OP_PRIVATE;
const S = VMGEXIT_PSC_OP_SHARED;

function e(gfn: number, operation: number, pageSize = 0, curPage = 0): PscEntry {
  return { curPage, gfn, operation, pageSize };
}
function buf(...entries: PscEntry[]): PscBuffer {
  return { curEntry: 0, endEntry: entries.length - 1, entries };
}

/** Runs a buffer through KVM, userspace answering every exit with `ret` 0. */
function drive(psc: PscBuffer): { exits: (readonly [number, number, number])[]; end: PscResult } {
  const state = newPscState();
  const exits: (readonly [number, number, number])[] = [];
  let r = snpBeginPsc(true, state, psc);
  while (r.kind === 'hypercall') {
    exits.push(r.args);
    r = snpCompleteOnePsc(true, state, psc, 0);
  }
  return { exits, end: r };
}

describe('snp_begin_psc', () => {
  it('forwards one 4K entry as MAP_GPA_RANGE and marks it done', () => {
    const psc = buf(e(0x345, P));
    const { exits, end } = drive(psc);
    expect(exits).toEqual([[0x345000, 1, 0x10]]);
    expect(end).toEqual({ kind: 'done', exitInfo2: 0 });
    expect(psc.entries[0]?.curPage).toBe(1);
    expect(psc.curEntry).toBe(1);
  });

  it('merges adjacent entries with the same operation and size', () => {
    const { exits } = drive(buf(e(0x10, P), e(0x11, P), e(0x12, P), e(0x14, P), e(0x15, S)));
    expect(exits).toEqual([
      [0x10000, 3, 0x10],
      [0x14000, 1, 0x10],
      [0x15000, 1, 0],
    ]);
  });

  it('forwards 2M entries with PAGE_SZ_2M and merges adjacent 2M entries, not 4K ones', () => {
    const { exits } = drive(buf(e(0x200, S, 1), e(0x400, S, 1), e(0x600, S, 0)));
    expect(exits).toEqual([
      [0x200000, 1024, 0x1],
      [0x600000, 1, 0x0],
    ]);
  });

  it('finishes a partly done 2M entry as 4K pages, keeping the 2M flag (quirk), unmerged', () => {
    const psc = buf(e(0x200, P, 1, 100), e(0x400, P, 1));
    const { exits } = drive(psc);
    expect(exits).toEqual([
      [(0x200 + 100) * 4096, 412, 0x11],
      [0x400000, 512, 0x11],
    ]);
    expect(psc.entries.map((x) => x.curPage)).toEqual([512, 512]);
  });

  it('skips finished entries and completes without an exit when nothing is left', () => {
    const psc = buf(e(0x10, P, 0, 1), e(0x200, P, 1, 512));
    expect(drive(psc)).toEqual({ exits: [], end: { kind: 'done', exitInfo2: 0 } });
    expect(psc.curEntry).toBe(2);
  });

  it('marks PSMASH/UNSMASH entries done without exiting', () => {
    const psc = buf(e(0x200, VMGEXIT_PSC_OP_PSMASH, 1), e(0x400, P));
    expect(drive(psc).exits).toEqual([[0x400000, 1, 0x10]]);
    expect(psc.entries[0]?.curPage).toBe(512);
  });

  it('refuses a bad header, a misaligned 2M entry, a cur_page past the end', () => {
    const hdr: PscBuffer = { curEntry: 0, endEntry: 253, entries: [e(1, P)] };
    expect(drive(hdr).end).toEqual({ kind: 'done', exitInfo2: VMGEXIT_PSC_ERROR_INVALID_HDR });
    expect(drive(buf(e(0x201, P, 1))).end).toEqual({
      kind: 'done',
      exitInfo2: VMGEXIT_PSC_ERROR_INVALID_ENTRY,
    });
    expect(drive(buf(e(0x10, P, 0, 2))).end).toEqual({
      kind: 'done',
      exitInfo2: VMGEXIT_PSC_ERROR_INVALID_ENTRY,
    });
    expect(VMGEXIT_PSC_ERROR_INVALID_HDR).toBe(0x1_0000_0001);
  });

  it('answers GENERIC without the exit capability or when userspace fails', () => {
    expect(snpBeginPsc(false, newPscState(), buf(e(1, P)))).toEqual({
      kind: 'done',
      exitInfo2: VMGEXIT_PSC_ERROR_GENERIC,
    });
    const state = newPscState();
    const psc = buf(e(1, P), e(5, S));
    expect(snpBeginPsc(true, state, psc).kind).toBe('hypercall');
    expect(snpCompleteOnePsc(true, state, psc, 1)).toEqual({
      kind: 'done',
      exitInfo2: 0x100 * 2 ** 32,
    });
    expect(state).toEqual(newPscState());
  });

  it('fails KVM_RUN with -EINVAL when an SNP guest did not register its GHCB', () => {
    expect(snpVmgexitPsc(true, 0x5000, null, newPscState(), buf(e(1, P)))).toEqual({
      kind: 'error',
      errno: -EINVAL,
    });
    expect(snpVmgexitPsc(true, 0x5000, 0x5000, newPscState(), buf(e(1, P))).kind).toBe('hypercall');
  });

  it('merges at most the 253 entries a buffer can hold', () => {
    const entries = Array.from({ length: 253 }, (_, i) => e(0x1000 + i, P));
    expect(drive(buf(...entries)).exits).toEqual([[0x1000000, 253, 0x10]]);
  });
});

describe('PSC entries and buffers', () => {
  it('round-trips an entry through its u64 layout', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xfff }),
        fc.integer({ min: 0, max: 2 ** 40 - 1 }),
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: 1 }),
        (curPage, gfn, operation, pageSize) => {
          const x = { curPage, gfn, operation, pageSize };
          expect(pscEntryFromWord64(pscEntryToWord64(x))).toEqual(x);
        },
      ),
    );
  });

  it('cuts a conversion into pieces of at most 2 MiB from the current GPA', () => {
    const aligned = buildPscBuffers(0x400000, 0x400000, P);
    expect(aligned.map((b) => drive(b).exits)).toEqual([
      [[0x400000, 512, 0x11]],
      [[0x600000, 512, 0x11]],
    ]);
    const unaligned = buildPscBuffers(0x401000, 0x200000, S);
    const exits = unaligned.flatMap((b) => drive(b).exits);
    expect(exits).toEqual([
      [0x401000, 253, 0],
      [0x401000 + 253 * 4096, 253, 0],
      [0x401000 + 506 * 4096, 6, 0],
    ]);
  });

  it('covers exactly the requested range, each exit at most 2 MiB', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4096 }),
        fc.integer({ min: 1, max: 2048 }),
        (startPage, pages) => {
          const exits = buildPscBuffers(startPage * 4096, pages * 4096, P).flatMap(
            (b) => drive(b).exits,
          );
          let next = startPage * 4096;
          for (const [gpa, n] of exits) {
            expect(gpa).toBe(next);
            expect(n).toBeLessThanOrEqual(512);
            next = gpa + n * 4096;
          }
          expect(next).toBe((startPage + pages) * 4096);
        },
      ),
      { numRuns: 100 },
    );
  });
});
