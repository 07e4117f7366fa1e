// Every field of an EPT entry as KVM reads it: the view `kvmx decode spte` prints
// (CONTRACTS §1) and the docs' entry decoder draws. Not on a hot path.

import { type Word64, word64, word64Hex } from '@kvmx/address';
import {
  getMmioSpteGeneration,
  getMmioSpteGfn,
  isFrozenSpte,
  isMmioSpte,
  spteMemtype,
  spteToPfn,
} from './spte.js';
import {
  EPT_MMIO,
  EPT_SPTE_HOST_WRITABLE_HI,
  EPT_SPTE_MMU_WRITABLE_HI,
  type MmioSpteConfig,
  PT_PAGE_SIZE_MASK,
  SHADOW_NONPRESENT_VALUE_HI,
  SPTE_MMU_PRESENT_MASK,
  SPTE_TDP_AD_MASK_HI,
  TDX_MMIO,
  VMX_EPT_ACCESS_BIT,
  VMX_EPT_DIRTY_BIT,
  VMX_EPT_EXECUTABLE_MASK,
  VMX_EPT_IPAT_BIT,
  VMX_EPT_READABLE_MASK,
  VMX_EPT_SUPPRESS_VE_BIT_HI,
  VMX_EPT_USER_EXECUTABLE_MASK,
  VMX_EPT_WRITABLE_MASK,
} from './spte-bits.js';

/** The A/D mode of bits 53:52 (SPTE_TDP_AD_*); 3 is not used by KVM. */
export type SpteAdMode = 'enabled' | 'disabled' | 'wrprot_only' | 'reserved';

/** What the entry is, in KVM's terms. */
export type SpteKind = 'present' | 'nonpresent' | 'frozen' | 'mmio' | 'other';

export interface SpteDecode {
  readonly value: Word64;
  /** Which MMIO value was used: EPT's default or TDX's per-VM 0. */
  readonly vm: 'ept' | 'tdx';
  readonly kind: SpteKind;
  /** KVM's shadow-present bit 11 (is_shadow_present_pte). */
  readonly present: boolean;
  readonly readable: boolean;
  readonly writable: boolean;
  readonly executable: boolean;
  /** Bits 5:3. */
  readonly memtype: number;
  readonly ipat: boolean;
  /** Page-size bit 7. */
  readonly large: boolean;
  readonly accessed: boolean;
  readonly dirty: boolean;
  /** Bit 10: user-mode execute with MBEC (unused by upstream KVM). */
  readonly userExec: boolean;
  /** Bit 11 (the same bit as `present`). */
  readonly mmuPresent: boolean;
  /** Bits 53:52. */
  readonly adMode: SpteAdMode;
  /** Saved R (bit 54) and X (bit 56) of an access-tracked SPTE. */
  readonly savedReadable: boolean;
  readonly savedExecutable: boolean;
  readonly hostWritable: boolean;
  readonly mmuWritable: boolean;
  readonly suppressVe: boolean;
  /** Bits 51:12. */
  readonly pfn: number;
  /** Equals FROZEN_SPTE. */
  readonly frozen: boolean;
  /** Equals SHADOW_NONPRESENT_VALUE. */
  readonly shadowNonpresent: boolean;
  /** is_mmio_spte() under the VM's MMIO value and mask. */
  readonly mmio: boolean;
  /** For an MMIO SPTE: the 19-bit memslot generation and the GFN; otherwise null. */
  readonly mmioGeneration: number | null;
  readonly mmioGfn: number | null;
}

const AD_MODES: readonly SpteAdMode[] = ['enabled', 'disabled', 'wrprot_only', 'reserved'];

/** Decode a 64-bit EPT entry given as two 32-bit halves. `vm: 'tdx'` uses TDX's MMIO value. */
export function decodeSpte(lo: number, hi: number, vm: 'ept' | 'tdx' = 'ept'): SpteDecode {
  const mmioConfig: MmioSpteConfig = vm === 'tdx' ? TDX_MMIO : EPT_MMIO;
  const present = (lo & SPTE_MMU_PRESENT_MASK) !== 0;
  const frozen = isFrozenSpte(lo, hi);
  const shadowNonpresent = lo === 0 && (hi | 0) === SHADOW_NONPRESENT_VALUE_HI;
  const mmio = isMmioSpte(lo, hi, mmioConfig);
  let kind: SpteKind;
  if (present) kind = 'present';
  else if (frozen) kind = 'frozen';
  else if (shadowNonpresent) kind = 'nonpresent';
  else if (mmio) kind = 'mmio';
  else kind = 'other';
  return {
    value: word64(lo, hi),
    vm,
    kind,
    present,
    readable: (lo & VMX_EPT_READABLE_MASK) !== 0,
    writable: (lo & VMX_EPT_WRITABLE_MASK) !== 0,
    executable: (lo & VMX_EPT_EXECUTABLE_MASK) !== 0,
    memtype: spteMemtype(lo),
    ipat: (lo & VMX_EPT_IPAT_BIT) !== 0,
    large: (lo & PT_PAGE_SIZE_MASK) !== 0,
    accessed: (lo & VMX_EPT_ACCESS_BIT) !== 0,
    dirty: (lo & VMX_EPT_DIRTY_BIT) !== 0,
    userExec: (lo & VMX_EPT_USER_EXECUTABLE_MASK) !== 0,
    mmuPresent: present,
    adMode: AD_MODES[(hi & SPTE_TDP_AD_MASK_HI) >>> 20] as SpteAdMode,
    savedReadable: ((hi >>> 22) & 1) !== 0,
    savedExecutable: ((hi >>> 24) & 1) !== 0,
    hostWritable: (hi & EPT_SPTE_HOST_WRITABLE_HI) !== 0,
    mmuWritable: (hi & EPT_SPTE_MMU_WRITABLE_HI) !== 0,
    suppressVe: (hi & VMX_EPT_SUPPRESS_VE_BIT_HI) !== 0,
    pfn: spteToPfn(lo, hi),
    frozen,
    shadowNonpresent,
    mmio,
    mmioGeneration: mmio ? getMmioSpteGeneration(lo, hi) : null,
    mmioGfn: mmio ? getMmioSpteGfn(lo, hi) : null,
  };
}

/** The decode as JSON data (CONTRACTS conventions: entries and PFNs as `0x…` strings). */
export function spteDecodeToJson(d: SpteDecode): Record<string, unknown> {
  return {
    input: word64Hex(d.value),
    vm: d.vm,
    kind: d.kind,
    present: d.present,
    readable: d.readable,
    writable: d.writable,
    executable: d.executable,
    memtype: d.memtype,
    ipat: d.ipat,
    large: d.large,
    accessed: d.accessed,
    dirty: d.dirty,
    userExec: d.userExec,
    mmuPresent: d.mmuPresent,
    adMode: d.adMode,
    savedReadable: d.savedReadable,
    savedExecutable: d.savedExecutable,
    hostWritable: d.hostWritable,
    mmuWritable: d.mmuWritable,
    suppressVe: d.suppressVe,
    pfn: `0x${d.pfn.toString(16)}`,
    frozen: d.frozen,
    shadowNonpresent: d.shadowNonpresent,
    mmio: d.mmio,
    mmioGeneration: d.mmioGeneration,
    mmioGfn: d.mmioGfn === null ? null : `0x${d.mmioGfn.toString(16)}`,
  };
}
