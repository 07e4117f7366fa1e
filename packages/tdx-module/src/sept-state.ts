// Secure-EPT entry states, their encoding in the entry, and which leaves accept which state.
//
// Source: intel/tdx-module (1.5) include/auto_gen/sept_state_lookup.{h,c}, src/common/x86_defs/
// x86_defs.h (ia32e_sept_t), src/common/memory_handlers/sept_manager.h; tdx-module.md §3.
//
// The module keeps the state in 7 bits of the entry: D (bit 9) → bit 0; TDEX, TDBW, TDB, TDP
// (bits 53..56) → bits 1..4; IPAT, PS (bits 6, 7) → bits 5..6. It writes SVE (bit 63) whenever it
// updates an entry, and fills new S-EPT pages with the FREE encoding | SVE — so an all-zero word is
// *not* FREE (it would read as NL_MAPPED), which is why every table must be initialised.

// Entry bits, low word (bits 31:0).
export const SEPT_R = 0x1;
export const SEPT_W = 0x2;
export const SEPT_X = 0x4;
export const SEPT_RWX = 0x7;
export const SEPT_MT_MASK = 0x38;
/** Memory type WB (6) in bits 5:3. */
export const SEPT_MT_WB = 6 << 3;
export const SEPT_IPAT = 0x40;
export const SEPT_PS = 0x80;
export const SEPT_D = 0x200;
/** TDEL: the module's per-entry host lock bit. */
export const SEPT_TDEL = 0x800;
/** HPA bits 31:12 of the low word. */
export const SEPT_HPA_LO_MASK = 0xfffff000;
/** For a PENDING 2M leaf, bits 20:12 count the 4K chunks the guest's ACCEPT has zeroed. */
export const SEPT_ACCEPT_COUNTER_SHIFT = 12;
// Entry bits, high word (bits 63:32).
/** HPA bits 51:32 in the high word. */
export const SEPT_HPA_HI_MASK = 0x000fffff;
/** TDHP, bit 52: host priority (a host leaf found the entry locked). */
export const SEPT_HI_TDHP = 1 << 20;
export const SEPT_HI_TDEX = 1 << 21;
export const SEPT_HI_TDBW = 1 << 22;
export const SEPT_HI_TDB = 1 << 23;
export const SEPT_HI_TDP = 1 << 24;
/** SVE, bit 63: suppress #VE. */
export const SEPT_HI_SVE = 0x80000000;

/** State indices (the model's own small numbers; `SEPT_STATE_NAMES` gives the module's names). */
export const SeptState = {
  FREE: 0,
  REMOVED: 1,
  NL_MAPPED: 2,
  NL_BLOCKED: 3,
  MAPPED: 4,
  BLOCKED: 5,
  BLOCKEDW: 6,
  EXPORTED_BLOCKEDW: 7,
  EXPORTED_DIRTY: 8,
  EXPORTED_DIRTY_BLOCKEDW: 9,
  PENDING: 10,
  PENDING_BLOCKED: 11,
  PENDING_BLOCKEDW: 12,
  PENDING_EXPORTED_BLOCKEDW: 13,
  PENDING_EXPORTED_DIRTY: 14,
  PENDING_EXPORTED_DIRTY_BLOCKEDW: 15,
} as const;
export type SeptState = (typeof SeptState)[keyof typeof SeptState];
/** An entry whose 7-bit encoding is none of the module's states. */
export const SEPT_STATE_INVALID = -1;

export const SEPT_STATE_NAMES: readonly string[] = Object.freeze([
  'FREE',
  'REMOVED',
  'NL_MAPPED',
  'NL_BLOCKED',
  'MAPPED',
  'BLOCKED',
  'BLOCKEDW',
  'EXPORTED_BLOCKEDW',
  'EXPORTED_DIRTY',
  'EXPORTED_DIRTY_BLOCKEDW',
  'PENDING',
  'PENDING_BLOCKED',
  'PENDING_BLOCKEDW',
  'PENDING_EXPORTED_BLOCKEDW',
  'PENDING_EXPORTED_DIRTY',
  'PENDING_EXPORTED_DIRTY_BLOCKEDW',
]);

/** The 7-bit encoding of each state (sept_state_lookup). */
export const SEPT_STATE_ENCODING: readonly number[] = Object.freeze([
  0x0e, 0x0c, 0x00, 0x08, 0x60, 0x68, 0x64, 0x66, 0x63, 0x67, 0x70, 0x78, 0x74, 0x76, 0x73, 0x77,
]);

