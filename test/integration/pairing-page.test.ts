import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { ManualClock } from '../../server/clock.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { launchBrowser, localStorageOf, openPage, screenshot } from '../helpers/browser.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';
import { PAIR_PAGE_CSP } from '../../server/pairing/page.ts';
import { approveOnPhone, decodeQrPng, enrollPhone, localOrigin } from './pairing-helpers.ts';

/**
 * Issue 6, the big-screen pairing page in a real browser (Chromium): it initiates Quick Connect through
 * the gateway, shows the code and a QR code; the QR code, decoded from a screenshot of the page, opens
 * the phone's approval page for that code; the phone approves; the page completes by itself — the
 * session saved where jellyfin-web looks — and goes to /web/. With and without a Jellyfin BaseUrl.
 */
const TV = { width: 1280, height: 720 } as const;
const TIZEN_UA = 'Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.5) AppleWebKit/537.36 (KHTML, like Gecko) 85.0.4183.93/6.5 TV Safari/537.36';
let browser: Browser;

beforeAll(async () => {
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
});

async function setUp(baseUrl: string): Promise<{ jf: Emulator; gw: TestGateway; token: string; key: SoftAuthenticator; close(): Promise<void> }> {
  const clock = new ManualClock();
  const jf = await startEmulator({ now: () => clock.now(), baseUrl, users: [{ name: 'bob', password: 'bob-pw' }] });
  const gw = await startGateway({ upstreamUrl: jf.url.replace(baseUrl, ''), clock, config: { JellyfinApiKey: jf.createApiKey('jellyguard'), BaseUrl: baseUrl } });
  const login = await fetch(`${gw.url}${baseUrl}/Users/AuthenticateByName`, {
    method: 'POST',
    headers: { authorization: 'MediaBrowser Client="Jellyguard Authenticator", Device="Pixel", DeviceId="bob-phone", Version="1"', 'content-type': 'application/json' },
    body: JSON.stringify({ Username: 'bob', Pw: 'bob-pw' }),
  });
  expect(login.status).toBe(200);
  const token = ((await login.json()) as { AccessToken: string }).AccessToken;
  const key = baseUrl ? await enrollPhoneAt(gw, token, baseUrl) : await enrollPhone(gw, token, 'bob-phone');
  return {
    jf,
    gw,
    token,
    key,
    async close() {
      await gw.close();
      await jf.close();
    },
  };
}

/** enrollPhone under a BaseUrl. */
async function enrollPhoneAt(gw: TestGateway, token: string, baseUrl: string): Promise<SoftAuthenticator> {
  const origin = localOrigin(gw);
  const key = new SoftAuthenticator(origin);
  const h = { authorization: `MediaBrowser Client="Jellyguard Authenticator", Device="Pixel", DeviceId="bob-phone", Version="1", Token="${token}"`, 'content-type': 'application/json' };
  const opts = await (await fetch(`${origin}${baseUrl}/JellyfinSecurity/Me/Phones/Options`, { method: 'POST', headers: h })).json();
  const res = await fetch(`${origin}${baseUrl}/JellyfinSecurity/Me/Phones`, {
    method: 'POST',
    headers: h,
    body: JSON.stringify({ name: 'Phone', response: key.create(opts as never), subscription: null }),
  });
  expect(res.status).toBe(201);
  return key;
}

