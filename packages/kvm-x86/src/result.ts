// Results of facade calls: the value, or the errno the kernel would return (as a value,
// never thrown). `error` is the errno's name, the form scenarios compare (`EINVAL`).

import { errnoName } from '@kvmx/vendor-ops';

export type KvmResult<T = undefined> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly errno: number; readonly error: string };

export function ok<T>(value: T): KvmResult<T> {
  return { ok: true, value };
}

export function okVoid(): KvmResult<undefined> {
  return { ok: true, value: undefined };
}

/** A failure from a (positive or negative) errno. */
export function fail<T = undefined>(errno: number): KvmResult<T> {
  const n = Math.abs(errno);
  return { ok: false, errno: n, error: errnoName(n) };
}
