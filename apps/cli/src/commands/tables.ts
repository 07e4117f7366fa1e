// The page tables a run touched, drawn as trees at the end of `kvmx run` / `kvmx demo`: the
// direct root and, for a TD, the mirror root as KVM's TDP MMU holds them, and the TD's
// Secure-EPT as the TDX module holds it, each leaf with its S-EPT state.

import { hex, levelName, type PgLevel, word64FromBigInt } from '@kvmx/address';
import { type Kvm, type ShadowPage, spteHex } from '@kvmx/kvm-x86';
import { type TableView, treeToData } from '@kvmx/paging';
import type { TraceStyle } from '@kvmx/scenario';
import { SEPT_STATE_NAMES, septStateOf } from '@kvmx/tdx-module';

/** Table names by the level of their entries (SDM vol. 3, 29.3.2). */
const TABLE: Readonly<Record<number, string>> = {
  5: 'PML5',
  4: 'PML4',
  3: 'PDPT',
  2: 'PD',
  1: 'PT',
};

/** At most this many entries are drawn per table. */
const MAX_ENTRIES = 16;

/** Bits 51:12 of an EPT entry: the physical address of the child table or the page. */
function entryPfn(spte: string): number {
  return Number((BigInt(spte) >> 12n) & ((1n << 40n) - 1n));
}

/** One TDP root of KVM's MMU. */
function tdpRoot(kvm: Kvm, root: ShadowPage, style: TraceStyle): string[] {
  const mmu = kvm.mmu;
  const out: string[] = [];
  const table = (sp: ShadowPage, prefix: string) => {
    const rows: { text: string; child?: ShadowPage }[] = [];
    let more = 0;
    for (let i = 0; i < 512; i++) {
      const spte = spteHex(mmu.lo(sp, i), mmu.hi(sp, i));
      const gfn = mmu.entryGfn(sp, i);
      const child = sp.level > 1 ? mmu.sps.get(entryPfn(spte)) : undefined;
      let text: string | undefined;
      if (child !== undefined && child !== sp && child.level === sp.level - 1) {
        text = `${TABLE[sp.level]}[${i}] gfn ${hex(gfn)} -> ${TABLE[child.level]} at pfn ${hex(child.spt)}`;
      } else {
        const leaf = mmu.lookup(root, gfn);
        if (leaf !== null && leaf.level === sp.level && entryPfn(spte) === leaf.pfn) {
          text = `${TABLE[sp.level]}[${i}] gfn ${hex(gfn)} ${levelName(sp.level as PgLevel)} -> pfn ${style.bold(hex(leaf.pfn))}  ${style.dim(`spte ${spte}`)}`;
        }
      }
      if (text === undefined) continue;
      if (rows.length >= MAX_ENTRIES) {
        more++;
        continue;
      }
      rows.push({ text, ...(child !== undefined ? { child } : {}) });
    }
    rows.forEach((r, n) => {
      const last = n === rows.length - 1 && more === 0;
      out.push(`${prefix}${last ? '└─ ' : '├─ '}${r.text}`);
      if (r.child !== undefined) table(r.child, `${prefix}${last ? '   ' : '│  '}`);
    });
    if (more > 0) out.push(`${prefix}└─ ${style.dim(`… ${more} more entries`)}`);
  };
  table(root, '  ');
  return out;
}

/** The TD's Secure-EPT, from the module's own paging tree, with entry states. */
function septTree(kvm: Kvm, style: TraceStyle): string[] {
  const tdx = kvm.tdx;
  if (tdx === null || tdx.tdr < 0) return [];
  const sept = tdx.module.td(tdx.tdr)?.sept;
  if (sept === null || sept === undefined) return [];
  const view = treeToData(sept, { maxEntries: MAX_ENTRIES });
  const out: string[] = [];
  const state = (value: string) => {
    const w = word64FromBigInt(BigInt(value));
    return SEPT_STATE_NAMES[septStateOf(w.lo | 0, w.hi | 0)] ?? 'INVALID';
  };
  const walk = (t: TableView, prefix: string) => {
    const rows = t.entries.length + (t.omitted > 0 ? 1 : 0);
    t.entries.forEach((e, n) => {
      const last = n === rows - 1;
      const st = state(e.value);
      const colour =
        st === 'MAPPED' ? style.green : st.includes('PENDING') ? style.yellow : style.red;
      const what =
        e.kind === 'table'
          ? `-> ${TABLE[e.level - 1] ?? 'table'} at pfn ${e.pfn} ${style.dim(st)}`
          : `${levelName(e.level as PgLevel)} -> pfn ${style.bold(e.pfn)} ${colour(st)}`;
      out.push(
        `${prefix}${last ? '└─ ' : '├─ '}${TABLE[e.level]}[${e.index}] gfn ${e.gfn} ${what}`,
      );
      if (e.child !== undefined) walk(e.child, `${prefix}${last ? '   ' : '│  '}`);
    });
    if (t.omitted > 0) out.push(`${prefix}└─ ${style.dim(`… ${t.omitted} more entries`)}`);
  };
  walk(view.root, '  ');
  if (out.length === 0) return [];
  return [
    `${style.cyan('S-EPT (TDX module)')}: ${view.rootLevel}-level, root at pfn ${view.root.pfn}`,
    ...out,
  ];
}

/** Text lines drawing the VM's roots; empty when nothing was ever mapped. */
export function renderTables(kvm: Kvm, style: TraceStyle): string[] {
  const mmu = kvm.mmu;
  const lines: string[] = [];
  const roots: [string, ShadowPage | null][] = [
    ['direct root', mmu.directRoot],
    ['mirror root', mmu.mirrorRoot],
  ];
  for (const [name, root] of roots) {
    if (root === null) continue;
    const body = tdpRoot(kvm, root, style);
    if (body.length === 0) continue;
    lines.push(
      `${style.cyan(name)}: ${mmu.rootLevel}-level, ${TABLE[root.level]} at pfn ${hex(root.spt)}`,
    );
    lines.push(...body);
  }
  lines.push(...septTree(kvm, style));
  return lines;
}
