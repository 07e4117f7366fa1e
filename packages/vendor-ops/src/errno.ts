// Linux errno values, as KVM returns them (negated) from ioctls and internal helpers.
// Source: include/uapi/asm-generic/errno-base.h and errno.h (x86 uses the generic values).
// Kept here, in the lowest package that returns them, so vendor ops and the KVM facade share
// one table; @kvmx/kvm-x86 re-exports it.

export const EPERM = 1;
export const ENOENT = 2;
export const EINTR = 4;
export const EIO = 5;
export const E2BIG = 7;
export const EBADF = 9;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
/** Inappropriate ioctl: the SEV launch commands on a VM that is not SNP. */
export const ENOTTY = 25;
export const EFBIG = 27;
export const ENOSPC = 28;
export const ENOSYS = 38;
export const EOPNOTSUPP = 95;

/** errno names by value. */
export const ERRNO_NAMES: Readonly<Record<number, string>> = {
  [EPERM]: 'EPERM',
  [ENOENT]: 'ENOENT',
  [EINTR]: 'EINTR',
  [EIO]: 'EIO',
  [E2BIG]: 'E2BIG',
  [EBADF]: 'EBADF',
  [EAGAIN]: 'EAGAIN',
  [ENOMEM]: 'ENOMEM',
  [EFAULT]: 'EFAULT',
  [EBUSY]: 'EBUSY',
  [EEXIST]: 'EEXIST',
  [ENODEV]: 'ENODEV',
  [EINVAL]: 'EINVAL',
  [ENOTTY]: 'ENOTTY',
  [EFBIG]: 'EFBIG',
  [ENOSPC]: 'ENOSPC',
  [ENOSYS]: 'ENOSYS',
  [EOPNOTSUPP]: 'EOPNOTSUPP',
};

/** The name of an errno (sign ignored: -22 and 22 are both EINVAL), or `E<n>`. */
export function errnoName(errno: number): string {
  const n = Math.abs(errno);
  return ERRNO_NAMES[n] ?? `E${n}`;
}

/** The value of an errno name, or undefined. */
export function errnoByName(name: string): number | undefined {
  for (const [value, n] of Object.entries(ERRNO_NAMES)) if (n === name) return Number(value);
  return undefined;
}
