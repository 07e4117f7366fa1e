import { FrameOwner } from '@kvmx/paging';
import { describe, expect, it } from 'vitest';
import { TDH_MEM_SEPT_ADD } from './leaf.js';
import { SeamRegs } from './regs.js';
import { SEPT_HI_TDHP } from './sept-state.js';
import { formatStatus, type TdxStatus } from './status.js';
import { buildTd, expectOk, type Fixture, mapTables } from './test-helpers.js';

const fmt = (s: TdxStatus) => formatStatus(s);
const GPA = 0x40000000;
const SHARED = 2 ** 47;

function runnable(opts: Parameters<typeof buildTd>[0] = {}): Fixture {
  const f = buildTd(opts);
  expectOk(f.mod.mrFinalize(f.tdr));
  return f;
}

describe('TDH.MEM.SEPT.ADD', () => {
  it('links tables level by level and refuses what the module refuses', () => {
    const f = runnable();
    const { mod, tdr } = f;
    // Walk failure: level 1 needs the level-2 and level-3 entries first; RDX names the level-3 FREE entry.
    expect(fmt(mod.memSeptAdd(tdr, GPA, 1, f.page()))).toBe('TDX_EPT_WALK_FAILED|RCX');
    expect(mod.out.get(2)).toBe(3);
    expect(mod.out.big(1)).toBe(0x8000000000000000n);
    // Level out of range, misaligned GPA, shared bit, GPA above GPAW.
    expect(fmt(mod.memSeptAdd(tdr, GPA, 0, f.page()))).toBe('TDX_OPERAND_INVALID|RCX');
    expect(fmt(mod.memSeptAdd(tdr, GPA, 4, f.page()))).toBe('TDX_OPERAND_INVALID|RCX');
    expect(fmt(mod.memSeptAdd(tdr, GPA + 0x1000, 2, f.page()))).toBe('TDX_OPERAND_INVALID|RCX');
    expect(fmt(mod.memSeptAdd(tdr, SHARED, 3, f.page()))).toBe('TDX_OPERAND_INVALID|RCX');
    expect(fmt(mod.memSeptAdd(tdr, 2 ** 48, 3, f.page()))).toBe('TDX_OPERAND_INVALID|RCX');
    expectOk(mod.memSeptAdd(tdr, 0, 3, f.page()));
    expect(mod.septEntry(tdr, 0, 3)?.state).toBe('NL_MAPPED');
    // Existing table: STATE_INCORRECT with details, or success without consuming the page.
    const spare = f.page();
    expect(fmt(mod.memSeptAdd(tdr, 0, 3, spare))).toBe('TDX_EPT_ENTRY_STATE_INCORRECT|RCX');
    expect(mod.out.get(2)).toBe(0x8403); // level 3, NL_MAPPED (public 0x84)
    expectOk(mod.memSeptAdd(tdr, 0, 3, spare, true));
    expect((mod.out.hi[8] as number) >>> 31).toBe(1);
    // The new page must be PT_NDA: a TDCS page is not.
    const tdcs = (mod.td(tdr)?.tdcx[0] ?? 0) * 4096;
    expect(fmt(mod.memSeptAdd(tdr, GPA, 2, tdcs))).toBe('TDX_PAGE_METADATA_INCORRECT|R8');
    expect(fmt(mod.memSeptAdd(tdr, GPA, 2, spare + 8))).toBe('TDX_OPERAND_INVALID|R8');
    expectOk(mod.memSeptAdd(tdr, GPA, 2, spare));
  });

  it('checks RAX: unknown leaf, bad version, reserved bits', () => {
    const f = runnable();
    const r = SeamRegs.of({ rcx: 3, rdx: f.tdr, r8: f.page() });
    expect(fmt(f.mod.seamcall(TDH_MEM_SEPT_ADD | (2 << 16), r).status)).toBe(
      'TDX_OPERAND_INVALID|RAX',
    );
    expect(fmt(f.mod.seamcall(TDH_MEM_SEPT_ADD | (1 << 24), r).status)).toBe(
      'TDX_OPERAND_INVALID|RAX',
    );
    expect(fmt(f.mod.seamcall(0x7777, r).status)).toBe('TDX_OPERAND_INVALID|RAX');
    // PAGE.AUG has no version 1 in 1.5.
    expect(fmt(f.mod.seamcall(6 | (1 << 16), r).status)).toBe('TDX_OPERAND_INVALID|RAX');
    // Version 1 of SEPT.ADD is accepted.
    expectOk(f.mod.seamcall(TDH_MEM_SEPT_ADD | (1 << 16), r).status);
  });

  it('reports the TD state refusals in the module order', () => {
    const f = buildTd();
    const { mod, tdr } = f;
    expect(fmt(mod.memSeptAdd(tdr + 0x800, 0, 3, f.page()))).toBe('TDX_OPERAND_INVALID|RDX');
    expect(fmt(mod.memSeptAdd(f.page(), 0, 3, f.page()))).toBe('TDX_PAGE_METADATA_INCORRECT|RDX');
    const t = mod.td(tdr);
    if (t === undefined) throw new Error('no td');
    t.fatal = true;
    expect(mod.memSeptAdd(tdr, 0, 3, f.page())).toEqual({ hi: 0xe0000604, lo: 0 });
    t.fatal = false;
    const h = mod.hold({ kind: 'page', hpa: tdr }, 'exclusive');
    expect(fmt(mod.memSeptAdd(tdr, 0, 3, f.page()))).toBe('TDX_OPERAND_BUSY|RDX');
    h?.release();
    const op = mod.hold({ kind: 'opState', tdr }, 'exclusive');
    expect(fmt(mod.memSeptAdd(tdr, 0, 3, f.page()))).toBe('TDX_OPERAND_BUSY|OP_STATE');
    op?.release();
    const tree = mod.hold({ kind: 'sept', tdr }, 'exclusive');
    expect(fmt(mod.memSeptAdd(tdr, 0, 3, f.page()))).toBe('TDX_OPERAND_BUSY|SEPT_TREE');
    tree?.release();
    expectOk(mod.memSeptAdd(tdr, 0, 3, f.page()));
  });
});

