// Exit statuses (CONTRACTS §1): 0 success, 1 an expectation or invariant failed, 2 bad usage
// or bad input.

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Bad usage or bad input: printed as one line on stderr, exit status 2, no stack trace. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
