import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { seriousViolations } from '../helpers/axe.ts';
import { DESKTOP, launchBrowser, openPage, screenshot } from '../helpers/browser.ts';
import { getQuickConnectApi, jellyfinClient } from '../helpers/sdk.ts';

/**
 * The step-up prompt inside jellyfin-web behind a BaseUrl (`/jellyfin`): the injected script finds the
 * step-up API under {BaseUrl}/JellyfinSecurity/ from its own script tag, and jellyfin-web's Quick Connect
 * call (@jellyfin/sdk → axios → XHR) goes through after the password of an account with no second factor.
 */
const BASE = '/jellyfin';
const AXIOS = readFileSync(path.join(path.dirname(createRequire(import.meta.url).resolve('axios/package.json')), 'dist', 'axios.min.js'), 'utf8');
let jf: Emulator;
let gw: TestGateway;
let browser: Browser;
let origin: string;

beforeAll(async () => {
  jf = await startEmulator({ baseUrl: BASE, users: [{ name: 'frank', password: 'frank-pw', isAdministrator: true }] });
  gw = await startGateway({ upstreamUrl: new URL(jf.url).origin, config: { BaseUrl: BASE, JellyfinApiKey: jf.createApiKey('jellyguard') } });
  origin = `http://localhost:${gw.port}`;
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gw?.close();
  await jf?.close();
});

describe('the step-up prompt under a BaseUrl', { timeout: 60_000 }, () => {
  it('asks at {BaseUrl}/JellyfinSecurity/StepUp and repeats the Quick Connect call there', async () => {
    const auth = 'MediaBrowser Client="Jellyfin Web", Device="Chrome", DeviceId="frank-chrome", Version="10.11.11"';
    const login = await fetch(`${origin}${BASE}/Users/AuthenticateByName`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: auth },
      body: JSON.stringify({ Username: 'frank', Pw: 'frank-pw' }),
    });
    expect(login.status).toBe(200);
    const { AccessToken: token, User } = (await login.json()) as { AccessToken: string; User: { Id: string } };

    const tv = jellyfinClient(`${origin}${BASE}`, { client: 'Jellyfin Android TV', device: 'Den TV', deviceId: 'den-tv' });
    const { data: qc } = await getQuickConnectApi(tv).initiateQuickConnect();

    const { context, page } = await openPage(browser, { viewport: DESKTOP });
    try {
      const credentials = { Servers: [{ ManualAddress: origin + BASE, Id: 'e'.repeat(32), AccessToken: token, UserId: User.Id, LastConnectionMode: 2 }] };
      await context.addInitScript(`localStorage.setItem('jellyfin_credentials', ${JSON.stringify(JSON.stringify(credentials))});`);
      const stepUpCalls: string[] = [];
      page.on('request', (r) => {
        if (r.url().includes('/JellyfinSecurity/StepUp')) stepUpCalls.push(new URL(r.url()).pathname);
      });
      await page.goto(`${origin}${BASE}/web/`);
      await page.waitForFunction(() => (window as unknown as { __jellyguardInjected?: boolean }).__jellyguardInjected === true);
      await page.addScriptTag({ content: AXIOS });
      await page.evaluate(() => document.documentElement.setAttribute('lang', 'en-us'));

      const answer = page.evaluate(
        async ({ url, header }) => {
          const axios = (window as unknown as { axios: { request: (c: unknown) => Promise<{ status: number; data: unknown }> } }).axios;
          try {
            const r = await axios.request({ method: 'POST', headers: { Authorization: header }, url });
            return { status: r.status, data: r.data };
          } catch (e) {
            return { status: (e as { response?: { status: number } }).response?.status, data: null };
          }
        },
        { url: `${origin}${BASE}/QuickConnect/Authorize?code=${qc.Code}&userId=${User.Id}`, header: `${auth}, Token="${token}"` },
      );
      answer.catch(() => {});
      const dialog = page.getByRole('dialog', { name: "Confirm it's you" });
      await dialog.waitFor();
      expect(await seriousViolations(page)).toEqual([]);
      await dialog.getByLabel('Your Jellyfin password').fill('frank-pw');
      await dialog.getByRole('button', { name: 'Confirm with my password' }).click();
      expect(await answer).toEqual({ status: 200, data: true });
      expect(stepUpCalls).toEqual([`${BASE}/JellyfinSecurity/StepUp`]);
      expect((await getQuickConnectApi(tv).getQuickConnectState({ secret: qc.Secret! })).data.Authenticated).toBe(true);
    } catch (e) {
      await screenshot(page, 'stepup-web-baseurl-FAILED').catch(() => {});
      throw e;
    } finally {
      await context.close();
    }
  });
});
