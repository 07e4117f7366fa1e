// Numbers as users type them (CLI arguments, scenario files) and the address decoder behind
// `kvmx addr` and the site's /decoder page. Parsing and decoding never throw: they return
// `{ ok: true, value }` or `{ ok: false, error }` with the message the CLI prints.
import assert from 'node:assert/strict';
import {
  type DecodeOptions,
  decodeGpa,
  type GpaDecode,
  gpaDecodeToJson,
  type ParseResult,
  parseBigUint,
  parseU64,
  parseUint,
} from '@kvmx/address';

// Hex, decimal with '_' separators, or a size with a binary suffix.
assert.deepEqual(parseUint('0x8000_0000_1000'), { ok: true, value: 0x8000_0000_1000 });
assert.deepEqual(parseUint('2MiB'), { ok: true, value: 2 * 1024 * 1024 });
assert.deepEqual(parseUint('1_048_576'), { ok: true, value: 1 << 20 });
const bad: ParseResult<number> = parseUint('0x10_0000_0000_0000', {
  what: 'address',
  limit: 2 ** 52,
  limitName: '2^52',
});
assert.deepEqual(bad, {
  ok: false,
  error: 'address 0x10000000000000 is out of range: must be below 2^52',
});
assert.equal(parseUint('12k').ok, false);
// 64-bit values (SPTEs, TDX statuses) need bigint at this edge.
assert.deepEqual(parseU64('0xc000020000000000'), { ok: true, value: 0xc000020000000000n });
assert.deepEqual(parseU64('0x1_0000_0000_0000_0000'), {
  ok: false,
  error: '0x1_0000_0000_0000_0000 does not fit in 64 bits',
});
assert.deepEqual(parseBigUint('1PiB'), { ok: true, value: 1n << 50n });

// Decode the shared alias of GFN 1 in a TD with GPAW 48, as `kvmx addr 0x800000001000 --vm tdx`.
const td: DecodeOptions = { vmType: 'tdx', gpaw: 48 };
const r = decodeGpa(0x8000_0000_1000, td);
assert.ok(r.ok);
const d: GpaDecode = r.value;
assert.equal(d.sharedBit, 47);
assert.equal(d.gfn, 0x1); // canonical GFN: the shared bit stripped
assert.equal(d.rawGfn, 0x8_0000_0001);
assert.equal(d.isPrivateGpa, false);
assert.equal(d.isAddrDirect, true);
assert.equal(d.privateGpa, 0x1000);
assert.deepEqual(
  d.indices.map((i) => i.index),
  [256, 0, 0, 1], // PML4, PDPT, PD, PT: the shared bit is the top bit of the PML4 index
);
const json = gpaDecodeToJson(d);
assert.equal(json.gfn, '0x1');
assert.equal(json.sharedGpa, '0x800000001000');

// The same address in an SNP guest: no shared bit; the C-bit (51 by default) is reported.
const snp = decodeGpa(0x8000_0000_1000, { vmType: 'snp' });
assert.ok(snp.ok && snp.value.sharedBit === null && snp.value.gfn === 0x8_0000_0001);
assert.equal(snp.ok && snp.value.cbitSet, false);

// Errors are values with the CLI's message.
assert.deepEqual(decodeGpa(2 ** 48, td), {
  ok: false,
  error: 'address 0x1000000000000 is at or above 2^48, outside a TD with GPAW 48',
});
assert.deepEqual(decodeGpa(0, { vmType: 'tdx', gpaw: 57 }), {
  ok: false,
  error: 'GPAW must be 48 or 52, got 57',
});
// With GPAW 52 the same 2^48 is an ordinary private address, walked by a 5-level S-EPT.
const five = decodeGpa(2 ** 48, { vmType: 'tdx', gpaw: 52 });
assert.ok(five.ok && five.value.rootLevel === 5 && five.value.isPrivateGpa);
