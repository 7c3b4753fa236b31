import { expect } from 'vitest';
import type { Page } from 'playwright-core';
import jsqrModule from 'jsqr';
import type { TestGateway } from '../helpers/gateway.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';
import { api, code, passwordLogin } from './factors-helpers.ts';

/**
 * Shared steps of the TV pairing tests (test/integration/pairing-*.test.ts): real HTTP against the real
 * gateway in front of the Jellyfin emulator; passkeys from the software authenticator (WebAuthn wants a
 * domain, so phone requests go to http://localhost:PORT).
 */

/** jsqr is CommonJS with `exports.default`: under NodeNext the default import is the module object. */
type JsQR = (typeof import('jsqr'))['default'];
const jsQR: JsQR = ((jsqrModule as unknown as { default?: JsQR }).default ?? jsqrModule) as JsQR;

export const localOrigin = (gw: TestGateway) => `http://localhost:${gw.port}`;

/** A verified session of a user with no factor yet (its token), from a password login. */
export async function signIn(gw: TestGateway, user: string, pw: string, deviceId: string): Promise<string> {
  const a = await passwordLogin(gw, user, pw, { deviceId });
  expect(a.status, a.text).toBe(200);
  return (a.json as { AccessToken: string }).AccessToken;
}

/** Enroll TOTP through the self-service API; returns the secret. A phone enrolled after it proves itself with a code (`stepUp`). */
export async function enrollTotp(gw: TestGateway, token: string, deviceId: string): Promise<string> {
  const e = await api(gw, 'POST', '/JellyfinSecurity/Me/TOTP', { token, deviceId });
  expect(e.status, e.text).toBe(200);
  const secret = e.json.secret as string;
  const c = await api(gw, 'POST', '/JellyfinSecurity/Me/TOTP/Confirm', { token, deviceId, body: { code: await code(secret, gw) } });
  expect(c.status, c.text).toBe(200);
  return secret;
}

/** Enroll "this phone" (a platform passkey, no push subscription) through the approvals API. */
export async function enrollPhone(gw: TestGateway, token: string, deviceId: string, stepUp?: string): Promise<SoftAuthenticator> {
  const origin = localOrigin(gw);
  const key = new SoftAuthenticator(origin);
  const opts = await api(gw, 'POST', '/JellyfinSecurity/Me/Phones/Options', { token, deviceId, origin, stepUp });
  expect(opts.status, opts.text).toBe(200);
  const res = await api(gw, 'POST', '/JellyfinSecurity/Me/Phones', { token, deviceId, origin, body: { name: 'Test phone', response: key.create(opts.json), subscription: null } });
  expect(res.status, res.text).toBe(201);
  return key;
}

/** The phone's whole "Pair a TV" flow: look up, start the approval, sign it, approve. */
export async function approveOnPhone(gw: TestGateway, token: string, deviceId: string, key: SoftAuthenticator, pairCode: string) {
  const origin = localOrigin(gw);
  const lookup = await api(gw, 'GET', `/JellyfinSecurity/Pair/Lookup?code=${encodeURIComponent(pairCode)}`, { token, deviceId, origin });
  expect(lookup.status, lookup.text).toBe(200);
  const started = await api(gw, 'POST', '/JellyfinSecurity/Pair/Approval', { token, deviceId, origin, body: { code: pairCode } });
  expect(started.status, started.text).toBe(200);
  const response = key.get(started.json.options);
  const approved = await api(gw, 'POST', '/JellyfinSecurity/Pair/Approve', { token, deviceId, origin, body: { approvalId: started.json.approvalId, response } });
  return { lookup, started, approved };
}

/** Decode the QR code in a PNG (any size) by drawing it on a canvas in Chromium and running jsQR on the pixels. */
export async function decodeQrPng(from: Page, png: Buffer): Promise<string | undefined> {
  // A blank page of the same browser context: no Content-Security-Policy of ours to refuse the data: URL.
  const page = await from.context().newPage();
  const pixels = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const g = canvas.getContext('2d')!;
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, canvas.width, canvas.height);
    let bin = '';
    for (let i = 0; i < d.data.length; i += 0x8000) bin += String.fromCharCode(...d.data.subarray(i, i + 0x8000));
    return { width: d.width, height: d.height, data: btoa(bin) };
  }, png.toString('base64'));
  await page.close();
  const rgba = new Uint8ClampedArray(Buffer.from(pixels.data, 'base64'));
  return jsQR(rgba, pixels.width, pixels.height)?.data;
}
