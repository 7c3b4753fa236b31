import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Clock } from '../clock.ts';
import type { DB } from '../store/index.ts';
import type { WebauthnCeremoniesTable } from '../store/schema.ts';

/**
 * Passkeys (WebAuthn Level 3) with @simplewebauthn/server. Several per user, each named; user
 * verification is REQUIRED in both ceremonies (§7.1 step 15 / §7.2 step 17 with
 * `requireUserVerification: true`); credential ids are unique across users (the table's primary key).
 *
 * The signature counter (§6.1.1) is checked here rather than inside the library so that a regression
 * can be told apart from a bad signature: a regression on a valid signature is a cloned-authenticator
 * signal (§7.2 step 22), reported to the caller (which records it as a risk) and refused (fail closed).
 * Authenticators that do not implement a counter always send 0; a zero counter on both sides is accepted.
 *
 * Each ceremony's challenge is stored (it survives a restart) and can be used once.
 */
export const CEREMONY_MS = 5 * 60 * 1000;
export const PASSKEY_NAME_MAX = 64;

/**
 * The relying party a ceremony runs for. With `PublicUrl` configured, its host is the RP ID and its
 * origin the only accepted origin. Without it, the request's own Host (as the trusted-proxy-aware
 * client address step read it) is used: the browser binds every signature to the origin it really
 * is on, and a credential only ever verifies for the RP ID stored with it, so a forged Host header can
 * make a ceremony fail but cannot make another site's assertion count. Set PublicUrl in production.
 */
export interface RelyingParty {
  rpID: string;
  origin: string;
  rpName: string;
}

