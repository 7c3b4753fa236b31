import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { ManualClock } from '../../server/clock.ts';
import { openStore } from '../../server/store/index.ts';
import { tempDir } from '../helpers/gateway.ts';
import {
  TrustedBrowsers,
  browserLabel,
  ipPrefix,
  parseCookie,
  readTrustedDeviceCookie,
  trustedDeviceCookie,
  userAgentFamily,
  type BrowserBinding,
} from '../../server/factors/trusted-browser.ts';

const ALICE = 'a'.repeat(32);
const BOB = 'b'.repeat(32);
const CHROME_120 = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const CHROME_121 = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.6167.85 Safari/537.36';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';
const HOME: BrowserBinding = { deviceId: 'TW96aWxsYS81LjB8MTcwMDAwMDAwMDAwMA11', userAgent: CHROME_120, ip: '203.0.113.7' };

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup(opts: Partial<{ days: number; v4Prefix: number; v6Prefix: number }> = {}) {
  const store = await openStore(tempDir());
  cleanups.push(() => store.close());
  const clock = new ManualClock();
  const key = randomBytes(32);
  const tb = new TrustedBrowsers(store.db, clock, key, { days: 90, v4Prefix: 24, v6Prefix: 64, ...opts });
  return { store, clock, key, tb };
}

