// The page tables a run touched, drawn as trees at the end of `kvmx run` / `kvmx demo`: the
// direct root and, for a TD, the mirror root, each table with the entries in use (child
// tables and leaves), as `kvm_tdp_mmu` sees them.

import { hex, levelName, type PgLevel } from '@kvmx/address';
import { type Kvm, type ShadowPage, spteHex } from '@kvmx/kvm-x86';
import type { TraceStyle } from '@kvmx/scenario';

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

/** Text lines drawing the VM's roots; empty when nothing was ever mapped. */
export function renderTables(kvm: Kvm, style: TraceStyle): string[] {
  const mmu = kvm.mmu;
  const children = new Map<string, ShadowPage>();
  const key = (mirror: boolean, level: number, gfn: number) => `${mirror}:${level}:${gfn}`;
  for (const sp of mmu.sps.values()) {
    if (!sp.invalid) children.set(key(sp.isMirror, sp.level, sp.baseGfn), sp);
  }
  const lines: string[] = [];
  const roots: [string, ShadowPage | null][] = [
    ['direct root', mmu.directRoot],
    ['mirror root (the S-EPT’s shadow)', mmu.mirrorRoot],
  ];
  for (const [name, root] of roots) {
    if (root === null) continue;
    const body: string[] = [];
    const table = (sp: ShadowPage, prefix: string) => {
      const entries: { i: number; text: string; child?: ShadowPage }[] = [];
      let more = 0;
      for (let i = 0; i < 512; i++) {
        const gfn = mmu.entryGfn(sp, i);
        const child = sp.level > 1 ? children.get(key(sp.isMirror, sp.level - 1, gfn)) : undefined;
        const spte = spteHex(mmu.lo(sp, i), mmu.hi(sp, i));
        let text: string | undefined;
        if (child !== undefined && mmu.lookup(root, gfn)?.level !== sp.level) {
          text = `${TABLE[sp.level]}[${i}] gfn ${hex(gfn)} -> ${TABLE[child.level]} at pfn ${hex(child.spt)}`;
        } else {
          const leaf = mmu.lookup(root, gfn);
          if (leaf !== null && leaf.level === sp.level) {
            text = `${TABLE[sp.level]}[${i}] gfn ${hex(gfn)} ${levelName(sp.level as PgLevel)} -> pfn ${style.bold(hex(leaf.pfn))}  ${style.dim(`spte ${spte}`)}`;
          }
        }
        if (text === undefined) continue;
        if (entries.length >= MAX_ENTRIES) {
          more++;
          continue;
        }
        entries.push({ i, text, ...(child !== undefined ? { child } : {}) });
      }
      entries.forEach((e, n) => {
        const last = n === entries.length - 1 && more === 0;
        body.push(`${prefix}${last ? '└─ ' : '├─ '}${e.text}`);
        if (e.child !== undefined) table(e.child, `${prefix}${last ? '   ' : '│  '}`);
      });
      if (more > 0) body.push(`${prefix}└─ ${style.dim(`… ${more} more entries`)}`);
    };
    table(root, '  ');
    if (body.length === 0) continue;
    lines.push(
      `${style.cyan(name)}: ${mmu.rootLevel}-level, ${TABLE[root.level]} at pfn ${hex(root.spt)}`,
    );
    lines.push(...body);
  }
  return lines;
}