const HOST = /^(?<name>[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(?<port>\d{1,5}))?$/i;

export function relyingParty(
  publicUrl: string | undefined,
  request: { proto: string; host: string | undefined },
  rpName = 'Jellyfin',
): RelyingParty | undefined {
  if (publicUrl) {
    const u = new URL(publicUrl);
    return { rpID: u.hostname, origin: u.origin, rpName };
  }
  const m = request.host ? HOST.exec(request.host.trim()) : null;
  if (!m?.groups) return undefined;
  const name = m.groups.name!.toLowerCase();
  // WebAuthn RP IDs are domains: an IP literal cannot be one (browsers refuse the ceremony).
  if (name.startsWith('[') || /^\d+(\.\d+){3}$/.test(name)) return undefined;
  const proto = request.proto === 'https' ? 'https' : 'http';
  // Browsers offer WebAuthn over http only on localhost (a secure context).
  if (proto === 'http' && name !== 'localhost' && !name.endsWith('.localhost')) return undefined;
  return { rpID: name, origin: `${proto}://${m[0]!.toLowerCase()}`, rpName };
}

export interface PasskeyInfo {
  id: string;
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
  transports: string[];
  backedUp: boolean;
  deviceType: string | null;
}

export type PasskeyCheck =
  | { ok: true; credentialId: string; name: string }
  | { ok: false; reason: 'unknown_ceremony' | 'unknown_credential' | 'invalid' | 'counter_regression'; credentialId?: string };

/** A usernameless sign-in's assertion: whose passkey it was, or why it was refused. */
export type DiscoverableCheck =
  | { ok: true; userId: string; credentialId: string; name: string }
  | { ok: false; reason: 'unknown_ceremony' | 'unknown_credential' | 'wrong_user_handle' | 'invalid' | 'counter_regression'; userId?: string; credentialId?: string };

/** The user id a ceremony of a usernameless sign-in is stored under (no user is known when it starts). */
const NOBODY = '';

export type PasskeyRegistration =
  | { ok: true; passkey: PasskeyInfo }
  | { ok: false; reason: 'unknown_ceremony' | 'invalid' | 'duplicate_credential' };

/** The challenge inside a response's clientDataJSON, or undefined. */
export function challengeOf(clientDataJSON: unknown): string | undefined {
  if (typeof clientDataJSON !== 'string' || clientDataJSON.length > 4096) return undefined;
  try {
    const c = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown };
    return typeof c.challenge === 'string' ? c.challenge : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The one check of a passkey assertion (WebAuthn Level 3 §7.2), for sign-in challenges and phone
 * approvals alike: the credential must be one of THAT user's, registered for this relying party; user
 * verification is REQUIRED (§7.2 step 17); the signature counter must move forward (§6.1.1 — a counter
 * that goes back on a valid signature is a cloned authenticator, refused; a zero counter is accepted)
 * and is updated with a conditional UPDATE, so two uses of one assertion cannot both pass.
 */
export async function verifyUserAssertion(
  db: DB,
  clock: Clock,
  a: { userId: string; response: AuthenticationResponseJSON; expectedChallenge: string; origin: string; rpID: string },
): Promise<PasskeyCheck> {
  const cred = await db
    .selectFrom('factor_passkeys')
    .selectAll()
    .where('credential_id', '=', String(a.response.id))
    .where('user_id', '=', a.userId)
    .executeTakeFirst();
  if (!cred || cred.rp_id !== a.rpID) return { ok: false, reason: 'unknown_credential' };
  let v;
  try {
    v = await verifyAuthenticationResponse({
      response: a.response,
      expectedChallenge: a.expectedChallenge,
      expectedOrigin: a.origin,
      expectedRPID: a.rpID,
      // The counter is judged below, after the signature is known to be good.
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

/** WebAuthn user handles must not be personal data (§14.6.1): the opaque Jellyfin user id's bytes. */
function userHandle(userId: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(userId, 'hex'));
}

export class Passkeys {
  constructor(
    private readonly db: DB,
    private readonly clock: Clock,
    /** Keys the usernameless sign-in's challenges (without it, that sign-in is unavailable). */
    private readonly hmacKey?: Buffer,
  ) {}

  async list(userId: string): Promise<PasskeyInfo[]> {
    const rows = await this.db.selectFrom('factor_passkeys').selectAll().where('user_id', '=', userId).orderBy('created_at').execute();
    return rows.map((r) => ({
      id: r.credential_id,
      name: r.name,
      createdAt: r.created_at,
      lastUsedAt: r.last_used_at,
      transports: JSON.parse(r.transports) as string[],
      backedUp: r.backed_up === 1,
      deviceType: r.device_type,
    }));
  }

  async count(userId: string): Promise<number> {
    const r = await this.db
      .selectFrom('factor_passkeys')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  private async newCeremony(
    kind: WebauthnCeremoniesTable['kind'],
    userId: string,
    rp: RelyingParty,
    loginChallengeId: string | null,
  ): Promise<Uint8Array<ArrayBuffer>> {
    // The library base64url-encodes challenge bytes into the options (a string would be taken as UTF-8).
    const bytes = new Uint8Array(randomBytes(32));
    const challenge = Buffer.from(bytes).toString('base64url');
    const now = this.clock.now();
    await this.db
      .insertInto('webauthn_ceremonies')
      .values({
        id: challenge,
        kind,
        user_id: userId,
        challenge,
        login_challenge_id: loginChallengeId,
        rp_id: rp.rpID,
        origin: rp.origin,
        created_at: now,
        expires_at: now + CEREMONY_MS,
        used_at: null,
      })
      .execute();
    return bytes;
  }

  /** Take a ceremony for one use: it must be this user's, of this kind, unexpired and unused. */
  private async takeCeremony(
    kind: WebauthnCeremoniesTable['kind'],
    userId: string,
    clientDataJSON: unknown,
    loginChallengeId: string | null,
  ): Promise<WebauthnCeremoniesTable | undefined> {
    const challenge = challengeOf(clientDataJSON);
    if (!challenge) return undefined;
    const now = this.clock.now();
    const row = await this.db.selectFrom('webauthn_ceremonies').selectAll().where('id', '=', challenge).executeTakeFirst();
    if (!row || row.kind !== kind || row.user_id !== userId || row.used_at !== null || row.expires_at <= now) return undefined;
    if (row.login_challenge_id !== loginChallengeId) return undefined;
    const res = await this.db
      .updateTable('webauthn_ceremonies')
      .set({ used_at: now })
      .where('id', '=', challenge)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return res.numUpdatedRows === 1n ? row : undefined;
  }

  async registrationOptions(
    user: { id: string; name: string },
    rp: RelyingParty,
    loginChallengeId: string | null = null,
  ): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const existing = await this.db.selectFrom('factor_passkeys').select(['credential_id', 'transports']).where('user_id', '=', user.id).execute();
    const challenge = await this.newCeremony('registration', user.id, rp, loginChallengeId);
    return generateRegistrationOptions({
      rpName: rp.rpName,
      rpID: rp.rpID,
      userName: user.name,
      userDisplayName: user.name,
      userID: userHandle(user.id),
      challenge,
      timeout: CEREMONY_MS,
      attestationType: 'none',
      excludeCredentials: existing.map((e) => ({ id: e.credential_id, transports: JSON.parse(e.transports) as string[] })),
      // Discoverable (resident) credentials, so the same passkey also signs in with no user name at all.
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
    });
  }

  async verifyRegistration(
    userId: string,
    response: RegistrationResponseJSON,
    name: string,
    loginChallengeId: string | null = null,
  ): Promise<PasskeyRegistration> {
    const ceremony = await this.takeCeremony('registration', userId, response.response?.clientDataJSON, loginChallengeId);
    if (!ceremony) return { ok: false, reason: 'unknown_ceremony' };
    let v;
    try {
      v = await verifyRegistrationResponse({
        response,
        expectedChallenge: ceremony.challenge,
        expectedOrigin: ceremony.origin,
        expectedRPID: ceremony.rp_id,
        requireUserVerification: true,
      });
    } catch {
      return { ok: false, reason: 'invalid' };
    }
    if (!v.verified) return { ok: false, reason: 'invalid' };
    const { credential, credentialDeviceType, credentialBackedUp, aaguid } = v.registrationInfo;
    const now = this.clock.now();
    const transports = credential.transports ?? response.response.transports ?? [];
    const cleanName = name.trim().slice(0, PASSKEY_NAME_MAX) || 'Passkey';
    const inserted = await this.db
      .insertInto('factor_passkeys')
      .values({
        credential_id: credential.id,
        user_id: userId,
        public_key: Buffer.from(credential.publicKey).toString('base64url'),
        counter: credential.counter,
        transports: JSON.stringify(transports),
        name: cleanName,
        rp_id: ceremony.rp_id,
        aaguid,
        device_type: credentialDeviceType,
        backed_up: credentialBackedUp ? 1 : 0,
        created_at: now,
        last_used_at: null,
      })
      .onConflict((oc) => oc.column('credential_id').doNothing())
      .executeTakeFirst();
    if (!inserted.numInsertedOrUpdatedRows) return { ok: false, reason: 'duplicate_credential' };
    return {
      ok: true,
      passkey: {
        id: credential.id,
        name: cleanName,
        createdAt: now,
        lastUsedAt: null,
        transports,
        backedUp: credentialBackedUp,
        deviceType: credentialDeviceType,
      },
    };
  }

  async authenticationOptions(
    userId: string,
    rp: RelyingParty,
    loginChallengeId: string | null = null,
  ): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const creds = await this.db
      .selectFrom('factor_passkeys')
      .select(['credential_id', 'transports'])
      .where('user_id', '=', userId)
      .where('rp_id', '=', rp.rpID)
      .execute();
    const challenge = await this.newCeremony('authentication', userId, rp, loginChallengeId);
    return generateAuthenticationOptions({
      rpID: rp.rpID,
      challenge,
      timeout: CEREMONY_MS,
      userVerification: 'required',
      allowCredentials: creds.map((c) => ({ id: c.credential_id, transports: JSON.parse(c.transports) as string[] })),
    });
  }

  async verifyAuthentication(
    userId: string,
    response: AuthenticationResponseJSON,
    loginChallengeId: string | null = null,
  ): Promise<PasskeyCheck> {
    const ceremony = await this.takeCeremony('authentication', userId, response.response?.clientDataJSON, loginChallengeId);
    if (!ceremony) return { ok: false, reason: 'unknown_ceremony' };
    return verifyUserAssertion(this.db, this.clock, {
      userId,
      response,
      expectedChallenge: ceremony.challenge,
      origin: ceremony.origin,
      rpID: ceremony.rp_id,
    });
  }

  // ── Usernameless sign-in (discoverable credentials): the authenticator names the user ──

  /** The user whose passkey this credential id is, if any (to apply that user's limits before verifying). */
  async ownerOf(credentialId: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('factor_passkeys').select('user_id').where('credential_id', '=', credentialId).executeTakeFirst();
    return row?.user_id;
  }

  /**
   * Options for a sign-in with no user name: an empty allowCredentials list lets the authenticator offer
   * its discoverable credentials for this RP (WebAuthn §5.5, §6.2.2), user verification required.
   *
   * Anyone may ask for these (the login page does at every load), so they store nothing: the challenge
   * is 16 random bytes, its expiry and a MAC over both and the relying party. It is recorded only when
   * an assertion comes back, once (a second use finds it recorded).
   */
  async discoverableOptions(rp: RelyingParty): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const nonce = randomBytes(16);
    const expires = Buffer.alloc(8);
    expires.writeBigUInt64BE(BigInt(this.clock.now() + CEREMONY_MS));
    const challenge = new Uint8Array(Buffer.concat([nonce, expires, this.signinMac(nonce, expires, rp)]));
    return generateAuthenticationOptions({ rpID: rp.rpID, challenge, timeout: CEREMONY_MS, userVerification: 'required', allowCredentials: [] });
  }

  private signinMac(nonce: Buffer, expires: Buffer, rp: RelyingParty): Buffer {
    if (!this.hmacKey) throw new Error('passkey sign-in needs the gateway\'s HMAC key');
    return createHmac('sha256', this.hmacKey).update('passkey-signin\0').update(nonce).update(expires).update(`${rp.rpID}\0${rp.origin}`).digest().subarray(0, 16);
  }

  /** Spend a usernameless sign-in's challenge: ours for this RP, unexpired, and never used before. */
  private async takeSigninChallenge(clientDataJSON: unknown, rp: RelyingParty): Promise<string | undefined> {
    const challenge = challengeOf(clientDataJSON);
    if (!challenge) return undefined;
    const raw = Buffer.from(challenge, 'base64url');
    if (raw.length !== 40) return undefined;
    const nonce = raw.subarray(0, 16);
    const expires = raw.subarray(16, 24);
    if (!timingSafeEqual(raw.subarray(24), this.signinMac(nonce, expires, rp))) return undefined;
    const expiresAt = Number(expires.readBigUInt64BE());
    const now = this.clock.now();
    if (expiresAt <= now) return undefined;
    const res = await this.db
      .insertInto('webauthn_ceremonies')
      .values({
        id: challenge, kind: 'signin', user_id: NOBODY, challenge, login_challenge_id: null,
        rp_id: rp.rpID, origin: rp.origin, created_at: now, expires_at: expiresAt, used_at: now,
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    return res.numInsertedOrUpdatedRows ? challenge : undefined;
  }

  /**
   * A usernameless assertion: its ceremony (single use), its credential, and the user handle the
   * authenticator returned, which must be that credential's user (§7.2 step 6: a handle naming someone
   * else is refused even with a good signature); then the same check as every assertion.
   */
  async verifyDiscoverable(response: AuthenticationResponseJSON, rp: RelyingParty): Promise<DiscoverableCheck> {
    const challenge = await this.takeSigninChallenge(response.response?.clientDataJSON, rp);
    if (!challenge) return { ok: false, reason: 'unknown_ceremony' };
    const userId = await this.ownerOf(String(response.id));
    if (!userId) return { ok: false, reason: 'unknown_credential' };
    const handle = response.response?.userHandle;
    if (typeof handle !== 'string' || handle !== Buffer.from(userHandle(userId)).toString('base64url')) {
      return { ok: false, reason: 'wrong_user_handle', userId, credentialId: String(response.id) };
    }
    const r = await verifyUserAssertion(this.db, this.clock, {
      userId,
      response,
      expectedChallenge: challenge,
      origin: rp.origin,
      rpID: rp.rpID,
    });
    return r.ok ? { ok: true, userId, credentialId: r.credentialId, name: r.name } : { ...r, userId };
  }

  async rename(userId: string, credentialId: string, name: string): Promise<boolean> {
    const clean = name.trim().slice(0, PASSKEY_NAME_MAX);
    if (!clean) return false;
    const res = await this.db
      .updateTable('factor_passkeys')
      .set({ name: clean })
      .where('credential_id', '=', credentialId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return res.numUpdatedRows === 1n;
  }

  async remove(userId: string, credentialId: string): Promise<boolean> {
    const res = await this.db
      .deleteFrom('factor_passkeys')
      .where('credential_id', '=', credentialId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return res.numDeletedRows === 1n;
  }

  async removeAll(userId: string): Promise<void> {
    await this.db.deleteFrom('factor_passkeys').where('user_id', '=', userId).execute();
    await this.db.deleteFrom('webauthn_ceremonies').where('user_id', '=', userId).execute();
  }

  async sweep(): Promise<void> {
    await this.db.deleteFrom('webauthn_ceremonies').where('expires_at', '<', this.clock.now()).execute();
  }
}