describe('trusted-browser cookie', () => {
  it('is accepted for the same user, browser and network, and is checked server-side', async () => {
    const { tb } = await setup();
    const { cookie, maxAgeSeconds, info } = await tb.issue(ALICE, HOME, undefined);
    expect(maxAgeSeconds).toBe(90 * 86400);
    expect(info.label).toBe('Chrome on Linux');
    expect(info.ipPrefix).toBe('203.0.113.0/24');
    expect(await tb.check(cookie, ALICE, HOME)).toBe(info.id);
    // Another address in the same /24, and a browser update: still trusted.
    expect(await tb.check(cookie, ALICE, { ...HOME, ip: '203.0.113.200', userAgent: CHROME_121 })).toBe(info.id);
    expect((await tb.list(ALICE))[0]!.lastUsedAt).not.toBeNull();
  });

  it('refuses any tampering', async () => {
    const { tb } = await setup();
    const { cookie } = await tb.issue(ALICE, HOME, undefined);
    const [entry] = parseCookie(cookie);
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    const tampered = [
      `${flip(entry!.id, 3)}.${entry!.exp}.${entry!.mac}`, // another row
      `${entry!.id}.${(parseInt(entry!.exp, 36) + 86400 * 365).toString(36)}.${entry!.mac}`, // longer life
      `${entry!.id}.${entry!.exp}.${flip(entry!.mac, 10)}`, // forged MAC
      `${entry!.id}.${entry!.exp}.${'A'.repeat(43)}`,
      `${entry!.id}.${entry!.exp}`,
      cookie + 'x',
      '',
      'garbage',
    ];
    for (const t of tampered) expect(await tb.check(t, ALICE, HOME)).toBeUndefined();
    expect(await tb.check(cookie, ALICE, HOME)).toBeDefined();
  });

  it('is useless to another user (cross-user reuse)', async () => {
    const { tb } = await setup();
    const { cookie } = await tb.issue(ALICE, HOME, undefined);
    expect(await tb.check(cookie, BOB, HOME)).toBeUndefined();
  });

  it('is useless in another browser (cross-browser reuse): other DeviceId or other browser family', async () => {
    const { tb } = await setup();
    const { cookie } = await tb.issue(ALICE, HOME, undefined);
    expect(await tb.check(cookie, ALICE, { ...HOME, deviceId: 'another-device-id' })).toBeUndefined();
    expect(await tb.check(cookie, ALICE, { ...HOME, userAgent: FIREFOX })).toBeUndefined();
    expect(await tb.check(cookie, ALICE, { ...HOME, userAgent: '' })).toBeUndefined();
  });

  it('is bound to the network prefix (and not when the prefix is 0)', async () => {
    const { tb } = await setup();
    const { cookie } = await tb.issue(ALICE, HOME, undefined);
    expect(await tb.check(cookie, ALICE, { ...HOME, ip: '203.0.114.7' })).toBeUndefined();
    expect(await tb.check(cookie, ALICE, { ...HOME, ip: '::ffff:203.0.113.9' })).toBeDefined(); // IPv4-mapped
    expect(await tb.check(cookie, ALICE, { ...HOME, ip: '2001:db8::1' })).toBeUndefined();

    const any = await setup({ v4Prefix: 0, v6Prefix: 0 });
    const c2 = await any.tb.issue(ALICE, HOME, undefined);
    expect(c2.info.ipPrefix).toBe('any');
    expect(await any.tb.check(c2.cookie, ALICE, { ...HOME, ip: '198.51.100.1' })).toBeDefined();
  });

  it('binds IPv6 clients to their /64', async () => {
    const { tb } = await setup();
    const v6 = { ...HOME, ip: '2001:db8:1:2:aaaa:bbbb:cccc:dddd' };
    const { cookie, info } = await tb.issue(ALICE, v6, undefined);
    expect(info.ipPrefix).toBe('2001:db8:1:2::/64');
    expect(await tb.check(cookie, ALICE, { ...v6, ip: '2001:db8:1:2::1' })).toBeDefined();
    expect(await tb.check(cookie, ALICE, { ...v6, ip: '2001:db8:1:3::1' })).toBeUndefined();
  });

  it('stops working once revoked by its owner, and only its owner can revoke it', async () => {
    const { tb } = await setup();
    const { cookie, info } = await tb.issue(ALICE, HOME, undefined);
    expect(await tb.revoke(BOB, info.id)).toBe(false);
    expect(await tb.check(cookie, ALICE, HOME)).toBeDefined();
    expect(await tb.revoke(ALICE, info.id)).toBe(true);
    expect(await tb.check(cookie, ALICE, HOME)).toBeUndefined();
    expect(await tb.list(ALICE)).toEqual([]);
  });

  it('expires after TrustedDeviceDays', async () => {
    const { tb, clock } = await setup({ days: 1 });
    const { cookie } = await tb.issue(ALICE, HOME, undefined);
    clock.advance(86_400_000 - 1);
    expect(await tb.check(cookie, ALICE, HOME)).toBeDefined();
    clock.advance(1);
    expect(await tb.check(cookie, ALICE, HOME)).toBeUndefined();
  });

  it('holds trust for several users of one browser; re-trusting replaces the user’s old entry', async () => {
    const { tb } = await setup();
    const a = await tb.issue(ALICE, HOME, undefined);
    const b = await tb.issue(BOB, HOME, a.cookie);
    expect(parseCookie(b.cookie)).toHaveLength(2);
    expect(await tb.check(b.cookie, ALICE, HOME)).toBe(a.info.id);
    expect(await tb.check(b.cookie, BOB, HOME)).toBe(b.info.id);
    const a2 = await tb.issue(ALICE, HOME, b.cookie);
    expect(parseCookie(a2.cookie)).toHaveLength(2);
    expect(await tb.list(ALICE)).toHaveLength(1);
    expect(await tb.check(a.cookie, ALICE, HOME)).toBeUndefined();
    expect(await tb.check(a2.cookie, BOB, HOME)).toBe(b.info.id);
  });

  it('is off when TrustedDeviceDays is 0', async () => {
    const { tb } = await setup({ days: 0 });
    expect(tb.enabled).toBe(false);
    const { cookie } = await tb.issue(ALICE, HOME, undefined);
    expect(await tb.check(cookie, ALICE, HOME)).toBeUndefined();
  });

  it('writes a HttpOnly, SameSite=Strict cookie, Secure over https', () => {
    expect(trustedDeviceCookie('v', { maxAgeSeconds: 60, secure: true, path: '/' })).toBe(
      'JellyfinSecurity-TrustedDevice=v; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure',
    );
    expect(trustedDeviceCookie('v', { maxAgeSeconds: 60, secure: false, path: '/jf/' })).not.toContain('Secure');
    expect(readTrustedDeviceCookie('a=1; JellyfinSecurity-TrustedDevice=xyz; b=2')).toBe('xyz');
    expect(readTrustedDeviceCookie('a=1')).toBeUndefined();
  });

  it('names browsers and masks networks', () => {
    expect(browserLabel(FIREFOX)).toBe('Firefox on Linux');
    expect(browserLabel('Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1')).toBe('Safari on iOS');
    expect(userAgentFamily(CHROME_120)).toBe(userAgentFamily(CHROME_121));
    expect(ipPrefix('10.1.2.3', 16, 64)).toBe('10.1.0.0/16');
    expect(ipPrefix('10.1.2.3', 20, 64)).toBe('10.1.0.0/20');
    expect(ipPrefix('10.1.2.3', 32, 64)).toBe('10.1.2.3/32');
  });
});
