// The realistic KVM bugs `kvmx explore --inject NAME` can switch on inside the model. Each
// one is a flag that the model checks at the exact place where the kernel bug would be; the
// explorer must find it and shrink it to a short reproduction. `available` says whether
// this build's model has the switch.

import type { VmTypeName } from '@kvmx/address';

export interface Injection {
  /** The name `--inject` takes. */
  readonly name: string;
  /** The VM type to explore it on. */
  readonly vm: VmTypeName;
  readonly description: string;
}

/** Every injection the explorer knows, in the order `--list-injections` prints them. */
export const INJECTIONS: readonly Injection[] = [];

/** The injection called `name`, or undefined. */
export function injectionByName(name: string): Injection | undefined {
  return INJECTIONS.find((i) => i.name === name);
}