describe('TDH.MEM.PAGE.ADD', () => {
  it('adds only before finalize, 4K, into FREE entries, from a valid source', () => {
    const f = buildTd();
    const { mod, tdr } = f;
    const src = f.page(FrameOwner.VMM_SHARED);
    expect(fmt(mod.memPageAdd(tdr, GPA, f.page(), src))).toBe('TDX_EPT_WALK_FAILED|RCX');
    mapTables(f, GPA);
    expect(fmt(mod.memPageAdd(tdr, GPA + 1, f.page(), src))).toBe('TDX_OPERAND_INVALID|RCX');
    expect(fmt(mod.memPageAdd(tdr, GPA + SHARED, f.page(), src))).toBe('TDX_OPERAND_INVALID|RCX');
    expect(fmt(mod.memPageAdd(tdr, GPA, f.page(), src + 4))).toBe('TDX_OPERAND_INVALID|R9');
    const target = f.page();
    expectOk(mod.memPageAdd(tdr, GPA, target, src));
    expect(fmt(mod.memPageAdd(tdr, GPA, f.page(), src))).toBe('TDX_EPT_ENTRY_STATE_INCORRECT|RCX');
    expect(mod.out.get(2)).toBe(0x0400); // MAPPED at level 0
    expect(fmt(mod.memPageAdd(tdr, GPA + 0x1000, target, src))).toBe(
      'TDX_PAGE_METADATA_INCORRECT|R8',
    );
    // Before finalize a MAPPED page can be removed without BLOCK/TRACK (no tracking in INITIALIZED).
    expectOk(mod.memPageRemove(tdr, GPA, 0));
    expect(mod.out.get(1)).toBe(target);
  });
});

