// The `rmp` event: one per change of the RMP (CONTRACTS §1: `{"type":"rmp",...}`).

import { hex, type PgLevel } from '@kvmx/address';

/** What changed the table: the instruction, or the SNP firmware (AMD-SP). */
export type RmpOp = 'rmpupdate' | 'psmash' | 'pvalidate' | 'rmpadjust' | 'firmware';

/**
 * The entry after the change. A 2M change or a PSMASH is one event at the 2M-aligned PFN;
 * `pageSize` is a PG_LEVEL (1 = 4K, 2 = 2M), as levels are everywhere in kvmx.
 */
export interface RmpEvent {
  readonly type: 'rmp';
  readonly op: RmpOp;
  /** The kernel or firmware function on whose behalf the instruction ran, when known. */
  readonly by: string | null;
  readonly pfn: number;
  readonly gpa: number;
  readonly assigned: boolean;
  readonly pageSize: PgLevel;
  readonly validated: boolean;
  readonly asid: number;
  readonly immutable: boolean;
  readonly vmsa: boolean;
}

export type RmpListener = (event: RmpEvent) => void;

/** The event as JSON for the event stream: addresses as `0x` hex strings. */
export function rmpEventToJson(e: RmpEvent): Record<string, unknown> {
  return {
    type: 'rmp',
    op: e.op,
    by: e.by,
    pfn: hex(e.pfn),
    gpa: hex(e.gpa),
    assigned: e.assigned,
    pageSize: e.pageSize,
    validated: e.validated,
    asid: e.asid,
    immutable: e.immutable,
    vmsa: e.vmsa,
  };
}
