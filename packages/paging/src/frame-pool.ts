// Host physical memory as 4 KiB frames.
//
// A frame is named by its host PFN. Each frame has an owner tag (frame-owner.ts) and an
// opaque 32-bit `tag` the owner may use (a VM id, a TD id, …). Contents exist only once
// written: a frame that was never written (or was zeroed as a whole) reads as zeros and
// costs no storage. Written frames get a 4 KiB slot in one shared Int32Array store, which is
// also where the paging trees keep their tables, as lo/hi words in hardware (little-endian)
// byte order — so a table read through `read()` shows the same bytes the CPU would see.
//
// Representation (performance.md B.6): typed arrays and numbers only; no object per frame.
// - owners: Uint8Array, tags: Int32Array, slots: Int32Array (0 = no contents), indexed by
//   frame index = pfn - basePfn;
// - store: Int32Array of 1024 words per slot; slot 0 is the shared zero frame, never written;
// - allocation: a LIFO free list over a bump pointer, like the buddy allocator's per-CPU
//   lists in effect (recently freed pages are reused first).
// The store is replaced when it grows: callers that cache `store` must re-read it after any
// call that can allocate contents.

import { FRAME_OWNER_COUNT, FrameOwner, frameOwnerName } from './frame-owner.js';

/** Bytes per frame (PAGE_SIZE). */
export const FRAME_SIZE = 4096;
/** 32-bit words per frame: 512 entries × (lo, hi). */
export const FRAME_WORDS = 1024;
/** What the allocators return when no frame is available. */
export const NO_FRAME = -1;

/** Default first PFN: HPA 4 GiB, so model HPAs never look like small GPAs. */
export const DEFAULT_BASE_PFN = 0x100000;
/** Default limit: 2^26 frames = 256 GiB of host memory. */
export const DEFAULT_MAX_FRAMES = 2 ** 26;

const INITIAL_FRAME_CAPACITY = 4096;
const INITIAL_SLOT_CAPACITY = 64;
/**
 * Past this many slots (64 MiB) the store grows by half instead of doubling: geometric either
 * way, so filling the store copies each byte a bounded number of times (a fixed step made a
 * 64 GiB TD's fault-in copy the whole store every 16,384 tables).
 */
const SLOT_GROW_STEP = 16384;
/** Fill values fillWords() keeps a template of (each tree has one empty value). */
const FILL_TEMPLATES = 4;

export interface FramePoolOptions {
  /** PFN of the first frame (default 0x100000, HPA 4 GiB). */
  readonly basePfn?: number;
  /** How many frames the host has (default 2^26). basePfn + maxFrames must stay ≤ 2^40. */
  readonly maxFrames?: number;
}

export interface FramePoolStats {
  /** Frames currently allocated (any owner). */
  readonly allocated: number;
  /** Allocated frames per owner name (owners with none are left out). */
  readonly byOwner: Readonly<Record<string, number>>;
  /** Frames ever handed out by the bump pointer (the high-water mark of frame numbers). */
  readonly highWater: number;
  readonly maxFrames: number;
  /** Frames whose contents have been written (each holds a 4 KiB slot). */
  readonly withContents: number;
  /** Bytes of frame contents held: withContents × 4096. */
  readonly contentBytes: number;
  /** Bytes reserved for the contents store (capacity, including untouched space). */
  readonly storeBytes: number;
  /** Lifetime counts. */
  readonly allocs: number;
  readonly frees: number;
}

export class FramePool {
  readonly basePfn: number;
  readonly maxFrames: number;
  /**
   * The contents store: slot s holds words [s*1024, s*1024+1024). Replaced when it grows.
   * Entry i of a table frame is (store[b + 2i], store[b + 2i + 1]) = (lo, hi), b = wordBase().
   */
  store: Int32Array;
  /** A byte view of `store` (replaced with it). */
  bytes: Uint8Array;
  /** Per frame index: its contents slot, 0 when it has none (reads as zeros). */
  slots: Int32Array;

