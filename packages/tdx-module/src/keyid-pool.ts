// The host's allocator of TDX private KeyIDs (HKIDs).
// Models arch/x86/virt/vmx/tdx/tdx.c: tdx_guest_keyid_alloc() / tdx_guest_keyid_free(): an IDA
// over [tdx_guest_keyid_start, tdx_guest_keyid_start + tdx_nr_guest_keyids). The first TDX KeyID
// is the module's global KeyID (TDH.SYS.CONFIG R8) and is never handed to a TD. Whether an HKID
// may be reused is the module's business (KOT state, TDH.MNG.KEY.FREEID); KVM frees its IDA entry
// only after FREEID succeeded, and leaks it otherwise (tdx_mmu_release_hkid()).

export class TdxKeyIdPool {
  readonly start: number;
  readonly count: number;
  private readonly used: Uint8Array;

  constructor(start: number, count: number) {
    this.start = start;
    this.count = count;
    this.used = new Uint8Array(count);
  }

  /** The lowest free KeyID (ida_alloc_range), or -1 (Linux: -ENOSPC) when none is left. */
  alloc(): number {
    for (let i = 0; i < this.count; i++) {
      if (this.used[i] === 0) {
        this.used[i] = 1;
        return this.start + i;
      }
    }
    return -1;
  }

  /** Return a KeyID (ida_free). False when it is not an allocated KeyID of this pool. */
  free(keyid: number): boolean {
    const i = keyid - this.start;
    if (!(i >= 0 && i < this.count) || this.used[i] === 0) return false;
    this.used[i] = 0;
    return true;
  }

  isAllocated(keyid: number): boolean {
    const i = keyid - this.start;
    return i >= 0 && i < this.count && this.used[i] === 1;
  }

  get available(): number {
    let n = 0;
    for (let i = 0; i < this.count; i++) if (this.used[i] === 0) n++;
    return n;
  }
}
