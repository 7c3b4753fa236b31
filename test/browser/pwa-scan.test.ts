import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import QRCode from 'qrcode';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getQuickConnectApi, getUserApi, jellyfinClient } from '../helpers/sdk.ts';
import { addVirtualAuthenticator, CHROMIUM_ARGS, CHROMIUM_PATH, fakePushManager, PHONE, PHONE_UA, screenshot } from '../helpers/browser.ts';
import { pairPageUrl } from '../../shared/api/pairing.ts';
import type { PushConfig } from '../../shared/api/approvals.ts';
import { enrollThroughApp, PHONE_IP, PLACES, serviceWorkerReady, signIn, startWorld, tokenWorks, USERS, type Phone, type World } from './pwa-helpers.ts';

/**
 * Scanning the TV's QR code with the phone's camera (pwa/app/lib/qr-scan.ts): a TV starts Quick Connect
 * through the gateway (the real SDK); Chromium's fake camera plays a Y4M video that first shows a QR code
 * that is not ours (the page says so and keeps scanning), then the QR code of the TV's pair link; the
 * page reads it, releases the camera, and shows the device asking; a passkey tap signs the TV in.
 */

const alice = USERS[0]!;
let world: World;
let phone: Phone;
let videoDir: string;
let tvCode: { Code: string; Secret: string };

const SIZE = 320;

/** Y4M frames (4:2:0) of a QR code of `text`, black modules on white, centred, 4-module quiet zone. */
function qrFrame(text: string): Buffer {
  const { modules } = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const scale = Math.floor(SIZE / (modules.size + 8));
  const offset = Math.floor((SIZE - modules.size * scale) / 2);
  const y = Buffer.alloc(SIZE * SIZE, 255);
  for (let r = 0; r < modules.size; r++) {
    for (let c = 0; c < modules.size; c++) {
      if (!modules.get(r, c)) continue;
      for (let dy = 0; dy < scale; dy++) y.fill(0, (offset + r * scale + dy) * SIZE + offset + c * scale, (offset + r * scale + dy) * SIZE + offset + (c + 1) * scale);
    }
  }
  const uv = Buffer.alloc((SIZE / 2) * (SIZE / 2) * 2, 128);
  return Buffer.concat([Buffer.from('FRAME\n'), y, uv]);
}

function writeY4m(file: string, parts: Array<{ text: string; frames: number }>): void {
  const chunks: Buffer[] = [Buffer.from(`YUV4MPEG2 W${SIZE} H${SIZE} F5:1 Ip A1:1 C420jpeg\n`)];
  for (const part of parts) {
    const frame = qrFrame(part.text);
    for (let i = 0; i < part.frames; i++) chunks.push(frame);
  }
  writeFileSync(file, Buffer.concat(chunks));
}

/** openPhone (pwa-helpers.ts) with Chromium's fake camera playing `video`. */
async function openPhoneWithCamera(video: string): Promise<Phone> {
  const dir = mkdtempSync(path.join(tmpdir(), 'jellyguard-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_ARGS, '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${video}`],
    viewport: PHONE,
    userAgent: PHONE_UA,
    deviceScaleFactor: 1,
  });
  context.setDefaultTimeout(10_000);
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  await context.setExtraHTTPHeaders({ 'x-forwarded-for': PHONE_IP });
  await context.grantPermissions(['notifications', 'camera'], { origin: world.origin });
  const config = (await (await fetch(`${world.gw.url}/JellyfinSecurity/Push/Config`)).json()) as PushConfig;
  const subscriber = world.push.subscribe({ applicationServerKey: config.publicKey });
  await fakePushManager(context, subscriber.subscription);
  const authenticator = await addVirtualAuthenticator(context, page);
  return {
    context,
    page,
    errors,
    authenticator,
    subscriber,
    async close() {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function tv(deviceId: string) {
  const api = jellyfinClient(world.gw.url, { client: 'Jellyfin Android TV', device: 'Bedroom TV', deviceId });
  api.axiosInstance.defaults.headers.common['X-Forwarded-For'] = PLACES.london.ip;
  return api;
}

beforeAll(async () => {
  world = await startWorld();
  // The TV asks first: the fake camera's video must exist before the browser starts.
  tvCode = (await getQuickConnectApi(tv('atv-scan')).initiateQuickConnect()).data as { Code: string; Secret: string };
  videoDir = mkdtempSync(path.join(tmpdir(), 'jellyguard-camera-'));
  const video = path.join(videoDir, 'tv-qr.y4m');
  writeY4m(video, [
    { text: 'https://evil.example.com/JellyfinSecurity/app/#/pair?code=123456', frames: 15 },
    { text: pairPageUrl(world.origin, '', tvCode.Code), frames: 15 },
  ]);
  phone = await openPhoneWithCamera(video);
  await signIn(phone.page, world, alice);
  await phone.page.getByTestId('setup-phone').waitFor();
  await serviceWorkerReady(phone.page);
  await enrollThroughApp(phone);
}, 90_000);

afterAll(async () => {
  await phone?.close();
  await world?.close();
  if (videoDir) rmSync(videoDir, { recursive: true, force: true });
});

describe('scanning the TV\'s QR code with the camera', () => {
  it('refuses a foreign QR code, reads the TV\'s, releases the camera and signs the TV in', async () => {
    const { page } = phone;
    await page.goto(`${world.appUrl}#/pair`);
    await page.getByTestId('pair-scan').click();
    await page.getByTestId('pair-scanner').waitFor();
    // The first QR code the camera sees is another site's link: refused, the scanner keeps going.
    await page.getByTestId('pair-scan-note').getByText('This QR code is not a Jellyguard TV code').waitFor({ timeout: 15_000 });
    await screenshot(page, 'pwa-pair-scan', { fullPage: false });

    const details = page.getByTestId('pair-details');
    await details.getByText('Bedroom TV').waitFor({ timeout: 20_000 });
    expect(await details.innerText()).toContain(tvCode.Code);
    // The camera was released as soon as the code was read.
    expect(await page.locator('video').count()).toBe(0);

    await page.getByTestId('pair-approve').click();
    await expect.poll(() => page.getByTestId('pair-result').getAttribute('data-status')).toBe('approved');
    const t = tv('atv-scan');
    const state = await getQuickConnectApi(t).getQuickConnectState({ secret: tvCode.Secret });
    expect(state.data.Authenticated).toBe(true);
    const login = await getUserApi(t).authenticateWithQuickConnect({ quickConnectDto: { Secret: tvCode.Secret } });
    expect(login.status).toBe(200);
    expect(await tokenWorks(world, login.data.AccessToken!)).toBe(true);
    expect(phone.errors).toEqual([]);
  }, 60_000);
});
