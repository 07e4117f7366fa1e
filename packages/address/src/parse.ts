// Numbers as users write them (CLI arguments, scenario files): decimal, 0x-hex, or a size
// with a binary suffix (4KiB, 2MiB, 1GiB, 1TiB, 1PiB). Parsing never throws: it returns a
// value or one message saying what was expected.

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

const SIZE_SUFFIXES: Readonly<Record<string, bigint>> = {
  KiB: 1n << 10n,
  MiB: 1n << 20n,
  GiB: 1n << 30n,
  TiB: 1n << 40n,
  PiB: 1n << 50n,
};

const EXPECTED =
  'expected a number: hex (0x1000), decimal (4096) or a size (4KiB, 2MiB, 1GiB, 1TiB)';
const NUMBER_RE =
  /^(?:0[xX]([0-9a-fA-F](?:_?[0-9a-fA-F])*)|([0-9](?:_?[0-9])*)(KiB|MiB|GiB|TiB|PiB)?)$/;

/** Parse to an exact unsigned bigint of any size. */
export function parseBigUint(text: string): ParseResult<bigint> {
  const trimmed = text.trim();
  const m = NUMBER_RE.exec(trimmed);
  if (m === null) {
    return { ok: false, error: `${EXPECTED}; got ${JSON.stringify(text)}` };
  }
  const [, hexDigits, decDigits, suffix] = m;
  if (hexDigits !== undefined)
    return { ok: true, value: BigInt(`0x${hexDigits.replace(/_/g, '')}`) };
  const base = BigInt((decDigits ?? '').replace(/_/g, ''));
  return { ok: true, value: suffix === undefined ? base : base * (SIZE_SUFFIXES[suffix] ?? 1n) };
}

/** Parse to a 64-bit word value (entries, status codes): [0, 2^64). */
export function parseU64(text: string): ParseResult<bigint> {
  const r = parseBigUint(text);
  if (!r.ok) return r;
  if (r.value >= 1n << 64n) {
    return { ok: false, error: `${text.trim()} does not fit in 64 bits` };
  }
  return r;
}

/**
 * Parse to a number strictly below `limit` (default 2^53). `what` names the value in the
 * error ("address", "size").
 */
export function parseUint(
  text: string,
  options: { limit?: number; what?: string; limitName?: string } = {},
): ParseResult<number> {
  const limit = options.limit ?? 2 ** 53;
  const what = options.what ?? 'value';
  const r = parseBigUint(text);
  if (!r.ok) return { ok: false, error: `${what}: ${r.error}` };
  if (r.value >= BigInt(limit)) {
    const bound = options.limitName ?? `0x${limit.toString(16)}`;
    return {
      ok: false,
      error: `${what} 0x${r.value.toString(16)} is out of range: must be below ${bound}`,
    };
  }
  return { ok: true, value: Number(r.value) };
}
