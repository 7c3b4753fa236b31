import { rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/clock.ts';
import { openStore, type Store } from '../../server/store/index.ts';
import { silentLogger } from '../../server/log.ts';
import type { AuditEvent } from '../../server/audit/index.ts';
import { PushService, endpointProblem, keysProblem, loadOrCreateVapidKeys, sendPush, vapidSubject, type VapidKeys } from '../../server/push/index.ts';
import { Phones } from '../../server/approvals/phones.ts';
import { tempDir } from '../helpers/gateway.ts';
import { startPushService, verifyVapid, type PushServiceHandle } from '../push/push-service.ts';

/**
 * server/push against the local push service of test/push (a real HTTP server that verifies VAPID and
 * decrypts aes128gcm with http_ece): keys, one send, expired subscriptions, time-outs, validation.
 */
let push: PushServiceHandle;
let store: Store;
let dir: string;
let keys: VapidKeys;
const encryptionKey = randomBytes(32);
const hmacKey = randomBytes(32);
const clock = new ManualClock();
const subject = 'mailto:admin@example.org';

beforeAll(async () => {
  push = await startPushService();
  dir = tempDir();
  store = await openStore(dir);
  keys = await loadOrCreateVapidKeys(store.db, encryptionKey, clock.now());
});

afterAll(async () => {
  await push.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('VAPID keys', () => {
  it('are made once, kept with the private key sealed, and read back the same', async () => {
    expect(Buffer.from(keys.publicKey, 'base64url')).toHaveLength(65);
    expect(Buffer.from(keys.privateKey, 'base64url')).toHaveLength(32);
    const again = await loadOrCreateVapidKeys(store.db, encryptionKey, clock.now());
    expect(again).toEqual(keys);
    const row = await store.db.selectFrom('push_vapid').selectAll().executeTakeFirstOrThrow();
    expect(row.public_key).toBe(keys.publicKey);
    expect(row.private_key_enc).not.toContain(keys.privateKey);
    expect(row.private_key_enc.startsWith('v1.')).toBe(true);
  });

  it('fail closed under another encryption key (no silent new identity)', async () => {
    await expect(loadOrCreateVapidKeys(store.db, randomBytes(32), clock.now())).rejects.toThrow(/cannot be opened/);
  });

  it('subject: configured, else an https PublicUrl, else a mailto: placeholder', () => {
    expect(vapidSubject('mailto:a@b.example', 'https://media.example.org')).toEqual({ subject: 'mailto:a@b.example', fallback: false });
    expect(vapidSubject(undefined, 'https://media.example.org/x')).toEqual({ subject: 'https://media.example.org', fallback: false });
    expect(vapidSubject(undefined, 'http://localhost:8097').fallback).toBe(true);
  });
});

describe('one push', () => {
  it('reaches the push service with a valid VAPID JWT, RFC 8030 headers and a payload only the subscriber can read', async () => {
    const sub = push.subscribe({ applicationServerKey: keys.publicKey });
    const payload = JSON.stringify({ v: 1, type: 'approval', approvalId: 'A'.repeat(22), title: 'Sign in?', body: 'Roku' });
    const out = await sendPush(sub.subscription, { payload, ttlSeconds: 117, urgency: 'high', topic: 'A'.repeat(22) }, { keys, subject }, 5000);
    expect(out).toEqual({ kind: 'sent', status: 201 });
    const m = await push.nextMessage((x) => x.subscriberId === sub.id);
    expect(m.payload.toString('utf8')).toBe(payload);
    expect(m.ttl).toBe(117);
    expect(m.urgency).toBe('high');
    expect(m.topic).toBe('A'.repeat(22));
    expect(m.vapid.aud).toBe(push.origin);
    expect(m.vapid.sub).toBe(subject);
    expect(m.vapid.publicKey).toBe(keys.publicKey);
    expect(m.vapid.exp).toBeGreaterThan(Date.now() / 1000);
  });

  it('the push service refuses a message signed with another VAPID key than the subscription’s', async () => {
    const sub = push.subscribe({ applicationServerKey: keys.publicKey });
    const otherDir = tempDir();
    const otherStore = await openStore(otherDir);
    const other = await loadOrCreateVapidKeys(otherStore.db, encryptionKey, clock.now());
    await otherStore.close();
    rmSync(otherDir, { recursive: true, force: true });
    const out = await sendPush(sub.subscription, { payload: '{}', ttlSeconds: 10, urgency: 'high' }, { keys: other, subject }, 5000);
    expect(out.kind).toBe('failed');
    expect(push.rejected.at(-1)).toMatchObject({ subscriberId: sub.id, status: 403 });
  });

  it('404 and 410 mean the subscription is gone; other errors are failures', async () => {
    const sub = push.subscribe();
    for (const status of [404, 410] as const) {
      push.answer(sub.id, status);
      expect(await sendPush(sub.subscription, { payload: '{}', ttlSeconds: 10, urgency: 'high' }, { keys, subject }, 5000)).toEqual({ kind: 'gone', status });
    }
    push.answer(sub.id, 500);
    expect(await sendPush(sub.subscription, { payload: '{}', ttlSeconds: 10, urgency: 'high' }, { keys, subject }, 5000)).toMatchObject({ kind: 'failed', status: 500 });
  });

  it('a push service that never answers is abandoned after the timeout', async () => {
    const sub = push.subscribe();
    push.answer(sub.id, 'hang');
    const out = await sendPush(sub.subscription, { payload: '{}', ttlSeconds: 10, urgency: 'high' }, { keys, subject }, 150);
    expect(out.kind).toBe('failed');
    expect((out as { error: string }).error).toMatch(/no answer within 150 ms/);
  });

  it('an oversized payload is never sent', async () => {
    const sub = push.subscribe();
    const out = await sendPush(sub.subscription, { payload: 'x'.repeat(5000), ttlSeconds: 10, urgency: 'high' }, { keys, subject }, 5000);
    expect(out).toEqual({ kind: 'failed', error: 'payload too large' });
  });
});

describe('PushService with the phone store', () => {
  it('sends to every phone of the user in the background and deletes subscriptions answered 410', async () => {
    const phones = new Phones(store.db, clock, encryptionKey, hmacKey);
    const audit: AuditEvent[] = [];
    const service = new PushService({ keys, subject, enabled: true, subscriptions: phones, allowHttpLoopback: true, log: silentLogger, audit: (e) => audit.push(e), timeoutMs: 2000 });
    const user = 'f'.repeat(32);
    const live = push.subscribe({ applicationServerKey: keys.publicKey });
    const dead = push.subscribe({ applicationServerKey: keys.publicKey });
    push.answer(dead.id, 410);
    const p1 = await phones.create(user, { name: 'Live', credentialId: 'cred-live', subscription: live.subscription, deviceId: null });
    const p2 = await phones.create(user, { name: 'Dead', credentialId: 'cred-dead', subscription: dead.subscription, deviceId: null });
    // The subscription is sealed at rest: neither the endpoint nor the keys are readable in the row.
    const raw = await store.db.selectFrom('phones').selectAll().where('id', '=', p1.id).executeTakeFirstOrThrow();
    expect(raw.subscription_enc).not.toContain(live.subscription.endpoint);
    expect(raw.subscription_enc).not.toContain(live.subscription.keys.auth);

    const queued = await service.sendToUser(user, { v: 1, type: 'notice', kind: 'test', title: 't', body: 'b', tag: 'x' }, { ttlSeconds: 60, urgency: 'normal' });
    expect(queued).toBe(2);
    await service.idle();
    expect(push.messagesFor(live.id)).toHaveLength(1);
    expect((await phones.get(user, p2.id))!.subscription_enc).toBeNull();
    expect((await phones.get(user, p1.id))!.subscription_enc).not.toBeNull();
    expect(audit.map((e) => e.type)).toEqual(['push.subscription.expired']);
    // The dead phone stays enrolled (its passkey still approves from the app); it just gets no pushes.
    expect(await phones.list(user)).toHaveLength(2);
  });

  it('returns before a slow push service answers (a send never blocks its caller)', async () => {
    const phones = new Phones(store.db, clock, encryptionKey, hmacKey);
    const service = new PushService({ keys, subject, enabled: true, subscriptions: phones, allowHttpLoopback: true, log: silentLogger, audit: () => {}, timeoutMs: 200 });
    const user = 'e'.repeat(32);
    const slow = push.subscribe();
    push.answer(slow.id, 'hang');
    await phones.create(user, { name: 'Slow', credentialId: 'cred-slow', subscription: slow.subscription, deviceId: null });
    const outcomes: string[] = [];
    service.onSent = (r) => outcomes.push(r.outcome.kind);
    expect(await service.sendToUser(user, { v: 1, type: 'notice', kind: 'test', title: 't', body: 'b', tag: 'x' }, { ttlSeconds: 60, urgency: 'normal' })).toBe(1);
    expect(outcomes).toEqual([]); // still in flight
    await service.idle();
    expect(outcomes).toEqual(['failed']);
  });

  it('one endpoint belongs to one phone: enrolling it again elsewhere takes it over', async () => {
    const phones = new Phones(store.db, clock, encryptionKey, hmacKey);
    const s = push.subscribe();
    const a = await phones.create('a'.repeat(32), { name: 'A', credentialId: 'cred-a', subscription: s.subscription, deviceId: null });
    const b = await phones.create('b'.repeat(32), { name: 'B', credentialId: 'cred-b', subscription: s.subscription, deviceId: null });
    expect((await phones.get('a'.repeat(32), a.id))!.endpoint_hash).toBeNull();
    expect((await phones.get('b'.repeat(32), b.id))!.endpoint_hash).not.toBeNull();
    expect(await phones.subscriptionsOf('a'.repeat(32))).toEqual([]);
  });

  it('a stored http endpoint is not sent to once plain http is no longer allowed', async () => {
    const phones = new Phones(store.db, clock, encryptionKey, hmacKey);
    const service = new PushService({ keys, subject, enabled: true, subscriptions: phones, allowHttpLoopback: false, log: silentLogger, audit: () => {} });
    const user = 'd'.repeat(32);
    const s = push.subscribe();
    await phones.create(user, { name: 'Old', credentialId: 'cred-old', subscription: s.subscription, deviceId: null });
    const outcomes: string[] = [];
    service.onSent = (r) => outcomes.push(r.outcome.kind);
    expect(await service.sendToUser(user, { v: 1, type: 'notice', kind: 'test', title: 't', body: 'b', tag: 'x' }, { ttlSeconds: 60, urgency: 'normal' })).toBe(1);
    await service.idle();
    expect(outcomes).toEqual(['failed']);
    expect(push.messagesFor(s.id)).toHaveLength(0);
  });

  it('a disabled service sends nothing', async () => {
    const phones = new Phones(store.db, clock, encryptionKey, hmacKey);
    const service = new PushService({ keys, subject, enabled: false, subscriptions: phones, log: silentLogger, audit: () => {} });
    expect(await service.sendToUser('b'.repeat(32), { v: 1, type: 'notice', kind: 'test', title: 't', body: 'b', tag: 'x' }, { ttlSeconds: 60, urgency: 'normal' })).toBe(0);
  });
});

describe('subscription validation', () => {
  it('only https push services; http only to loopback when explicitly allowed; no credentials', () => {
    expect(endpointProblem('https://fcm.googleapis.com/fcm/send/abc', { allowHttpLoopback: false })).toBeUndefined();
    expect(endpointProblem('http://127.0.0.1:9/push/x', { allowHttpLoopback: false })).toMatch(/https/);
    expect(endpointProblem('http://127.0.0.1:9/push/x', { allowHttpLoopback: true })).toBeUndefined();
    expect(endpointProblem('http://10.0.0.5/push/x', { allowHttpLoopback: true })).toMatch(/https/);
    expect(endpointProblem('https://user:pw@push.example/x', { allowHttpLoopback: false })).toMatch(/credentials/);
    expect(endpointProblem('file:///etc/passwd', { allowHttpLoopback: true })).toMatch(/https/);
    expect(endpointProblem('not a url', { allowHttpLoopback: true })).toMatch(/URL/);
  });

  it('keys must be an uncompressed P-256 point and a 16-byte secret', () => {
    const s = push.subscribe().subscription;
    expect(keysProblem(s.keys)).toBeUndefined();
    expect(keysProblem({ ...s.keys, auth: randomBytes(8).toString('base64url') })).toMatch(/16 bytes/);
    const notOnCurve = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]).toString('base64url');
    expect(keysProblem({ ...s.keys, p256dh: notOnCurve })).toMatch(/not a point/);
  });
});

describe('the local push service itself', () => {
  it('refuses a JWT for another audience, an expired one, and a forged signature', async () => {
    const webpush = (await import('web-push')).default;
    const good = webpush.getVapidHeaders(push.origin, subject, keys.publicKey, keys.privateKey, 'aes128gcm').Authorization;
    expect(verifyVapid(good, push.origin).ok).toBe(true);
    const other = webpush.getVapidHeaders('https://elsewhere.example', subject, keys.publicKey, keys.privateKey, 'aes128gcm').Authorization;
    expect(verifyVapid(other, push.origin)).toMatchObject({ ok: false, reason: expect.stringMatching(/aud/) });
    expect(verifyVapid(good, push.origin, Date.now() + 25 * 3600 * 1000)).toMatchObject({ ok: false, reason: 'JWT expired' });
    const forged = good.replace(/t=([^.]+)\.([^.]+)\./, (_m, h: string, p: string) => {
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
      claims.sub = 'mailto:attacker@example.org';
      return `t=${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
    });
    expect(verifyVapid(forged, push.origin)).toMatchObject({ ok: false, reason: expect.stringMatching(/signature/) });
  });
});