describe('TDH.MEM.PAGE.AUG', () => {
  it('makes 4K and 2M entries PENDING and checks the page and the entry', () => {
    const f = runnable();
    const { mod, tdr, pool } = f;
    mapTables(f, GPA);
    const pg = f.page();
    expectOk(mod.memPageAug(tdr, GPA, 0, pg));
    expect(mod.septEntry(tdr, GPA)?.state).toBe('PENDING');
    expect(fmt(mod.memPageAug(tdr, GPA, 0, f.page()))).toBe('TDX_EPT_ENTRY_STATE_INCORRECT|RCX');
    expect(mod.out.get(2)).toBe(0x0200);
    expect(fmt(mod.memPageAug(tdr, GPA + 0x1000, 0, pg))).toBe('TDX_PAGE_METADATA_INCORRECT|R8');
    expect(fmt(mod.memPageAug(tdr, GPA, 2, f.page()))).toBe('TDX_OPERAND_INVALID|RCX');
    // 2M: the PD entry for the next 2M must be FREE, the frame 2M-aligned and all 512 4K frames free.
    const gpa2m = GPA + 0x200000;
    const base = pool.allocContiguous(512, FrameOwner.GUEST_MEMFD, 512) * 4096;
    expect(fmt(mod.memPageAug(tdr, gpa2m, 1, base + 0x1000))).toBe('TDX_OPERAND_INVALID|R8');
    expect(fmt(mod.memPageAug(tdr, gpa2m + 0x1000, 1, base))).toBe('TDX_OPERAND_INVALID|RCX');
    expect(fmt(mod.memPageAug(tdr, GPA, 1, base))).toBe('TDX_EPT_ENTRY_STATE_INCORRECT|RCX');
    expect(mod.out.get(2)).toBe(0x8401); // the PD entry is NL_MAPPED (a 4K table exists)
    expectOk(mod.memPageAug(tdr, GPA + 0x1000, 0, base + 0x3000)); // one 4K frame of the 2M taken
    expect(fmt(mod.memPageAug(tdr, gpa2m, 1, base))).toBe('TDX_PAGE_METADATA_INCORRECT|R8');
    const td = mod.td(tdr);
    const before = td?.chldcnt ?? 0;
    const base2 = pool.allocContiguous(512, FrameOwner.GUEST_MEMFD, 512) * 4096;
    expectOk(mod.memPageAug(tdr, gpa2m, 1, base2));
    expect(td?.chldcnt).toBe(before + 512);
    expect(mod.septEntry(tdr, gpa2m, 1)?.state).toBe('PENDING');
  });

  it('returns BUSY for a locked entry and sets the host-priority bit', () => {
    const f = runnable();
    const { mod, tdr } = f;
    mapTables(f, GPA);
    const h = mod.hold({ kind: 'septEntry', tdr, gpa: GPA, level: 0 });
    expect(fmt(mod.memPageAug(tdr, GPA, 0, f.page()))).toBe('TDX_OPERAND_BUSY|RCX');
    expect((mod.septEntry(tdr, GPA)?.hi ?? 0) & SEPT_HI_TDHP).toBe(SEPT_HI_TDHP);
    h?.release();
    const tree = mod.hold({ kind: 'sept', tdr }, 'exclusive');
    expect(fmt(mod.memPageAug(tdr, GPA, 0, f.page()))).toBe('TDX_OPERAND_BUSY|SEPT_TREE');
    tree?.release();
    // Two AUGs hold the tree shared: a shared holder does not block AUG.
    const shared = mod.hold({ kind: 'sept', tdr }, 'shared');
    expectOk(mod.memPageAug(tdr, GPA, 0, f.page()));
    shared?.release();
  });

  it('is refused once the TD is torn down (keys no longer configured)', () => {
    const f = runnable();
    const { mod, tdr } = f;
    mapTables(f, GPA);
    expectOk(mod.vpFlush(f.vcpus[0] as number));
    expectOk(mod.mngVpflushdone(tdr));
    expect(fmt(mod.memPageAug(tdr, GPA, 0, f.page()))).toBe('TDX_TD_KEYS_NOT_CONFIGURED');
  });
});

