// guest_memfd's page cache, the folio of each file page offset (the file's i_mapping xarray in
// guest_memfd.c: filemap_grab_folio() / filemap_get_folio(); truncate_inode_pages_range()).
// A 64 GiB file has 2^24 offsets and a whole-guest fault-in fills all of them, so the index is
// typed arrays in chunks allocated on first use (performance.md B.6: no Map entry or object
// per page). Iteration keeps the order a Map<index, pfn> would have — the order offsets were
// first filled in, a refilled offset moving to the end — because the order pages are freed in
// decides which frames the pool hands out next: an append-only log of offsets, with stale
// log slots skipped and compacted away.

/** Offsets per chunk (2^14 entries of 8 bytes: 128 KiB). */
const CHUNK_SHIFT = 14;
const CHUNK = 1 << CHUNK_SHIFT;
const CHUNK_MASK = CHUNK - 1;
/** Chunks kept in the array directory (2^28 offsets: a 1 TiB file); beyond, a Map. */
const DENSE_CHUNKS = 2 ** 14;
/** Offsets must stay below this (a 2^52-byte file has 2^40 pages: far beyond any file). */
const MAX_INDEX = 2 ** 40;
/**
 * Two words per offset: the PFN's low 32 bits, then the meta word — 1 + the offset's slot in
 * the insertion log (0: no page; the log is compacted to at most 2 × live + 1024 slots, far
 * below 2^29), the prepared flag, and a flag saying the PFN has bits above 31 (kept aside).
 */
const POS_MASK = 0x1fffffff;
const M_PREPARED = 0x20000000;
const M_PFN_HIGH = 0x40000000;

/**
 * chunkOf()'s second result: the word offset of the entry in the chunk it returned. Scratch,
 * not state (set by every chunkOf() before it is read), so it lives outside the objects: a
 * snapshot of the VM neither saves nor compares it.
 */
let chunkAt = 0;

function checkOffset(index: number): void {
  if (!(index >= 0 && index < MAX_INDEX && Number.isInteger(index))) {
    throw new RangeError(`guest_memfd page offset out of range: ${index}`);
  }
}

/**
 * Page offset → host PFN, with Map's get/set/has/delete/size and insertion-ordered iteration,
 * plus the per-page "prepared" flag (`prepared`). An offset's words share a cache line, so a
 * fault touches one line of the index (on this nested VM every random line costs a TLB miss).
 */
export class GmemPages {
  private chunks: Array<Int32Array | undefined> = [];
  /** Chunks past DENSE_CHUNKS (offsets of files larger than 1 TiB). */
  private readonly farChunks = new Map<number, Int32Array>();
  /** PFN bits 63:32 of the offsets flagged M_PFN_HIGH (pools above 16 TiB only). */
  private readonly pfnHigh = new Map<number, number>();
  /** Offsets in the order they were filled; a slot whose offset's position points elsewhere is stale. */
  private log: Int32Array | Float64Array = new Int32Array(64);
  private logLen = 0;
  private count = 0;
  /** Offsets with the prepared flag. */
  preparedCount = 0;
  /** The prepared flags as a set of offsets. */
  readonly prepared: GmemPreparedSet = new GmemPreparedSet(this);

  get size(): number {
    return this.count;
  }

  /** The chunk holding `index` (the word offset of its entry there in `chunkAt`), or undefined. */
  private chunkOf(index: number): Int32Array | undefined {
    let c: number;
    if (index >= 0 && index <= 0x7fffffff) {
      c = index >> CHUNK_SHIFT;
      chunkAt = (index & CHUNK_MASK) * 2;
    } else {
      if (!(index >= 0 && index < MAX_INDEX)) return undefined;
      c = Math.floor(index / CHUNK);
      chunkAt = (index - c * CHUNK) * 2;
    }
    if (c < this.chunks.length) return this.chunks[c];
    return c >= DENSE_CHUNKS ? this.farChunks.get(c) : undefined;
  }

