import type { Browser } from 'playwright-core';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemo, DEMO_USERS, type Demo } from '../helpers/demo.ts';
import { launchBrowser, openPage, PHONE, screenshot } from '../helpers/browser.ts';

/**
 * `npm run demo` as a newcomer meets it: the banner names every page worth opening and bob's TOTP secret;
 * /web/ leads to the sign-in page and back to a stand-in that says what it is and who is signed in.
 */
let demo: Demo;
let browser: Browser;

beforeAll(async () => {
  demo = await startDemo();
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await demo?.close();
});

describe('the demo', () => {
  it('prints every page worth opening, every account, and bob\'s authenticator secret', () => {
    for (const path of ['/web/', '/JellyfinSecurity/login', '/JellyfinSecurity/app/', '/JellyfinSecurity/pair', '/JellyfinSecurity/app/#/admin/users']) {
      expect(demo.banner).toContain(demo.url + path);
    }
    for (const u of DEMO_USERS) expect(demo.banner).toContain(u.password);
    expect(demo.totpSecret).toMatch(/^[A-Z2-7]{32}$/);
    expect(demo.banner).toContain(demo.totpSecret);
  });

  it('each printed page answers', async () => {
    for (const path of ['/web/', '/JellyfinSecurity/login', '/JellyfinSecurity/app/', '/JellyfinSecurity/pair', '/JellyfinSecurity/Health']) {
      const res = await fetch(demo.url + path);
      expect(res.status, path).toBe(200);
    }
  });

  it('bob signs in with his authenticator code and /web/ says it is a stand-in and who is signed in', async () => {
    const { page, context } = await openPage(browser, { viewport: PHONE });
    try {
      await page.goto(demo.url + '/web/');
      await page.waitForURL(/\/JellyfinSecurity\/login\/\?return=/);
      await page.fill('#username', 'bob');
      await page.fill('#password', 'demo-bob');
      await page.click('[data-testid=password-form] button[type=submit]');
      await page.waitForSelector('#code');
      // The set-up spent the step before this one, so the current code is new to the gateway.
      await page.fill('#code', await generate({ secret: demo.totpSecret, epoch: Math.floor(Date.now() / 1000), period: 30, digits: 6, algorithm: 'sha1' }));
      await page.click('[data-testid=code-form] button[type=submit]');
      await page.waitForURL(demo.url + '/web/');
      await expect.poll(() => page.textContent('#who'), { timeout: 10_000 }).toBe('Signed in as bob.');
      expect(await page.textContent('main')).toContain('stands in for jellyfin-web');
      await screenshot(page, 'demo-web-stand-in-phone');
      await page.click('#signout');
      await page.waitForURL(/\/JellyfinSecurity\/login\/\?return=/);
    } finally {
      await context.close();
    }
  });
});
