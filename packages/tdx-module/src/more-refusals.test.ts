import { FrameOwner } from '@kvmx/paging';
import { describe, expect, it } from 'vitest';
import { formatStatus, type TdxStatus } from './status.js';
import { buildTd, expectOk, type Fixture, mapTables } from './test-helpers.js';

const fmt = (s: TdxStatus) => formatStatus(s);
const GPA = 0x40000000;

function runnable(opts: Parameters<typeof buildTd>[0] = {}): Fixture {
  const f = buildTd(opts);
  expectOk(f.mod.mrFinalize(f.tdr));
  return f;
}

describe('more leaf refusals', () => {
  it('RANGE.BLOCK / UNBLOCK / TRACK / DEMOTE / PROMOTE operand and state checks', () => {
    const f = runnable();
    const { mod, tdr } = f;
    mapTables(f, GPA);
    expect(fmt(mod.memRangeBlock(tdr, GPA, 5))).toBe('TDX_OPERAND_INVALID|RCX');
    expect(fmt(mod.memRangeBlock(tdr, GPA + 0x800, 0))).toBe('TDX_OPERAND_INVALID|RCX');
    expect(fmt(mod.memRangeBlock(tdr, GPA + 2 ** 47, 0))).toBe('TDX_OPERAND_INVALID|RCX');
    expect(fmt(mod.memRangeBlock(tdr, GPA, 0))).toBe('TDX_EPT_ENTRY_STATE_INCORRECT|RCX'); // FREE
    expect(fmt(mod.memRangeUnblock(tdr, GPA, 1))).toBe('TDX_EPT_ENTRY_STATE_INCORRECT|RCX'); // NL_MAPPED
    expect(fmt(mod.memTrack(tdr + 0x1000))).toMatch(
      /^TDX_(PAGE_METADATA_INCORRECT|OPERAND_ADDR_RANGE_ERROR)\|RCX$/,
    );
    // DEMOTE needs a huge leaf; PROMOTE a table; the new table page must be PT_NDA.
    expect(fmt(mod.memPageDemote(tdr, GPA, 1, f.page()))).toBe('TDX_EPT_ENTRY_STATE_INCORRECT|RCX');
    expect(fmt(mod.memPagePromote(tdr, GPA, 1))).toBe('TDX_GPA_RANGE_NOT_BLOCKED|RCX');
    expect(fmt(mod.memPagePromote(tdr, GPA, 3))).toBe('TDX_OPERAND_INVALID|RCX');
    const gpa2m = GPA + 0x200000;
    const base = f.pool.allocContiguous(512, FrameOwner.GUEST_MEMFD, 512) * 4096;
    expectOk(mod.memPageAug(tdr, gpa2m, 1, base));
    expectOk(mod.memRangeBlock(tdr, gpa2m, 1));
    expectOk(mod.memTrack(tdr));
    expect(fmt(mod.memPageDemote(tdr, gpa2m, 1, base + 0x1000))).toBe(
      'TDX_PAGE_METADATA_INCORRECT|R8',
    );
    const busy = mod.hold({ kind: 'sept', tdr }, 'exclusive');
    expect(fmt(mod.memPageDemote(tdr, gpa2m, 1, f.page()))).toBe('TDX_OPERAND_BUSY|SEPT_TREE');
    busy?.release();
    // A 4K page cannot be removed as 2M, and a 2M leaf cannot be removed at 4K (walk stops above).
    expect(fmt(mod.memPageRemove(tdr, gpa2m, 0))).toBe('TDX_EPT_WALK_FAILED|RCX');
    expect(mod.out.get(2)).toBe(0x0301); // level 1, PENDING_BLOCKED
    expectOk(mod.memPageRemove(tdr, gpa2m, 1));
    expect(mod.pamt.pt(base / 4096, 1)).toBe(0);
  });

  it('VP.CREATE / VP.ADDCX / VP.ENTER page and handle checks', () => {
    const f = runnable();
    const { mod, tdr } = f;
    const v = f.vcpus[0] as number;
    expect(fmt(mod.vpCreate(tdr, v))).toBe('TDX_OP_STATE_INCORRECT');
    const g = buildTd({ nvcpus: 1 });
    expect(fmt(g.mod.vpCreate(g.tdr, g.vcpus[0] as number))).toBe(
      'TDX_PAGE_METADATA_INCORRECT|RCX',
    );
    expect(fmt(g.mod.vpCreate(g.tdr, g.page() + 0x10))).toBe('TDX_OPERAND_INVALID|RCX');
    expect(fmt(g.mod.vpAddcx(g.page(), g.page()))).toBe('TDX_PAGE_METADATA_INCORRECT|RDX');
    // VP.ENTER's handle: bit 52 (host recoverability hint) is allowed, bit 54 is reserved.
    const regs = mod.out;
    regs.clear().setWord(1, v % 2 ** 32, Math.floor(v / 2 ** 32) | (1 << 20));
    expect(fmt(mod.seamcall(0, regs).status)).toBe('TDX_SUCCESS+0x1'); // entered, exited on an interrupt
    regs.clear().setWord(1, v % 2 ** 32, Math.floor(v / 2 ** 32) | (1 << 22));
    expect(fmt(mod.seamcall(0, regs).status)).toBe('TDX_OPERAND_INVALID|RCX');
    expect(fmt(mod.enterGuest(tdr))).toBe('TDX_PAGE_METADATA_INCORRECT|RCX');
  });

  it('builds and maps a 5-level (GPAW 52) TD', () => {
    const f = runnable({ params: { gpaw: 52 } });
    const { mod, tdr } = f;
    const gpa = 2 ** 50 + 0x3000; // above what 4-level paging reaches
    expect(mod.td(tdr)?.septRootLevel).toBe(4);
    expect(fmt(mod.memSeptAdd(tdr, 0, 4, f.page()))).toBe('TDX_SUCCESS');
    expect(fmt(mod.memPageAug(tdr, gpa, 0, f.page()))).toBe('TDX_EPT_WALK_FAILED|RCX');
    expect(mod.out.get(2)).toBe(4); // the PML5 entry for 2^50 is FREE
    mapTables(f, gpa);
    expectOk(mod.memPageAug(tdr, gpa, 0, f.page()));
    expect(mod.septEntry(tdr, gpa)?.state).toBe('PENDING');
    // Bit 51 is the shared bit with GPAW 52; bit 47 is an ordinary address bit.
    expect(fmt(mod.memPageAug(tdr, gpa + 2 ** 51, 0, f.page()))).toBe('TDX_OPERAND_INVALID|RCX');
    expect(fmt(mod.memPageAug(tdr, 2 ** 47, 0, f.page()))).toBe('TDX_EPT_WALK_FAILED|RCX');
  });

  it('the host KeyID pool hands out guest HKIDs, never the global one', () => {
    const f = buildTd({ tdxKeyIds: 3 });
    const pool = f.mod.keyIds;
    expect(pool.start).toBe(f.mod.tdxKeyIdStart + 1);
    // buildTd took 33 for its TD the way KVM does (tdx_guest_keyid_alloc).
    expect(f.hkid).toBe(33);
    const b = pool.alloc();
    expect(b).toBe(34);
    expect(pool.alloc()).toBe(-1);
    expect(pool.free(32)).toBe(false);
    expect(pool.free(b)).toBe(true);
    expect(pool.alloc()).toBe(34);
  });
});
