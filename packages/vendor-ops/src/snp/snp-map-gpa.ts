// What an SNP guest sends for a scenario's `mapGpa` (CONTRACTS §2: "SNP page-state change"):
// the GHCB MSR protocol for a single page — as the SNP conversion selftests do
// (selftests.md B.7) — and GHCB PSC buffers for anything larger, cut into pieces of at most
// 2 MiB from the current GPA (buildPscBuffers). Each request becomes KVM_EXIT_HYPERCALL
// (KVM_HC_MAP_GPA_RANGE) exits with SNP's flag encoding: ENCRYPTED (0x10) or DECRYPTED (0),
// ORed with PAGE_SZ_2M (1) for a 2M entry.

import type { Word64 } from '@kvmx/address';
import { ghcbMsrPscReq, SNP_PAGE_STATE_PRIVATE, SNP_PAGE_STATE_SHARED } from './ghcb-msr.js';
import {
  buildPscBuffers,
  type PscBuffer,
  VMGEXIT_PSC_OP_PRIVATE,
  VMGEXIT_PSC_OP_SHARED,
} from './psc-buffer.js';

/** One VMGEXIT the guest issues for a page-state change. */
export type SnpPscRequest =
  | { readonly kind: 'msr'; readonly msr: Word64 }
  | { readonly kind: 'ghcb'; readonly buffer: PscBuffer };

/**
 * The requests for converting [gpa, gpa+size) (4K-aligned) to shared or private. `protocol`
 * forces one protocol; by default a single page uses the MSR protocol, larger ranges the
 * GHCB buffer (which needs the GHCB registered first, see snpVmgexitPsc).
 */
export function snpMapGpaRequests(
  gpa: number,
  size: number,
  shared: boolean,
  protocol: 'msr' | 'ghcb' | 'auto' = 'auto',
): SnpPscRequest[] {
  const pages = Math.floor(size / 4096);
  const useMsr = protocol === 'msr' || (protocol === 'auto' && pages === 1);
  if (useMsr) {
    const op = shared ? SNP_PAGE_STATE_SHARED : SNP_PAGE_STATE_PRIVATE;
    const out: SnpPscRequest[] = [];
    const gfn = Math.floor(gpa / 4096);
    for (let i = 0; i < pages; i++) out.push({ kind: 'msr', msr: ghcbMsrPscReq(gfn + i, op) });
    return out;
  }
  const op = shared ? VMGEXIT_PSC_OP_SHARED : VMGEXIT_PSC_OP_PRIVATE;
  return buildPscBuffers(gpa, size, op).map((buffer) => ({ kind: 'ghcb', buffer }));
}
