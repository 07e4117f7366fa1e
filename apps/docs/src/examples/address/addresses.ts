// GPA, GFN, HPA and PFN as distinct (branded) numbers, with the kernel's conversions
// (gpa_to_gfn(), gfn_to_gpa(), PHYS_PFN(), PFN_PHYS(), offset_in_page()) and the single-bit
// and alignment helpers the MMU code uses (BIT_ULL tests, ALIGN()/ALIGN_DOWN()/IS_ALIGNED()).
// All exact up to 2^53 without bigint; the modelled host has MAXPHYADDR 52.
import assert from 'node:assert/strict';
import {
  alignDown,
  alignUp,
  clearBit,
  type Gfn,
  type Gpa,
  gfn,
  gfnToGpa,
  gpa,
  gpaToGfn,
  type Hpa,
  hpa,
  hpaToPfn,
  isAligned,
  isSingleBitMask,
  MAXPHYADDR,
  type Pfn,
  PHYS_ADDR_LIMIT,
  PHYS_FRAME_LIMIT,
  pageOffset,
  pfn,
  pfnToHpa,
  setBit,
  testBit,
  tryGfn,
  tryGpa,
} from '@kvmx/address';

assert.equal(MAXPHYADDR, 52);
assert.equal(PHYS_ADDR_LIMIT, 2 ** 52);
assert.equal(PHYS_FRAME_LIMIT, 2 ** 40);

// The highest GPA a 52-bit guest can name, and its frame.
const top: Gpa = gpa(2 ** 52 - 1);
const topGfn: Gfn = gpaToGfn(top);
assert.equal(topGfn, 2 ** 40 - 1);
assert.equal(pageOffset(top), 0xfff);
assert.equal(gfnToGpa(topGfn), 2 ** 52 - 4096);

// Checked constructors throw a RangeError naming the value; try* return undefined instead.
assert.throws(() => gpa(2 ** 52), { name: 'RangeError', message: /0x10000000000000/ });
assert.throws(() => gfn(-1), RangeError);
assert.throws(() => gpa(0.5), RangeError);
assert.equal(tryGpa(2 ** 52), undefined);
assert.equal(tryGfn(2 ** 40 - 1), 2 ** 40 - 1);
assert.equal(tryGfn(2 ** 40), undefined);

// Host side: a PFN above 4 GiB (as FramePool hands out by default) and back.
const frame: Pfn = pfn(0x10_0000);
const host: Hpa = pfnToHpa(frame);
assert.equal(host, 0x1_0000_0000);
assert.equal(hpaToPfn(hpa(host + 0x123)), frame);

// Single-bit helpers, exact above bit 31 (where JavaScript's & and | stop working).
const SHARED_GFN_BIT = 2 ** 35; // the TD shared bit (GPA bit 47) in GFN space
assert.equal(isSingleBitMask(SHARED_GFN_BIT), true);
assert.equal(isSingleBitMask(0x3_0000_0000), false); // bits 32 and 33
assert.equal(setBit(0x1, SHARED_GFN_BIT), 0x8_0000_0001);
assert.equal(testBit(0x8_0000_0001, SHARED_GFN_BIT), 1);
assert.equal(clearBit(0x8_0000_0001, SHARED_GFN_BIT), 0x1);
assert.equal(testBit(0x1, 0), 0); // mask 0 means "no such bit" (a VM without a shared bit)

// Alignment to a huge-page size, also above 2^32.
const TWO_MB = 2 ** 21;
const ONE_GB = 2 ** 30;
assert.equal(alignDown(0x1_4030_1000, TWO_MB), 0x1_4020_0000);
assert.equal(alignUp(0x1_4030_1000, TWO_MB), 0x1_4040_0000);
assert.equal(alignUp(0x1_4000_0000, ONE_GB), 0x1_4000_0000); // already aligned: unchanged
assert.equal(isAligned(2 ** 47, ONE_GB), true);
assert.equal(isAligned(2 ** 47 + 4096, TWO_MB), false);
