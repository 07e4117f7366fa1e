// The page tables of a VM as plain data for the SVG pictures: KVM's direct and mirror roots
// (its TDP MMU's PagingTrees) and, for a TD, the TDX module's Secure-EPT, each entry with its
// S-EPT state where it has one. Built on treeToData() from @kvmx/paging, as `kvmx run` is.

import { word64FromBigInt } from '@kvmx/address';
import type { Kvm } from '@kvmx/kvm-x86';
import { type EntryView, type TableView, treeToData } from '@kvmx/paging';
import { SEPT_STATE_NAMES, septStateOf } from '@kvmx/tdx-module';

/** At most this many entries are drawn per table (the rest are counted). */
export const MAX_DRAWN_ENTRIES = 16;

export type RootId = 'direct' | 'mirror' | 'sept';

export interface DrawnEntry extends Omit<EntryView, 'child'> {
  /** The S-EPT state: of the entry itself (sept), or of the S-EPT leaf behind a mirror leaf. */
  readonly state?: string;
  readonly child?: DrawnTable;
}

export interface DrawnTable extends Omit<TableView, 'entries'> {
  readonly entries: readonly DrawnEntry[];
}

export interface DrawnTree {
  readonly id: RootId;
  readonly title: string;
  /** Who holds the tree, in one line. */
  readonly owner: string;
  readonly rootLevel: number;
  readonly root: DrawnTable;
  /** Leaves listed (within the drawn part). */
  readonly leaves: number;
}

export interface RunTables {
  readonly vmType: string;
  readonly trees: readonly DrawnTree[];
}

/** The S-EPT state name encoded in an entry (`0x…`), from the module's own encoding. */
export function septStateName(value: string): string {
  const w = word64FromBigInt(BigInt(value));
  return SEPT_STATE_NAMES[septStateOf(w.lo | 0, w.hi | 0)] ?? 'INVALID';
}

function decorate(t: TableView, state: (e: EntryView) => string | undefined): DrawnTable {
  return {
    ...t,
    entries: t.entries.map((e) => {
      const s = state(e);
      const child = e.child !== undefined ? decorate(e.child, state) : undefined;
      const { child: _drop, ...rest } = e;
      return { ...rest, ...(s !== undefined ? { state: s } : {}), ...(child ? { child } : {}) };
    }),
  };
}

function countLeaves(t: DrawnTable): number {
  let n = 0;
  for (const e of t.entries)
    n += e.child !== undefined ? countLeaves(e.child) : e.kind === 'table' ? 0 : 1;
  return n;
}

/** Every root the VM has, as drawable data; trees with no entry at all are left out. */
export function tablesOf(kvm: Kvm): RunTables {
  const trees: DrawnTree[] = [];
  const opts = { maxEntries: MAX_DRAWN_ENTRIES };

  // The module's S-EPT first: the mirror root's leaves show the state behind them.
  let sept: DrawnTree | undefined;
  const septState = new Map<string, string>();
  const tdx = kvm.tdx;
  const td = tdx !== null && tdx.tdr >= 0 ? tdx.module.td(tdx.tdr) : undefined;
  if (td?.sept) {
    const view = treeToData(td.sept, opts);
    const root = decorate(view.root, (e) => septStateName(e.value));
    const index = (t: DrawnTable) => {
      for (const e of t.entries) {
        if (e.kind !== 'table' && e.state !== undefined)
          septState.set(`${e.gfn}/${e.level}`, e.state);
        if (e.child !== undefined) index(e.child);
      }
    };
    index(root);
    sept = {
      id: 'sept',
      title: 'S-EPT (TDX module)',
      owner: 'the Secure-EPT the TDX module walks for private GPAs; KVM only asks for changes',
      rootLevel: view.rootLevel,
      root,
      leaves: countLeaves(root),
    };
  }

  const mmu = kvm.mmu;
  const kvmRoots: [RootId, string, string, typeof mmu.directTree, boolean][] = [
    [
      'direct',
      'direct root (KVM)',
      'shared GPAs of a TD, every GPA of other VMs; KVM writes the EPT itself',
      mmu.directRoot !== null ? mmu.directTree : null,
      false,
    ],
    [
      'mirror',
      'mirror root (KVM)',
      "KVM's copy of the private mappings; each change goes to the S-EPT by SEAMCALL",
      mmu.mirrorRoot !== null ? mmu.mirrorTree : null,
      true,
    ],
  ];
  for (const [id, title, owner, tree, mirror] of kvmRoots) {
    if (tree === null) continue;
    const view = treeToData(tree, opts);
    const root = decorate(view.root, (e) =>
      mirror && e.kind !== 'table' ? septState.get(`${e.gfn}/${e.level}`) : undefined,
    );
    if (root.entries.length === 0) continue;
    trees.push({ id, title, owner, rootLevel: view.rootLevel, root, leaves: countLeaves(root) });
  }
  if (sept !== undefined && sept.root.entries.length > 0) trees.push(sept);
  return { vmType: kvm.vmType, trees };
}