  private chunkFor(index: number): Int32Array {
    checkOffset(index);
    const chunk = this.chunkOf(index);
    if (chunk !== undefined) return chunk;
    const c = Math.floor(index / CHUNK);
    const fresh = new Int32Array(CHUNK * 2);
    if (c >= DENSE_CHUNKS) {
      this.farChunks.set(c, fresh);
      return fresh;
    }
    while (this.chunks.length <= c) this.chunks.push(undefined);
    this.chunks[c] = fresh;
    return fresh;
  }

  /**
   * Make the index room for offsets [0, pages) now and touch it, so the first faults do not
   * pay the host's first-touch page faults (a warm run, performance.md B.2).
   */
  reserve(pages: number): void {
    for (let i = 0; i < pages; i += CHUNK) {
      const chunk = this.chunkFor(i);
      for (let w = 0; w < chunk.length; w += 1024) chunk[w] = chunk[w] as number;
    }
    // The insertion log too: room for `pages` more offsets, touched.
    if (this.log.length < this.logLen + pages) this.growLog(false, this.logLen + pages);
    for (let i = this.logLen; i < this.log.length; i += 1024) this.log[i] = this.log[i] as number;
  }

  private pfnOf(chunk: Int32Array, at: number, index: number): number {
    const lo = (chunk[at] as number) >>> 0;
    if (((chunk[at + 1] as number) & M_PFN_HIGH) === 0) return lo;
    return (this.pfnHigh.get(index) as number) * 2 ** 32 + lo;
  }

  /** The PFN at `index`, or -1 when there is none (the hot path: no undefined, no object). */
  pfnAt(index: number): number {
    const chunk = this.chunkOf(index);
    if (chunk === undefined) return -1;
    const at = chunkAt;
    if (((chunk[at + 1] as number) & POS_MASK) === 0) return -1;
    return this.pfnOf(chunk, at, index);
  }

  get(index: number): number | undefined {
    const pfn = this.pfnAt(index);
    return pfn === -1 ? undefined : pfn;
  }

  has(index: number): boolean {
    return this.pfnAt(index) !== -1;
  }

  set(index: number, pfn: number): this {
    const chunk = this.chunkFor(index);
    const at = chunkAt;
    let meta = chunk[at + 1] as number;
    chunk[at] = (pfn - Math.floor(pfn / 2 ** 32) * 2 ** 32) | 0; // not `%`: fprem on doubles
    if (pfn >= 2 ** 32) {
      this.pfnHigh.set(index, Math.floor(pfn / 2 ** 32));
      meta |= M_PFN_HIGH;
    } else if ((meta & M_PFN_HIGH) !== 0) {
      this.pfnHigh.delete(index);
      meta &= ~M_PFN_HIGH;
    }
    if ((meta & POS_MASK) === 0) {
      // A new key goes to the end of the order; an existing one keeps its place.
      if (
        this.logLen === this.log.length ||
        (index > 0x7fffffff && this.log instanceof Int32Array)
      ) {
        this.growLog(index > 0x7fffffff);
      }
      this.log[this.logLen] = index;
      this.logLen++;
      meta = (meta & ~POS_MASK) | this.logLen;
      this.count++;
    }
    chunk[at + 1] = meta;
    return this;
  }

  delete(index: number): boolean {
    const chunk = this.chunkOf(index);
    if (chunk === undefined) return false;
    const at = chunkAt + 1;
    const meta = chunk[at] as number;
    if ((meta & POS_MASK) === 0) return false;
    if ((meta & M_PFN_HIGH) !== 0) this.pfnHigh.delete(index);
    chunk[at] = meta & M_PREPARED;
    this.count--;
    if (this.logLen > 1024 && this.logLen > 2 * this.count) this.compact();
    return true;
  }

  isPrepared(index: number): boolean {
    const chunk = this.chunkOf(index);
    return chunk !== undefined && ((chunk[chunkAt + 1] as number) & M_PREPARED) !== 0;
  }

  /** Set or clear the prepared flag; returns whether it changed. */
  setPrepared(index: number, on: boolean): boolean {
    const chunk = on ? this.chunkFor(index) : this.chunkOf(index);
    if (chunk === undefined) return false;
    const at = chunkAt + 1;
    const was = ((chunk[at] as number) & M_PREPARED) !== 0;
    if (was === on) return false;
    chunk[at] = (chunk[at] as number) ^ M_PREPARED;
    this.preparedCount += on ? 1 : -1;
    return true;
  }

