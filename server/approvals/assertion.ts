import {
  generateAuthenticationOptions,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';
import type { Clock } from '../clock.ts';
import type { DB } from '../store/index.ts';
import { challengeOf, verifyUserAssertion, type RelyingParty } from '../factors/passkeys.ts';
import type { ApprovalRow } from './record.ts';

/**
 * A passkey assertion over an approval's own challenge: the challenge is the approval's commitment (not
 * a stored ceremony); everything else is the second factors' one assertion check (verifyUserAssertion:
 * that user's credential, user verification required, counter forward, single use).
 */
export const ASSERTION_TIMEOUT_MS = 2 * 60 * 1000;

export type AssertionCheck =
  | { ok: true; credentialId: string; name: string }
  | { ok: false; reason: 'wrong_challenge' | 'unknown_credential' | 'invalid' | 'counter_regression'; credentialId?: string };


/** navigator.credentials.get() options whose challenge IS the approval's challenge. */
export async function approvalRequestOptions(
  db: DB,
  row: ApprovalRow,
  rp: RelyingParty,
  excluded: readonly string[] = [],
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const creds = (
    await db.selectFrom('factor_passkeys').select(['credential_id', 'transports']).where('user_id', '=', row.user_id).where('rp_id', '=', rp.rpID).execute()
  ).filter((c) => !excluded.includes(c.credential_id));
  return generateAuthenticationOptions({
    rpID: rp.rpID,
    challenge: new Uint8Array(Buffer.from(row.challenge, 'base64url')),
    timeout: ASSERTION_TIMEOUT_MS,
    userVerification: 'required',
    allowCredentials: creds.map((c) => ({ id: c.credential_id, transports: JSON.parse(c.transports) as never[] })),
  });
}

export async function verifyApprovalAssertion(
  db: DB,
  clock: Clock,
  row: ApprovalRow,
  response: AuthenticationResponseJSON,
  rp: RelyingParty,
  excluded: readonly string[] = [],
): Promise<AssertionCheck> {
  if (challengeOf(response.response?.clientDataJSON) !== row.challenge) return { ok: false, reason: 'wrong_challenge' };
  if (excluded.includes(response.id)) return { ok: false, reason: 'unknown_credential' };
  const check = await verifyUserAssertion(db, clock, {
    userId: row.user_id,
    response,
    expectedChallenge: row.challenge,
    origin: rp.origin,
    rpID: rp.rpID,
  });
  if (!check.ok && check.reason === 'unknown_ceremony') return { ok: false, reason: 'invalid' };
  return check as AssertionCheck;
}
