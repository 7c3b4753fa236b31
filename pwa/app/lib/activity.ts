/**
 * The user's own sign-in history (`GET Me/AuditLog?type=login.*,approval.*`), each row read with the
 * server's `signInActivity` (shared/api/approvals.ts), and the words a household member reads for it.
 */
import { ENDPOINTS } from '../../../shared/api/endpoints.ts';
import { SIGN_IN_EVENT_TYPES, signInActivity, type SignInActivity } from '../../../shared/api/approvals.ts';
import { auditSentence } from '../../../shared/audit-events.ts';
import { call } from './api.ts';

export type { SignInActivity };

/**
 * What a person wants to see: how each sign-in ended. The steps in between (a challenge issued, a login
 * held for the phone, a push sent) are there with "every step" (all of SIGN_IN_EVENT_TYPES).
 */
export const OUTCOME_EVENT_TYPES = [
  'login.password.success',
  'login.password.failure',
  'login.challenge.passed',
  'login.challenge.failure',
  'login.challenge.ended',
  'login.challenge.expired',
  'login.trusted_browser',
  'login.totp_in_password',
  'login.quickconnect.success',
  'login.quickconnect.refused',
  'approval.approved',
  'approval.denied',
  'approval.reported',
  'approval.expired',
  'approval.failure',
];

export async function myActivity(offset = 0, limit = 30, everyStep = false): Promise<{ items: SignInActivity[]; total: number }> {
  const types = everyStep ? SIGN_IN_EVENT_TYPES : OUTCOME_EVENT_TYPES;
  const r = await call(ENDPOINTS.MeAuditLog, { query: { type: types.join(','), offset, limit } });
  return { items: r.items.map(signInActivity), total: r.total };
}

/** The sign-in method is worth showing on events that signed someone in. */
export function showsMethod(a: SignInActivity): boolean {
  return a.outcome === 'success' && a.type.startsWith('login.');
}

const WORDS: Record<string, string> = {
  'login.password.success': 'Signed in',
  'login.password.failure': 'Wrong password',
  'login.quickconnect.success': 'Signed in with a Quick Connect code',
  'login.quickconnect.refused': 'Quick Connect sign-in refused',
  'login.challenge.issued': 'Password accepted, second step asked',
  'login.challenge.passed': 'Signed in with a second step',
  'login.challenge.failure': 'Wrong code or passkey',
  'login.challenge.ended': 'Sign-in stopped after too many wrong codes',
  'login.challenge.expired': 'Sign-in not finished in time',
  'login.trusted_browser': 'Signed in from a trusted browser',
  'login.totp_in_password': 'Signed in with a code in the password',
  'login.approval.held': 'Waiting for your phone',
  'login.approval.timeout': 'Your phone did not answer in time',
};

/** "Signed in", "Approved on your phone"… (approval.* types are read from their last word). */
export function describeEvent(type: string): string {
  const known = WORDS[type];
  if (known) return known;
  if (type.startsWith('approval.')) {
    const what = type.slice('approval.'.length);
    const m: Record<string, string> = {
      requested: 'Your phone was asked to approve',
      approved: 'Approved on your phone',
      denied: 'Denied on your phone',
      reported: 'Reported: “This wasn’t me”',
      expired: 'Not answered in time',
      failure: 'A passkey was refused',
    };
    return m[what] ?? m[what.split('.').pop() ?? ''] ?? auditSentence(type);
  }
  return auditSentence(type);
}

/** Outcome words and tone for a row. */
export function outcomeOf(outcome: string): { text: string; tone: 'ok' | 'bad' | 'info' } {
  if (outcome === 'success') return { text: 'OK', tone: 'ok' };
  if (outcome === 'failure') return { text: 'Failed', tone: 'bad' };
  if (outcome === 'refused') return { text: 'Blocked', tone: 'bad' };
  return { text: 'Info', tone: 'info' };
}
