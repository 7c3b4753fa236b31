import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/clock.ts';
import { clickNotification, deliverPush, screenshot, shownNotifications } from '../helpers/browser.ts';
import type { ReceivedPush } from '../push/push-service.ts';
import {
  enrollThroughApp,
  openPhone,
  PLACES,
  serviceWorkerReady,
  signIn,
  startWorld,
  tokenWorks,
  tvLogin,
  USERS,
  type Phone,
  type World,
} from './pwa-helpers.ts';

/**
 * Issue 4, the heart of the Authenticator, in a real browser: a TV (the real @jellyfin/sdk) signs in
 * through the gateway → the gateway sends a real Web Push (VAPID, aes128gcm) to the local push service,
 * which verifies and decrypts it → the payload is delivered to the PWA's service worker over CDP → the
 * notification appears → its click opens the approval page → the virtual authenticator signs the
 * approval's challenge → the TV's held login answers 200 and its token works through the gateway.
 * Then everything that must be refused: deny, "This wasn't me", expiry, a replayed assertion, an
 * assertion made for another approval, a passkey of another user; and approve-then-retry.
 *
 * Time: the gateway runs on a ManualClock (set to now). Each scenario starts a push-budget window
 * later (PushWindowSeconds: 60), so the fatigue limits of one scenario never silence the next.
 */

const [alice, bob] = [USERS[0]!, USERS[1]!];
const clock = new ManualClock(Date.now());
let world: World;
let phone: Phone;
/** The body the phone sent to approve the first TV (for the replay scenarios). */
let firstApproval: { id: string; body: string } | undefined;
const shot = (name: string) => screenshot(phone.page, `pwa-${name}`, { fullPage: false });

/** Our API from Node, at the app's origin (passkey ceremonies need the relying party's host, localhost). */
const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${world.origin}/JellyfinSecurity/${path}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-forwarded-for': '198.51.100.99' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
};

/** The next approval push for a phone (verified and decrypted by the local push service). */
const nextApprovalPush = (p: Phone): Promise<ReceivedPush> =>
  world.push.nextMessage((m) => m.subscriberId === p.subscriber.id && m.json?.type === 'approval');

/** A new push-budget window (see above); also lets the sweep see the time. */
function nextScenario(): void {
  clock.advance(61_000);
}

async function auditTypes(type: string): Promise<Array<{ type: string; detail: string | null; ip: string | null }>> {
  const { items } = await world.gw.gateway.services.audit.query({ types: [type] }, { limit: 50, offset: 0 });
  return items as never;
}

beforeAll(async () => {
  world = await startWorld({ clock, config: { HoldSeconds: 60, PushWindowSeconds: 60 } });
  phone = await openPhone(world);
  await signIn(phone.page, world, alice);
  await phone.page.getByTestId('setup-phone').waitFor();
  await serviceWorkerReady(phone.page);
}, 60_000);

afterAll(async () => {
  await phone?.close();
  await world?.close();
});

