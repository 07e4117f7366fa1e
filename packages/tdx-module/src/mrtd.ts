// MRTD: the TD's build-time measurement, SHA-384 over 128-byte records.
// Models intel/tdx-module src/vmm_dispatcher/api_calls/tdh_mng_init.c (sha384_init),
// tdh_mem_page_add.c and tdh_mr_extend.c (the sha384_128B_block_t records), tdh_mr_finalize.c
// (sha384_finalize into TDCS.MR_TD); tdx-module.md §5.
//
// A record: bytes 0..15 the API name in ASCII, zero padded; bytes 16..23 the GPA, little-endian;
// bytes 24..127 zero. TDH.MEM.PAGE.ADD adds one record ("MEM.PAGE.ADD", the page GPA; the
// contents are not hashed). TDH.MR.EXTEND adds a record ("MR.EXTEND", the 256-byte chunk GPA)
// followed by the chunk's 256 bytes as two more 128-byte blocks.

import { sha384 } from '@noble/hashes/sha2.js';

export const MRTD_RECORD_SIZE = 128;
export const MR_EXTEND_CHUNK = 256;
export const MRTD_SIZE = 48;

/** Write the 128-byte record for `name` and `gpa` into `out` (which must be 128 bytes). */
export function mrtdRecord(
  name: string,
  gpa: number,
  out: Uint8Array = new Uint8Array(128),
): Uint8Array {
  out.fill(0, 0, MRTD_RECORD_SIZE);
  for (let i = 0; i < name.length && i < 16; i++) out[i] = name.charCodeAt(i) & 0x7f;
  let lo = gpa % 2 ** 32;
  let hi = Math.floor(gpa / 2 ** 32);
  for (let i = 0; i < 4; i++) {
    out[16 + i] = lo & 0xff;
    lo = Math.floor(lo / 256);
    out[20 + i] = hi & 0xff;
    hi = Math.floor(hi / 256);
  }
  return out;
}

type Sha384 = ReturnType<typeof sha384.create>;

/** The running measurement of one TD. */
export class Mrtd {
  private hash: Sha384 = sha384.create();
  private readonly block = new Uint8Array(MRTD_RECORD_SIZE);
  /** Records hashed so far (128-byte blocks). */
  blocks = 0;
  /** The finalized MRTD (48 bytes) once MR.FINALIZE ran. */
  value: Uint8Array | null = null;

  /** TDH.MEM.PAGE.ADD's record. */
  pageAdd(gpa: number): void {
    this.hash.update(mrtdRecord('MEM.PAGE.ADD', gpa, this.block));
    this.blocks++;
  }

  /** TDH.MR.EXTEND's record and the 256 bytes of the chunk. */
  extend(gpa: number, chunk: Uint8Array): void {
    this.hash.update(mrtdRecord('MR.EXTEND', gpa, this.block));
    this.hash.update(chunk.subarray(0, MR_EXTEND_CHUNK));
    this.blocks += 3;
  }

  /** TDH.MR.FINALIZE. */
  finalize(): Uint8Array {
    this.value = this.hash.digest();
    return this.value;
  }
}

/** `0x` + 96 hex digits (CONTRACTS §2 `mrtd`). */
export function mrtdHex(value: Uint8Array): string {
  let s = '0x';
  for (const b of value) s += b.toString(16).padStart(2, '0');
  return s;
}
