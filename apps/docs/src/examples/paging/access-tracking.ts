// Accessed/dirty state of a leaf and KVM's A/D modes (arch/x86/kvm/mmu/spte.h: SPTE_TDP_AD_*,
// spte_ad_enabled(), is_accessed_spte(), is_dirty_spte(); spte.c:
// mark_spte_for_access_track(), restore_acc_track_spte(), spte_needs_atomic_update()).
// With A/D enabled the CPU sets bits 8/9; with A/D disabled (e.g. nested EPT without A/D) KVM
// "access-tracks" a page by clearing R/W/X and saving R and X in bits 54/56, so the next access
// faults and the fast path restores them.
import assert from 'node:assert/strict';
import { word64Hex } from '@kvmx/address';
import {
  decodeSpte,
  EPT_SHADOW_ACC_TRACK_MASK,
  isAccessedSpte,
  isAccessTrackSpte,
  isDirtySpte,
  isHostWritableSpte,
  isShadowPresentPte,
  isSuppressVe,
  makeSpte,
  markSpteForAccessTrack,
  restoreAccTrackSpte,
  SHADOW_ACC_TRACK_SAVED_BITS_MASK,
  SHADOW_ACC_TRACK_SAVED_BITS_SHIFT,
  SHADOW_ACC_TRACK_SAVED_MASK_HI,
  SPTE_TDP_AD_DISABLED_HI,
  SPTE_TDP_AD_ENABLED_HI,
  SPTE_TDP_AD_MASK_HI,
  SPTE_TDP_AD_SHIFT,
  SPTE_TDP_AD_WRPROT_ONLY_HI,
  spteAdEnabled,
  spteAdNeedWriteProtect,
  spteNeedsAtomicUpdate,
  spteToPfn,
} from '@kvmx/paging';

// The A/D mode lives in bits 53:52.
assert.equal(SPTE_TDP_AD_SHIFT, 52);
assert.equal(SPTE_TDP_AD_MASK_HI, 0x3 << (52 - 32));
assert.deepEqual(
  [SPTE_TDP_AD_ENABLED_HI, SPTE_TDP_AD_DISABLED_HI, SPTE_TDP_AD_WRPROT_ONLY_HI],
  [0, 1 << 20, 2 << 20],
);

// A/D enabled: accessed and dirty are the hardware bits.
const ad = makeSpte(0x1000);
assert.equal(spteAdEnabled(ad.hi), true);
assert.equal(spteAdNeedWriteProtect(ad.hi), false);
assert.equal(isAccessedSpte(ad.lo, ad.hi), true);
assert.equal(isDirtySpte(ad.lo, ad.hi), true);
// Aging with A/D just clears the Accessed bit; the page stays mapped and writable.
const aged = markSpteForAccessTrack(ad.lo, ad.hi);
assert.equal(word64Hex(aged), '0x8600000001000a37');
assert.equal(isAccessedSpte(aged.lo, aged.hi), false);
assert.equal(isAccessTrackSpte(aged.lo, aged.hi), false);

// A/D disabled: make_spte() sets no D bit; "dirty" means writable.
const noAd = makeSpte(0x1000, { adDisabled: true });
assert.equal(word64Hex(noAd), '0x8610000001000937');
assert.equal(spteAdEnabled(noAd.hi), false);
assert.equal(isDirtySpte(noAd.lo, noAd.hi), true);
// Access tracking saves R (bit 0 -> 54) and X (bit 2 -> 56) and clears RWX and A.
assert.equal(SHADOW_ACC_TRACK_SAVED_BITS_MASK, 0b101);
assert.equal(SHADOW_ACC_TRACK_SAVED_BITS_SHIFT, 54);
assert.equal(SHADOW_ACC_TRACK_SAVED_MASK_HI, 0b101 << (54 - 32));
const tracked = markSpteForAccessTrack(noAd.lo, noAd.hi);
assert.equal(tracked.lo & EPT_SHADOW_ACC_TRACK_MASK, 0); // R, W and X all cleared
assert.equal(word64Hex(tracked), '0x8750000001000830');
assert.equal(isAccessTrackSpte(tracked.lo, tracked.hi), true);
assert.equal(isShadowPresentPte(tracked.lo), true); // still present for KVM (bit 11)...
assert.equal(isAccessedSpte(tracked.lo, tracked.hi), false); // ...but not for the CPU
assert.equal(spteToPfn(tracked.lo, tracked.hi), 0x1000);
assert.equal(decodeSpte(tracked.lo, tracked.hi).savedReadable, true);
assert.deepEqual(markSpteForAccessTrack(tracked.lo, tracked.hi), tracked); // idempotent
// The fast page fault puts R and X back; W comes back only through the MMU-writable bit.
const restored = restoreAccTrackSpte(tracked.lo, tracked.hi);
assert.equal(word64Hex(restored), '0x8610000001000835');
assert.equal(isHostWritableSpte(restored.hi), true);
assert.equal(isSuppressVe(restored.hi), true);

// Which leaves KVM must update atomically (hardware or the fast path may change them):
assert.equal(spteNeedsAtomicUpdate(ad.lo, ad.hi), false); // writable and already dirty
const clean = makeSpte(0x1000, { oldWritable: true }); // no D set on this path
assert.equal(spteNeedsAtomicUpdate(clean.lo, clean.hi), true); // the CPU may set D
assert.equal(spteNeedsAtomicUpdate(noAd.lo, noAd.hi), true); // access tracking races
const wrprot = makeSpte(0x1000, { adWrprotOnly: true });
assert.equal(spteAdNeedWriteProtect(wrprot.hi), true);
