// The Physical Address Metadata Table: page type, owner, size and BEPOCH for every host frame
// the module manages, at 4K, 2M and 1G granularity.
// Models intel/tdx-module src/common/memory_handlers/pamt_manager.{c,h} (pamt_walk,
// pamt_implicit_get_and_lock); tdx-module.md §4.1.
//
// Representation (performance.md B.4): typed arrays indexed by frame index (pfn - basePfn), one
// set per granularity; no object per entry. Arrays grow on demand as higher frames are used.
// Owner is kept as the owner TDR's PFN (the module stores PA >> 12), -1 for none.

import { PageType, PT_1GB, PT_2MB, PT_4KB } from './td-state.js';

const INITIAL = 4096;

export class Pamt {
  /** First PFN covered (frame index 0). */
  readonly basePfn: number;
  /** Number of frames covered (the TDMRs, as one range). */
  readonly frames: number;
  pt4k: Uint8Array;
  owner4k: Float64Array;
  bepoch4k: Float64Array;
  pt2m: Uint8Array;
  owner2m: Float64Array;
  bepoch2m: Float64Array;
  pt1g: Uint8Array;
  owner1g: Float64Array;
  bepoch1g: Float64Array;
  /** 2M / 1G index of frame index 0 (the TDMR need not be 1G aligned in the model). */
  private readonly base2m: number;
  private readonly base1g: number;

  constructor(basePfn: number, frames: number) {
    this.basePfn = basePfn;
    this.frames = frames;
    this.base2m = Math.floor(basePfn / 512);
    this.base1g = Math.floor(basePfn / 262144);
    const cap = Math.min(INITIAL, frames);
    this.pt4k = new Uint8Array(cap);
    this.owner4k = new Float64Array(cap).fill(-1);
    this.bepoch4k = new Float64Array(cap);
    const cap2m = Math.ceil(cap / 512) + 1;
    this.pt2m = new Uint8Array(cap2m);
    this.owner2m = new Float64Array(cap2m).fill(-1);
    this.bepoch2m = new Float64Array(cap2m);
    const cap1g = Math.ceil(frames / 262144) + 1;
    this.pt1g = new Uint8Array(cap1g);
    this.owner1g = new Float64Array(cap1g).fill(-1);
    this.bepoch1g = new Float64Array(cap1g);
  }

  /** True when `pfn` lies in the TDMRs. */
  covers(pfn: number): boolean {
    const i = pfn - this.basePfn;
    return i >= 0 && i < this.frames;
  }

  /** Index of the entry for `pfn` at `size` (grows the arrays when needed). */
  index(pfn: number, size: number): number {
    if (size === PT_4KB) {
      const i = pfn - this.basePfn;
      if (i >= this.pt4k.length) this.grow(i + 1);
      return i;
    }
    if (size === PT_2MB) {
      const i = Math.floor(pfn / 512) - this.base2m;
      if (i >= this.pt2m.length) this.grow((i + 1) * 512);
      return i;
    }
    return Math.floor(pfn / 262144) - this.base1g;
  }

  /**
   * The size at which the PAMT walk for `pfn` resolves when asked for `size` (pamt_walk): the 1G
   * entry is the leaf if it is PT_REG or 1G was asked for, else the 2M entry likewise, else 4K.
   */
  walkSize(pfn: number, size: number): number {
    if (size === PT_1GB || this.pt1g[this.index(pfn, PT_1GB)] === PageType.PT_REG) return PT_1GB;
    if (size === PT_2MB || this.pt2m[this.index(pfn, PT_2MB)] === PageType.PT_REG) return PT_2MB;
    return PT_4KB;
  }

