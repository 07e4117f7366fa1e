// `0x…` formatting (CONTRACTS: lowercase, 0x-prefixed, no padding).

/** A non-negative safe integer as lowercase `0x…`. Throws RangeError otherwise. */
export function hex(value: number): string {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`cannot format as an address: ${value}`);
  }
  return `0x${value.toString(16)}`;
}

/** A bigint in [0, 2^64) as lowercase `0x…`. */
export function hexBig(value: bigint): string {
  if (value < 0n) throw new RangeError(`cannot format a negative value: ${value}`);
  return `0x${value.toString(16)}`;
}