describe('BLOCK → TRACK → REMOVE and the TLB epochs', () => {
  function mapped(f: Fixture, gpa: number): number {
    mapTables(f, gpa);
    const pg = f.page();
    expectOk(f.mod.memPageAug(f.tdr, gpa, 0, pg));
    return pg;
  }

  it('requires BLOCK and TRACK before REMOVE in a runnable TD', () => {
    const f = runnable();
    const { mod, tdr } = f;
    mapped(f, GPA);
    expect(fmt(mod.memPageRemove(tdr, GPA, 0))).toBe('TDX_GPA_RANGE_NOT_BLOCKED|RCX');
    expect(mod.out.get(2)).toBe(0x0200); // level 0, PENDING
    expectOk(mod.memRangeBlock(tdr, GPA, 0));
    expect(mod.septEntry(tdr, GPA)?.state).toBe('PENDING_BLOCKED');
    expect(fmt(mod.memRangeBlock(tdr, GPA, 0))).toBe('TDX_GPA_RANGE_ALREADY_BLOCKED|RCX');
    expect(fmt(mod.memPageRemove(tdr, GPA, 0))).toBe('TDX_TLB_TRACKING_NOT_DONE|RCX');
    expect(fmt(mod.memRangeUnblock(tdr, GPA, 0))).toBe('TDX_TLB_TRACKING_NOT_DONE|SEPT_TREE');
    expect(mod.out.get(1)).toBe(0); // no entry details for tracking failures
    expectOk(mod.memTrack(tdr));
    expectOk(mod.memPageRemove(tdr, GPA, 0));
    expect(fmt(mod.memPageRemove(tdr, GPA, 0))).toBe('TDX_EPT_ENTRY_STATE_INCORRECT|RCX');
    expect(fmt(mod.memRangeBlock(tdr, GPA, 0))).toBe('TDX_EPT_ENTRY_STATE_INCORRECT|RCX');
    expect(fmt(mod.memPageRemove(tdr, GPA, 3))).toBe('TDX_OPERAND_INVALID|RCX');
  });

  it('waits for vCPUs of the blocking epoch to exit (PREVIOUS_TLB_EPOCH_BUSY, is_tlb_tracked)', () => {
    const f = runnable({ nvcpus: 2 });
    const { mod, tdr } = f;
    const [a, b] = f.vcpus as [number, number];
    mapped(f, GPA);
    const td = mod.td(tdr);
    expect(td?.tdEpoch).toBe(1);
    expectOk(mod.enterGuest(a)); // a runs in epoch 1
    expectOk(mod.memRangeBlock(tdr, GPA, 0)); // BEPOCH = 1
    expectOk(mod.memTrack(tdr)); // epoch 2: needs refcount[0] == 0
    expect(td?.tdEpoch).toBe(2);
    expectOk(mod.enterGuest(b)); // b runs in epoch 2
    expect(fmt(mod.memPageRemove(tdr, GPA, 0))).toBe('TDX_TLB_TRACKING_NOT_DONE|RCX');
    expect(fmt(mod.memTrack(tdr))).toBe('TDX_PREVIOUS_TLB_EPOCH_BUSY');
    mod.exitGuest(a); // the kick: a leaves, nobody is left in epoch 1
    expectOk(mod.memPageRemove(tdr, GPA, 0));
    expectOk(mod.memTrack(tdr)); // epoch 3 (b in epoch 2 does not block it)
    expect(fmt(mod.memTrack(tdr))).toBe('TDX_PREVIOUS_TLB_EPOCH_BUSY');
    mod.exitGuest(b);
    expectOk(mod.memTrack(tdr));
  });

  it('TRACK and VP.ENTER contend on the epoch lock', () => {
    const f = runnable();
    const { mod, tdr } = f;
    const h = mod.hold({ kind: 'epoch', tdr }, 'exclusive');
    expect(fmt(mod.enterGuest(f.vcpus[0] as number))).toBe('TDX_OPERAND_BUSY|TD_EPOCH');
    expect(fmt(mod.memTrack(tdr))).toBe('TDX_OPERAND_BUSY|TD_EPOCH');
    h?.release();
    const s = mod.hold({ kind: 'epoch', tdr }, 'shared');
    expect(mod.memTrack(tdr)).toEqual({ hi: 0x80000200, lo: 0xa9 });
    s?.release();
  });

  it('UNBLOCK restores the entry once tracked; blocked tables stop walks', () => {
    const f = runnable();
    const { mod, tdr } = f;
    mapped(f, GPA);
    expect(fmt(mod.memRangeUnblock(tdr, GPA, 0))).toBe('TDX_EPT_ENTRY_STATE_INCORRECT|RCX');
    expectOk(mod.memRangeBlock(tdr, GPA, 0));
    expectOk(mod.memTrack(tdr));
    expectOk(mod.memRangeUnblock(tdr, GPA, 0));
    expect(mod.septEntry(tdr, GPA)?.state).toBe('PENDING');
    // Block the PD entry (the 4K table): walks below stop there.
    expectOk(mod.memRangeBlock(tdr, GPA, 1));
    expect(mod.septEntry(tdr, GPA, 1)?.state).toBe('NL_BLOCKED');
    expect(fmt(mod.memPageAug(tdr, GPA + 0x1000, 0, f.page()))).toBe('TDX_EPT_WALK_FAILED|RCX');
    expect(mod.out.get(2)).toBe(0x8101); // level 1, NL_BLOCKED
  });

  it('SEPT.REMOVE takes an empty, blocked, tracked table', () => {
    const f = runnable();
    const { mod, tdr } = f;
    const pg = mapped(f, GPA);
    const table = mod.septEntry(tdr, GPA, 1)?.pfn ?? 0;
    expect(fmt(mod.memSeptRemove(tdr, GPA, 1))).toBe('TDX_GPA_RANGE_NOT_BLOCKED|RCX');
    expectOk(mod.memRangeBlock(tdr, GPA, 1));
    expect(fmt(mod.memSeptRemove(tdr, GPA, 1))).toBe('TDX_TLB_TRACKING_NOT_DONE|RCX');
    expectOk(mod.memTrack(tdr));
    expect(fmt(mod.memSeptRemove(tdr, GPA, 1))).toBe('TDX_EPT_PAGE_NOT_FREE|RCX');
    expect(mod.out.get(2)).toBe(0x8101); // details of the parent: level 1, NL_BLOCKED
    expectOk(mod.memRangeUnblock(tdr, GPA, 1));
    expectOk(mod.memRangeBlock(tdr, GPA, 0));
    expectOk(mod.memTrack(tdr));
    expectOk(mod.memPageRemove(tdr, GPA, 0));
    expect(mod.out.get(1)).toBe(pg);
    expectOk(mod.memRangeBlock(tdr, GPA, 1));
    expectOk(mod.memTrack(tdr));
    expectOk(mod.memSeptRemove(tdr, GPA, 1));
    expect(mod.out.get(1)).toBe(table * 4096);
    expect(mod.septEntry(tdr, GPA, 1)?.state).toBe('FREE');
    expect(mod.pamt.pt(table, 0)).toBe(0);
  });

  it('PAGE.REMOVE of a page whose PAMT entry is held returns BUSY|RCX', () => {
    const f = buildTd();
    const { mod, tdr } = f;
    const pg = mapped(f, GPA);
    const h = mod.hold({ kind: 'page', hpa: pg });
    expect(fmt(mod.memPageRemove(tdr, GPA, 0))).toBe('TDX_OPERAND_BUSY|RCX');
    h?.release();
    expectOk(mod.memPageRemove(tdr, GPA, 0));
  });
});