/** The public state code the module reports in RDX bits 15:8. */
export const SEPT_PUBLIC_STATE: readonly number[] = Object.freeze([
  0x00, 0x05, 0x84, 0x81, 0x04, 0x01, 0x08, 0x09, 0x0b, 0x0c, 0x02, 0x03, 0x10, 0x11, 0x13, 0x14,
]);

/** Guest access rights (RWX) the module sets in each state. */
export const SEPT_STATE_RWX: readonly number[] = Object.freeze([
  0, 0, 7, 0, 7, 0, 5, 5, 7, 5, 0, 0, 0, 0, 0, 0,
]);

const RWX_BY_STATE = Uint8Array.from(SEPT_STATE_RWX);

/**
 * SEPT_STATE_RWX[state], 0 for SEPT_STATE_INVALID or any other state out of range: a typed
 * array read the compiler keeps inline (a negative index on the array is a generic property
 * lookup).
 */
export function septStateRwx(state: number): number {
  return state >= 0 && state < RWX_BY_STATE.length ? (RWX_BY_STATE[state] as number) : 0;
}

const STATE_BY_ENCODING = new Int8Array(128).fill(SEPT_STATE_INVALID);
SEPT_STATE_ENCODING.forEach((enc, state) => {
  STATE_BY_ENCODING[enc] = state;
});

/** The 7-bit encoding held in an entry. */
export function septEncoding(lo: number, hi: number): number {
  return ((lo >>> 9) & 1) | (((hi >>> 21) & 0xf) << 1) | (((lo >>> 6) & 3) << 5);
}

/** The state of an entry, or SEPT_STATE_INVALID. */
export function septStateOf(lo: number, hi: number): number {
  return STATE_BY_ENCODING[septEncoding(lo, hi)] as number;
}

function stateLo(state: number): number {
  const enc = SEPT_STATE_ENCODING[state] as number;
  let lo = ((enc & 1) << 9) | (((enc >>> 5) & 3) << 6) | (SEPT_STATE_RWX[state] as number);
  if ((enc & 0x40) !== 0) lo |= SEPT_MT_WB;
  return lo;
}
function stateHi(state: number): number {
  const enc = SEPT_STATE_ENCODING[state] as number;
  return ((((enc >>> 1) & 0xf) << 21) | SEPT_HI_SVE) >>> 0;
}
const STATE_LO = new Uint32Array(16).map((_, s) => stateLo(s));
const STATE_HI = new Uint32Array(16).map((_, s) => stateHi(s));

/** Low-word bits that encode `state` (D, IPAT, PS) plus its RWX (and WB for leaves). */
export function septStateLo(state: number): number {
  return STATE_LO[state] as number;
}
/** High-word bits that encode `state` (TDEX/TDBW/TDB/TDP), with SVE set as the module writes it. */
export function septStateHi(state: number): number {
  return STATE_HI[state] as number;
}

/** The initial value of every entry in a new S-EPT page: FREE | SVE. */
export const SEPT_FREE_LO = septStateLo(SeptState.FREE);
export const SEPT_FREE_HI = septStateHi(SeptState.FREE);

/** Build an entry word pair for a state and a host frame. */
export function septEntryLo(state: number, pfn: number): number {
  return (septStateLo(state) | ((pfn << 12) & SEPT_HPA_LO_MASK)) >>> 0;
}
export function septEntryHi(state: number, pfn: number): number {
  return (septStateHi(state) | (Math.floor(pfn / 0x100000) & SEPT_HPA_HI_MASK)) >>> 0;
}
/** The host PFN an entry points at. */
export function septEntryPfn(lo: number, hi: number): number {
  return (hi & SEPT_HPA_HI_MASK) * 0x100000 + (lo >>> 12);
}

export function isLeafState(state: number): boolean {
  return state >= SeptState.MAPPED;
}

/** NL_BLOCKED, BLOCKED, PENDING_BLOCKED (not the *BLOCKEDW ones). */
export function isAnyBlocked(state: number): boolean {
  return (
    state === SeptState.NL_BLOCKED ||
    state === SeptState.BLOCKED ||
    state === SeptState.PENDING_BLOCKED
  );
}