  pt(pfn: number, size: number): number {
    const i = this.index(pfn, size);
    return (size === PT_4KB ? this.pt4k[i] : size === PT_2MB ? this.pt2m[i] : this.pt1g[i]) ?? 0;
  }
  owner(pfn: number, size: number): number {
    const i = this.index(pfn, size);
    return (
      (size === PT_4KB ? this.owner4k[i] : size === PT_2MB ? this.owner2m[i] : this.owner1g[i]) ??
      -1
    );
  }
  bepoch(pfn: number, size: number): number {
    const i = this.index(pfn, size);
    return (
      (size === PT_4KB
        ? this.bepoch4k[i]
        : size === PT_2MB
          ? this.bepoch2m[i]
          : this.bepoch1g[i]) ?? 0
    );
  }
  setBepoch(pfn: number, size: number, epoch: number): void {
    const i = this.index(pfn, size);
    if (size === PT_4KB) this.bepoch4k[i] = epoch;
    else if (size === PT_2MB) this.bepoch2m[i] = epoch;
    else this.bepoch1g[i] = epoch;
  }

  /** Assign a page: type, owner TDR PFN (-1 for none), BEPOCH 0. */
  set(pfn: number, size: number, pt: number, ownerPfn: number): void {
    const i = this.index(pfn, size);
    if (size === PT_4KB) {
      this.pt4k[i] = pt;
      this.owner4k[i] = ownerPfn;
      this.bepoch4k[i] = 0;
    } else if (size === PT_2MB) {
      this.pt2m[i] = pt;
      this.owner2m[i] = ownerPfn;
      this.bepoch2m[i] = 0;
    } else {
      this.pt1g[i] = pt;
      this.owner1g[i] = ownerPfn;
      this.bepoch1g[i] = 0;
    }
  }

  /** Free a page back to PT_NDA. */
  clear(pfn: number, size: number): void {
    this.set(pfn, size, PageType.PT_NDA, -1);
  }

  /** True when all 512 4K entries under the 2M page at `pfn` are PT_NDA. */
  all4kFree(pfn2m: number): boolean {
    this.index(pfn2m + 511, PT_4KB);
    const start = this.index(pfn2m, PT_4KB);
    const pt = this.pt4k;
    for (let i = start; i < start + 512; i++) if (pt[i] !== PageType.PT_NDA) return false;
    return true;
  }

  /** True when all 512 2M entries under the 1G page at `pfn` and their 4K entries are free. */
  all2mFree(pfn1g: number): boolean {
    for (let j = 0; j < 512; j++) {
      const p = pfn1g + j * 512;
      if (this.pt(p, PT_2MB) !== PageType.PT_NDA || !this.all4kFree(p)) return false;
    }
    return true;
  }

  /**
   * Make the 4K and 2M entries of frame indexes [0, frames) exist now and touch their memory,
   * so a run that uses them does not pay the growth copies and first-touch page faults while
   * it is measured (performance.md B.2, warm runs). Entries stay PT_NDA with no owner.
   */
  reserve(frames: number): void {
    const want = Math.min(Math.max(0, Math.floor(frames)), this.frames);
    if (want > this.pt4k.length) this.grow(want);
    for (const a of [this.pt4k, this.pt2m]) {
      for (let i = 0; i < a.length; i += 4096) a[i] = a[i] as number;
    }
    for (const a of [this.bepoch4k, this.bepoch2m]) {
      for (let i = 0; i < a.length; i += 512) a[i] = a[i] as number;
    }
  }

  private grow(frames: number): void {
    let cap = this.pt4k.length;
    while (cap < frames) cap *= 2;
    cap = Math.min(Math.max(cap, frames), this.frames + 512);
    this.pt4k = growU8(this.pt4k, cap);
    this.owner4k = growF64(this.owner4k, cap, -1);
    this.bepoch4k = growF64(this.bepoch4k, cap, 0);
    const cap2m = Math.ceil(cap / 512) + 1;
    this.pt2m = growU8(this.pt2m, cap2m);
    this.owner2m = growF64(this.owner2m, cap2m, -1);
    this.bepoch2m = growF64(this.bepoch2m, cap2m, 0);
  }
}

function growU8(a: Uint8Array, n: number): Uint8Array {
  if (n <= a.length) return a;
  const b = new Uint8Array(n);
  b.set(a);
  return b;
}
function growF64(a: Float64Array, n: number, fill: number): Float64Array {
  if (n <= a.length) return a;
  const b = new Float64Array(n);
  b.set(a);
  if (fill !== 0) b.fill(fill, a.length);
  return b;
}
