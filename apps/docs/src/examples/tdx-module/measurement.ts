// The TD's build-time measurement (MRTD), as the module computes it: TDH.MNG.INIT starts a
// SHA-384, TDH.MEM.PAGE.ADD hashes a 128-byte record naming the page's GPA, TDH.MR.EXTEND hashes
// a record for a 256-byte chunk followed by the chunk itself, TDH.MR.FINALIZE closes it into
// TDCS.MR_TD. KVM issues PAGE.ADD + 16 x MR.EXTEND per page for KVM_TDX_INIT_MEM_REGION with
// KVM_TDX_MEASURE_MEMORY_REGION (tdx_gmem_post_populate()). The digest is recomputed here with
// node:crypto from the record layout alone.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { FrameOwner, FramePool } from '@kvmx/paging';
import {
  encodeTdParams,
  formatStatus,
  MNG_FIELDS,
  MR_EXTEND_CHUNK,
  MRTD_RECORD_SIZE,
  MRTD_SIZE,
  Mrtd,
  mrtdHex,
  mrtdRecord,
  TdxModule,
  type TdxStatus,
} from '@kvmx/tdx-module';

assert.equal(MRTD_RECORD_SIZE, 128);
assert.equal(MR_EXTEND_CHUNK, 256);
assert.equal(MRTD_SIZE, 48); // SHA-384

// A record: the API name in ASCII (16 bytes, zero padded), the GPA little-endian, zeros.
const rec = mrtdRecord('MR.EXTEND', 0x1_2345_6700);
assert.equal(new TextDecoder().decode(rec.subarray(0, 9)), 'MR.EXTEND');
assert.deepEqual([...rec.subarray(16, 24)], [0x00, 0x67, 0x45, 0x23, 0x01, 0, 0, 0]);
assert.ok(rec.subarray(24).every((b) => b === 0));

const pool = new FramePool();
const mod = new TdxModule({ pool });
const page = (owner: FrameOwner = FrameOwner.HOST) => pool.alloc(owner) * 4096;
const ok = (s: TdxStatus) => assert.equal(formatStatus(s), 'TDX_SUCCESS');
const tdr = page(FrameOwner.TDX_TDR);
ok(mod.mngCreate(tdr, mod.keyIds.alloc()));
ok(mod.mngKeyConfig(tdr));
for (let i = 0; i < mod.tdcsPages; i++) ok(mod.mngAddcx(tdr, page(FrameOwner.TDX_TDCS)));
const params = page();
pool.write(params / 4096, 0, encodeTdParams({ maxVcpus: 1 }));
ok(mod.mngInit(tdr, params));

// The initial image: one page of firmware at GPA 0xFFFF_F000 (the reset vector's page), copied
// from a VMM source page by PAGE.ADD, then measured chunk by chunk.
const GPA = 0xffff_f000;
for (const level of [3, 2, 1])
  ok(mod.memSeptAdd(tdr, GPA - (GPA % 2 ** (12 + 9 * level)), level, page()));
const src = page(FrameOwner.VMM_SHARED);
const image = new Uint8Array(4096).map((_, i) => (i * 7) & 0xff);
pool.write(src / 4096, 0, image);
ok(mod.memPageAdd(tdr, GPA, page(FrameOwner.GUEST_MEMFD), src));
for (let off = 0; off < 4096; off += MR_EXTEND_CHUNK) ok(mod.mrExtend(tdr, GPA + off));
// MR.EXTEND wants a 256-byte aligned GPA of a MAPPED page.
assert.equal(formatStatus(mod.mrExtend(tdr, GPA + 8)), 'TDX_OPERAND_INVALID|RCX');
// A TD without a vCPU cannot be finalized.
assert.equal(formatStatus(mod.mrFinalize(tdr)), 'TDX_NO_VCPUS');
const tdvpr = page(FrameOwner.TDX_TDVPR);
ok(mod.vpCreate(tdr, tdvpr));
for (let i = 1; i < mod.tdvpsPages; i++) ok(mod.vpAddcx(tdvpr, page(FrameOwner.TDX_TDVPX)));
ok(mod.vpInit(tdvpr, 0));
ok(mod.mrFinalize(tdr));
assert.equal(formatStatus(mod.mrExtend(tdr, GPA)), 'TDX_OP_STATE_INCORRECT'); // sealed

// The same digest from the layout alone.
const h = createHash('sha384');
h.update(mrtdRecord('MEM.PAGE.ADD', GPA));
for (let off = 0; off < 4096; off += MR_EXTEND_CHUNK) {
  h.update(mrtdRecord('MR.EXTEND', GPA + off));
  h.update(image.subarray(off, off + MR_EXTEND_CHUNK));
}
const expected = new Uint8Array(h.digest());
const td = mod.td(tdr);
assert.deepEqual(td?.mrtd.value, expected);
assert.equal(td?.mrtd.blocks, 1 + 16 * 3);
assert.equal(mrtdHex(expected).length, 2 + 2 * MRTD_SIZE);
// TDH.MNG.RD reads it back as six 64-bit fields.
ok(mod.mngRd(tdr, MNG_FIELDS.MRTD));
assert.equal(mod.out.big(8), new DataView(expected.buffer).getBigUint64(0, true));

// The Mrtd class on its own: an empty measurement is SHA-384 of nothing.
const empty = new Mrtd();
assert.equal(mrtdHex(empty.finalize()), `0x${createHash('sha384').digest('hex')}`);
const one = new Mrtd();
one.pageAdd(GPA);
const other = new Mrtd();
other.pageAdd(GPA + 0x1000); // a different GPA is a different TD
assert.notDeepEqual(one.finalize(), other.finalize());
const ext = new Mrtd();
ext.extend(GPA, image);
assert.equal(ext.blocks, 3);
