import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/clock.ts';
import { openStore } from '../../server/store/index.ts';
import { tempDir } from '../helpers/gateway.ts';
import { Passkeys, relyingParty, CEREMONY_MS, type RelyingParty } from '../../server/factors/passkeys.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';

const ALICE = { id: 'a'.repeat(32), name: 'alice' };
const BOB = { id: 'b'.repeat(32), name: 'bob' };
const RP: RelyingParty = { rpID: 'localhost', origin: 'http://localhost:8097', rpName: 'Jellyfin' };

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup() {
  const store = await openStore(tempDir());
  cleanups.push(() => store.close());
  const clock = new ManualClock(Date.now());
  return { store, clock, passkeys: new Passkeys(store.db, clock), auth: new SoftAuthenticator(RP.origin) };
}

async function register(p: Passkeys, auth: SoftAuthenticator, user = ALICE, name = 'Phone') {
  const options = await p.registrationOptions(user, RP);
  const r = await p.verifyRegistration(user.id, auth.create(options), name);
  if (!r.ok) throw new Error(`registration failed: ${r.reason}`);
  return r.passkey;
}

describe('passkeys (WebAuthn)', () => {
  it('registers with user verification required, and authenticates', async () => {
    const { passkeys, auth } = await setup();
    const options = await passkeys.registrationOptions(ALICE, RP);
    expect(options.rp).toEqual({ name: 'Jellyfin', id: 'localhost' });
    expect(options.authenticatorSelection?.userVerification).toBe('required');
    expect(options.attestation).toBe('none');
    expect(Buffer.from(options.user.id, 'base64url').toString('hex')).toBe(ALICE.id); // opaque handle, not the name
    const pk = await register(passkeys, auth);
    expect(pk.name).toBe('Phone');
    const req = await passkeys.authenticationOptions(ALICE.id, RP);
    expect(req.userVerification).toBe('required');
    expect(req.allowCredentials?.map((c) => c.id)).toEqual([pk.id]);
    const r = await passkeys.verifyAuthentication(ALICE.id, auth.get(req));
    expect(r).toEqual({ ok: true, credentialId: pk.id, name: 'Phone' });
    expect((await passkeys.list(ALICE.id))[0]!.lastUsedAt).not.toBeNull();
  });

  it('refuses registration and assertions without user verification', async () => {
    const { passkeys, auth } = await setup();
    auth.userVerified = false;
    const options = await passkeys.registrationOptions(ALICE, RP);
    expect(await passkeys.verifyRegistration(ALICE.id, auth.create(options), 'x')).toEqual({ ok: false, reason: 'invalid' });
    auth.userVerified = true;
    await register(passkeys, auth);
    auth.userVerified = false;
    const req = await passkeys.authenticationOptions(ALICE.id, RP);
    expect((await passkeys.verifyAuthentication(ALICE.id, auth.get(req))).ok).toBe(false);
  });

  it('keeps several named passkeys per user; renames and removes them', async () => {
    const { passkeys } = await setup();
    const a = await register(passkeys, new SoftAuthenticator(RP.origin), ALICE, 'Phone');
    const b = await register(passkeys, new SoftAuthenticator(RP.origin), ALICE, 'Laptop');
    expect((await passkeys.list(ALICE.id)).map((p) => p.name)).toEqual(['Phone', 'Laptop']);
    // Registration options exclude what the user already has.
    const again = await passkeys.registrationOptions(ALICE, RP);
    expect(again.excludeCredentials?.map((c) => c.id).sort()).toEqual([a.id, b.id].sort());
    expect(await passkeys.rename(ALICE.id, a.id, '  Old phone  ')).toBe(true);
    expect(await passkeys.rename(BOB.id, a.id, 'stolen')).toBe(false);
    expect(await passkeys.remove(BOB.id, b.id)).toBe(false);
    expect(await passkeys.remove(ALICE.id, b.id)).toBe(true);
    expect((await passkeys.list(ALICE.id)).map((p) => p.name)).toEqual(['Old phone']);
  });

  it('keeps credential ids unique across users', async () => {
    const { passkeys, auth } = await setup();
    await register(passkeys, auth, ALICE);
    // The same authenticator replays its registration for another user (same credential id).
    const options = await passkeys.registrationOptions(BOB, RP);
    const dup = auth.create(options, auth.credentials[0]);
    expect(dup.id).toBe(auth.credentials[0]!.id.toString('base64url'));
    const r = await passkeys.verifyRegistration(BOB.id, dup, 'mine now');
    expect(r).toEqual({ ok: false, reason: 'duplicate_credential' });
    expect(await passkeys.count(BOB.id)).toBe(0);
  });

  it('tracks the signature counter: a regression is refused and reported, a zero counter accepted', async () => {
    const { passkeys, auth } = await setup();
    const pk = await register(passkeys, auth);
    const cred = auth.credentials[0]!;
    let req = await passkeys.authenticationOptions(ALICE.id, RP);
    expect((await passkeys.verifyAuthentication(ALICE.id, auth.assert(cred, req.challenge, 5))).ok).toBe(true);
    req = await passkeys.authenticationOptions(ALICE.id, RP);
    expect(await passkeys.verifyAuthentication(ALICE.id, auth.assert(cred, req.challenge, 5))).toEqual({
      ok: false,
      reason: 'counter_regression',
      credentialId: pk.id,
    });
    req = await passkeys.authenticationOptions(ALICE.id, RP);
    expect((await passkeys.verifyAuthentication(ALICE.id, auth.assert(cred, req.challenge, 3))).ok).toBe(false);
    req = await passkeys.authenticationOptions(ALICE.id, RP);
    expect((await passkeys.verifyAuthentication(ALICE.id, auth.assert(cred, req.challenge, 6))).ok).toBe(true);

    // An authenticator without a counter (synced passkeys) always sends 0.
    const zero = new SoftAuthenticator(RP.origin);
    zero.counterStep = 0;
    await register(passkeys, zero, BOB);
    for (let i = 0; i < 3; i++) {
      const r = await passkeys.authenticationOptions(BOB.id, RP);
      expect((await passkeys.verifyAuthentication(BOB.id, zero.get(r))).ok).toBe(true);
    }
  });

  it('uses each ceremony once, for its user, before it expires', async () => {
    const { passkeys, auth, clock } = await setup();
    await register(passkeys, auth);
    const req = await passkeys.authenticationOptions(ALICE.id, RP);
    const response = auth.get(req);
    expect((await passkeys.verifyAuthentication(ALICE.id, response)).ok).toBe(true);
    expect(await passkeys.verifyAuthentication(ALICE.id, response)).toEqual({ ok: false, reason: 'unknown_ceremony' });

    const bobs = await passkeys.authenticationOptions(BOB.id, RP);
    expect((await passkeys.verifyAuthentication(ALICE.id, auth.get(bobs))).ok).toBe(false);

    const late = await passkeys.authenticationOptions(ALICE.id, RP);
    clock.advance(CEREMONY_MS + 1);
    expect(await passkeys.verifyAuthentication(ALICE.id, auth.get(late))).toEqual({ ok: false, reason: 'unknown_ceremony' });
  });

  it('binds a ceremony to its login challenge', async () => {
    const { passkeys, auth } = await setup();
    await register(passkeys, auth);
    const req = await passkeys.authenticationOptions(ALICE.id, RP, 'challenge-A');
    expect((await passkeys.verifyAuthentication(ALICE.id, auth.get(req), 'challenge-B')).ok).toBe(false);
    const req2 = await passkeys.authenticationOptions(ALICE.id, RP, 'challenge-A');
    expect((await passkeys.verifyAuthentication(ALICE.id, auth.get(req2), 'challenge-A')).ok).toBe(true);
  });

  it('refuses another user’s credential and an assertion from another origin', async () => {
    const { passkeys, auth } = await setup();
    await register(passkeys, auth, BOB);
    const req = await passkeys.authenticationOptions(ALICE.id, RP);
    expect(await passkeys.verifyAuthentication(ALICE.id, auth.get(req, auth.credentials[0]))).toEqual({ ok: false, reason: 'unknown_credential' });

    const phish = new SoftAuthenticator('https://jellyfin.example.evil');
    await register(passkeys, auth, ALICE);
    const req2 = await passkeys.authenticationOptions(ALICE.id, RP);
    const aliceCred = auth.credentials[1]!;
    const forged = phish.assert(aliceCred, req2.challenge, 10, RP.rpID);
    expect((await passkeys.verifyAuthentication(ALICE.id, forged)).ok).toBe(false);
  });

  it('derives the relying party from PublicUrl, else from a trustworthy request host', () => {
    expect(relyingParty('https://media.example.org', { proto: 'http', host: 'evil.example' })).toEqual({
      rpID: 'media.example.org',
      origin: 'https://media.example.org',
      rpName: 'Jellyfin',
    });
    expect(relyingParty(undefined, { proto: 'http', host: 'localhost:8097' })).toEqual({ rpID: 'localhost', origin: 'http://localhost:8097', rpName: 'Jellyfin' });
    expect(relyingParty(undefined, { proto: 'https', host: 'Media.Example.org' })?.origin).toBe('https://media.example.org');
    expect(relyingParty(undefined, { proto: 'http', host: 'media.example.org' })).toBeUndefined(); // not a secure context
    expect(relyingParty(undefined, { proto: 'https', host: '192.168.1.5:8097' })).toBeUndefined(); // IPs cannot be RP IDs
    expect(relyingParty(undefined, { proto: 'https', host: 'bad host' })).toBeUndefined();
    expect(relyingParty(undefined, { proto: 'https', host: undefined })).toBeUndefined();
  });
});
