import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type CDPSession, type Page } from 'playwright-core';

/**
 * A real browser for the browser tests (TESTING.md): Debian's Chromium driven by playwright-core, the
 * CDP virtual authenticator for passkeys, and screenshots into test-output/screenshots/ (gitignored),
 * which are how a developer looks at what a person sees.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const DESKTOP = { width: 1280, height: 800 } as const;
/** An iPhone-sized phone (390 × 844 CSS px). */
export const PHONE = { width: 390, height: 844 } as const;
export const PHONE_UA =
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SCREENSHOT_DIR = path.join(ROOT, 'test-output', 'screenshots');

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

export interface BrowserPage {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught exceptions seen on the page (CSP violations show up here). */
  errors: string[];
}

/** A fresh incognito context (its own localStorage and cookies) with one page. */
export async function openPage(browser: Browser, opts: { viewport?: { width: number; height: number }; userAgent?: string } = {}): Promise<BrowserPage> {
  const context = await browser.newContext({
    viewport: opts.viewport ?? DESKTOP,
    userAgent: opts.userAgent,
    deviceScaleFactor: 1,
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  return { context, page, errors };
}

/** Save a screenshot as test-output/screenshots/<name>.png; returns the file. */
export async function screenshot(page: Page, name: string, opts: { fullPage?: boolean } = {}): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name.replace(/[^A-Za-z0-9._-]+/g, '-')}.png`);
  // Let fonts and the last state change settle; never a fixed sleep.
  await page.evaluate(() => document.fonts.ready.then(() => new Promise((r) => requestAnimationFrame(() => r(null)))));
  await page.screenshot({ path: file, fullPage: opts.fullPage ?? true });
  return file;
}

export interface VirtualAuthenticator {
  cdp: CDPSession;
  authenticatorId: string;
  /** The next ceremonies verify the user (true) or not (false). */
  setUserVerified(isUserVerified: boolean): Promise<void>;
  /** The credentials it holds, with their sign counts. */
  credentials(): Promise<Array<{ credentialId: string; isResidentCredential: boolean; rpId?: string; signCount: number; userHandle?: string }>>;
  remove(): Promise<void>;
}

/**
 * A CTAP2 platform authenticator with user verification, answering without a prompt (TESTING.md:
 * "Passkeys: the CDP virtual authenticator"). Bound to `page`'s target.
 */
export async function addVirtualAuthenticator(context: BrowserContext, page: Page): Promise<VirtualAuthenticator> {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return {
    cdp,
    authenticatorId,
    async setUserVerified(isUserVerified) {
      await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified });
    },
    async credentials() {
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      return credentials;
    },
    async remove() {
      await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId });
    },
  };
}

/** The same state at desktop size and at 390 × 844 (a phone): `<name>-desktop.png`, `<name>-phone.png`. */
export async function screenshotBoth(page: Page, name: string): Promise<void> {
  const size = page.viewportSize() ?? DESKTOP;
  await page.setViewportSize(DESKTOP);
  await screenshot(page, `${name}-desktop`);
  await page.setViewportSize(PHONE);
  await screenshot(page, `${name}-phone`);
  await page.setViewportSize(size);
}

/** Everything in the page's localStorage. */
export function localStorageOf(page: Page): Promise<Record<string, string>> {
  return page.evaluate(() => {
    const out: Record<string, string> = {};
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i)!;
      out[k] = localStorage.getItem(k)!;
    }
    return out;
  });
}

// ── The Authenticator PWA: persistent profiles, service workers, notifications, Web Push ──────────────

export interface PersistentBrowser extends BrowserPage {
  /** Close the browser and delete its profile. */
  close(): Promise<void>;
}

/**
 * A persistent Chromium profile (launchPersistentContext), as an installed PWA needs: installability
 * checks (`Page.getInstallabilityErrors`) and notifications do not work in incognito contexts.
 */
export async function launchPersistent(opts: { viewport?: { width: number; height: number }; userAgent?: string } = {}): Promise<PersistentBrowser> {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(path.join(tmpdir(), 'jellyguard-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM_PATH,
    args: CHROMIUM_ARGS,
    viewport: opts.viewport ?? PHONE,
    userAgent: opts.userAgent,
    deviceScaleFactor: 1,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  return {
    context,
    page,
    errors,
    async close() {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** PushSubscription.toJSON() as a browser gives it. */
export interface PushSubscriptionJSONLike {
  endpoint: string;
  expirationTime: number | null;
  keys: { p256dh: string; auth: string };
}

/**
 * TEST SEAM (test-only, explicit): `pushManager.subscribe` needs the browser vendor's push service, which
 * a test cannot reach (TESTING.md). This init script replaces `PushManager.prototype.subscribe` and
 * `getSubscription` in every page of `context` with ones that hand out `subscription` — a subscriber made
 * in Node whose endpoint is the local push service (test/push/push-service.ts), so the gateway's real
 * Web Push reaches a real decrypting push service. The app itself has no switch for this.
 */
export async function fakePushManager(context: BrowserContext, subscription: PushSubscriptionJSONLike): Promise<void> {
  // A string, not a function: the test runner's transpiler would add helpers the page does not have.
  await context.addInitScript(`(() => {
    const sub = ${JSON.stringify(subscription)};
    const KEY = '__jellyguardTestPushKey';
    const decode = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4)), (c) => c.charCodeAt(0));
    const toBuffer = (k) => k instanceof ArrayBuffer ? k : ArrayBuffer.isView(k) ? new Uint8Array(k.buffer, k.byteOffset, k.byteLength).slice().buffer : decode(String(k)).buffer;
    const make = (applicationServerKey) => ({
      endpoint: sub.endpoint,
      expirationTime: sub.expirationTime,
      options: { userVisibleOnly: true, applicationServerKey },
      getKey: (name) => decode(sub.keys[name]).buffer,
      toJSON: () => sub,
      unsubscribe: async () => { localStorage.removeItem(KEY); return true; },
    });
    PushManager.prototype.subscribe = async function (options) {
      const key = toBuffer(options && options.applicationServerKey);
      localStorage.setItem(KEY, btoa(String.fromCharCode(...new Uint8Array(key))));
      return make(key);
    };
    PushManager.prototype.getSubscription = async function () {
      const k = localStorage.getItem(KEY);
      return k ? make(Uint8Array.from(atob(k), (c) => c.charCodeAt(0)).buffer) : null;
    };
  })();`);
}

/** The app's service worker registration id (CDP ServiceWorker domain), once it is activated. */
export async function serviceWorkerRegistrationId(cdp: CDPSession, scopeURL: string): Promise<string> {
  return new Promise<string>((resolve) => {
    const versions = (e: { versions: Array<{ registrationId: string; scriptURL: string; status: string }> }) => {
      const v = e.versions.find((x) => x.status === 'activated' && x.scriptURL.startsWith(scopeURL));
      if (v) {
        cdp.off('ServiceWorker.workerVersionUpdated', versions);
        resolve(v.registrationId);
      }
    };
    cdp.on('ServiceWorker.workerVersionUpdated', versions);
    void cdp.send('ServiceWorker.enable');
  });
}

/**
 * Hand a push message to the page's service worker (CDP `ServiceWorker.deliverPushMessage`): its `push`
 * handler runs with `data` as the decrypted payload, as if the push service had delivered it.
 */
export async function deliverPush(context: BrowserContext, page: Page, scopeURL: string, data: string): Promise<void> {
  // A session of its own, left attached: detaching a CDP session from the page also switches off the
  // page's CDP virtual authenticator (Chromium 14x), and the phone must still sign afterwards. It goes
  // away with the context.
  const cdp = await context.newCDPSession(page);
  const registrationId = await serviceWorkerRegistrationId(cdp, scopeURL);
  await cdp.send('ServiceWorker.deliverPushMessage', { origin: new URL(scopeURL).origin + '/', registrationId, data });
}

export interface ShownNotification {
  title: string;
  body: string;
  tag: string;
  data: any;
}

/** The notifications the app's service worker shows (`registration.getNotifications()`). */
export function shownNotifications(page: Page): Promise<ShownNotification[]> {
  return page.evaluate(async () => {
    const reg = await navigator.serviceWorker.ready;
    return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }));
  });
}

/**
 * Click a notification: CDP cannot, so the test dispatches `notificationclick` inside the service worker
 * itself (TESTING.md) with the notification the worker shows under `tag` — the app's real handler runs.
 */
export async function clickNotification(context: BrowserContext, tag: string): Promise<void> {
  const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker'));
  // Runs in the worker (a string: its globals are not in this file's typings, and the transpiler's
  // helpers are not there).
  await worker.evaluate(`(async () => {
    const [n] = await self.registration.getNotifications({ tag: ${JSON.stringify(tag)} });
    if (!n) throw new Error('no notification tagged ' + ${JSON.stringify(tag)});
    self.dispatchEvent(new NotificationEvent('notificationclick', { notification: n }));
  })()`);
}
