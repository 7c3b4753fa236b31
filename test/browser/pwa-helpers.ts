import { expect } from 'vitest';
import type { Page } from 'playwright-core';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startPushService, type PushServiceHandle, type PushSubscriber } from '../push/push-service.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getUserApi, jellyfinClient } from '../helpers/sdk.ts';
import { TEST_PLACES, writeTestGeoDb } from '../helpers/mmdb.ts';
import {
  addVirtualAuthenticator,
  fakePushManager,
  launchPersistent,
  PHONE,
  PHONE_UA,
  type PersistentBrowser,
  type VirtualAuthenticator,
} from '../helpers/browser.ts';
import type { ConfigInput } from '../../server/config/schema.ts';
import type { Clock } from '../../server/clock.ts';
import type { PushConfig } from '../../shared/api/approvals.ts';

/**
 * The world of the Authenticator's browser tests (test/browser/pwa-*.test.ts): the Jellyfin emulator,
 * the gateway in front of it (real SQLite, real Web Push to the local push service), and phones — each a
 * persistent Chromium profile with a CDP virtual authenticator, whose push subscription is a subscriber
 * of the local push service (fakePushManager: the test seam for pushManager.subscribe).
 */
export interface World {
  emu: Emulator;
  gw: TestGateway;
  push: PushServiceHandle;
  /** http://localhost:PORT — a secure context for service workers and WebAuthn. */
  origin: string;
  /** The app's scope: {origin}/JellyfinSecurity/app/ */
  appUrl: string;
  close(): Promise<void>;
}

export const USERS = [
  { name: 'alice', password: 'alice-pw' },
  { name: 'bob', password: 'bob-pw' },
  { name: 'admin', password: 'admin-pw', isAdministrator: true },
];

/**
 * Addresses as the gateway sees them: every request comes through a reverse proxy on 127.0.0.1 (a
 * trusted proxy) that names the client in X-Forwarded-For, so the phone and each TV have their own
 * address, and the offline GeoIP database places the TVs in real cities.
 */
export const PHONE_IP = '198.51.100.20';
export const PLACES = TEST_PLACES;

export async function startWorld(opts: { config?: Partial<ConfigInput>; clock?: Clock } = {}): Promise<World> {
  const emu = await startEmulator({ users: USERS });
  const apiKey = emu.createApiKey('jellyguard');
  const push = await startPushService();
  const geoDir = mkdtempSync(path.join(tmpdir(), 'jellyguard-geo-'));
  const gw = await startGateway({
    upstreamUrl: emu.url,
    clock: opts.clock,
    config: {
      JellyfinApiKey: await apiKey,
      PushAllowHttpLoopback: true,
      TrustedProxyCIDRs: ['127.0.0.1/32'],
      GeoIPDatabasePath: writeTestGeoDb(path.join(geoDir, 'city.mmdb')),
      ...opts.config,
    } as Partial<ConfigInput>,
  });
  const origin = gw.url.replace('127.0.0.1', 'localhost');
  return {
    emu,
    gw,
    push,
    origin,
    appUrl: `${origin}/JellyfinSecurity/app/`,
    async close() {
      await gw.close();
      await push.close();
      await emu.close();
      rmSync(geoDir, { recursive: true, force: true });
    },
  };
}

export interface Phone extends PersistentBrowser {
  authenticator: VirtualAuthenticator;
  subscriber: PushSubscriber;
}

/** A phone: a persistent profile at 390×844, notifications allowed, a virtual platform authenticator, a push subscriber. */
export async function openPhone(world: World, opts: { ip?: string } = {}): Promise<Phone> {
  const b = await launchPersistent({ viewport: PHONE, userAgent: PHONE_UA });
  b.context.setDefaultTimeout(10_000);
  await b.context.setExtraHTTPHeaders({ 'x-forwarded-for': opts.ip ?? PHONE_IP });
  await b.context.grantPermissions(['notifications'], { origin: world.origin });
  const config = (await (await fetch(`${world.gw.url}/JellyfinSecurity/Push/Config`)).json()) as PushConfig;
  const subscriber = world.push.subscribe({ applicationServerKey: config.publicKey });
  await fakePushManager(b.context, subscriber.subscription);
  const authenticator = await addVirtualAuthenticator(b.context, b.page);
  return { ...b, authenticator, subscriber };
}

