// The errno values the SNP paths return, as the kernel does: negative numbers.
// Source: include/uapi/asm-generic/errno-base.h. If a shared errno table appears in
// @kvmx/vendor-ops or @kvmx/kvm-x86, these should be replaced by imports from it.

export const EPERM = 1;
export const ENOENT = 2;
export const EIO = 5;
export const ENOMEM = 12;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENOTTY = 25;

const NAMES: Readonly<Record<number, string>> = {
  [EPERM]: 'EPERM',
  [ENOENT]: 'ENOENT',
  [EIO]: 'EIO',
  [ENOMEM]: 'ENOMEM',
  [EFAULT]: 'EFAULT',
  [EBUSY]: 'EBUSY',
  [EEXIST]: 'EEXIST',
  [ENODEV]: 'ENODEV',
  [EINVAL]: 'EINVAL',
  [ENOTTY]: 'ENOTTY',
};

/** `EINVAL` for 22 or -22; `E<n>` for an unknown number; `OK` for 0. */
export function errnoName(err: number): string {
  if (err === 0) return 'OK';
  const n = Math.abs(err);
  return NAMES[n] ?? `E${n}`;
}
