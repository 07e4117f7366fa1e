// The module's resource locks, for modelling contention.
//
// Every module lock is a try-lock: a leaf that finds a resource taken returns TDX_OPERAND_BUSY
// (+ the operand naming it) at once (tdx-module.md §3.7). A SEAMCALL in this model runs to
// completion synchronously, so the locks a leaf takes can only collide with locks some *other*
// agent holds across calls. `LockTable` is that set of held locks: tests and callers hold a
// resource (a TDR, the S-EPT tree, one S-EPT entry, the TD epoch, the KOT, …) to stand for a
// concurrent caller on another CPU, and the next leaf that needs it reports BUSY. With nothing
// held the leaves skip the table entirely.

/** A resource the module locks. */
export type LockResource =
  /** The PAMT entry of a page (TDR, TDVPR, a REG page …), by HPA. */
  | { readonly kind: 'page'; readonly hpa: number }
  /** A TD's whole Secure-EPT tree, by TDR HPA. */
  | { readonly kind: 'sept'; readonly tdr: number }
  /** One S-EPT entry (the TDEL bit), by TDR, GPA and module level (0 = 4K). */
  | {
      readonly kind: 'septEntry';
      readonly tdr: number;
      readonly gpa: number;
      readonly level: number;
    }
  /** The TD's epoch lock (TRACK exclusive, VP.ENTER shared). */
  | { readonly kind: 'epoch'; readonly tdr: number }
  /** The TD's OP_STATE lock. */
  | { readonly kind: 'opState'; readonly tdr: number }
  /** The key ownership table. */
  | { readonly kind: 'kot' }
  /** The key encryption table (PCONFIG) of a package. */
  | { readonly kind: 'ket'; readonly pkg: number }
  /** A package's write-back-cache state (TDH.PHYMEM.CACHE.WB). */
  | { readonly kind: 'wbcache'; readonly pkg: number };

export type LockMode = 'shared' | 'exclusive';

/** A held lock; release it to let the contended leaf succeed. */
export interface HeldLock {
  readonly resource: LockResource;
  readonly mode: LockMode;
  release(): void;
}

export function lockKey(r: LockResource): string {
  switch (r.kind) {
    case 'page':
      return `page:${r.hpa}`;
    case 'sept':
    case 'epoch':
    case 'opState':
      return `${r.kind}:${r.tdr}`;
    case 'septEntry':
      return `septEntry:${r.tdr}:${Math.floor(r.gpa / 4096)}:${r.level}`;
    case 'kot':
      return 'kot';
    case 'ket':
    case 'wbcache':
      return `${r.kind}:${r.pkg}`;
  }
}

interface LockState {
  shared: number;
  exclusive: boolean;
}

export class LockTable {
  private readonly held = new Map<string, LockState>();
  /** Number of held resources; zero means every try-lock succeeds (a field: read per leaf). */
  size = 0;

  hold(resource: LockResource, mode: LockMode): HeldLock | null {
    const key = lockKey(resource);
    const st = this.held.get(key) ?? { shared: 0, exclusive: false };
    if (st.exclusive || (mode === 'exclusive' && st.shared > 0)) return null;
    if (mode === 'exclusive') st.exclusive = true;
    else st.shared++;
    this.held.set(key, st);
    this.size = this.held.size;
    let released = false;
    return {
      resource,
      mode,
      release: () => {
        if (released) return;
        released = true;
        const cur = this.held.get(key);
        if (cur === undefined) return;
        if (mode === 'exclusive') cur.exclusive = false;
        else cur.shared--;
        if (!cur.exclusive && cur.shared === 0) this.held.delete(key);
        this.size = this.held.size;
      },
    };
  }

  /** Would a try-lock in `mode` succeed right now? */
  canTake(key: string, mode: LockMode): boolean {
    const st = this.held.get(key);
    if (st === undefined) return true;
    return !st.exclusive && (mode === 'shared' || st.shared === 0);
  }
}