describe('DEMOTE and PROMOTE', () => {
  it('splits a blocked 2M PENDING page into 512 PENDING 4K pages and merges them back', () => {
    const f = runnable();
    const { mod, tdr, pool } = f;
    mapTables(f, GPA); // creates the 4K table under GPA's PD entry
    const gpa2m = GPA + 0x200000;
    const base = pool.allocContiguous(512, FrameOwner.GUEST_MEMFD, 512) * 4096;
    expectOk(mod.memPageAug(tdr, gpa2m, 1, base));
    const table = f.page();
    expect(fmt(mod.memPageDemote(tdr, gpa2m, 1, table))).toBe('TDX_GPA_RANGE_NOT_BLOCKED|RCX');
    expectOk(mod.memRangeBlock(tdr, gpa2m, 1));
    expectOk(mod.memTrack(tdr));
    expect(fmt(mod.memPageDemote(tdr, gpa2m, 0, table))).toBe('TDX_OPERAND_INVALID|RCX');
    expectOk(mod.memPageDemote(tdr, gpa2m, 1, table));
    expect(mod.septEntry(tdr, gpa2m, 1)?.state).toBe('NL_MAPPED');
    const child = mod.septEntry(tdr, gpa2m + 0x5000);
    expect(child).toMatchObject({ state: 'PENDING', level: 0, pfn: base / 4096 + 5 });
    expect(mod.pamt.pt(base / 4096 + 5, 0)).toBe(3);
    // Accept one 4K page: children are no longer uniform.
    const v = f.vcpus[0] as number;
    expectOk(mod.enterGuest(v));
    const acc = mod.tdgMemPageAccept(v, gpa2m + 0x5000, 0);
    expect(acc).toEqual({ kind: 'status', status: { hi: 0, lo: 0 } });
    mod.exitGuest(v);
    expectOk(mod.memRangeBlock(tdr, gpa2m, 1));
    expectOk(mod.memTrack(tdr));
    expect(mod.memPagePromote(tdr, gpa2m, 1)).toEqual({ hi: 0xc0000b09, lo: 0 });
    expectOk(mod.memRangeUnblock(tdr, gpa2m, 1));
    // Accept the remaining 511 pages, then the table promotes to a 2M MAPPED leaf.
    expectOk(mod.enterGuest(v));
    for (let i = 0; i < 512; i++) {
      if (i === 5) continue;
      const r = mod.tdgMemPageAccept(v, gpa2m + i * 4096, 0);
      if (r.kind !== 'status' || r.status.hi !== 0) throw new Error(`accept ${i}`);
    }
    mod.exitGuest(v);
    expectOk(mod.memRangeBlock(tdr, gpa2m, 1));
    expectOk(mod.memTrack(tdr));
    expectOk(mod.memPagePromote(tdr, gpa2m, 1));
    expect(mod.out.get(1)).toBe(table);
    expect(mod.septEntry(tdr, gpa2m, 1)).toMatchObject({
      state: 'MAPPED',
      level: 1,
      pfn: base / 4096,
    });
    expect(mod.pamt.pt(base / 4096, 1)).toBe(3);
    expect(mod.pamt.pt(table / 4096, 0)).toBe(0);
  });
});