const TLB_TRACKING_REQUIRED = new Set<number>([
  SeptState.NL_MAPPED,
  SeptState.NL_BLOCKED,
  SeptState.MAPPED,
  SeptState.BLOCKED,
  SeptState.BLOCKEDW,
  SeptState.EXPORTED_DIRTY,
  SeptState.EXPORTED_DIRTY_BLOCKEDW,
  SeptState.PENDING,
  SeptState.PENDING_BLOCKED,
  SeptState.PENDING_BLOCKEDW,
  SeptState.PENDING_EXPORTED_DIRTY,
  SeptState.PENDING_EXPORTED_DIRTY_BLOCKEDW,
]);
/** The state's tlb_tracking_required flag (sept_state_lookup). */
export function stateNeedsTlbTracking(state: number): boolean {
  return TLB_TRACKING_REQUIRED.has(state);
}

function mask(...states: number[]): number {
  let m = 0;
  for (const s of states) m |= 1 << s;
  return m;
}
const S = SeptState;
// Allowed entry states per leaf (seamcall_sept_state_lookup / tdcall_sept_state_lookup), as
// bitmasks over the state indices.
export const ALLOWED_PAGE_ADD = mask(S.FREE);
export const ALLOWED_SEPT_ADD = mask(S.FREE, S.NL_MAPPED);
export const ALLOWED_PAGE_AUG = mask(S.FREE, S.REMOVED);
export const ALLOWED_RANGE_BLOCK = mask(
  S.NL_MAPPED,
  S.MAPPED,
  S.BLOCKEDW,
  S.PENDING,
  S.PENDING_BLOCKEDW,
);
export const ALLOWED_PAGE_DEMOTE = mask(S.MAPPED, S.BLOCKED, S.PENDING, S.PENDING_BLOCKED);
export const ALLOWED_MR_EXTEND = mask(S.MAPPED);
export const ALLOWED_PAGE_PROMOTE = mask(S.NL_MAPPED, S.NL_BLOCKED);
export const ALLOWED_PAGE_REMOVE = mask(
  S.MAPPED,
  S.BLOCKED,
  S.BLOCKEDW,
  S.PENDING,
  S.PENDING_BLOCKED,
  S.PENDING_BLOCKEDW,
);
export const ALLOWED_SEPT_REMOVE = mask(S.NL_MAPPED, S.NL_BLOCKED);
export const ALLOWED_RANGE_UNBLOCK = mask(S.NL_BLOCKED, S.BLOCKED, S.PENDING_BLOCKED);
export const ALLOWED_PAGE_ACCEPT = mask(S.PENDING, S.PENDING_EXPORTED_DIRTY);

export function stateAllowed(allowedMask: number, state: number): boolean {
  return state >= 0 && ((allowedMask >>> state) & 1) === 1;
}

/**
 * The architectural view of an entry the module returns in RCX on S-EPT errors
 * (sept_manager.c set_arch_septe_details_in_vmm_regs()): FREE reads as SVE only; a leaf keeps
 * the entry's RWX, MT, IPAT, PS, HPA and SVE (SEPT_ARCH_ENTRY_LEAF_MASK: a PENDING page shows
 * RWX 0); a non-leaf keeps only RWX and PS (SEPT_ARCH_ENTRY_NON_LEAF_MASK: no HPA, no SVE).
 * Software bits are never exposed.
 */
export function septArchLo(lo: number, hi: number): number {
  const state = septStateOf(lo, hi);
  if (state === SeptState.FREE || state === SeptState.REMOVED) return 0;
  if (isLeafState(state))
    return (lo & (SEPT_RWX | SEPT_MT_MASK | SEPT_IPAT | SEPT_PS | SEPT_HPA_LO_MASK)) >>> 0;
  return (lo & (SEPT_RWX | SEPT_PS)) >>> 0;
}
export function septArchHi(lo: number, hi: number): number {
  const state = septStateOf(lo, hi);
  if (state === SeptState.FREE || state === SeptState.REMOVED) return SEPT_HI_SVE;
  if (!isLeafState(state)) return 0;
  return (hi & (SEPT_HPA_HI_MASK | SEPT_HI_SVE)) >>> 0;
}
/** RDX on S-EPT errors: level (2:0) | public state (15:8) | vm (17:16, 0 = L1). */
export function septLevelState(level: number, state: number): number {
  const pub = state >= 0 ? (SEPT_PUBLIC_STATE[state] as number) : 0xff;
  return level | (pub << 8);
}