/** Sign in to the app with a password (the account has no second factor yet, or `then` finishes it). */
export async function signIn(page: Page, world: World, user: { name: string; password: string }): Promise<void> {
  await page.goto(world.appUrl);
  await page.getByLabel('User name').fill(user.name);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** Wait until the app's service worker is active and controls the page. */
export async function serviceWorkerReady(page: Page): Promise<void> {
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise<void>((resolve) => navigator.serviceWorker.addEventListener('controllerchange', () => resolve(), { once: true }));
    }
  });
}

/**
 * Enroll the phone through the app's pages: notifications, then the passkey. Returns the enrolled phone
 * id. An account that already has a factor confirms the change first: `stepUpCode` answers the "Confirm
 * it's you" dialog with a code from the authenticator app.
 */
export async function enrollThroughApp(
  phone: Phone,
  opts: { shots?: (name: string) => Promise<unknown>; stepUpCode?: () => Promise<string> } = {},
): Promise<string> {
  const { page } = phone;
  await page.getByTestId('setup-phone').click();
  await opts.shots?.('enroll-1-intro');
  // Notifications are already allowed for this profile: the app goes straight to the passkey.
  await page.getByRole('button', { name: 'Set up this phone' }).click();
  if (opts.stepUpCode) {
    const dialog = page.getByTestId('step-up');
    await dialog.waitFor();
    await opts.shots?.('enroll-2-confirm');
    await dialog.getByLabel('Code from your authenticator app').fill(await opts.stepUpCode());
    await dialog.getByRole('button', { name: 'Confirm with code' }).click();
  }
  await page.getByRole('button', { name: 'Create passkey' }).waitFor();
  await opts.shots?.('enroll-3-passkey');
  await page.getByRole('button', { name: 'Create passkey' }).click();
  await page.getByTestId('enroll-done').waitFor();
  await opts.shots?.('enroll-4-done');
  const stored = await page.evaluate(() => localStorage.getItem('jellyguard.phone'));
  const phoneId = (JSON.parse(stored ?? '{}') as { phoneId?: string }).phoneId;
  expect(phoneId).toMatch(/^[A-Za-z0-9_-]{22}$/);
  return phoneId!;
}

export interface TvAnswer {
  status: number;
  token?: string;
  data?: unknown;
}

/**
 * A TV signing in with the real SDK (held open by the gateway while the phone is asked), from `ip`
 * (through the trusted proxy). Never throws on an HTTP error status.
 */
export async function tvLogin(
  world: World,
  user: { name: string; password: string },
  opts: { deviceId?: string; ip?: string; device?: string } = {},
): Promise<TvAnswer> {
  const api = jellyfinClient(world.gw.url, { client: 'Jellyfin Roku', device: opts.device ?? 'Living room TV', deviceId: opts.deviceId ?? 'roku-4k-living-room' });
  try {
    const res = await getUserApi(api).authenticateUserByName(
      { authenticateUserByName: { Username: user.name, Pw: user.password } },
      { headers: { 'X-Forwarded-For': opts.ip ?? PLACES.london.ip } },
    );
    return { status: res.status, token: res.data.AccessToken ?? undefined, data: res.data };
  } catch (e) {
    const r = (e as { response?: { status: number; data: unknown } }).response;
    if (!r) throw e;
    return { status: r.status, data: r.data };
  }
}

/** Whether a token works through the gateway (GET /Users/Me). */
export async function tokenWorks(world: World, token: string): Promise<boolean> {
  const res = await fetch(`${world.gw.url}/Users/Me`, { headers: { 'x-emby-token': token } });
  await res.arrayBuffer();
  return res.status === 200;
}
