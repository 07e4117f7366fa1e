// errno values for the SNP paths: the shared table in ../errno.ts, plus ENOTTY, which only
// the SEV launch commands return (KVM_SEV_SNP_LAUNCH_START on a VM that is not SNP).
// Source: include/uapi/asm-generic/errno-base.h.

export {
  EBUSY,
  EEXIST,
  EFAULT,
  EINVAL,
  EIO,
  ENOENT,
  ENOTTY,
  EPERM,
  errnoName,
} from '../errno.js';
