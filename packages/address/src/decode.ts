// Everything kvmx can say about one guest-physical address for one VM type: the view that
// `kvmx addr` prints and the docs decoder draws (CONTRACTS §1, `kvmx addr`).

import { DEFAULT_CBIT, hasCbit, isValidCbit, MAX_CBIT, MIN_CBIT } from './cbit.js';
import { hex } from './hex.js';
import { gfnIndex, PAGE_SIZE, type PgLevel } from './levels.js';
import type { ParseResult } from './parse.js';
import { PHYS_ADDR_LIMIT } from './phys.js';
import {
  canonicalGfn,
  type Gpaw,
  gfnDirectBits,
  gfnSharedMask,
  gfnToPrivate,
  gfnToShared,
  isAddrDirect,
  isGpaw,
  isPrivateGpa,
  tdxSharedBit,
  type VmAddressing,
} from './tdx-shared-bit.js';
import { usesCbit, type VmTypeName } from './vm-type.js';

export interface DecodeOptions {
  readonly vmType: VmTypeName;
  /** Default 48. For TDX it picks the shared bit; for other types 52 means 5-level paging. */
  readonly gpaw?: number;
  /** SEV/SEV-ES/SNP C-bit position, default 51. */
  readonly cbit?: number;
}

export interface GpaDecode {
  readonly input: number;
  readonly vmType: VmTypeName;
  readonly gpaw: Gpaw;
  /** GPA bit of the TDX shared bit, null for other types. */
  readonly sharedBit: 47 | 51 | null;
  readonly gfnSharedMask: number;
  readonly gfnDirectBits: number;
  readonly rawGfn: number;
  readonly gfn: number;
  readonly isPrivateGpa: boolean;
  readonly isAddrDirect: boolean;
  readonly sharedGpa: number;
  readonly privateGpa: number;
  readonly offset: number;
  /** Root level of the TDP walk: 5 with GPAW 52, else 4. */
  readonly rootLevel: 4 | 5;
  /** Table index per level, root first. */
  readonly indices: ReadonlyArray<{ readonly level: PgLevel; readonly index: number }>;
  /** True when the input lies inside what the walk of `rootLevel` levels can reach. */
  readonly reachable: boolean;
  /** C-bit position for SEV/SEV-ES/SNP, null otherwise. */
  readonly cbit: number | null;
  /** Whether the input has the C-bit set (its meaning in a guest page-table entry). */
  readonly cbitSet: boolean | null;
}

/** Validate the VM description and the address, then decode. Never throws. */
export function decodeGpa(input: number, options: DecodeOptions): ParseResult<GpaDecode> {
  const gpaw = options.gpaw ?? 48;
  if (!isGpaw(gpaw)) return { ok: false, error: `GPAW must be 48 or 52, got ${gpaw}` };
  if (!Number.isSafeInteger(input) || input < 0) {
    return { ok: false, error: `address is not a non-negative integer: ${input}` };
  }
  if (input >= PHYS_ADDR_LIMIT) {
    return {
      ok: false,
      error: `address ${hex(input)} is at or above 2^52 (MAXPHYADDR 52)`,
    };
  }
  if (options.vmType === 'tdx' && input >= 2 ** gpaw) {
    return {
      ok: false,
      error: `address ${hex(input)} is at or above 2^${gpaw}, outside a TD with GPAW ${gpaw}`,
    };
  }
  const cbitPos = options.cbit ?? DEFAULT_CBIT;
  const cbitApplies = usesCbit(options.vmType);
  if (options.cbit !== undefined && !isValidCbit(options.cbit)) {
    return {
      ok: false,
      error: `C-bit position must be ${MIN_CBIT}..${MAX_CBIT}, got ${options.cbit}`,
    };
  }
  const vm: VmAddressing = { vmType: options.vmType, gpaw };
  const rawGfn = Math.floor(input / PAGE_SIZE);
  const offset = input - rawGfn * PAGE_SIZE;
  const rootLevel = gpaw === 52 ? 5 : 4;
  const indices: { level: PgLevel; index: number }[] = [];
  for (let level = rootLevel; level >= 1; level--) {
    indices.push({ level: level as PgLevel, index: gfnIndex(rawGfn, level as PgLevel) });
  }
  return {
    ok: true,
    value: {
      input,
      vmType: options.vmType,
      gpaw,
      sharedBit: options.vmType === 'tdx' ? tdxSharedBit(gpaw) : null,
      gfnSharedMask: gfnSharedMask(vm),
      gfnDirectBits: gfnDirectBits(vm),
      rawGfn,
      gfn: canonicalGfn(vm, input),
      isPrivateGpa: isPrivateGpa(vm, input),
      isAddrDirect: isAddrDirect(vm, input),
      sharedGpa: gfnToShared(vm, rawGfn) * PAGE_SIZE + offset,
      privateGpa: gfnToPrivate(vm, rawGfn) * PAGE_SIZE + offset,
      offset,
      rootLevel,
      indices,
      reachable: input < 2 ** (12 + 9 * rootLevel),
      cbit: cbitApplies ? cbitPos : null,
      cbitSet: cbitApplies ? hasCbit(input, cbitPos) : null,
    },
  };
}

/** The JSON form of CONTRACTS §1: addresses and masks as `0x…`, indices keyed by level. */
export function gpaDecodeToJson(d: GpaDecode): Record<string, unknown> {
  const indices: Record<string, number> = {};
  for (const { level, index } of [...d.indices].reverse()) indices[String(level)] = index;
  return {
    input: hex(d.input),
    vmType: d.vmType,
    gpaw: d.gpaw,
    sharedBit: d.sharedBit,
    gfnSharedMask: hex(d.gfnSharedMask),
    gfnDirectBits: hex(d.gfnDirectBits),
    rawGfn: hex(d.rawGfn),
    gfn: hex(d.gfn),
    isPrivateGpa: d.isPrivateGpa,
    isAddrDirect: d.isAddrDirect,
    sharedGpa: hex(d.sharedGpa),
    privateGpa: hex(d.privateGpa),
    offset: hex(d.offset),
    indices,
    rootLevel: d.rootLevel,
    reachable: d.reachable,
    cbit: d.cbit,
    cbitSet: d.cbitSet,
  };
}