  private owners: Uint8Array;
  private tags: Int32Array;
  /** Frames handed out by the bump pointer so far. */
  private frameCount = 0;
  private freeFrames: Int32Array;
  private freeFrameTop = 0;
  /** Slots ever used (slot 0, the zero frame, included). */
  private slotHigh = 1;
  private slotCapacity: number;
  private freeSlots: Int32Array;
  private freeSlotTop = 0;
  private readonly ownerCounts = new Int32Array(256);
  /**
   * fillWords(): a frame's worth of one (lo, hi) pair per value in use, copied into filled
   * frames. Trees fill every new table with their empty value, and the values differ (KVM's
   * SHADOW_NONPRESENT_VALUE, the S-EPT's FREE entry): a fault-in that adds a mirror table and
   * its S-EPT table alternates between two.
   */
  private readonly fillTemplates: Int32Array[] = [];
  /** fillTemplates[i] holds (fillKeys[2i], fillKeys[2i + 1]). */
  private readonly fillKeys: number[] = [];
  private allocCount = 0;
  private freeCount = 0;
  private allocatedCount = 0;
  private contentsCount = 0;

  constructor(options: FramePoolOptions = {}) {
    const basePfn = options.basePfn ?? DEFAULT_BASE_PFN;
    const maxFrames = options.maxFrames ?? DEFAULT_MAX_FRAMES;
    if (!Number.isSafeInteger(basePfn) || basePfn < 0) {
      throw new RangeError(`basePfn must be a non-negative integer: ${basePfn}`);
    }
    if (!Number.isSafeInteger(maxFrames) || maxFrames < 1 || maxFrames > 2 ** 30) {
      throw new RangeError(`maxFrames must be in 1..2^30: ${maxFrames}`);
    }
    if (basePfn + maxFrames > 2 ** 40) {
      throw new RangeError('basePfn + maxFrames exceeds 2^40 (52-bit physical addresses)');
    }
    this.basePfn = basePfn;
    this.maxFrames = maxFrames;
    const cap = Math.min(INITIAL_FRAME_CAPACITY, maxFrames);
    this.owners = new Uint8Array(cap);
    this.tags = new Int32Array(cap);
    this.slots = new Int32Array(cap);
    this.freeFrames = new Int32Array(cap);
    this.slotCapacity = INITIAL_SLOT_CAPACITY;
    this.store = new Int32Array(this.slotCapacity * FRAME_WORDS);
    this.bytes = new Uint8Array(this.store.buffer);
    this.freeSlots = new Int32Array(this.slotCapacity);
  }

  // ---- allocation -------------------------------------------------------------------

  /** Allocate one frame for `owner`. Returns its PFN, or NO_FRAME when the host is full. */
  alloc(owner: FrameOwner, tag = 0): number {
    if (owner === FrameOwner.FREE || owner >= FRAME_OWNER_COUNT) {
      throw new RangeError(`cannot allocate a frame for owner ${owner}`);
    }
    let idx: number;
    if (this.freeFrameTop > 0) {
      idx = this.freeFrames[--this.freeFrameTop] as number;
    } else {
      if (this.frameCount >= this.maxFrames) return NO_FRAME;
      idx = this.frameCount;
      this.ensureFrameCapacity(idx + 1);
      this.frameCount = idx + 1;
    }
    this.take(idx, owner, tag);
    return this.basePfn + idx;
  }

  /**
   * Allocate `count` physically contiguous frames whose first PFN is a multiple of
   * `alignFrames` (512 for a 2 MiB folio). Returns the first PFN, or NO_FRAME. Always taken
   * from fresh memory above the high-water mark; skipped frames go to the free list.
   */
  allocContiguous(count: number, owner: FrameOwner, alignFrames = 1, tag = 0): number {
    if (owner === FrameOwner.FREE || owner >= FRAME_OWNER_COUNT) {
      throw new RangeError(`cannot allocate frames for owner ${owner}`);
    }
    if (
      !Number.isInteger(count) ||
      count < 1 ||
      !Number.isInteger(alignFrames) ||
      alignFrames < 1
    ) {
      throw new RangeError(`bad contiguous allocation: count ${count}, align ${alignFrames}`);
    }
    const firstPfn = Math.ceil((this.basePfn + this.frameCount) / alignFrames) * alignFrames;
    const start = firstPfn - this.basePfn;
    if (start + count > this.maxFrames) return NO_FRAME;
    this.ensureFrameCapacity(start + count);
    for (let i = this.frameCount; i < start; i++) this.pushFreeFrame(i);
    this.frameCount = start + count;
    for (let i = 0; i < count; i++) this.take(start + i, owner, tag);
    return firstPfn;
  }