describe('the Authenticator approves a TV', () => {
  it('enrolls this phone: a platform passkey (user verification) and the push subscription', async () => {
    const phoneId = await enrollThroughApp(phone, { shots: shot });
    const creds = await phone.authenticator.credentials();
    expect(creds).toHaveLength(1);
    expect(creds[0]!.isResidentCredential).toBe(true);
    const phones = await phone.page.evaluate(async () => {
      const token = JSON.parse(localStorage.getItem('jellyguard.session')!).token as string;
      const res = await fetch('../Me/Phones', { headers: { 'x-emby-token': token } });
      return res.json();
    });
    expect(phones).toHaveLength(1);
    expect(phones[0]).toMatchObject({ id: phoneId, push: true, pushService: world.push.origin });
  });

  it('push → notification → click → passkey tap → the held SDK login answers 200 and its token works', async () => {
    const tv = tvLogin(world, alice, { deviceId: 'roku-1', ip: PLACES.london.ip });
    const message = await nextApprovalPush(phone);
    // What the local push service verified and decrypted: RFC 8030 headers, RFC 8292 VAPID, the payload.
    expect(message.urgency).toBe('high');
    expect(message.ttl).toBeGreaterThan(100);
    expect(message.ttl).toBeLessThanOrEqual(120);
    expect(message.vapid.aud).toBe(world.push.origin);
    const payload = message.json as { approvalId: string; title: string; body: string; tag: string; kind: string };
    expect(payload.kind).toBe('login');
    expect(message.topic).toBeTruthy();

    await deliverPush(phone.context, phone.page, world.appUrl, message.payload.toString('utf8'));
    await expect.poll(async () => (await shownNotifications(phone.page)).length, { timeout: 10_000 }).toBe(1);
    const [n] = await shownNotifications(phone.page);
    expect(n).toMatchObject({ title: payload.title, body: payload.body, tag: payload.tag });
    expect(n!.data.url).toBe(`${world.appUrl}#/approve/${payload.approvalId}`);

    await clickNotification(phone.context, payload.tag);
    await phone.page.waitForURL(`**/#/approve/${payload.approvalId}`);
    const details = phone.page.getByTestId('approval-details');
    await expect.poll(() => details.innerText()).toContain('Jellyfin Roku');
    const text = await details.innerText();
    expect(text).toContain('Living room TV');
    expect(text).toContain(PLACES.london.ip);
    expect(text).toContain('London');
    expect(await shownNotifications(phone.page)).toHaveLength(0); // the click closed it
    await shot('approve-tv');

    const sent = phone.page.waitForRequest((r) => r.url().endsWith(`/Approvals/${payload.approvalId}/Approve`));
    await phone.page.getByTestId('approve').click();
    firstApproval = { id: payload.approvalId, body: (await sent).postData()! };
    await expect.poll(() => phone.page.getByTestId('approval-result').getAttribute('data-status')).toBe('approved');
    await shot('approved');

    const answer = await tv;
    expect(answer.status).toBe(200);
    expect(await tokenWorks(world, answer.token!)).toBe(true);
  });

  it('refuses the same assertion twice (a replay lands on a decided approval)', async () => {
    const r = await api('POST', `Approvals/${firstApproval!.id}/Approve`, firstApproval!.body);
    expect(r.status).toBe(409);
    expect(r.json.error).toBe('approval_over');
  });

  it('a click while the app shows another page routes it to the approval; Deny refuses the TV', async () => {
    nextScenario();
    await phone.page.goto(`${world.appUrl}#/security`);
    const tv = tvLogin(world, alice, { deviceId: 'roku-2', ip: PLACES.paris.ip, device: 'Bedroom TV' });
    const message = await nextApprovalPush(phone);
    await deliverPush(phone.context, phone.page, world.appUrl, message.payload.toString('utf8'));
    await expect.poll(async () => (await shownNotifications(phone.page)).length).toBe(1);
    // (With no window of the app open, the worker calls clients.openWindow, which Chromium allows only
    // for a real click on a notification: CDP cannot click one, so that branch is not driven here.)
    await clickNotification(phone.context, message.json.tag);
    const page = phone.page;
    await page.waitForURL(`**/#/approve/${message.json.approvalId}`);
    await page.getByTestId('approval-details').getByText('Bedroom TV').waitFor();

    await page.getByTestId('deny').click();
    await expect.poll(() => page.getByTestId('approval-result').getAttribute('data-status')).toBe('denied');
    const answer = await tv;
    expect(answer.status).toBe(401);
    expect(answer.token).toBeUndefined();
    expect((await api('GET', `Approvals/${message.json.approvalId}`)).json.status).toBe('denied');
  });

  it('refuses an assertion made for another approval; "This wasn\'t me" denies, bans the address, and says so', async () => {
    nextScenario();
    const tv = tvLogin(world, alice, { deviceId: 'roku-3', ip: PLACES.sydney.ip, device: 'Hotel TV' });
    const message = await nextApprovalPush(phone);
    const id = message.json.approvalId as string;
    // The first TV's signature, sent for this approval: its challenge commits to another approval.
    const moved = await api('POST', `Approvals/${id}/Approve`, firstApproval!.body);
    expect(moved.status).toBe(401);
    expect(moved.json.error).toBe('invalid_assertion');
    expect((await api('GET', `Approvals/${id}`)).json.status).toBe('pending');

    await phone.page.goto(`${world.appUrl}#/approve/${id}`);
    await phone.page.getByTestId('approval-details').getByText('Hotel TV').waitFor();
    await phone.page.getByTestId('report').click();
    await phone.page.getByRole('alertdialog').waitFor();
    await shot('report-confirm');
    await phone.page.getByRole('button', { name: 'Yes, it wasn’t me' }).click();
    await expect.poll(() => phone.page.getByTestId('approval-result').getAttribute('data-status')).toBe('reported');
    await shot('reported');
    expect((await tv).status).toBe(401);
    // The TV's address is banned (the phone's own is not): its next attempt never reaches Jellyfin.
    const bans = world.gw.gateway.services.guard.listBans();
    expect((await bans).some((b) => b.address === PLACES.sydney.ip)).toBe(true);
    const again = await tvLogin(world, alice, { deviceId: 'roku-3', ip: PLACES.sydney.ip });
    expect([403, 429]).toContain(again.status);
    const reported = await auditTypes('approval.reported');
    expect(reported.some((e) => e.ip === PLACES.sydney.ip)).toBe(true);
  });

  it('refuses a passkey of another user, even one of this server', async () => {
    nextScenario();
    // Bob enrolls his own phone.
    const bobPhone = await openPhone(world, { ip: '198.51.100.30' });
    try {
      await signIn(bobPhone.page, world, bob);
      await bobPhone.page.getByTestId('setup-phone').waitFor();
      await serviceWorkerReady(bobPhone.page);
      await enrollThroughApp(bobPhone);

      const tv = tvLogin(world, alice, { deviceId: 'roku-4', ip: PLACES.london.ip });
      const id = (await nextApprovalPush(phone)).json.approvalId as string;
      // Bob signs alice's approval challenge with HIS passkey (discoverable: no allowCredentials) and sends it.
      const options = (await api('POST', `Approvals/${id}/Options`, {})).json;
      const result = await bobPhone.page.evaluate(
        async ({ id, challenge }) => {
          const b64u = (b: ArrayBuffer) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
          const fromB64u = (s: string) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4)), (c) => c.charCodeAt(0));
          const cred = (await navigator.credentials.get({
            publicKey: { challenge: fromB64u(challenge), rpId: 'localhost', userVerification: 'required' },
          })) as PublicKeyCredential;
          const r = cred.response as AuthenticatorAssertionResponse;
          const response = {
            id: cred.id,
            rawId: b64u(cred.rawId),
            type: 'public-key',
            response: {
              clientDataJSON: b64u(r.clientDataJSON),
              authenticatorData: b64u(r.authenticatorData),
              signature: b64u(r.signature),
              userHandle: r.userHandle ? b64u(r.userHandle) : undefined,
            },
            clientExtensionResults: {},
          };
          const res = await fetch(`../Approvals/${id}/Approve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ response }) });
          return { status: res.status, body: await res.json() };
        },
        { id, challenge: options.challenge as string },
      );
      expect(result.status).toBe(401);
      expect(result.body.error).toBe('invalid_assertion');
      expect((await api('GET', `Approvals/${id}`)).json.status).toBe('pending');
      // Alice ends it from her phone.
      await phone.page.goto(`${world.appUrl}#/approve/${id}`);
      await phone.page.getByTestId('deny').click();
      await expect.poll(() => phone.page.getByTestId('approval-result').getAttribute('data-status')).toBe('denied');
      expect((await tv).status).toBe(401);
    } finally {
      await bobPhone.close();
    }
  });

  it('an approval nobody answers expires: the TV gets 401, the page says so and cannot approve it', async () => {
    nextScenario();
    const tv = tvLogin(world, alice, { deviceId: 'roku-5', ip: PLACES.paris.ip });
    const id = (await nextApprovalPush(phone)).json.approvalId as string;
    await phone.page.goto(`${world.appUrl}#/approve/${id}`);
    await phone.page.getByTestId('approve').waitFor();
    clock.advance(121_000); // past ApprovalSeconds; the gateway's 1-second sweep sees it
    expect((await tv).status).toBe(401);
    await phone.page.getByTestId('approve').click();
    await expect.poll(() => phone.page.getByTestId('approval-result').getAttribute('data-status')).toBe('expired');
    expect(await phone.page.getByTestId('approval-result').innerText()).toContain('Nobody answered in time');
    expect((await api('GET', `Approvals/${id}`)).json.status).toBe('expired');
  });

  it('approve-then-retry: the hold ends first, the phone approves later, the TV\'s next attempt succeeds without a new push', async () => {
    nextScenario();
    const tv = tvLogin(world, alice, { deviceId: 'roku-6', ip: PLACES.london.ip, device: 'Kitchen TV' });
    const id = (await nextApprovalPush(phone)).json.approvalId as string;
    await world.gw.gateway.services.approvals.waiters.whenWaiting(id);
    clock.advance(61_000); // HoldSeconds (60) pass: the TV is answered 401, the approval stays open
    expect((await tv).status).toBe(401);

    await phone.page.goto(`${world.appUrl}#/approve/${id}`);
    await phone.page.getByTestId('approval-details').getByText('Kitchen TV').waitFor();
    await phone.page.getByTestId('approve').click();
    await expect.poll(() => phone.page.getByTestId('approval-result').getAttribute('data-status')).toBe('approved');

    const approvalPushes = () => world.push.messagesFor(phone.subscriber.id).filter((m) => m.json?.type === 'approval').length;
    const pushesBefore = approvalPushes();
    const retry = await tvLogin(world, alice, { deviceId: 'roku-6', ip: PLACES.london.ip, device: 'Kitchen TV' });
    expect(retry.status).toBe(200);
    expect(await tokenWorks(world, retry.token!)).toBe(true);
    expect(approvalPushes()).toBe(pushesBefore);
  });
});
