import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PWA_DIST } from '../../server/api/index.ts';
import { launchPersistent, PHONE, PHONE_UA, screenshot, type PersistentBrowser } from '../helpers/browser.ts';
import { serviceWorkerReady, signIn, startWorld, USERS, type World } from './pwa-helpers.ts';

/**
 * The Authenticator as an installable app (issue 4, item 1): served by the gateway with the right
 * headers, a web manifest with real icons, no installability errors in Chromium (a persistent profile:
 * incognito contexts cannot install), the app shell precached so it opens offline, and an update prompt
 * that lets the user decide when a new version takes over (SKIP_WAITING).
 */

let world: World;

beforeAll(async () => {
  world = await startWorld();
}, 60_000);

afterAll(async () => {
  await world?.close();
});

const get = (p: string) => fetch(`${world.origin}/JellyfinSecurity/${p}`, { redirect: 'manual' });

describe('the gateway serves the app', () => {
  it('redirects app to app/, serves the document with a CSP, the worker with no-cache and its scope', async () => {
    const r = await get('app');
    expect(r.status).toBe(302);
    expect(r.headers.get('location')).toBe('/JellyfinSecurity/app/');

    const doc = await get('app/');
    expect(doc.status).toBe(200);
    expect(doc.headers.get('content-type')).toMatch(/text\/html/);
    expect(doc.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(doc.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(doc.headers.get('cache-control')).toBe('no-cache');
    expect(await doc.text()).toContain('<link rel="manifest" href="./manifest.webmanifest">');

    const sw = await get('app/sw.js');
    expect(sw.status).toBe(200);
    expect(sw.headers.get('content-type')).toMatch(/javascript/);
    expect(sw.headers.get('cache-control')).toBe('no-cache');
    expect(sw.headers.get('service-worker-allowed')).toBe('/JellyfinSecurity/app/');
    const body = await sw.text();
    expect(body).toContain('index.html'); // the precache manifest was injected
    expect(body).not.toContain('self.__WB_MANIFEST');

    expect((await get('app/nope.js')).status).toBe(404);
    expect((await get('app/some/page')).headers.get('content-type')).toMatch(/text\/html/);
  });

  it('has a manifest that installs: names, relative scope, standalone, dark colours, real icons 192, 512 and maskable', async () => {
    const res = await get('app/manifest.webmanifest');
    expect(res.headers.get('content-type')).toMatch(/^application\/manifest\+json/);
    const m = await res.json();
    expect(m).toMatchObject({
      name: 'Jellyguard Authenticator',
      short_name: 'Jellyguard',
      start_url: './',
      scope: './',
      display: 'standalone',
      background_color: '#101010',
      theme_color: '#00a4dc',
    });
    const icons = m.icons as Array<{ src: string; sizes: string; purpose: string }>;
    expect(icons.map((i) => `${i.sizes} ${i.purpose}`).sort()).toEqual(['192x192 any', '512x512 any', '512x512 maskable']);
    for (const icon of icons) {
      const png = Buffer.from(await (await get(`app/${icon.src}`)).arrayBuffer());
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      const [w, h] = [png.readUInt32BE(16), png.readUInt32BE(20)];
      expect(`${w}x${h}`).toBe(icon.sizes);
    }
  });
});

describe('in Chromium', () => {
  let phone: PersistentBrowser;

  beforeAll(async () => {
    phone = await launchPersistent({ viewport: PHONE, userAgent: PHONE_UA });
    phone.context.setDefaultTimeout(10_000);
  });

  afterAll(async () => {
    await phone?.close();
  });

  it('is installable: Page.getInstallabilityErrors is empty', async () => {
    await phone.page.goto(world.appUrl);
    await serviceWorkerReady(phone.page);
    const cdp = await phone.context.newCDPSession(phone.page);
    const manifest = await cdp.send('Page.getAppManifest');
    expect(manifest.errors).toEqual([]);
    expect(manifest.url).toBe(`${world.appUrl}manifest.webmanifest`);
    // Chromium evaluates installability once the worker controls the page and the icons are fetched.
    await expect
      .poll(async () => (await cdp.send('Page.getInstallabilityErrors')).installabilityErrors.map((e) => e.errorId), { timeout: 15_000 })
      .toEqual([]);
    expect(phone.errors).toEqual([]);
  });

  it('opens offline from the precached shell (deep links too)', async () => {
    await signIn(phone.page, world, USERS[0]!);
    await phone.page.getByTestId('setup-phone').waitFor();
    await phone.context.setOffline(true);
    try {
      await phone.page.reload();
      await phone.page.getByTestId('offline-banner').waitFor();
      // The shell and its pages work; data that needs the server says it is unreachable.
      await expect.poll(() => phone.page.locator('main').innerText()).toMatch(/offline|could not be reached/);
      await screenshot(phone.page, 'pwa-offline', { fullPage: false });
      await phone.page.goto(`${world.appUrl}#/security`);
      await phone.page.getByRole('heading', { name: 'Security' }).waitFor();
      // A fresh navigation to a deep link, offline, is answered by the worker with the shell.
      await phone.page.goto(`${world.appUrl}index.html#/activity`);
      await phone.page.getByRole('heading', { name: 'Activity' }).waitFor();
    } finally {
      await phone.context.setOffline(false);
    }
  });
});

describe('a new version', () => {
  let dir: string;
  let server: Server;
  let origin: string;
  let phone: PersistentBrowser;

  beforeAll(async () => {
    // A copy of the build behind a plain static server, so the test can "deploy" a new service worker.
    dir = mkdtempSync(path.join(tmpdir(), 'jellyguard-pwa-'));
    cpSync(PWA_DIST, dir, { recursive: true });
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const rel = url.pathname.replace(/^\/JellyfinSecurity\/app\//, '') || 'index.html';
      const file = path.join(dir, path.normalize(rel));
      if (!file.startsWith(dir) || !statSync(file, { throwIfNoEntry: false })?.isFile()) {
        res.writeHead(404).end();
        return;
      }
      const type = file.endsWith('.js') ? 'text/javascript' : file.endsWith('.css') ? 'text/css' : file.endsWith('.html') ? 'text/html' : file.endsWith('.png') ? 'image/png' : 'application/manifest+json';
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-cache' }).end(readFileSync(file));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://localhost:${(server.address() as AddressInfo).port}`;
    phone = await launchPersistent({ viewport: PHONE, userAgent: PHONE_UA });
    phone.context.setDefaultTimeout(10_000);
  });

  afterAll(async () => {
    await phone?.close();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('waits for the user: the prompt appears, "Update" posts SKIP_WAITING, the page reloads on the new worker', async () => {
    const app = `${origin}/JellyfinSecurity/app/`;
    await phone.page.goto(app);
    await serviceWorkerReady(phone.page);
    await phone.page.getByLabel('User name').waitFor();
    expect(await phone.page.getByTestId('update-prompt').count()).toBe(0);

    // Deploy: a new service worker script (any byte change is a new version).
    writeFileSync(path.join(dir, 'sw.js'), `${readFileSync(path.join(dir, 'sw.js'), 'utf8')}\n// deployed again\n`);
    await phone.page.evaluate(async () => (await navigator.serviceWorker.getRegistration())!.update());
    await phone.page.getByTestId('update-prompt').waitFor();
    // It waits: the old worker still controls the page until the user says so.
    expect(await phone.page.evaluate(async () => !!(await navigator.serviceWorker.getRegistration())!.waiting)).toBe(true);
    await screenshot(phone.page, 'pwa-update-prompt', { fullPage: false });

    const reloaded = phone.page.waitForEvent('load');
    await phone.page.getByRole('button', { name: 'Update' }).click();
    await reloaded;
    await phone.page.getByLabel('User name').waitFor();
    const state = await phone.page.evaluate(async () => {
      const reg = (await navigator.serviceWorker.getRegistration())!;
      return { waiting: !!reg.waiting, active: reg.active?.state, controlled: !!navigator.serviceWorker.controller };
    });
    expect(state).toEqual({ waiting: false, active: 'activated', controlled: true });
    expect(await phone.page.getByTestId('update-prompt').count()).toBe(0);
  });
});
