import {
  generateAuthenticationOptions,
  verifyAuthenticationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';
import type { Clock } from '../clock.ts';
import type { DB } from '../store/index.ts';
import type { RelyingParty } from '../factors/passkeys.ts';
import type { ApprovalRow } from './record.ts';

/**
 * A passkey assertion over an approval's own challenge (WebAuthn Level 3 §7.2), against the user's
 * passkeys in the second factors' store (factor_passkeys): the challenge is the approval's commitment
 * (not a stored ceremony), user verification is REQUIRED (§7.2 step 17), the credential must be one of
 * THAT user's, registered for this relying party; the signature counter must move forward (§6.1.1; a
 * counter that goes back on a valid signature is a cloned authenticator, refused) and is updated with a
 * conditional UPDATE, so two uses of one assertion cannot both pass.
 */
export const ASSERTION_TIMEOUT_MS = 2 * 60 * 1000;

export type AssertionCheck =
  | { ok: true; credentialId: string; name: string }
  | { ok: false; reason: 'wrong_challenge' | 'unknown_credential' | 'invalid' | 'counter_regression'; credentialId?: string };

/** The challenge a response's clientDataJSON carries, or undefined. */
function challengeOf(clientDataJSON: unknown): string | undefined {
  if (typeof clientDataJSON !== 'string' || clientDataJSON.length > 4096) return undefined;
  try {
    const c = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown };
    return typeof c.challenge === 'string' ? c.challenge : undefined;
  } catch {
    return undefined;
  }
}

/** navigator.credentials.get() options whose challenge IS the approval's challenge. */
export async function approvalRequestOptions(db: DB, row: ApprovalRow, rp: RelyingParty): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const creds = await db
    .selectFrom('factor_passkeys')
    .select(['credential_id', 'transports'])
    .where('user_id', '=', row.user_id)
    .where('rp_id', '=', rp.rpID)
    .execute();
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
): Promise<AssertionCheck> {
  if (challengeOf(response.response?.clientDataJSON) !== row.challenge) return { ok: false, reason: 'wrong_challenge' };
  const cred = await db
    .selectFrom('factor_passkeys')
    .selectAll()
    .where('credential_id', '=', String(response.id))
    .where('user_id', '=', row.user_id)
    .executeTakeFirst();
  if (!cred || cred.rp_id !== rp.rpID) return { ok: false, reason: 'unknown_credential' };
  let v;
  try {
    v = await verifyAuthenticationResponse({
      response,
      expectedChallenge: row.challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.rpID,
      credential: { id: cred.credential_id, publicKey: new Uint8Array(Buffer.from(cred.public_key, 'base64url')), counter: 0 },
      requireUserVerification: true,
    });
  } catch {
    return { ok: false, reason: 'invalid', credentialId: cred.credential_id };
  }
  if (!v.verified || !v.authenticationInfo.userVerified) return { ok: false, reason: 'invalid', credentialId: cred.credential_id };
  const newCounter = v.authenticationInfo.newCounter;
  if ((newCounter > 0 || cred.counter > 0) && newCounter <= cred.counter) {
    return { ok: false, reason: 'counter_regression', credentialId: cred.credential_id };
  }
  const res = await db
    .updateTable('factor_passkeys')
    .set({ counter: newCounter, last_used_at: clock.now(), backed_up: v.authenticationInfo.credentialBackedUp ? 1 : 0 })
    .where('credential_id', '=', cred.credential_id)
    .where('counter', '=', cred.counter)
    .executeTakeFirst();
  if (res.numUpdatedRows !== 1n) return { ok: false, reason: 'counter_regression', credentialId: cred.credential_id };
  return { ok: true, credentialId: cred.credential_id, name: cred.name };
}
