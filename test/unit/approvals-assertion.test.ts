import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/clock.ts';
import { openStore, type Store } from '../../server/store/index.ts';
import { Passkeys, type RelyingParty } from '../../server/factors/passkeys.ts';
import { approvalRequestOptions, verifyApprovalAssertion } from '../../server/approvals/assertion.ts';
import { ApprovalStore, type NewApproval } from '../../server/approvals/store.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';
import { tempDir } from '../helpers/gateway.ts';

/**
 * A passkey assertion over an approval's own challenge, verified by @simplewebauthn/server against the
 * user's passkeys (a software authenticator builds the real bytes a platform authenticator would).
 */
let store: Store;
let dir: string;
const clock = new ManualClock();
const rp: RelyingParty = { rpID: 'localhost', origin: 'http://localhost:8097', rpName: 'Jellyfin' };
const ALICE = 'a'.repeat(32);
const BOB = 'b'.repeat(32);
let passkeys: Passkeys;
let approvals: ApprovalStore;
const alicePhone = new SoftAuthenticator(rp.origin);
const bobPhone = new SoftAuthenticator(rp.origin);

const ask = (userId = ALICE): NewApproval => ({
  kind: 'login',
  userId,
  userName: userId === ALICE ? 'alice' : 'bob',
  asking: { client: 'Jellyfin Roku', deviceName: 'TV', deviceId: 'roku-1', ip: '203.0.113.7', place: null, action: null },
  addressKey: '203.0.113.7',
  numberMatching: false,
  mode: 'hold',
  loginChallengeId: null,
  ttlMs: 120_000,
});

async function enroll(user: string, name: string, key: SoftAuthenticator): Promise<void> {
  const opts = await passkeys.registrationOptions({ id: user, name }, rp);
  const r = await passkeys.verifyRegistration(user, key.create(opts), `${name}’s phone`);
  expect(r.ok).toBe(true);
}

beforeAll(async () => {
  dir = tempDir();
  store = await openStore(dir);
  passkeys = new Passkeys(store.db, clock);
  approvals = new ApprovalStore(store.db, clock);
  await enroll(ALICE, 'alice', alicePhone);
  await enroll(BOB, 'bob', bobPhone);
});

afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('an assertion over the approval’s challenge', () => {
  it('options carry exactly the approval’s challenge, the user’s credentials and UV required', async () => {
    const row = await approvals.insert(ask());
    const o = await approvalRequestOptions(store.db, row, rp);
    expect(o.challenge).toBe(row.challenge);
    expect(o.userVerification).toBe('required');
    expect(o.rpId).toBe('localhost');
    expect(o.allowCredentials?.map((c) => c.id)).toEqual([alicePhone.credentials[0]!.id.toString('base64url')]);
  });

  it('verifies, and moves the signature counter', async () => {
    const row = await approvals.insert(ask());
    const o = await approvalRequestOptions(store.db, row, rp);
    const before = await store.db.selectFrom('factor_passkeys').select('counter').where('user_id', '=', ALICE).executeTakeFirstOrThrow();
    const r = await verifyApprovalAssertion(store.db, clock, row, alicePhone.get(o), rp);
    expect(r.ok).toBe(true);
    const after = await store.db.selectFrom('factor_passkeys').select(['counter', 'last_used_at']).where('user_id', '=', ALICE).executeTakeFirstOrThrow();
    expect(after.counter).toBe(before.counter + 1);
    expect(after.last_used_at).toBe(clock.now());
  });

  it('refuses an assertion made for another approval', async () => {
    const a = await approvals.insert(ask());
    const b = await approvals.insert(ask());
    const forB = alicePhone.get(await approvalRequestOptions(store.db, b, rp));
    expect(await verifyApprovalAssertion(store.db, clock, a, forB, rp)).toEqual({ ok: false, reason: 'wrong_challenge' });
  });

  it('refuses a passkey of another user', async () => {
    const row = await approvals.insert(ask(ALICE));
    const bobs = bobPhone.assert(bobPhone.credentials[0]!, row.challenge, 50);
    expect(await verifyApprovalAssertion(store.db, clock, row, bobs, rp)).toMatchObject({ ok: false, reason: 'unknown_credential' });
  });

  it('refuses an assertion without user verification', async () => {
    const row = await approvals.insert(ask());
    const lax = new SoftAuthenticator(rp.origin);
    lax.credentials.push(alicePhone.credentials[0]!);
    lax.userVerified = false;
    const r = await verifyApprovalAssertion(store.db, clock, row, lax.assert(alicePhone.credentials[0]!, row.challenge, 99), rp);
    expect(r).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('refuses a replayed assertion (the counter does not move) and a signature from another origin', async () => {
    const row = await approvals.insert(ask());
    const assertion = alicePhone.get(await approvalRequestOptions(store.db, row, rp));
    expect((await verifyApprovalAssertion(store.db, clock, row, assertion, rp)).ok).toBe(true);
    expect(await verifyApprovalAssertion(store.db, clock, row, assertion, rp)).toMatchObject({ ok: false, reason: 'counter_regression' });
    const phishing = new SoftAuthenticator('http://localhost.evil.example');
    const row2 = await approvals.insert(ask());
    const cred = alicePhone.credentials[0]!;
    cred.counter += 1;
    const r = await verifyApprovalAssertion(store.db, clock, row2, phishing.assert(cred, row2.challenge, cred.counter), rp);
    expect(r).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('refuses a tampered signature', async () => {
    const row = await approvals.insert(ask());
    const a = alicePhone.get(await approvalRequestOptions(store.db, row, rp));
    const sig = Buffer.from(a.response.signature, 'base64url');
    sig[sig.length - 1] = sig[sig.length - 1]! ^ 1;
    const r = await verifyApprovalAssertion(store.db, clock, row, { ...a, response: { ...a.response, signature: sig.toString('base64url') } }, rp);
    expect(r).toMatchObject({ ok: false, reason: 'invalid' });
  });
});
