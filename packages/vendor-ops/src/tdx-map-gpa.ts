// KVM's handling of the TD's TDG.VP.VMCALL<MapGPA>: validation, then KVM_EXIT_HYPERCALL
// (KVM_HC_MAP_GPA_RANGE) to userspace in chunks of at most 2 MiB counted from the current GPA,
// the shared bit stripped from args[0]; between chunks a pending event makes the guest retry.
// Source: arch/x86/kvm/vmx/tdx.c tdx_map_gpa(), __tdx_map_gpa(), tdx_complete_vmcall_map_gpa()
// (6.16, [T-tdx]); GHCI TDVMCALL status codes (arch/x86/include/asm/shared/tdx.h);
// kvm-mmu.md §2.10, tdx-module.md §6.2.

import { type Gpaw, PAGE_SIZE, testBit } from '@kvmx/address';
import {
  KVM_EXIT_HYPERCALL_LONG_MODE,
  KVM_HC_MAP_GPA_RANGE,
  KVM_MAP_GPA_RANGE_DECRYPTED,
  KVM_MAP_GPA_RANGE_ENCRYPTED,
} from './hypercall.js';

/** TDVMCALL return codes in R10, as {hi, lo} halves (bit 63 marks errors). */
export const TDVMCALL_STATUS_SUCCESS = { hi: 0, lo: 0 } as const;
export const TDVMCALL_STATUS_RETRY = { hi: 0, lo: 1 } as const;
export const TDVMCALL_STATUS_INVALID_OPERAND = { hi: 0x80000000, lo: 0 } as const;
export const TDVMCALL_STATUS_ALIGN_ERROR = { hi: 0x80000000, lo: 2 } as const;
export const TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED = { hi: 0x80000000, lo: 3 } as const;
/** TDX_MAP_GPA_MAX_LEN: the largest range one KVM_EXIT_HYPERCALL covers. */
export const TDX_MAP_GPA_MAX_LEN = 2 * 1024 * 1024;

export type TdvmcallStatus = { readonly hi: number; readonly lo: number };

/** Names of the statuses above. */
export function tdvmcallStatusName(s: TdvmcallStatus): string {
  if (s.hi === 0 && s.lo === 0) return 'TDVMCALL_STATUS_SUCCESS';
  if (s.hi === 0 && s.lo === 1) return 'TDVMCALL_STATUS_RETRY';
  if (s.hi === 0x80000000 && s.lo === 0) return 'TDVMCALL_STATUS_INVALID_OPERAND';
  if (s.hi === 0x80000000 && s.lo === 2) return 'TDVMCALL_STATUS_ALIGN_ERROR';
  if (s.hi === 0x80000000 && s.lo === 3) return 'TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED';
  return `TDVMCALL_STATUS_${s.hi.toString(16)}_${s.lo.toString(16)}`;
}

/** One KVM_EXIT_HYPERCALL chunk. */
export interface MapGpaChunk {
  readonly nr: number;
  readonly args: readonly [number, number, number];
  readonly flags: number;
}

/** What KVM does next: exit with a chunk, or return to the guest with R10/R11. */
export type MapGpaStep =
  | { readonly kind: 'exit'; readonly chunk: MapGpaChunk }
  | { readonly kind: 'return'; readonly status: TdvmcallStatus; readonly r11: number };

/** The in-flight conversion of one vCPU (tdx->map_gpa_next / map_gpa_end). */
export class TdxMapGpa {
  private next: number;
  private readonly end: number;
  private readonly directBitGpa: number;

  private constructor(next: number, end: number, directBitGpa: number) {
    this.next = next;
    this.end = end;
    this.directBitGpa = directBitGpa;
  }

  /** models tdx.c: tdx_map_gpa() — validate, then the first chunk. */
  static start(
    exitEnabled: boolean,
    gpaw: Gpaw,
    gpa: number,
    size: number,
  ): { state: TdxMapGpa | null; step: MapGpaStep } {
    const err = (status: TdvmcallStatus) => ({
      state: null,
      step: { kind: 'return', status, r11: gpa } as const,
    });
    if (!exitEnabled) return err(TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED);
    const limit = 2 ** gpaw;
    const sharedBit = 2 ** (gpaw - 1);
    const isShared = (a: number) => testBit(a, sharedBit) === 1;
    if (size === 0 || gpa + size > limit || isShared(gpa) !== isShared(gpa + size - 1)) {
      return err(TDVMCALL_STATUS_INVALID_OPERAND);
    }
    if (gpa % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0) return err(TDVMCALL_STATUS_ALIGN_ERROR);
    const state = new TdxMapGpa(gpa, gpa + size, sharedBit);
    return { state, step: { kind: 'exit', chunk: state.chunk() } };
  }

  /** models tdx.c: __tdx_map_gpa() — the next ≤ 2 MiB chunk from the current GPA. */
  chunk(): MapGpaChunk {
    const size = Math.min(this.end - this.next, TDX_MAP_GPA_MAX_LEN);
    const shared = testBit(this.next, this.directBitGpa) === 1;
    const canonical = shared ? this.next - this.directBitGpa : this.next;
    return {
      nr: KVM_HC_MAP_GPA_RANGE,
      args: [
        canonical,
        size / PAGE_SIZE,
        shared ? KVM_MAP_GPA_RANGE_DECRYPTED : KVM_MAP_GPA_RANGE_ENCRYPTED,
      ],
      flags: KVM_EXIT_HYPERCALL_LONG_MODE,
    };
  }

  /**
   * models tdx.c: tdx_complete_vmcall_map_gpa() — a non-zero `ret` fails the call with
   * INVALID_OPERAND at the current GPA; otherwise advance; done at the end; with a pending
   * event, RETRY with R11 = the next GPA; else the next chunk.
   */
  complete(ret: number, hasEvents: boolean): MapGpaStep {
    if (ret !== 0)
      return { kind: 'return', status: TDVMCALL_STATUS_INVALID_OPERAND, r11: this.next };
    this.next += TDX_MAP_GPA_MAX_LEN;
    if (this.next >= this.end) return { kind: 'return', status: TDVMCALL_STATUS_SUCCESS, r11: 0 };
    if (hasEvents) return { kind: 'return', status: TDVMCALL_STATUS_RETRY, r11: this.next };
    return { kind: 'exit', chunk: this.chunk() };
  }
}
