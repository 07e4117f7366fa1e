// Power-of-two alignment on plain numbers, exact for every integer below 2^53.
// `&` would truncate to 32 bits, so alignment divides by the power of two instead.

function assertPow2(align: number): void {
  if (!Number.isSafeInteger(align) || align <= 0 || 2 ** Math.round(Math.log2(align)) !== align) {
    throw new RangeError(`alignment is not a power of two: ${align}`);
  }
}

/** Round `value` down to a multiple of `align` (a power of two). */
export function alignDown(value: number, align: number): number {
  assertPow2(align);
  return Math.floor(value / align) * align;
}

/** Round `value` up to a multiple of `align` (a power of two). */
export function alignUp(value: number, align: number): number {
  assertPow2(align);
  return Math.ceil(value / align) * align;
}

/** True when `value` is a multiple of `align` (a power of two). */
export function isAligned(value: number, align: number): boolean {
  assertPow2(align);
  return Math.floor(value / align) * align === value;
}