  /**
   * Allocate a frame whose 512 64-bit words all hold (lo, hi): a page table filled with its
   * initial entry value (KVM fills new SPs with SHADOW_NONPRESENT_VALUE, tdp_mmu.c:
   * tdp_mmu_alloc_sp() via the cache's init_value). Returns the PFN or NO_FRAME.
   */
  allocFilled(owner: FrameOwner, lo: number, hi: number, tag = 0): number {
    const pfn = this.alloc(owner, tag);
    if (pfn === NO_FRAME) return NO_FRAME;
    this.fillWords(pfn, lo, hi);
    return pfn;
  }

  /** Free a frame: its contents are dropped. False when it is not an allocated frame. */
  free(pfn: number): boolean {
    const idx = this.indexOf(pfn);
    if (idx < 0) return false;
    const owner = this.owners[idx] as number;
    if (owner === FrameOwner.FREE) return false;
    this.dropContents(idx);
    this.owners[idx] = FrameOwner.FREE;
    this.tags[idx] = 0;
    this.ownerCounts[owner] = (this.ownerCounts[owner] as number) - 1;
    this.allocatedCount--;
    this.freeCount++;
    this.pushFreeFrame(idx);
    return true;
  }

  /** Change the owner (and tag) of an allocated frame, e.g. KVM page → S-EPT page. */
  setOwner(pfn: number, owner: FrameOwner, tag = 0): boolean {
    const idx = this.indexOf(pfn);
    if (idx < 0 || owner === FrameOwner.FREE || owner >= FRAME_OWNER_COUNT) return false;
    const old = this.owners[idx] as number;
    if (old === FrameOwner.FREE) return false;
    this.ownerCounts[old] = (this.ownerCounts[old] as number) - 1;
    this.ownerCounts[owner] = (this.ownerCounts[owner] as number) + 1;
    this.owners[idx] = owner;
    this.tags[idx] = tag;
    return true;
  }

  /** The owner tag of a frame (FREE for free frames and for PFNs outside the pool). */
  owner(pfn: number): number {
    const idx = this.indexOf(pfn);
    return idx < 0 ? FrameOwner.FREE : (this.owners[idx] as number);
  }

  /** The owner's 32-bit tag (0 when free or outside the pool). */
  tag(pfn: number): number {
    const idx = this.indexOf(pfn);
    return idx < 0 ? 0 : (this.tags[idx] as number);
  }

  isAllocated(pfn: number): boolean {
    return this.owner(pfn) !== FrameOwner.FREE;
  }

  /** True when `pfn` names a frame of this pool that has been handed out at least once. */
  contains(pfn: number): boolean {
    return this.indexOf(pfn) >= 0;
  }

  /** Allocated frames of one owner. */
  countOwnedBy(owner: FrameOwner): number {
    return this.ownerCounts[owner] as number;
  }

