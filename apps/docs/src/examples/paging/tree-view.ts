// A paging tree as plain data (what the docs' SVG pictures are drawn from) and as text for the
// terminal. Only entries that differ from the tree's empty value are listed; a table lists at
// most `maxEntries` and counts the rest. GFNs are shown alias-free; the direct root's table
// GFNs include its gfn_bits, as the hardware indexes them.
import assert from 'node:assert/strict';
import { gfnRootBits, PG_LEVEL_2M, PG_LEVEL_4K } from '@kvmx/address';
import {
  type EntryKind,
  type EntryView,
  FramePool,
  makeSpte,
  PagingTree,
  printTree,
  type TableView,
  type TreeView,
  type TreeViewOptions,
  treeToData,
} from '@kvmx/paging';

const pool = new FramePool();
const direct = new PagingTree(pool, {
  name: 'direct',
  gfnBits: gfnRootBits({ vmType: 'tdx', gpaw: 48 }, false),
});
const s = makeSpte(0x1234);
direct.map(0x1, PG_LEVEL_4K, s.lo, s.hi);
const h = makeSpte(0x20_0000, { level: PG_LEVEL_2M });
direct.map(0x200, PG_LEVEL_2M, h.lo, h.hi);

const view: TreeView = treeToData(direct);
assert.equal(view.name, 'direct');
assert.equal(view.rootLevel, 4);
assert.equal(view.gfnBits, '0x800000000');
const root: TableView = view.root;
const pml4e = root.entries[0] as EntryView;
assert.equal(pml4e.index, 256); // the shared bit picks PML4 slot 256
assert.equal(pml4e.kind, 'table');
assert.equal(pml4e.gfn, '0x0'); // alias-free
// Down to the PD: one entry per PT link or 2M leaf.
const pd = pml4e.child?.entries[0]?.child as TableView;
const kinds: EntryKind[] = pd.entries.map((e) => e.kind);
assert.deepEqual(kinds, ['table', 'leaf']);
assert.equal(pd.entries[1]?.gfn, '0x200');
assert.equal(pd.entries[1]?.value, '0x8600000200000bb7');
assert.equal(pd.entries[0]?.child?.entries[0]?.pfn, '0x1234');

// Depth and width limits.
const shallow: TreeViewOptions = { minLevel: 3, maxEntries: 1 };
const top = treeToData(direct, shallow);
assert.equal(top.root.entries[0]?.child?.entries[0]?.child, undefined); // no PD below level 3

const lines = printTree(direct);
assert.equal(
  lines[0],
  'direct: 4-level root 0x100000, gfn_bits 0x800000000, 4 tables, 513 pages mapped',
);
assert.ok(lines.some((l) => l.includes('[256] gfn 0x0') && l.includes('→ PDPT')));
assert.ok(lines.some((l) => l.includes('2M leaf pfn 0x200000')));
assert.ok(lines.some((l) => l.includes('[1] gfn 0x1') && l.includes('4K leaf pfn 0x1234')));
