// Shared pieces of the tests (not exported from the package): unwrapping results, the
// invariant check every test ends with, and a VMM loop that answers exits the way the KVM
// selftests' helpers do.

import { expect } from 'vitest';
import type { KvmExit } from './exit.js';
import { checkInvariants } from './invariants.js';
import type { Kvm } from './kvm.js';
import type { KvmResult } from './result.js';
import { KVM_EXIT_HYPERCALL, KVM_MEMORY_ATTRIBUTE_PRIVATE } from './uapi.js';
import type { RunResult, Vcpu } from './vcpu.js';

export function must<T>(r: KvmResult<T>): T {
  if (!r.ok) throw new Error(`expected success, got ${r.error}`);
  return r.value;
}

/** The invariant checker finds nothing. */
export function expectClean(kvm: Kvm): void {
  expect(checkInvariants(kvm)).toEqual([]);
}

/** Bytes all equal to `byte`. */
export function allBytes(data: Uint8Array | undefined, byte: number): boolean {
  if (data === undefined) return false;
  for (const b of data) if (b !== byte) return false;
  return true;
}

/**
 * Run a guest operation to completion, answering each KVM_EXIT_HYPERCALL with
 * `onHypercall` (which returns hypercall.ret) as a VMM does; other exits end the loop.
 */
export function runAnswering(
  vcpu: Vcpu,
  op: () => RunResult,
  onHypercall: (exit: Extract<KvmExit, { reason: 3 }>) => number,
): RunResult {
  let r = op();
  while (r.exit !== null && r.exit.reason === KVM_EXIT_HYPERCALL) {
    r = vcpu.resume(onHypercall(r.exit));
  }
  return r;
}

/** td_vcpu_run()'s MapGPA handling: set the attributes the exit asks for, return 0. */
export function convertOnHypercall(kvm: Kvm) {
  return (exit: Extract<KvmExit, { reason: 3 }>): number => {
    const [gpa, npages, attrs] = exit.args;
    must(
      kvm.setMemoryAttributes({
        address: gpa,
        size: npages * 4096,
        attributes: (attrs & 0x10) !== 0 ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
      }),
    );
    return 0;
  };
}

/** KVM_SET_MEMORY_ATTRIBUTES(PRIVATE) over [address, address + size), which must succeed. */
export function setPrivate(kvm: Kvm, address: number, size: number): void {
  must(kvm.setMemoryAttributes({ address, size, attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE }));
}
