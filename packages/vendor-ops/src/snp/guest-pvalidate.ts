// The guest side of SNP memory validation, as a Linux guest does it: PVALIDATE a range with
// 2M pages where the range allows, falling back to 4K pages on FAIL_SIZEMISMATCH, and the
// order of PVALIDATE and the page-state change in a conversion.
// models arch/x86/coco/sev/core.c: pvalidate_pages() / pval_pages() (guest), as summarised
// in sev-snp.md A.2 and A.6 ("Guest ordering"); the selftests (selftests.md B.7) follow the
// same order.

import { PG_LEVEL_2M, PG_LEVEL_4K, type PgLevel } from '@kvmx/address';
import { linuxPvalidateRc, type RmpGuestResult } from './rmp.js';
import { FAIL_SIZEMISMATCH } from './rmp-status.js';

const MB2 = 2 * 1024 * 1024;

/** How a guest PVALIDATE pass over a range ended. */
export type GuestPvalidateOutcome =
  | { readonly kind: 'done'; readonly pages4k: number; readonly pages2m: number }
  /** A #VMEXIT(NPF): KVM handles it (fault-in, PSMASH…) and the guest retries at `gpa`. */
  | { readonly kind: 'npf'; readonly gpa: number; readonly errorCode: number }
  /**
   * Any other nonzero return — including PVALIDATE_FAIL_NOUPDATE (CF=1: the page already
   * had that state) — is fatal for a Linux guest: it WARNs and terminates
   * (sev_es_terminate(SEV_TERM_SET_LINUX, GHCB_TERM_PVALIDATE)).
   */
  | { readonly kind: 'fail'; readonly gpa: number; readonly rc: number };

/**
 * PVALIDATE [gpa, gpa+size) (4K-aligned) to `validate`, calling `pvalidate(gpa, level)` for
 * each instruction. 2M where the GPA is 2M-aligned and a whole 2 MiB remains; on
 * FAIL_SIZEMISMATCH the 2M page is redone as 512 4K pages. Stops at the first #NPF, so the
 * caller can let KVM resolve it and call again from the returned GPA.
 */
export function snpGuestPvalidateRange(
  gpa: number,
  size: number,
  pvalidate: (gpa: number, level: PgLevel) => RmpGuestResult,
): GuestPvalidateOutcome {
  let pages4k = 0;
  let pages2m = 0;
  const end = gpa + size;
  for (let cur = gpa; cur < end; ) {
    if (cur % MB2 === 0 && end - cur >= MB2) {
      const r = pvalidate(cur, PG_LEVEL_2M);
      if (r.kind === 'npf') return { kind: 'npf', gpa: cur, errorCode: r.errorCode };
      const rc = linuxPvalidateRc(r) ?? 0;
      if (rc === 0) {
        pages2m++;
        cur += MB2;
        continue;
      }
      if (rc !== FAIL_SIZEMISMATCH) return { kind: 'fail', gpa: cur, rc };
      for (let i = 0; i < 512; i++) {
        const sub = pvalidate(cur, PG_LEVEL_4K);
        if (sub.kind === 'npf') return { kind: 'npf', gpa: cur, errorCode: sub.errorCode };
        const subRc = linuxPvalidateRc(sub) ?? 0;
        if (subRc !== 0) return { kind: 'fail', gpa: cur, rc: subRc };
        pages4k++;
        cur += 4096;
      }
      continue;
    }
    const r = pvalidate(cur, PG_LEVEL_4K);
    if (r.kind === 'npf') return { kind: 'npf', gpa: cur, errorCode: r.errorCode };
    const rc = linuxPvalidateRc(r) ?? 0;
    if (rc !== 0) return { kind: 'fail', gpa: cur, rc };
    pages4k++;
    cur += 4096;
  }
  return { kind: 'done', pages4k, pages2m };
}

/**
 * The order of a conversion's two guest steps: to private, the page-state change first and
 * PVALIDATE(validate) after; to shared, PVALIDATE(rescind) first and the page-state change
 * after (a shared page must never be left validated).
 */
export function snpConversionSteps(
  toPrivate: boolean,
): readonly ['psc' | 'pvalidate', 'psc' | 'pvalidate'] {
  return toPrivate ? ['psc', 'pvalidate'] : ['pvalidate', 'psc'];
}
