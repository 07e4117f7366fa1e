// A paging tree as plain data (for the docs to draw) and as text (for the terminal).
// Only entries that differ from the tree's empty value are listed.

import { levelName, type PgLevel, pagesPerHpage, word64Hex } from '@kvmx/address';
import type { PagingTree } from './paging-tree.js';
import { spteToPfn } from './spte.js';

export type EntryKind = 'table' | 'leaf' | 'frozen' | 'other';

export interface TableView {
  /** PFN of the table frame, `0x…`. */
  readonly pfn: string;
  /** Level of this table's entries (4 = PML4, 1 = PT). */
  readonly level: number;
  /** First GFN the table maps (as indexed: includes a direct root's gfnBits). */
  readonly gfn: string;
  readonly entries: readonly EntryView[];
  /** Entries left out because of `maxEntries`. */
  readonly omitted: number;
}

export interface EntryView {
  readonly index: number;
  /** First GFN the entry maps, alias-free. */
  readonly gfn: string;
  readonly level: number;
  readonly kind: EntryKind;
  /** The 64-bit entry, `0x…`. */
  readonly value: string;
  /** The address field as a PFN, `0x…` (child table or mapped page). */
  readonly pfn: string;
  readonly child?: TableView;
}

export interface TreeView {
  readonly name: string;
  readonly rootLevel: number;
  readonly gfnBits: string;
  readonly root: TableView;
}

export interface TreeViewOptions {
  /** At most this many listed entries per table (default 16). */
  readonly maxEntries?: number;
  /** Do not descend below this level (default 1). */
  readonly minLevel?: number;
}

const TABLE_NAMES: Readonly<Record<number, string>> = {
  5: 'PML5',
  4: 'PML4',
  3: 'PDPT',
  2: 'PD',
  1: 'PT',
};

const hex = (n: number) => `0x${n.toString(16)}`;

/** The tree as nested plain objects (JSON-ready). */
export function treeToData(tree: PagingTree, options: TreeViewOptions = {}): TreeView {
  const maxEntries = options.maxEntries ?? 16;
  const minLevel = options.minLevel ?? 1;
  const bits = tree.gfnBits;
  const strip = (g: number) => (bits !== 0 && Math.floor(g / bits) % 2 === 1 ? g - bits : g);
  const table = (pfn: number, level: number, gfn: number): TableView => {
    const entries: EntryView[] = [];
    let omitted = 0;
    const step = pagesPerHpage(level as PgLevel);
    for (let i = 0; i < 512; i++) {
      const lo = tree.readLo(pfn, i);
      const hi = tree.readHi(pfn, i);
      if (lo === tree.emptyLo && hi === tree.emptyHi) continue;
      if (entries.length >= maxEntries) {
        omitted++;
        continue;
      }
      const egfn = gfn + i * step;
      const kind = entryKind(tree, lo, hi, level);
      const childPfn = spteToPfn(lo, hi);
      const child =
        kind === 'table' && level - 1 >= minLevel && tree.tableBase(childPfn) !== 0
          ? table(childPfn, level - 1, egfn)
          : undefined;
      entries.push({
        index: i,
        gfn: hex(strip(egfn)),
        level,
        kind,
        value: word64Hex({ lo: lo >>> 0, hi: hi >>> 0 }),
        pfn: hex(childPfn),
        ...(child !== undefined ? { child } : {}),
      });
    }
    return { pfn: hex(pfn), level, gfn: hex(gfn), entries, omitted };
  };
  return {
    name: tree.name,
    rootLevel: tree.rootLevel,
    gfnBits: hex(bits),
    root: table(tree.root, tree.rootLevel, 0),
  };
}

function entryKind(tree: PagingTree, lo: number, hi: number, level: number): EntryKind {
  if (level > 1 && tree.isTableEntry(lo, hi, level)) return 'table';
  if (tree.isLeafEntry(lo, hi, level)) return 'leaf';
  if (lo === 0x5a0 && hi === (0x80000000 | 0)) return 'frozen';
  return 'other';
}

/** The tree drawn as text lines (box-drawing characters), root first. */
export function printTree(tree: PagingTree, options: TreeViewOptions = {}): string[] {
  const view = treeToData(tree, options);
  const lines: string[] = [];
  const s = tree.stats();
  lines.push(
    `${view.name}: ${view.rootLevel}-level root ${view.root.pfn}` +
      (tree.gfnBits !== 0 ? `, gfn_bits ${view.gfnBits}` : '') +
      `, ${s.tableCount} tables, ${s.mappedPages} pages mapped`,
  );
  const walk = (t: TableView, prefix: string) => {
    const rows = t.entries.length + (t.omitted > 0 ? 1 : 0);
    t.entries.forEach((e, n) => {
      const last = n === rows - 1;
      const branch = last ? '└─ ' : '├─ ';
      const what =
        e.kind === 'table'
          ? `→ ${TABLE_NAMES[e.level - 1] ?? 'table'} ${e.pfn}`
          : e.kind === 'leaf'
            ? `${levelName(e.level as PgLevel)} leaf pfn ${e.pfn}`
            : e.kind;
      lines.push(`${prefix}${branch}[${e.index}] gfn ${e.gfn} ${e.value} ${what}`);
      if (e.child !== undefined) walk(e.child, prefix + (last ? '   ' : '│  '));
    });
    if (t.omitted > 0) lines.push(`${prefix}└─ … ${t.omitted} more`);
  };
  walk(view.root, '');
  return lines;
}