  /** Clear the prepared flag of every offset in [start, end). */
  clearPreparedRange(start: number, end: number): void {
    if (this.preparedCount === 0 || !(start < end)) return;
    const first = Math.max(0, Math.floor(start / CHUNK));
    const last = Math.ceil(end / CHUNK);
    const clear = (c: number, chunk: Int32Array) => {
      const lo = Math.max(start, c * CHUNK) - c * CHUNK;
      const hi = Math.min(end, (c + 1) * CHUNK) - c * CHUNK;
      for (let o = lo; o < hi; o++) {
        const w = o * 2 + 1;
        if (((chunk[w] as number) & M_PREPARED) !== 0) {
          chunk[w] = (chunk[w] as number) & ~M_PREPARED;
          this.preparedCount--;
        }
      }
    };
    for (let c = first; c < Math.min(last, this.chunks.length); c++) {
      const chunk = this.chunks[c];
      if (chunk !== undefined) clear(c, chunk);
    }
    for (const [c, chunk] of this.farChunks) if (c >= first && c < last) clear(c, chunk);
  }

  /** Visit every (offset, pfn) in insertion order; `fn` must not modify the index. */
  forEachEntry(fn: (index: number, pfn: number) => void): void {
    const log = this.log;
    for (let i = 0; i < this.logLen; i++) {
      const index = log[i] as number;
      const chunk = this.chunkOf(index) as Int32Array;
      const at = chunkAt;
      if (((chunk[at + 1] as number) & POS_MASK) === i + 1) fn(index, this.pfnOf(chunk, at, index));
    }
  }

  /** The live offsets in [start, end), in insertion order. */
  indexesIn(start: number, end: number): number[] {
    const out: number[] = [];
    this.forEachEntry((index) => {
      if (index >= start && index < end) out.push(index);
    });
    return out;
  }

  *entries(): IterableIterator<[number, number]> {
    const out: Array<[number, number]> = [];
    this.forEachEntry((index, pfn) => out.push([index, pfn]));
    yield* out;
  }

  *keys(): IterableIterator<number> {
    for (const [index] of this.entries()) yield index;
  }

  *values(): IterableIterator<number> {
    for (const [, pfn] of this.entries()) yield pfn;
  }

  [Symbol.iterator](): IterableIterator<[number, number]> {
    return this.entries();
  }

  /** A new log holding at least `need` offsets (doubling), as Float64Array when `wide`. */
  private growLog(wide: boolean, need = this.logLen + 1): void {
    let size = this.log.length;
    while (size < need) size *= 2;
    const grown =
      wide || this.log instanceof Float64Array ? new Float64Array(size) : new Int32Array(size);
    grown.set(this.log.subarray(0, this.logLen));
    this.log = grown;
  }

  /** Drop the stale log slots (more than half of them): order of the live ones unchanged. */
  private compact(): void {
    const log = this.log;
    let w = 0;
    for (let i = 0; i < this.logLen; i++) {
      const index = log[i] as number;
      const chunk = this.chunkOf(index) as Int32Array;
      const at = chunkAt + 1;
      const meta = chunk[at] as number;
      if ((meta & POS_MASK) !== i + 1) continue;
      log[w] = index;
      w++;
      chunk[at] = (meta & ~POS_MASK) | w;
    }
    this.logLen = w;
  }
}

/** The prepared flags of a GmemPages as a set of page offsets (folio uptodate). */
export class GmemPreparedSet {
  private readonly pages: GmemPages;

  constructor(pages: GmemPages) {
    this.pages = pages;
  }

  get size(): number {
    return this.pages.preparedCount;
  }

  has(index: number): boolean {
    return this.pages.isPrepared(index);
  }

  add(index: number): this {
    this.pages.setPrepared(index, true);
    return this;
  }

  delete(index: number): boolean {
    return this.pages.setPrepared(index, false);
  }

  /** Remove every offset in [start, end). */
  deleteRange(start: number, end: number): void {
    this.pages.clearPreparedRange(start, end);
  }
}
