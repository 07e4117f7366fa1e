// struct kvm_run's exit information, as the facade reports it after a KVM_RUN.
// Source: include/uapi/linux/kvm.h (struct kvm_run: memory_fault, hypercall, mmio,
// system_event); kvm-mmu.md §2.4, §2.9.

import { hex } from '@kvmx/address';
import {
  EXIT_REASON_NAMES,
  KVM_EXIT_HYPERCALL,
  KVM_EXIT_MEMORY_FAULT,
  KVM_EXIT_MMIO,
  KVM_EXIT_SYSTEM_EVENT,
} from './uapi.js';

export type KvmExit =
  | {
      readonly reason: typeof KVM_EXIT_MEMORY_FAULT;
      readonly gpa: number;
      readonly size: number;
      readonly flags: number;
    }
  | {
      readonly reason: typeof KVM_EXIT_HYPERCALL;
      readonly nr: number;
      readonly args: readonly [number, number, number];
      readonly flags: number;
    }
  | {
      readonly reason: typeof KVM_EXIT_MMIO;
      readonly gpa: number;
      readonly len: number;
      readonly isWrite: boolean;
    }
  | {
      readonly reason: typeof KVM_EXIT_SYSTEM_EVENT;
      readonly eventType: number;
      readonly data: readonly number[];
    };

/** The exit's reason name (CONTRACTS: memory_fault, hypercall, mmio, system_event). */
export function exitReasonName(exit: KvmExit): string {
  return EXIT_REASON_NAMES[exit.reason] ?? `exit_${exit.reason}`;
}

/** The exit as JSON-ready fields (hex strings), as the event stream carries it. */
export function exitFields(exit: KvmExit): Record<string, string | readonly string[]> {
  switch (exit.reason) {
    case KVM_EXIT_MEMORY_FAULT:
      return { gpa: hex(exit.gpa), size: hex(exit.size), flags: hex(exit.flags) };
    case KVM_EXIT_HYPERCALL:
      return { nr: hex(exit.nr), args: exit.args.map((a) => hex(a)), flags: hex(exit.flags) };
    case KVM_EXIT_MMIO:
      return { gpa: hex(exit.gpa), size: hex(exit.len), flags: exit.isWrite ? '0x1' : '0x0' };
    case KVM_EXIT_SYSTEM_EVENT:
      return { flags: hex(exit.eventType), args: exit.data.map((d) => hex(d)) };
  }
}
