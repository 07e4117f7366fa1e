// struct kvm_memory_slot and its x86 metadata (lpage_info). Source: include/linux/kvm_host.h,
// arch/x86/kvm/x86.c (kvm_alloc_memslot_metadata), arch/x86/kvm/mmu/mmu.c (lpage_info_slot,
// KVM_LPAGE_MIXED_FLAG); kvm-mmu.md §2.6, §2.8.

import { KVM_MAX_HUGEPAGE_LEVEL, PG_LEVEL_2M, type PgLevel, pagesPerHpage } from '@kvmx/address';
import type { GuestMemfd } from './gmem.js';
import { KVM_MEM_GUEST_MEMFD } from './uapi.js';

/** KVM_LPAGE_MIXED_FLAG: BIT(31) of disallow_lpage — the huge page has mixed attributes. */
export const KVM_LPAGE_MIXED_FLAG = 0x80000000 | 0;

export class Memslot {
  readonly id: number;
  baseGfn: number;
  readonly npages: number;
  flags: number;
  readonly userspaceAddr: number;
  /** slot->gmem: the bound guest_memfd and the page offset of base_gfn in it. */
  gmem: { file: GuestMemfd | null; pgoff: number } | null;
  /** lpage_info[level − 2].disallow_lpage per huge page, for 2M and 1G. */
  lpageInfo: Int32Array[];

  constructor(
    id: number,
    baseGfn: number,
    npages: number,
    flags: number,
    userspaceAddr: number,
    gmem: { file: GuestMemfd | null; pgoff: number } | null,
  ) {
    this.id = id;
    this.baseGfn = baseGfn;
    this.npages = npages;
    this.flags = flags;
    this.userspaceAddr = userspaceAddr;
    this.gmem = gmem;
    this.lpageInfo = allocLpageInfo(baseGfn, npages, userspaceAddr);
  }

  get endGfn(): number {
    return this.baseGfn + this.npages;
  }

  /** kvm_slot_has_gmem() / kvm_slot_can_be_private(): the slot was created with GUEST_MEMFD. */
  get canBePrivate(): boolean {
    return (this.flags & KVM_MEM_GUEST_MEMFD) !== 0;
  }

  containsGfn(gfn: number): boolean {
    return gfn >= this.baseGfn && gfn < this.baseGfn + this.npages;
  }

  /** __gfn_to_hva_memslot(): the VMM address of a GFN's shared page. */
  gfnToHvaPage(gfn: number): number {
    return Math.floor(this.userspaceAddr / 4096) + (gfn - this.baseGfn);
  }

  /** lpage_info_slot(gfn, slot, level): the disallow_lpage counter of the huge page. */
  lpageIndex(gfn: number, level: PgLevel): number {
    return gfnToIndex(gfn, this.baseGfn, level);
  }

  disallowLpage(gfn: number, level: PgLevel): number {
    return (this.lpageInfo[level - PG_LEVEL_2M] as Int32Array)[this.lpageIndex(gfn, level)] ?? 0;
  }

  /** Set or clear the MIXED flag of the huge page containing gfn (lpage_info mixed helpers). */
  setMixed(gfn: number, level: PgLevel, mixed: boolean): void {
    const info = this.lpageInfo[level - PG_LEVEL_2M] as Int32Array;
    const i = this.lpageIndex(gfn, level);
    const v = info[i] ?? 0;
    info[i] = mixed ? v | KVM_LPAGE_MIXED_FLAG : v & ~KVM_LPAGE_MIXED_FLAG;
  }

  isMixed(gfn: number, level: PgLevel): boolean {
    return (this.disallowLpage(gfn, level) & KVM_LPAGE_MIXED_FLAG) !== 0;
  }
}

/** gfn_to_index(): index of the huge page containing gfn, relative to the slot's first. */
export function gfnToIndex(gfn: number, baseGfn: number, level: PgLevel): number {
  const n = pagesPerHpage(level);
  return Math.floor(gfn / n) - Math.floor(baseGfn / n);
}

/**
 * models x86.c: kvm_alloc_memslot_metadata() — one counter per huge page the slot touches;
 * head and tail huge pages that stick out of the slot get disallow_lpage = 1, so a huge
 * mapping never covers GFNs outside it; a slot whose HVA is not congruent to its GPA modulo the
 * huge-page size gets none at that level.
 */
function allocLpageInfo(baseGfn: number, npages: number, userspaceAddr: number): Int32Array[] {
  const ugfn = Math.floor(userspaceAddr / 4096);
  const out: Int32Array[] = [];
  for (let level = PG_LEVEL_2M; level <= KVM_MAX_HUGEPAGE_LEVEL; level++) {
    const lvl = level as PgLevel;
    const n = pagesPerHpage(lvl);
    const count = gfnToIndex(baseGfn + npages - 1, baseGfn, lvl) + 1;
    const info = new Int32Array(count);
    if (baseGfn % n !== 0) info[0] = 1;
    if ((baseGfn + npages) % n !== 0) info[count - 1] = 1;
    // The GFN and the HVA disagree within a huge page: no huge mapping anywhere in the slot.
    if (baseGfn % n !== ugfn % n) info.fill(1);
    out.push(info);
  }
  return out;
}
