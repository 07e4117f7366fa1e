// Every facade ioctl returns a KvmResult: the value, or the errno the kernel would return —
// as a value, never thrown — with its name, the form scenarios compare (`expect: { error:
// EINVAL }`). `fail()` takes the errno positive or negative (KVM returns -EINVAL internally).
// The errno numbers are Linux's asm-generic ones (include/uapi/asm-generic/errno-base.h,
// errno.h), owned by @kvmx/vendor-ops and re-exported here.

import assert from 'node:assert/strict';
import {
  E2BIG,
  EAGAIN,
  EBADF,
  EBUSY,
  EEXIST,
  EFAULT,
  EINTR,
  EINVAL,
  EIO,
  ENOENT,
  ENOMEM,
  ENOSPC,
  ENOSYS,
  EOPNOTSUPP,
  EPERM,
  errnoByName,
  errnoName,
  fail,
  Kvm,
  type KvmResult,
  ok,
  okVoid,
} from '@kvmx/kvm-x86';

assert.deepEqual(
  [
    EPERM,
    ENOENT,
    EINTR,
    EIO,
    E2BIG,
    EBADF,
    EAGAIN,
    ENOMEM,
    EFAULT,
    EBUSY,
    EEXIST,
    EINVAL,
    ENOSPC,
    ENOSYS,
    EOPNOTSUPP,
  ].map((e) => `${errnoName(e)}=${e}`),
  [
    'EPERM=1',
    'ENOENT=2',
    'EINTR=4',
    'EIO=5',
    'E2BIG=7',
    'EBADF=9',
    'EAGAIN=11',
    'ENOMEM=12',
    'EFAULT=14',
    'EBUSY=16',
    'EEXIST=17',
    'EINVAL=22',
    'ENOSPC=28',
    'ENOSYS=38',
    'EOPNOTSUPP=95',
  ],
);
assert.equal(errnoByName('EEXIST'), EEXIST);
assert.equal(errnoByName('ENOTANERRNO'), undefined);

// The three constructors.
const seven: KvmResult<number> = ok(7);
assert.deepEqual(seven, { ok: true, value: 7 });
assert.deepEqual(okVoid(), { ok: true, value: undefined });
assert.deepEqual(fail(-EINVAL), { ok: false, errno: 22, error: 'EINVAL' });
assert.deepEqual(fail(EBUSY), { ok: false, errno: 16, error: 'EBUSY' });

// A caller branches on `ok`; TypeScript narrows to `value` or `errno`/`error`.
function describe<T>(r: KvmResult<T>): string {
  return r.ok ? `value ${String(r.value)}` : `errno ${r.errno} (${r.error})`;
}
const created = Kvm.create({ type: 'default' });
assert.ok(created.ok);
const vm = created.value;
assert.equal(describe(vm.createGuestMemfd({ size: 0x1000 })).startsWith('value '), true);
assert.equal(describe(vm.gmemClose(12345)), 'errno 9 (EBADF)');
assert.equal(
  describe(vm.setUserMemoryRegion2({ slot: 0, guestPhysAddr: 0, memorySize: 0 })),
  'errno 22 (EINVAL)',
);
vm.destroy();
