import { HttpError } from '../errors.ts';
import type { AttemptKind, Guard, Who } from '../guard/index.ts';
import { isTicket } from '../guard/regulator.ts';

/**
 * One guessable attempt (a step-up code, a pairing or Quick Connect code) under the brute-force guard:
 * refused when the address is banned, the user locked, or MaxFailedAttempts attempts of this address are
 * already failed or in flight (so parallel guesses cannot slip past the limit before the first answers);
 * `fn` returns whether the attempt succeeded, and a failure is counted against address, user and both.
 */
export async function guardedAttempt<T>(
  guard: Guard,
  kind: AttemptKind,
  who: Who,
  fn: () => Promise<{ ok: boolean; value: T }>,
): Promise<{ ok: boolean; value: T }> {
  const verdict = guard.regulator.begin(kind, who);
  if (!isTicket(verdict)) {
    if (verdict.refused === 'banned') throw guard.banError(verdict.ban);
    throw new HttpError(429, 'too_many_attempts', 'Too many wrong codes. Wait a few minutes, then try again.', { 'retry-after': '60' });
  }
  try {
    const r = await fn();
    if (r.ok) guard.regulator.recordSuccess(kind, who);
    else guard.recordFailure(kind, who);
    return r;
  } finally {
    verdict.release();
  }
}
