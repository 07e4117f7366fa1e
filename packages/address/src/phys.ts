// Distinct address spaces as branded numbers, in the spirit of rust-vmm's vm-memory and the
// x86_64 crate: checked constructors, named conversions, no operator tricks. A 52-bit physical
// address fits a double exactly, so the brands cost nothing on the hot path.

import { PAGE_SHIFT, PAGE_SIZE } from './levels.js';

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** A guest-physical address (may carry the TDX shared bit). */
export type Gpa = Brand<number, 'Gpa'>;
/** A guest frame number: a GPA >> 12. */
export type Gfn = Brand<number, 'Gfn'>;
/** A host-physical address. */
export type Hpa = Brand<number, 'Hpa'>;
/** A host page frame number: an HPA >> 12. */
export type Pfn = Brand<number, 'Pfn'>;

/**
 * The modelled host's MAXPHYADDR (CONTRACTS §2: "The modelled host has MAXPHYADDR 52").
 * Source: the architectural limit of x86-64 physical addressing (SDM vol. 3, 4.1.4).
 */
export const MAXPHYADDR = 52;
/** 2^52: the first physical address the modelled host cannot express. */
export const PHYS_ADDR_LIMIT = 2 ** MAXPHYADDR;
/** 2^40: the first GFN/PFN beyond a 52-bit physical address. */
export const PHYS_FRAME_LIMIT = 2 ** (MAXPHYADDR - PAGE_SHIFT);

/** Why a value is not a valid address of the named space. */
export function physError(kind: string, value: number, limit: number): string | undefined {
  if (!Number.isInteger(value)) return `${kind} is not an integer: ${value}`;
  if (value < 0) return `${kind} is negative: ${value}`;
  if (value >= limit) {
    return `${kind} 0x${value.toString(16)} is at or above 0x${limit.toString(16)}`;
  }
  return undefined;
}

function make<T>(kind: string, value: number, limit: number): T {
  const err = physError(kind, value, limit);
  if (err !== undefined) throw new RangeError(err);
  return value as T;
}

/** Checked constructor: an integer in [0, 2^52). Throws RangeError naming the value. */
export function gpa(value: number): Gpa {
  return make<Gpa>('GPA', value, PHYS_ADDR_LIMIT);
}
/** Checked constructor: an integer in [0, 2^40). */
export function gfn(value: number): Gfn {
  return make<Gfn>('GFN', value, PHYS_FRAME_LIMIT);
}
/** Checked constructor: an integer in [0, 2^52). */
export function hpa(value: number): Hpa {
  return make<Hpa>('HPA', value, PHYS_ADDR_LIMIT);
}
/** Checked constructor: an integer in [0, 2^40). */
export function pfn(value: number): Pfn {
  return make<Pfn>('PFN', value, PHYS_FRAME_LIMIT);
}

/** Non-throwing constructor: the GPA, or undefined when out of range. */
export function tryGpa(value: number): Gpa | undefined {
  return physError('GPA', value, PHYS_ADDR_LIMIT) === undefined ? (value as Gpa) : undefined;
}
/** Non-throwing constructor: the GFN, or undefined when out of range. */
export function tryGfn(value: number): Gfn | undefined {
  return physError('GFN', value, PHYS_FRAME_LIMIT) === undefined ? (value as Gfn) : undefined;
}

/** gpa_to_gfn(): drops the page offset. */
export function gpaToGfn(addr: Gpa): Gfn {
  return Math.floor(addr / PAGE_SIZE) as Gfn;
}
/** gfn_to_gpa(). */
export function gfnToGpa(frame: Gfn): Gpa {
  return (frame * PAGE_SIZE) as Gpa;
}
/** The HPA → PFN conversion (PHYS_PFN). */
export function hpaToPfn(addr: Hpa): Pfn {
  return Math.floor(addr / PAGE_SIZE) as Pfn;
}
/** PFN_PHYS(). */
export function pfnToHpa(frame: Pfn): Hpa {
  return (frame * PAGE_SIZE) as Hpa;
}
/** offset_in_page(): the byte offset within the 4 KiB page. */
export function pageOffset(addr: number): number {
  // Not `%`: on doubles above 2^31 it compiles to fmod (performance.md B.3).
  return addr - Math.floor(addr / PAGE_SIZE) * PAGE_SIZE;
}
