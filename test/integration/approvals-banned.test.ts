import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecondFactorRequiredSchema } from '../../shared/api/factors.ts';
import { LoginApprovalStartedSchema } from '../../shared/api/approvals.ts';
import { PHONE_IP, WEB_IP, call, enrollPhone, nextApproval, passwordLogin, startWorld, waiting, type Phone, type World } from './approvals-helpers.ts';

/**
 * The owner's own phone is never locked out of approving: it sits at home, and home's address is banned
 * (someone there mistyped a password five times). The Authenticator sends its verified session with every
 * call, so its approval list, the approval page and the passkey tap all pass the ban; the same calls
 * without the session are anonymous traffic from a banned address and are refused.
 */
let w: World;
let alice: Phone;

beforeAll(async () => {
  w = await startWorld({ config: { MaxFailedAttempts: 5 } });
  alice = await enrollPhone(w, 'alice', 'alice-pw');
}, 60_000);

afterAll(async () => {
  await w?.close();
});

describe("the owner's phone at a banned address", () => {
  it('lists, opens and approves a sign-in with its session; the same calls without it are refused', async () => {
    // Home (the phone's address) is banned.
    for (let i = 0; i < 5; i++) expect((await passwordLogin(w, 'bob', `typo-${i}`, { deviceId: 'bob-laptop', from: PHONE_IP })).status).toBe(401);
    expect((await passwordLogin(w, 'bob', 'bob-pw', { deviceId: 'bob-laptop', from: PHONE_IP })).status).toBe(429);

    // alice signs in from elsewhere; her phone, at home, is asked.
    const held = await passwordLogin(w, 'alice', 'alice-pw', { deviceId: 'alice-office', from: WEB_IP });
    const challenge = SecondFactorRequiredSchema.parse(held.json);
    const started = LoginApprovalStartedSchema.parse((await call(w, 'POST', '/JellyfinSecurity/Approvals/Login', { from: WEB_IP, body: { challengeId: challenge.challengeId } })).json);
    const id = (await nextApproval(w, alice)).json.approvalId;

    const asPhone = { token: alice.token, deviceId: alice.deviceId, from: PHONE_IP };
    // Anonymous from home: refused by the ban.
    expect((await call(w, 'GET', `/JellyfinSecurity/Approvals/${id}`, { from: PHONE_IP })).status).toBe(429);
    // With the phone's session: the list, the page, the passkey tap.
    const list = await call(w, 'GET', '/JellyfinSecurity/Me/Approvals', asPhone);
    expect(list.status, list.text).toBe(200);
    expect((list.json as { items: Array<{ id: string }> }).items.map((i) => i.id)).toContain(id);
    expect((await call(w, 'GET', `/JellyfinSecurity/Approvals/${id}`, asPhone)).status).toBe(200);
    const options = await call(w, 'POST', `/JellyfinSecurity/Approvals/${id}/Options`, asPhone);
    expect(options.status, options.text).toBe(200);
    const polling = call(w, 'POST', '/JellyfinSecurity/Approvals/Login/Status', { from: WEB_IP, body: { challengeId: challenge.challengeId, waitSeconds: 25 } });
    await waiting(w, id);
    const approved = await call(w, 'POST', `/JellyfinSecurity/Approvals/${id}/Approve`, {
      ...asPhone,
      body: { response: alice.key.get(options.json as never), number: started.number },
    });
    expect(approved.status, approved.text).toBe(200);
    const released = await polling;
    expect(released.status, released.text).toBe(200);
    expect((released.json as { User: { Name: string } }).User.Name).toBe('alice');
  });

  it("a passkey still signs its owner in while someone's wrong codes pause the account's codes", async () => {
    const userId = (await w.gw.gateway.users.byName('alice'))!.id;
    // Ten wrong codes (someone typing at her account) pause its code checks.
    for (let i = 0; i < 10; i++) await w.gw.gateway.services.factors.attempts.fail(userId);
    const held = await passwordLogin(w, 'alice', 'alice-pw', { deviceId: 'alice-tablet', from: WEB_IP });
    const { challengeId } = SecondFactorRequiredSchema.parse(held.json);
    expect(await w.gw.gateway.services.factors.attempts.lockedUntil(userId)).toBeGreaterThan(w.clock.now());
    const options = await call(w, 'POST', '/JellyfinSecurity/VerifyPasskey/Options', { from: WEB_IP, body: { challengeId } });
    expect(options.status, options.text).toBe(200);
    const passed = await call(w, 'POST', '/JellyfinSecurity/VerifyPasskey', { from: WEB_IP, body: { challengeId, response: alice.key.get(options.json as never) } });
    expect(passed.status, passed.text).toBe(200);
    expect((passed.json as { User: { Name: string } }).User.Name).toBe('alice');
  });
});