describe('TDG.MEM.PAGE.ACCEPT', () => {
  it('accepts 4K and 2M, reports ALREADY_ACCEPTED, SIZE_MISMATCH, and exits when the host must AUG', () => {
    const f = runnable();
    const { mod, tdr, pool } = f;
    const v = f.vcpus[0] as number;
    mapTables(f, GPA);
    const pg = f.page();
    pool.fill(pg / 4096, 0, 4096, 0xee);
    expectOk(mod.memPageAug(tdr, GPA, 0, pg));
    expectOk(mod.enterGuest(v));
    // 1G and shared GPAs are refused.
    expect(mod.tdgMemPageAccept(v, 0, 2)).toEqual({
      kind: 'status',
      status: { hi: 0xc0000100, lo: 1 },
    });
    expect(mod.tdgMemPageAccept(v, GPA + SHARED, 0)).toEqual({
      kind: 'status',
      status: { hi: 0xc0000100, lo: 1 },
    });
    // 2M accept over a 4K table: size mismatch (level 1).
    expect(mod.tdgMemPageAccept(v, GPA, 1)).toEqual({
      kind: 'status',
      status: { hi: 0xc0000b0b, lo: 1 },
    });
    expect(mod.tdgMemPageAccept(v, GPA, 0)).toEqual({ kind: 'status', status: { hi: 0, lo: 0 } });
    expect(pool.isZero(pg / 4096)).toBe(true);
    expect(mod.tdgMemPageAccept(v, GPA, 0)).toEqual({
      kind: 'status',
      status: { hi: 0x00000b0a, lo: 0 },
    });
    // FREE entry: the TD exits (EPT violation, type ACCEPT) and the vCPU leaves the TD.
    const out = mod.tdgMemPageAccept(v, GPA + 0x1000, 0);
    expect(out.kind).toBe('exit');
    expect(mod.vcpu(v)?.inGuest).toBe(false);
    const res = mod.enterResult(v);
    expect(res?.status).toEqual({ hi: 0, lo: 48 });
    expect(res?.regs.get(8)).toBe(GPA + 0x1000);
    // 2M page: accepted whole; a 4K accept inside it then reports ALREADY_ACCEPTED at level 1.
    const gpa2m = GPA + 0x200000;
    const base = pool.allocContiguous(512, FrameOwner.GUEST_MEMFD, 512) * 4096;
    expectOk(mod.memPageAug(tdr, gpa2m, 1, base));
    expectOk(mod.enterGuest(v));
    expect(mod.tdgMemPageAccept(v, gpa2m + 0x3000, 0).kind).toBe('exit'); // PENDING 2M leaf above
    expectOk(mod.enterGuest(v));
    expect(mod.tdgMemPageAccept(v, gpa2m, 1)).toEqual({ kind: 'status', status: { hi: 0, lo: 0 } });
    expect(mod.tdgMemPageAccept(v, gpa2m + 0x3000, 0)).toEqual({
      kind: 'status',
      status: { hi: 0x00000b0a, lo: 1 },
    });
    expect(mod.guestAccess(v, gpa2m + 0x3008, false)).toEqual({ kind: 'ok', pfn: base / 4096 + 3 });
  });

  it('a PENDING page raises #VE, or exits as PENDING_EPT_VIOLATION with SEPT_VE_DISABLE', () => {
    for (const septVeDisable of [false, true]) {
      const f = runnable({ params: { attributes: septVeDisable ? 1 << 28 : 0 } });
      const v = f.vcpus[0] as number;
      mapTables(f, GPA);
      expectOk(f.mod.memPageAug(f.tdr, GPA, 0, f.page()));
      expectOk(f.mod.enterGuest(v));
      const r = f.mod.guestAccess(v, GPA, true);
      if (septVeDisable) {
        expect(r.kind === 'exit' && r.exit.extExitQualification).toBe(6);
      } else {
        expect(r).toEqual({ kind: 've' });
      }
    }
  });

  it('raw TDCALL dispatch: ACCEPT by RCX, VMCALL by R11, unknown leaves refused', () => {
    const f = runnable();
    const v = f.vcpus[0] as number;
    mapTables(f, GPA);
    expectOk(f.mod.memPageAug(f.tdr, GPA, 0, f.page()));
    expectOk(f.mod.enterGuest(v));
    expect(f.mod.tdcall(v, 6, SeamRegs.of({ rcx: GPA + 8 }))).toEqual({
      kind: 'status',
      status: { hi: 0xc0000100, lo: 1 },
    });
    expect(f.mod.tdcall(v, 6, SeamRegs.of({ rcx: GPA }))).toEqual({
      kind: 'status',
      status: { hi: 0, lo: 0 },
    });
    expect(f.mod.tdcall(v, 99, new SeamRegs())).toEqual({
      kind: 'status',
      status: { hi: 0xc0000100, lo: 0 },
    });
    expect(f.mod.tdcall(v, 0, SeamRegs.of({ r10: 1 }))).toEqual({
      kind: 'status',
      status: { hi: 0xc0000100, lo: 10 },
    });
    const out = f.mod.tdcall(v, 0, SeamRegs.of({ r11: 0x10003, r12: 7 })); // ReportFatalError
    expect(out.kind === 'exit' && out.exit.vmcall).toEqual({
      r10: 0,
      r11: 0x10003,
      r12: 7,
      r13: 0,
    });
    expect(f.mod.vcpu(v)?.inGuest).toBe(false);
  });

  it('MapGPA hands the conversion request to the VMM and carries its answer back', () => {
    const f = runnable();
    const v = f.vcpus[0] as number;
    expectOk(f.mod.enterGuest(v));
    const req = f.mod.tdgVpVmcallMapGpa(v, GPA + SHARED, 0x200000);
    expect(req).toMatchObject({ gpa: GPA + SHARED, size: 0x200000, toShared: true });
    const res = f.mod.enterResult(v);
    expect(res?.status).toEqual({ hi: 0, lo: 77 });
    expect(res?.regs.get(11)).toBe(0x10001);
    expect(res?.regs.get(12)).toBe(GPA + SHARED);
    const regs = SeamRegs.of({ r10: 1n, r11: GPA + SHARED + 0x100000 });
    expectOk(f.mod.enterGuest(v, regs));
    expect(f.mod.vmcallReturn(v)).toEqual({ r10: { hi: 0, lo: 1 }, r11: GPA + SHARED + 0x100000 });
  });
});
