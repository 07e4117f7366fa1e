// Option parsers shared by commands: each turns a bad value into a UsageError naming it.

import { type Gpaw, isGpaw, isVmTypeName, VM_TYPE_NAMES, type VmTypeName } from '@kvmx/address';
import { UsageError } from './errors.js';

export function parseVmOption(value: string): VmTypeName {
  if (!isVmTypeName(value)) {
    throw new UsageError(
      `--vm: unknown VM type "${value}" (expected one of ${VM_TYPE_NAMES.join(', ')})`,
    );
  }
  return value;
}

export function parseGpawOption(value: string): Gpaw {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !isGpaw(n)) {
    throw new UsageError(`--gpaw: must be 48 or 52, got "${value}"`);
  }
  return n;
}

export function parseIntOption(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) {
      throw new UsageError(`${name}: must be an integer in ${min}..${max}, got "${value}"`);
    }
    return n;
  };
}
