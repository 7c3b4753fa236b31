import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/clock.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { PHONE, PHONE_UA, launchBrowser, openPage, screenshot, type BrowserPage } from '../helpers/browser.ts';

/**
 * What a person sees while the household's address is banned (Chromium, phone-sized): the login page,
 * the Authenticator and the TV page render — never raw JSON, also on a reload — and the login page says
 * what happened and what to do next. The browser and the guesses both come from 127.0.0.1.
 */
let jf: Emulator;
let gw: TestGateway;
let browser: Browser;
let tab: BrowserPage;
let origin: string;
const clock = new ManualClock();
const POLL = { timeout: 10_000, interval: 50 };

beforeAll(async () => {
  jf = await startEmulator({ users: [{ name: 'kim', password: 'kim-pw' }] });
  gw = await startGateway({ upstreamUrl: jf.url, clock });
  origin = `http://127.0.0.1:${gw.port}`;
  // Five wrong passwords from this machine: 127.0.0.1 is banned.
  for (let i = 0; i < 5; i++) {
    const r = await fetch(`${gw.url}/Users/AuthenticateByName`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'MediaBrowser Client="Test", Device="Node", DeviceId="guesser", Version="1"' },
      body: JSON.stringify({ Username: 'kim', Pw: `guess-${i}` }),
    });
    expect(r.status).toBe(401);
  }
  expect((await fetch(`${gw.url}/System/Info/Public`)).status).toBe(429);
  browser = await launchBrowser();
  tab = await openPage(browser, { viewport: PHONE, userAgent: PHONE_UA });
}, 90_000);

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail' && tab && !tab.page.isClosed()) await screenshot(tab.page, `banned-FAILED-${ctx.task.name.slice(0, 40)}`).catch(() => {});
});

afterAll(async () => {
  await tab?.context.close();
  await browser?.close();
  await gw?.close();
  await jf?.close();
});

describe('the pages while the address is banned', () => {
  it('the login page renders and says what happened and what to do next, also after a reload', async () => {
    const p = tab.page;
    for (const round of ['first', 'reload']) {
      if (round === 'first') await p.goto(`${origin}/JellyfinSecurity/login`);
      else await p.reload();
      await expect.poll(async () => (await p.getByTestId('error').count()) > 0, POLL).toBe(true);
      const body = (await p.locator('body').innerText()).trim();
      expect(body.startsWith('{'), body.slice(0, 80)).toBe(false);
      const message = ((await p.getByTestId('error').textContent()) ?? '').trim();
      expect(message).toMatch(/^Too many failed sign-in attempts from your network\. Devices that are already signed in keep working\./);
      expect(message).toMatch(/wait \d+ minutes?, use another network \(such as mobile data\), or ask an administrator to lift the ban \(Admin → Bans\)\.$/);
      expect(await p.getByRole('button', { name: 'Try again' }).isVisible()).toBe(true);
    }
    await screenshot(p, 'weblogin-banned-phone');
  });

  it('the Authenticator and the TV page render too (HTML, not JSON)', async () => {
    const p = tab.page;
    for (const path of ['/JellyfinSecurity/app/', '/JellyfinSecurity/pair']) {
      const r = await p.goto(`${origin}${path}`);
      expect(r?.status(), path).toBe(200);
      expect(r?.headers()['content-type'], path).toMatch(/text\/html/);
      await expect.poll(async () => (await p.locator('h1, h2').count()) > 0, POLL).toBe(true);
      const body = (await p.locator('body').innerText()).trim();
      expect(body.startsWith('{'), `${path}: ${body.slice(0, 80)}`).toBe(false);
      if (path.includes('/app')) {
        // The Authenticator's own sign-in says the ban's words too.
        await p.getByLabel('User name').fill('kim');
        await p.getByLabel('Password').fill('kim-pw');
        await p.getByRole('button', { name: 'Sign in', exact: true }).click();
        await expect.poll(async () => (await p.locator('body').innerText()).includes('Devices that are already signed in keep working'), POLL).toBe(true);
        await screenshot(p, 'app-banned-phone');
      }
    }
    // The TV page says the ban's own words (how long, what to do next).
    await expect.poll(async () => (await p.locator('body').innerText()).includes('Devices that are already signed in keep working'), POLL).toBe(true);
    await screenshot(p, 'pair-banned-phone');
  });
});