  /** The PFNs of all allocated frames of one owner, ascending. */
  framesOwnedBy(owner: FrameOwner): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.frameCount; i++) {
      if (this.owners[i] === owner) out.push(this.basePfn + i);
    }
    return out;
  }

  /** The number of frames currently allocated. */
  get allocated(): number {
    return this.allocatedCount;
  }

  // ---- contents: words (page tables) -----------------------------------------------

  /** True when the frame holds written contents (a 4 KiB slot). */
  hasContents(pfn: number): boolean {
    const idx = this.indexOf(pfn);
    return idx >= 0 && this.slots[idx] !== 0;
  }

  /**
   * Index into `store` of the frame's word 0, giving the frame a slot if it has none (its
   * contents then read as zeros). Re-read `store` afterwards: it may have grown.
   */
  wordBase(pfn: number): number {
    const idx = this.checkedIndex(pfn);
    const slot = this.slots[idx] as number;
    return (slot !== 0 ? slot : this.materialize(idx, true)) * FRAME_WORDS;
  }

  /** Low word (bits 31:0, as int32) of 64-bit entry `index` (0..511). Zero when unwritten. */
  readLo(pfn: number, index: number): number {
    return this.store[this.readSlot(pfn) * FRAME_WORDS + 2 * checkIndex(index)] as number;
  }

  /** High word (bits 63:32, as int32) of 64-bit entry `index` (0..511). */
  readHi(pfn: number, index: number): number {
    return this.store[this.readSlot(pfn) * FRAME_WORDS + 2 * checkIndex(index) + 1] as number;
  }

  /** Write 64-bit entry `index` as (lo, hi). */
  writeWord64(pfn: number, index: number, lo: number, hi: number): void {
    checkIndex(index);
    const b = this.wordBase(pfn);
    this.store[b + 2 * index] = lo;
    this.store[b + 2 * index + 1] = hi;
  }

  /** Fill all 512 64-bit words of the frame with (lo, hi). */
  fillWords(pfn: number, lo: number, hi: number): void {
    const idx = this.checkedIndex(pfn);
    if ((lo | hi) === 0) {
      this.dropContents(idx);
      return;
    }
    let slot = this.slots[idx] as number;
    if (slot === 0) slot = this.materialize(idx, false);
    // One memcpy of a frame already holding the value (fillTemplate()) instead of 512 stores
    // in a loop: the C anchor's fill loop is vectorised, a JS loop is not.
    this.store.set(this.fillTemplate(lo | 0, hi | 0), slot * FRAME_WORDS);
  }

  /** The frame-sized template of (lo, hi), made on first use; the last FILL_TEMPLATES kept. */
  private fillTemplate(lo: number, hi: number): Int32Array {
    const keys = this.fillKeys;
    for (let i = 0; i < keys.length; i += 2) {
      if (keys[i] === lo && keys[i + 1] === hi) return this.fillTemplates[i >> 1] as Int32Array;
    }
    const tpl = new Int32Array(FRAME_WORDS);
    for (let w = 0; w < FRAME_WORDS; w += 2) {
      tpl[w] = lo;
      tpl[w + 1] = hi;
    }
    if (this.fillTemplates.length === FILL_TEMPLATES) {
      this.fillTemplates.shift();
      keys.splice(0, 2);
    }
    this.fillTemplates.push(tpl);
    keys.push(lo, hi);
    return tpl;
  }

  // ---- contents: bytes (guest and VMM accesses) ------------------------------------

  /** Copy `length` bytes at `offset` out of the frame (into `into` when given). */
  read(pfn: number, offset: number, length: number, into?: Uint8Array): Uint8Array {
    const idx = this.checkedIndex(pfn);
    checkRange(offset, length);
    const out = into ?? new Uint8Array(length);
    if (out.length < length) throw new RangeError(`buffer of ${out.length} bytes < ${length}`);
    const slot = this.slots[idx] as number;
    if (slot === 0) out.fill(0, 0, length);
    else {
      const b = slot * FRAME_SIZE + offset;
      out.set(this.bytes.subarray(b, b + length));
    }
    return out;
  }

  /** One byte of the frame. */
  readByte(pfn: number, offset: number): number {
    const idx = this.checkedIndex(pfn);
    checkRange(offset, 1);
    const slot = this.slots[idx] as number;
    return slot === 0 ? 0 : (this.bytes[slot * FRAME_SIZE + offset] as number);
  }

  /** Write `data` at `offset` (it must fit in the frame). */
  write(pfn: number, offset: number, data: Uint8Array): void {
    const idx = this.checkedIndex(pfn);
    checkRange(offset, data.length);
    if (data.length === 0) return;
    let slot = this.slots[idx] as number;
    if (slot === 0) slot = this.materialize(idx, true);
    this.bytes.set(data, slot * FRAME_SIZE + offset);
  }

  /** Set `length` bytes at `offset` to `value` (0..255). */
  fill(pfn: number, offset: number, length: number, value: number): void {
    const idx = this.checkedIndex(pfn);
    checkRange(offset, length);
    if (length === 0) return;
    let slot = this.slots[idx] as number;
    if ((value & 0xff) === 0) {
      if (slot === 0) return; // already zeros
      if (offset === 0 && length === FRAME_SIZE) {
        this.dropContents(idx);
        return;
      }
    }
    if (slot === 0) slot = this.materialize(idx, true);
    const b = slot * FRAME_SIZE + offset;
    this.bytes.fill(value & 0xff, b, b + length);
  }

  /** Zero a byte range (the whole frame by default); zeroing all of it frees its storage. */
  zero(pfn: number, offset = 0, length = FRAME_SIZE - offset): void {
    this.fill(pfn, offset, length, 0);
  }

  /** Copy `length` bytes from (srcPfn, srcOffset) to (dstPfn, dstOffset); ranges may overlap. */
  copy(dstPfn: number, dstOffset: number, srcPfn: number, srcOffset: number, length: number): void {
    const src = this.checkedIndex(srcPfn);
    const dst = this.checkedIndex(dstPfn);
    checkRange(srcOffset, length);
    checkRange(dstOffset, length);
    if (length === 0) return;
    const srcSlot = this.slots[src] as number;
    if (srcSlot === 0) {
      this.fill(dstPfn, dstOffset, length, 0);
      return;
    }
    let dstSlot = this.slots[dst] as number;
    if (dstSlot === 0) dstSlot = this.materialize(dst, true);
    // materialize() may have replaced the store; srcSlot is still valid.
    const from = srcSlot * FRAME_SIZE + srcOffset;
    this.bytes.copyWithin(dstSlot * FRAME_SIZE + dstOffset, from, from + length);
  }

  /** True when every byte of the frame is zero. */
  isZero(pfn: number): boolean {
    const idx = this.checkedIndex(pfn);
    const slot = this.slots[idx] as number;
    if (slot === 0) return true;
    const store = this.store;
    const end = (slot + 1) * FRAME_WORDS;
    for (let w = slot * FRAME_WORDS; w < end; w++) if (store[w] !== 0) return false;
    return true;
  }

  // ---- capacity ----------------------------------------------------------------------

  /**
   * Make room for `frames` more frames with contents and touch that memory now, so the
   * first writes do not pay the host's first-touch page faults (performance.md B.2 notes:
   * warm vs cold).
   */
  reserve(frames: number): void {
    const want = this.slotHigh + Math.max(0, Math.floor(frames));
    this.ensureSlotCapacity(want);
    const store = this.store;
    for (let w = this.slotHigh * FRAME_WORDS; w < want * FRAME_WORDS; w += FRAME_WORDS) {
      store[w] = 0;
    }
  }

  /**
   * Make room for `frames` more frames (PFNs, with or without contents) in the per-frame
   * arrays and touch that memory now, for the same reason as reserve(): a warm run of a
   * whole-guest fault-in allocates a frame per guest page.
   */
  reserveFrames(frames: number): void {
    const want = Math.min(this.frameCount + Math.max(0, Math.floor(frames)), this.maxFrames);
    const from = this.frameCount;
    this.ensureFrameCapacity(want);
    // One write per 4 KiB page of each array (owners: 1 byte per frame, tags/slots: 4).
    for (let i = from; i < want; i += 4096) this.owners[i] = this.owners[i] as number;
    for (let i = from; i < want; i += 1024) {
      this.tags[i] = this.tags[i] as number;
      this.slots[i] = this.slots[i] as number;
    }
  }

  stats(): FramePoolStats {
    const byOwner: Record<string, number> = {};
    for (let o = 1; o < FRAME_OWNER_COUNT; o++) {
      const n = this.ownerCounts[o] as number;
      if (n > 0) byOwner[frameOwnerName(o)] = n;
    }
    return {
      allocated: this.allocatedCount,
      byOwner,
      highWater: this.frameCount,
      maxFrames: this.maxFrames,
      withContents: this.contentsCount,
      contentBytes: this.contentsCount * FRAME_SIZE,
      storeBytes: this.store.byteLength,
      allocs: this.allocCount,
      frees: this.freeCount,
    };
  }

  // ---- internals ---------------------------------------------------------------------

  /** Frame index of `pfn`, or -1 when it is not a frame of this pool. */
  private indexOf(pfn: number): number {
    const idx = pfn - this.basePfn;
    return idx >= 0 && idx < this.frameCount && Number.isInteger(idx) ? idx : -1;
  }

  private checkedIndex(pfn: number): number {
    const idx = this.indexOf(pfn);
    if (idx < 0) throw new RangeError(`PFN ${describePfn(pfn)} is not a frame of this pool`);
    return idx;
  }

  private readSlot(pfn: number): number {
    return this.slots[this.checkedIndex(pfn)] as number;
  }

  private take(idx: number, owner: number, tag: number): void {
    this.owners[idx] = owner;
    this.tags[idx] = tag;
    this.ownerCounts[owner] = (this.ownerCounts[owner] as number) + 1;
    this.allocatedCount++;
    this.allocCount++;
  }

  private pushFreeFrame(idx: number): void {
    if (this.freeFrameTop === this.freeFrames.length) {
      const grown = new Int32Array(this.freeFrames.length * 2);
      grown.set(this.freeFrames);
      this.freeFrames = grown;
    }
    this.freeFrames[this.freeFrameTop++] = idx;
  }

  /** Give frame `idx` a contents slot; zero it when recycled and `zero` is set. */
  private materialize(idx: number, zero: boolean): number {
    let slot: number;
    if (this.freeSlotTop > 0) {
      slot = this.freeSlots[--this.freeSlotTop] as number;
      if (zero) this.store.fill(0, slot * FRAME_WORDS, (slot + 1) * FRAME_WORDS);
    } else {
      slot = this.slotHigh;
      this.ensureSlotCapacity(slot + 1);
      this.slotHigh = slot + 1;
    }
    this.slots[idx] = slot;
    this.contentsCount++;
    return slot;
  }

  private dropContents(idx: number): void {
    const slot = this.slots[idx] as number;
    if (slot === 0) return;
    this.slots[idx] = 0;
    this.contentsCount--;
    if (this.freeSlotTop === this.freeSlots.length) {
      const grown = new Int32Array(this.freeSlots.length * 2);
      grown.set(this.freeSlots);
      this.freeSlots = grown;
    }
    this.freeSlots[this.freeSlotTop++] = slot;
  }

  private ensureFrameCapacity(frames: number): void {
    let cap = this.owners.length;
    if (frames <= cap) return;
    while (cap < frames) cap *= 2;
    cap = Math.min(cap, this.maxFrames);
    const owners = new Uint8Array(cap);
    owners.set(this.owners);
    this.owners = owners;
    const tags = new Int32Array(cap);
    tags.set(this.tags);
    this.tags = tags;
    const slots = new Int32Array(cap);
    slots.set(this.slots);
    this.slots = slots;
  }

  private ensureSlotCapacity(slots: number): void {
    let cap = this.slotCapacity;
    if (slots <= cap) return;
    while (cap < slots) cap = cap < SLOT_GROW_STEP ? cap * 2 : Math.ceil(cap * 1.5);
    const store = new Int32Array(cap * FRAME_WORDS);
    store.set(this.store.subarray(0, this.slotHigh * FRAME_WORDS));
    this.store = store;
    this.bytes = new Uint8Array(store.buffer);
    this.slotCapacity = cap;
  }
}

function checkIndex(index: number): number {
  if (!(index >= 0 && index < 512 && Number.isInteger(index))) {
    throw new RangeError(`entry index must be 0..511: ${index}`);
  }
  return index;
}

function checkRange(offset: number, length: number): void {
  if (
    !Number.isInteger(offset) ||
    !Number.isInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > FRAME_SIZE
  ) {
    throw new RangeError(`byte range ${offset}+${length} is not inside a 4 KiB frame`);
  }
}

function describePfn(pfn: number): string {
  return Number.isSafeInteger(pfn) && pfn >= 0 ? `0x${pfn.toString(16)}` : String(pfn);
}
