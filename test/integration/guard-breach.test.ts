import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { sha1Hex, startBreachServer, type BreachServer } from '../helpers/breach-server.ts';
import type { ConfigInput } from '../../server/config/schema.ts';
import { api, login, tokenOf } from './guard-helpers.ts';

/**
 * The breached-password check through the real gateway, against a local range API standing in for
 * Have I Been Pwned (BreachCheckUrl points at it).
 */
let jf: Emulator;
let hibp: BreachServer;
const gateways: TestGateway[] = [];

async function gateway(config: Partial<ConfigInput>): Promise<TestGateway> {
  const gw = await startGateway({ upstreamUrl: jf.url, config: { BreachCheckEnabled: true, BreachCheckUrl: hibp.url, ...config } });
  gateways.push(gw);
  return gw;
}

/** Wait for the informational check, which runs after the login was answered. */
async function settled(gw: TestGateway, type = 'guard.password.checked', n = 1) {
  for (let i = 0; i < 200; i++) {
    await gw.gateway.services.audit.flush();
    const r = await gw.gateway.services.audit.query({ types: [type] }, { limit: 10, offset: 0 });
    if (r.total >= n) return r.items;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`no ${type} event`);
}

beforeAll(async () => {
  jf = await startEmulator({
    users: [
      { name: 'bob', password: 'password123' },
      { name: 'carol', password: 'a long and unusual passphrase 7' },
    ],
  });
  hibp = await startBreachServer();
  hibp.breach('password123', 987_654);
});

afterAll(async () => {
  for (const g of gateways) await g.close();
  await hibp?.close();
  await jf?.close();
});

describe('breached passwords', () => {
  it('audits the outcome and shows it to the user; only five hex characters of the SHA-1 leave', async () => {
    const gw = await gateway({});
    hibp.requests.length = 0;
    const bob = await login(gw.url, 'bob', 'password123', { from: '127.0.0.100', deviceId: 'bob-pc' });
    expect(bob.status).toBe(200); // informational by default: the login is not held up
    const [event] = await settled(gw);
    expect(event).toMatchObject({ outcome: 'failure', user_name: 'bob' });
    expect(JSON.parse(event!.detail!)).toEqual({ result: 'breached', count: 987_654 });
    expect(hibp.requests.map((r) => r.path)).toEqual([`/range/${sha1Hex('password123').slice(0, 5)}`]);
    expect(hibp.requests[0]!.headers['add-padding']).toBe('true');

    const mine = await api(gw.url, '/Me/PasswordCheck', tokenOf(bob), { from: '127.0.0.100' });
    expect(mine.json).toMatchObject({ result: 'breached', count: 987_654 });
    const events = await api(gw.url, '/Me/AuditLog?type=guard.*', tokenOf(bob), { from: '127.0.0.100' });
    expect((events.json as { items: Array<{ type: string }> }).items.map((i) => i.type)).toContain('guard.password.checked');

    const carol = await login(gw.url, 'carol', 'a long and unusual passphrase 7', { from: '127.0.0.101' });
    expect(carol.status).toBe(200);
    await settled(gw, 'guard.password.checked', 2);
    expect((await api(gw.url, '/Me/PasswordCheck', tokenOf(carol), { from: '127.0.0.101' })).json).toMatchObject({ result: 'clean', count: 0 });
  });

  it('with BreachCheckBlocks, refuses the login and revokes its token', async () => {
    const gw = await gateway({ BreachCheckBlocks: true });
    const logouts = () => jf.requests.filter((r) => /\/sessions\/logout/i.test(r.url)).length;
    const before = logouts();
    const refused = await login(gw.url, 'bob', 'password123', { from: '127.0.0.102' });
    expect(refused.status).toBe(403);
    expect(refused.json).toMatchObject({ error: 'password_breached' });
    expect(logouts()).toBe(before + 1);
    expect(gw.gateway.tokens.forUser(jf.user('bob').id)).toHaveLength(0);
    const [event] = await settled(gw);
    expect(event).toMatchObject({ outcome: 'refused' });
    expect((await login(gw.url, 'carol', 'a long and unusual passphrase 7', { from: '127.0.0.103' })).status).toBe(200);
  });

  it('fails open when the service is down', async () => {
    const gw = await gateway({ BreachCheckBlocks: true });
    hibp.behave({ status: 503 });
    try {
      expect((await login(gw.url, 'bob', 'password123', { from: '127.0.0.104' })).status).toBe(200);
      const [event] = await settled(gw);
      expect(event).toMatchObject({ outcome: 'info' });
      expect(JSON.parse(event!.detail!)).toMatchObject({ result: 'unavailable', reason: expect.stringContaining('503') });
    } finally {
      hibp.behave({});
    }
  });
});
