/**
 * The one place the login page turns a failure into words for a person, and decides what follows:
 * stay on the step, or start the sign-in again (the challenge is over).
 */
import { API_ERRORS, isApiErrorCode } from '../../shared/api/errors.ts';
import { ApiError } from '../common/errors.ts';
import { PasskeyError } from '../common/passkey.ts';

export interface Problem {
  message: string;
  /** The challenge is over (expired, failed, unknown): only a new sign-in helps. */
  restart: boolean;
  /** Waiting helps (a ban or lock with an end). */
  locked: boolean;
}

/** Codes whose server message is already written for people (the server words these for this case). */
const SERVER_WORDED = new Set([
  'address_banned',
  'address_not_allowed',
  'impossible_travel',
  'password_breached',
  'too_many_attempts',
  'second_factor_unavailable',
  'method_unavailable',
  'already_enrolled',
  'passkeys_unavailable',
  'challenge_state',
  'quick_connect_not_approved',
  'account_held',
  // a session the gateway could not mint (sign-in by phone alone): the server says what to tell the admin
  'quick_connect_disabled',
  'sso_needs_api_key',
  'user_disabled',
  'user_unknown',
  'mint_failed',
  'cannot_save_signin',
]);

const RESTART = new Set(['challenge_failed', 'challenge_expired', 'challenge_over', 'unknown_challenge']);

function triesLeft(n: number): string {
  return n === 1 ? '1 try left' : `${n} tries left`;
}

/** Words for an ApiError (or anything thrown). */
export function describeProblem(err: unknown): Problem {
  const p = (message: string, restart = false, locked = false): Problem => ({ message, restart, locked });
  if (!(err instanceof ApiError)) {
    return p('Something went wrong on this page. Reload it and try again.');
  }
  const { code, status } = err;
  if (code === 'network') return p('No connection to the server. Check your network and try again.');
  if (code === 'wrong_password') return p('Wrong user name or password.');
  // Only a user name or password far longer than any real one fills a sign-in request.
  if (code === 'payload_too_large') return p('That user name or password is too long. Check what you typed and try again.');
  if (code === 'not_allowed') {
    return p('This account cannot sign in right now: it may be disabled or locked, or not allowed at this time. Ask your administrator.');
  }
  if (code === 'invalid_code') {
    const left = err.attemptsLeft;
    const what = err.message && /passkey/i.test(err.message) ? 'The passkey was not accepted.' : 'That code is not right.';
    return p(left !== undefined ? `${what} ${triesLeft(left)}.` : what);
  }
  if (code === 'challenge_failed') return p(API_ERRORS.challenge_failed.message, true);
  if (code === 'approval_denied') return p('This sign-in was denied on your phone. If that was a mistake, sign in again.', true);
  if (code === 'approval_reported') return p('This sign-in was reported on your phone as not you. If it was you after all, sign in again.', true);
  if (code === 'approval_expired') return p('Nobody approved on the phone in time. Send a new request, or choose another way.');
  if (code === 'no_approval') return p('No request was sent to your phone yet. Send one, or choose another way.');
  if (code === 'challenge_expired') return p('This sign-in took too long and has expired. Sign in again.', true);
  if (RESTART.has(code)) return p('This sign-in is no longer valid. Sign in again.', true);
  if (code === 'address_banned' || code === 'too_many_attempts') return p(err.message || 'Too many attempts. Try again later.', false, true);
  if (SERVER_WORDED.has(code) && err.message) return p(err.message);
  if (code === 'bad_response') return p('The server sent an answer this page does not understand. Try again, or ask your administrator.');
  if (status === 502 || status === 503 || status === 504 || code === 'upstream_unavailable' || code === 'upstream_timeout') {
    return p('Jellyfin is not responding right now. Try again in a moment.');
  }
  if (status >= 500) return p('The server had a problem. Try again in a moment.');
  if (status === 429) return p(err.message || 'Too many attempts. Wait a moment and try again.', false, true);
  if (err.message) return p(err.message);
  if (isApiErrorCode(code)) return p(API_ERRORS[code].message);
  return p(`The server refused this (${status}). Try again, or ask your administrator.`);
}

/** Words for a failed browser passkey ceremony (before anything reached the server). */
export function describePasskeyFailure(failure: unknown, registering: boolean): string {
  // The browser's own error says more than the PasskeyError's reason (which is worded for the app).
  const err = failure instanceof PasskeyError && failure.cause !== undefined ? failure.cause : failure;
  const e = err as { name?: string; code?: string; cause?: { name?: string } } | null;
  const name = e?.cause?.name ?? e?.name ?? '';
  if (e?.code === 'ERROR_AUTHENTICATOR_PREVIOUSLY_REGISTERED' || name === 'InvalidStateError') {
    return 'This passkey is already registered for your account.';
  }
  if (name === 'NotAllowedError' || e?.code === 'ERROR_PASSTHROUGH_SEE_CAUSE_PROPERTY' || e?.code === 'ERROR_CEREMONY_ABORTED') {
    return registering
      ? 'No passkey was created: the request was cancelled, timed out, or could not verify you (PIN, fingerprint or face). Try again.'
      : 'The passkey was not used: the request was cancelled, timed out, or could not verify you (PIN, fingerprint or face). Try again, or choose another way.';
  }
  if (name === 'SecurityError' || e?.code === 'ERROR_INVALID_DOMAIN' || e?.code === 'ERROR_INVALID_RP_ID') {
    return 'Passkeys do not work at this address. Open Jellyfin through its usual https address, or choose another way.';
  }
  if (name === 'NotSupportedError' || e?.code === 'ERROR_AUTHENTICATOR_MISSING_USER_VERIFICATION_SUPPORT') {
    return 'This device cannot use a passkey that verifies you. Choose another way.';
  }
  return 'The passkey did not work. Try again, or choose another way.';
}
