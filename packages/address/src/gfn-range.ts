// Half-open GFN ranges [start, end), the unit of KVM's gfn_range walks, zaps and attribute
// updates. Splitting at huge-page boundaries is what the fault path and the hugepage
// "mixed" tracking (kvm-mmu.md §2.6) do to a range.

import { type PgLevel, pagesPerHpage } from './levels.js';
import { PHYS_FRAME_LIMIT } from './phys.js';

export interface GfnRange {
  /** First GFN in the range. */
  readonly start: number;
  /** First GFN after the range. */
  readonly end: number;
}

/** Checked constructor: integers with 0 ≤ start ≤ end ≤ 2^40. */
export function gfnRange(start: number, end: number): GfnRange {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`bad GFN range [${start}, ${end})`);
  }
  if (end > PHYS_FRAME_LIMIT)
    throw new RangeError(`GFN range end 0x${end.toString(16)} beyond 2^40`);
  return { start, end };
}

export function rangeLength(r: GfnRange): number {
  return r.end - r.start;
}

export function rangeIsEmpty(r: GfnRange): boolean {
  return r.end <= r.start;
}

export function rangeContains(r: GfnRange, frame: number): boolean {
  return frame >= r.start && frame < r.end;
}

/** The overlap of two ranges, or undefined when they do not overlap. */
export function rangeIntersect(a: GfnRange, b: GfnRange): GfnRange | undefined {
  const start = Math.max(a.start, b.start);
  const end = Math.min(a.end, b.end);
  return start < end ? { start, end } : undefined;
}

/** Every GFN of the range, in order. */
export function* rangeGfns(r: GfnRange): IterableIterator<number> {
  for (let g = r.start; g < r.end; g++) yield g;
}

/**
 * Split the range at every boundary of a `level` huge page: each piece lies inside one
 * level-aligned block. The pieces are in order and cover the range exactly.
 */
export function splitAtHugeBoundaries(r: GfnRange, level: PgLevel): GfnRange[] {
  const span = pagesPerHpage(level);
  const out: GfnRange[] = [];
  let start = r.start;
  while (start < r.end) {
    const boundary = (Math.floor(start / span) + 1) * span;
    const end = Math.min(boundary, r.end);
    out.push({ start, end });
    start = end;
  }
  return out;
}

/** A naturally aligned block of `pagesPerHpage(level)` GFNs starting at `start`. */
export interface GfnBlock {
  readonly start: number;
  readonly level: PgLevel;
}

/**
 * Cover the range with the fewest naturally aligned blocks no larger than `maxLevel`
 * (largest first at each position), as a mapper installing huge leaves would.
 */
export function coverWithBlocks(r: GfnRange, maxLevel: PgLevel): GfnBlock[] {
  const out: GfnBlock[] = [];
  let g = r.start;
  while (g < r.end) {
    let level = maxLevel;
    while (level > 1) {
      const span = pagesPerHpage(level);
      if (Math.floor(g / span) * span === g && g + span <= r.end) break;
      level = (level - 1) as PgLevel;
    }
    out.push({ start: g, level });
    g += pagesPerHpage(level);
  }
  return out;
}
