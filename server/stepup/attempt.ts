import { HttpError } from '../errors.ts';
import type { AttemptKind, BanScope, Guard, Who } from '../guard/index.ts';
import { isTicket } from '../guard/regulator.ts';

/**
 * One guessable attempt (a step-up code, a pairing or Quick Connect code) under the brute-force guard:
 * refused when the address is banned, the user locked, or MaxFailedAttempts attempts of this address are
 * already failed or in flight (so parallel guesses cannot slip past the limit before the first answers);
 * `fn` returns whether the attempt succeeded, and a failure is counted against address, user and both
 * (or the `scopes` given). A `knownDevice` (a verified session) is not held back by a lock on the name.
 */
export async function guardedAttempt<T>(
  guard: Guard,
  kind: AttemptKind,
  who: Who,
  fn: () => Promise<{ ok: boolean; value: T }>,
  opts: { knownDevice?: boolean; scopes?: readonly BanScope[] } = {},
): Promise<{ ok: boolean; value: T }> {
  const verdict = guard.beginAttempt(kind, who, { knownDevice: opts.knownDevice });
  if (!isTicket(verdict)) {
    if (verdict.refused === 'banned') throw guard.banError(verdict.ban);
    throw new HttpError(429, 'too_many_attempts', 'Too many wrong codes. Wait a few minutes, then try again.', { 'retry-after': '60' });
  }
  try {
    const r = await fn();
    if (r.ok) guard.recordSuccess(kind, who);
    else guard.recordFailure(kind, who, opts.scopes);
    return r;
  } finally {
    verdict.release();
  }
}
