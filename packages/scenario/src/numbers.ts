// Numbers as scenario files write them: integers, hex strings (`0x1000`) or sizes (`2MiB`),
// parsed by @kvmx/address (parseBigUint/parseU64). Every schema here is a zod union of an
// integer and a string, so the generated JSON Schema tells an editor both forms.

import { parseBigUint, parseU64 } from '@kvmx/address';
import { z } from 'zod';

/** The pattern a number written as a string must match (also in the JSON Schema). */
export const NUMBER_PATTERN =
  '^\\s*(?:0[xX][0-9a-fA-F](?:_?[0-9a-fA-F])*|[0-9](?:_?[0-9])*(?:KiB|MiB|GiB|TiB|PiB)?)\\s*$';

const FORMS = 'an integer, a hex string (0x1000) or a size (4KiB, 2MiB, 1GiB)';

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a sequence';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

function numberInput(description: string) {
  return z.union([z.int(), z.string().meta({ pattern: NUMBER_PATTERN })], {
    error: (iss) => `expected ${description}: ${FORMS}; got ${describe(iss.input)}`,
  });
}

/**
 * A number below `limit` (default 2^52: the modelled MAXPHYADDR; CONTRACTS §2 makes values
 * at or above it bad input) and at least `min`.
 */
export function uintSchema(
  what: string,
  options: { min?: number; limit?: number; limitName?: string } = {},
) {
  const min = options.min ?? 0;
  const limit = options.limit ?? 2 ** 52;
  const limitName = options.limitName ?? (limit === 2 ** 52 ? '2^52' : `0x${limit.toString(16)}`);
  // Small fields (bytes, levels, vCPUs) read better in decimal, addresses in hex.
  const show = (v: bigint) => (limit <= 2 ** 16 ? v.toString() : `0x${v.toString(16)}`);
  return numberInput(what)
    .transform((v, ctx): number => {
      let value: bigint;
      if (typeof v === 'number') value = BigInt(v);
      else {
        const r = parseBigUint(v);
        if (!r.ok) {
          ctx.addIssue({ code: 'custom', message: r.error, input: v });
          return z.NEVER;
        }
        value = r.value;
      }
      if (value < BigInt(min)) {
        ctx.addIssue({
          code: 'custom',
          message:
            value < 0n
              ? `${what} must not be negative; got ${value}`
              : `${what} must be at least ${min}; got ${value}`,
          input: v,
        });
        return z.NEVER;
      }
      if (value >= BigInt(limit)) {
        ctx.addIssue({
          code: 'custom',
          message: `${what} ${show(value)} is out of range: must be below ${limitName}`,
          input: v,
        });
        return z.NEVER;
      }
      return Number(value);
    })
    .meta({ description: `${what}: ${FORMS}` });
}

/** A 64-bit value (raw SEAMCALL registers, hypercall arguments): [0, 2^64), as a bigint. */
export function u64Schema(what: string, options: { allowNegative?: boolean } = {}) {
  return numberInput(what)
    .transform((v, ctx): bigint => {
      if (typeof v === 'number') {
        if (v < 0) {
          if (options.allowNegative && v >= -(2 ** 53)) return (1n << 64n) + BigInt(v);
          ctx.addIssue({ code: 'custom', message: `${what} must not be negative; got ${v}` });
          return z.NEVER;
        }
        return BigInt(v);
      }
      const r = parseU64(v);
      if (!r.ok) {
        ctx.addIssue({ code: 'custom', message: r.error, input: v });
        return z.NEVER;
      }
      return r.value;
    })
    .meta({ description: `${what} (64 bits): ${FORMS}` });
}

/** Guest-physical addresses and sizes: below 2^52. */
export const gpaSchema = uintSchema('gpa').meta({ id: 'gpa' });
export const sizeSchema = uintSchema('size').meta({ id: 'size' });
/** A byte pattern 0..0xff. */
export const byteSchema = uintSchema('byte', { limit: 256, limitName: '256 (one byte)' }).meta({
  id: 'byte',
});
/** A PG_LEVEL: 1 = 4K … 5 = 256T. */
export const levelSchema = uintSchema('level', {
  min: 1,
  limit: 6,
  limitName: '6 (PG_LEVEL 1..5)',
}).meta({ id: 'level' });
/** A vCPU index. */
export const vcpuSchema = uintSchema('vcpu', { limit: 64, limitName: '64 vCPUs' }).meta({
  id: 'vcpu',
});
