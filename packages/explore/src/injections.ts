// The realistic KVM bugs `kvmx explore --inject NAME` can switch on inside the model. Each
// one is a flag the model checks at the exact place where the kernel bug would be (see
// @kvmx/vendor-ops injections.ts and the comments at each check); the explorer must find
// it and shrink it to a short reproduction.

import { KVM_INJECTIONS, type KvmInjection } from '@kvmx/vendor-ops';

export type Injection = KvmInjection;

/** Every injection the model has, in the order `--list-injections` prints them. */
export const INJECTIONS: readonly Injection[] = KVM_INJECTIONS;

/** The injection called `name`, or undefined. */
export function injectionByName(name: string): Injection | undefined {
  return INJECTIONS.find((i) => i.name === name);
}
