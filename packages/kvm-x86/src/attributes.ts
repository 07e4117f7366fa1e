// Per-VM memory attributes: kvm->mem_attr_array, an xarray indexed by GFN whose absent
// entries mean 0 (shared). Modelled as sorted, disjoint, non-empty intervals with a non-zero
// value, never as one entry per page: converting 1 GiB is one interval, not 262144 entries.
// Source: virt/kvm/kvm_main.c (kvm_get_memory_attributes, kvm_range_has_memory_attributes,
// kvm_vm_set_mem_attributes); kvm-mmu.md §2.5.

export interface AttributeInterval {
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
  readonly attrs: number;
}

export class MemoryAttributes {
  // Parallel arrays sorted by start; intervals are disjoint and adjacent equal values merged.
  private starts: number[] = [];
  private ends: number[] = [];
  private values: number[] = [];

  /** Number of stored intervals. */
  get intervalCount(): number {
    return this.starts.length;
  }

  /** kvm_get_memory_attributes(kvm, gfn). */
  get(gfn: number): number {
    const i = this.find(gfn);
    return i >= 0 ? (this.values[i] as number) : 0;
  }

  /**
   * kvm_range_has_memory_attributes(kvm, start, end, mask, attrs): every GFN in [start, end)
   * has `attrs` under `mask`.
   */
  rangeHas(start: number, end: number, attrs: number, mask = ~0): boolean {
    let gfn = start;
    while (gfn < end) {
      const i = this.find(gfn);
      if (i < 0) {
        if ((attrs & mask) !== 0) return false;
        const next = this.firstStartAfter(gfn);
        gfn = next;
      } else {
        if (((this.values[i] as number) & mask) !== (attrs & mask)) return false;
        gfn = this.ends[i] as number;
      }
    }
    return true;
  }

  /** Store `attrs` for [start, end) (0 erases), merging neighbours of equal value. */
  set(start: number, end: number, attrs: number): void {
    if (end <= start) return;
    const starts: number[] = [];
    const ends: number[] = [];
    const values: number[] = [];
    const push = (s: number, e: number, v: number) => {
      if (e <= s || v === 0) return;
      const last = values.length - 1;
      if (last >= 0 && ends[last] === s && values[last] === v) {
        ends[last] = e;
        return;
      }
      starts.push(s);
      ends.push(e);
      values.push(v);
    };
    let inserted = false;
    for (let i = 0; i < this.starts.length; i++) {
      const s = this.starts[i] as number;
      const e = this.ends[i] as number;
      const v = this.values[i] as number;
      if (e <= start) {
        push(s, e, v);
        continue;
      }
      if (s >= end) {
        if (!inserted) {
          push(start, end, attrs);
          inserted = true;
        }
        push(s, e, v);
        continue;
      }
      // overlaps [start, end): keep the parts outside it
      if (s < start) push(s, start, v);
      if (!inserted) {
        push(start, end, attrs);
        inserted = true;
      }
      if (e > end) push(end, e, v);
    }
    if (!inserted) push(start, end, attrs);
    this.starts = starts;
    this.ends = ends;
    this.values = values;
  }

  /** The stored intervals that intersect [start, end), clipped to it. */
  intervals(start = 0, end = Number.MAX_SAFE_INTEGER): AttributeInterval[] {
    const out: AttributeInterval[] = [];
    for (let i = 0; i < this.starts.length; i++) {
      const s = Math.max(start, this.starts[i] as number);
      const e = Math.min(end, this.ends[i] as number);
      if (s < e) out.push({ start: s, end: e, attrs: this.values[i] as number });
    }
    return out;
  }

  /** Index of the interval containing gfn, or -1 (binary search). */
  private find(gfn: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((this.starts[mid] as number) > gfn) hi = mid - 1;
      else if ((this.ends[mid] as number) <= gfn) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  /** Start of the first interval beginning after gfn, or +∞. */
  private firstStartAfter(gfn: number): number {
    for (let i = 0; i < this.starts.length; i++) {
      const s = this.starts[i] as number;
      if (s > gfn) return s;
    }
    return Number.POSITIVE_INFINITY;
  }
}
