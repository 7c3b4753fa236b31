import type { AuthenticationResponseJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import type { AuditSink } from '../audit/index.ts';
import { apiError, HttpError } from '../errors.ts';
import type { Passkeys, RelyingParty } from '../factors/passkeys.ts';
import type { Guard, Who } from '../guard/index.ts';
import { isTicket } from '../guard/regulator.ts';
import { CidrList } from '../net/cidr.ts';
import type { DeviceFields, MintedSession, SessionMinter } from './mint.ts';

export interface PasskeySignInDeps {
  passkeys: Passkeys;
  guard: Guard;
  minter: SessionMinter;
  audit: AuditSink;
}

/**
 * Signing in with a passkey alone (no user name, no password): the authenticator offers its discoverable
 * credential for this site, the person unlocks it (user verification is required), and the assertion
 * names the user. Possession of the authenticator plus its PIN or biometrics is both factors at once.
 *
 * Limits: every attempt runs under the brute-force guard as kind `passkey`, per address and, once the
 * credential names a user, per (user, address). A failure never counts against the user everywhere: a
 * bad assertion guesses nothing, and counting it would let anyone lock a name. For the same reason a
 * user name locked by someone's guessing still admits its owner here — the passkey is the proof (the
 * guard's `knownDevice` pass of a user-wide lock); an address ban or a lock of the user at this address
 * still refuses.
 *
 * Nothing is minted before the assertion verified: the Jellyfin session (server/login/mint.ts) is
 * obtained only after, so no token exists for a refused or unfinished sign-in.
 */
export class PasskeySignIn {
  constructor(private readonly deps: PasskeySignInDeps) {}

  options(rp: RelyingParty): Promise<PublicKeyCredentialRequestOptionsJSON> {
    return this.deps.passkeys.discoverableOptions(rp);
  }

  /** `rp` is this request's relying party: the challenge was made for it (the browser signed for its origin). */
  async signIn(response: AuthenticationResponseJSON, rp: RelyingParty, device: DeviceFields, ip: string): Promise<MintedSession> {
    const { passkeys, guard, minter, audit } = this.deps;
    const owner = await passkeys.ownerOf(String(response.id));
    const who: Who = owner ? { ip, userId: owner } : { ip };
    const verdict = guard.beginAttempt('passkey', who, { knownDevice: true });
    if (!isTicket(verdict)) {
      if (verdict.refused === 'banned') throw guard.banError(verdict.ban);
      audit.record({ type: 'login.passkey.failure', outcome: 'refused', userId: owner ?? null, ip, deviceId: device.deviceId, detail: { reason: verdict.refused } });
      throw new HttpError(429, 'too_many_attempts', 'Too many passkey attempts from your network. Wait a few minutes, then try again.', { 'retry-after': '60' });
    }
    let userId: string;
    try {
      const r = await passkeys.verifyDiscoverable(response, rp);
      if (!r.ok) {
        guard.recordFailure('passkey', who, owner ? ['address', 'user_address'] : ['address']);
        audit.record({
          type: 'login.passkey.failure', outcome: 'failure', userId: r.userId ?? null, ip, deviceId: device.deviceId,
          detail: { reason: r.reason, credentialId: r.credentialId ?? null },
        });
        if (r.reason === 'unknown_ceremony') throw apiError('unknown_ceremony');
        throw apiError('invalid_assertion', r.reason === 'unknown_credential'
          ? 'This passkey is not registered here. Sign in with your password, then add the passkey in the Authenticator.'
          : 'The passkey was not accepted. Try again.');
      }
      guard.recordSuccess('passkey', who);
      userId = r.userId;
    } finally {
      verdict.release();
    }
    const allowed = guard.allowedIps(userId);
    if (allowed && !new CidrList(allowed.cidrs).contains(ip)) {
      audit.record({ type: 'login.passkey.failure', outcome: 'refused', userId, ip, deviceId: device.deviceId, detail: { reason: 'address_not_allowed' } });
      throw apiError('address_not_allowed');
    }
    const minted = await minter.mint({ userId, device, ip, method: 'passkey' });
    audit.record({
      type: 'login.passkey.success', outcome: 'success', userId, userName: minted.result.userName, ip,
      deviceId: device.deviceId, deviceName: device.device, client: device.client,
    });
    return minted;
  }
}