describe('the pairing page on a TV browser', () => {
  it('shows the code and a QR code of the phone’s approval page, and signs in by itself once approved', async () => {
    const env = await setUp('');
    try {
      const { context, page, errors } = await openPage(browser, { viewport: TV, userAgent: TIZEN_UA });
      const failed: string[] = [];
      page.on('response', (r) => {
        if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
      });
      const origin = localOrigin(env.gw);
      const res = await page.goto(`${origin}/JellyfinSecurity/pair`);
      expect(res?.status()).toBe(200);
      expect(res?.headers()['content-security-policy']).toBe(PAIR_PAGE_CSP);
      await page.waitForSelector('#code[data-code]');
      await page.waitForFunction(() => (document.getElementById('qr') as HTMLImageElement).complete && !(document.getElementById('qr') as HTMLImageElement).hidden);
      const shown = await page.getAttribute('#code', 'data-code');
      expect(shown).toMatch(/^\d{6}$/);
      expect((await page.textContent('#code'))!.replace(/\s/g, '')).toBe(shown);
      const file = await screenshot(page, 'pair-tv-waiting', { fullPage: false });

      // The QR code, decoded from what the screen shows, opens the phone's approval page for this code.
      const decoded = await decodeQrPng(page, readFileSync(file));
      expect(decoded).toBe(`${origin}/JellyfinSecurity/app/#/pair?code=${shown}`);
      const scanned = new URL(decoded!.replace('#/pair?', '?')).searchParams.get('code')!;

      // The request the page started is remembered with the screen's device, as jellyfin-web's.
      const row = await env.gw.gateway.store.db.selectFrom('quick_connect').selectAll().where('code', '=', scanned).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ app_name: 'Jellyfin Web', device_name: 'Samsung Smart TV', ip: '127.0.0.1' });
      const deviceId = (await localStorageOf(page))._deviceId2;
      expect(row.device_id).toBe(deviceId);

      // The page itself loaded without an error (jellyfin-web's stand-in after it is not this page's business).
      expect(errors).toEqual([]);
      expect(failed).toEqual([]);

      // The phone approves what it scanned; the page completes by itself.
      const { lookup, approved } = await approveOnPhone(env.gw, env.token, 'bob-phone', env.key, scanned);
      expect(lookup.json.deviceName).toBe('Samsung Smart TV');
      expect(approved.status, approved.text).toBe(200);
      await page.waitForURL(/\/web\/?/, { timeout: 20_000 });
      const stored = await localStorageOf(page);
      const creds = JSON.parse(stored.jellyfin_credentials!) as { Servers: Array<{ AccessToken: string; UserId: string; ManualAddress: string; Id: string }> };
      expect(creds.Servers).toHaveLength(1);
      const server = creds.Servers[0]!;
      expect(server.UserId).toBe(env.jf.user('bob').id);
      expect(server.ManualAddress).toBe(origin);
      expect(stored[`user-${server.UserId}-${server.Id}`]).toContain('"Name":"bob"');
      expect(stored.enableAutoLogin).toBe('true');
      expect((await fetch(`${env.gw.url}/Users/Me`, { headers: { 'x-emby-token': server.AccessToken } })).status).toBe(200);
      expect(env.gw.gateway.tokens.lookup(server.AccessToken)).toMatchObject({ state: 'verified', method: 'quickconnect', deviceId });
      await context.close();
    } finally {
      await env.close();
    }
  });

  it('is the same page at the short alias, readable on a narrow screen', async () => {
    const env = await setUp('');
    try {
      const { context, page, errors } = await openPage(browser, { viewport: { width: 390, height: 844 } });
      const res = await page.goto(`${localOrigin(env.gw)}/JellyfinSecurity/p`);
      expect(res?.status()).toBe(200);
      await page.waitForSelector('#code[data-code]');
      await page.waitForFunction(() => (document.getElementById('qr') as HTMLImageElement).complete);
      await screenshot(page, 'pair-narrow', { fullPage: false });
      expect(errors).toEqual([]);
      await context.close();
    } finally {
      await env.close();
    }
  });

  it('works under a Jellyfin BaseUrl', async () => {
    const env = await setUp('/jellyfin');
    try {
      const { context, page } = await openPage(browser, { viewport: TV });
      const origin = localOrigin(env.gw);
      await page.goto(`${origin}/jellyfin/JellyfinSecurity/pair`);
      await page.waitForSelector('#code[data-code]');
      await page.waitForFunction(() => (document.getElementById('qr') as HTMLImageElement).complete && !(document.getElementById('qr') as HTMLImageElement).hidden);
      const shown = (await page.getAttribute('#code', 'data-code'))!;
      const decoded = await decodeQrPng(page, readFileSync(await screenshot(page, 'pair-tv-baseurl', { fullPage: false })));
      expect(decoded).toBe(`${origin}/jellyfin/JellyfinSecurity/app/#/pair?code=${shown}`);
      // Approve through the API under the BaseUrl.
      const h = { authorization: `MediaBrowser Client="Jellyguard Authenticator", Device="Pixel", DeviceId="bob-phone", Version="1", Token="${env.token}"`, 'content-type': 'application/json' };
      const started = (await (await fetch(`${origin}/jellyfin/JellyfinSecurity/Pair/Approval`, { method: 'POST', headers: h, body: JSON.stringify({ code: shown }) })).json()) as any;
      const ok = await fetch(`${origin}/jellyfin/JellyfinSecurity/Pair/Approve`, {
        method: 'POST',
        headers: h,
        body: JSON.stringify({ approvalId: started.approvalId, response: env.key.get(started.options) }),
      });
      expect(ok.status).toBe(200);
      await page.waitForURL(/\/jellyfin\/web\/?/, { timeout: 20_000 });
      const creds = JSON.parse((await localStorageOf(page)).jellyfin_credentials!) as { Servers: Array<{ ManualAddress: string; AccessToken: string }> };
      expect(creds.Servers[0]!.ManualAddress).toBe(`${origin}/jellyfin`);
      expect((await fetch(`${env.gw.url}/jellyfin/Users/Me`, { headers: { 'x-emby-token': creds.Servers[0]!.AccessToken } })).status).toBe(200);
      await context.close();
    } finally {
      await env.close();
    }
  });
});
