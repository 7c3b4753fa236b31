import { describe, expect, it } from 'vitest';
import { approvalPageUrl, hrefOf, isApprovalId, isInScope, parseHash } from '../../pwa/app/lib/routes.ts';
import { canonicalJson, challengeOf, commitmentHolds } from '../../pwa/app/lib/commitment.ts';
import { base64UrlToBytes, bytesToBase64Url, sameKey } from '../../pwa/app/lib/push-keys.ts';
import { countdown, countryName, isLocalAddress, relativeTime } from '../../pwa/app/lib/format.ts';
import { mediaBrowserHeader } from '../../pwa/common/auth-header.ts';
import { recoveryCodesText } from '../../pwa/app/lib/download.ts';
import { parsePushPayload } from '../../pwa/app/sw/payload.ts';
import { NAVIGATION_DENYLIST } from '../../pwa/app/sw/util.ts';
import { approvalChallenge, canonicalJson as serverCanonicalJson, commit } from '../../server/approvals/record.ts';
import { pairPageUrl } from '../../shared/api/pairing.ts';
import type { ApprovalView } from '../../shared/api/approvals.ts';

/**
 * The Authenticator's pure modules (pwa/app/lib, pwa/app/sw): routes, the approval page's commitment check
 * (against the server's own implementation), push payload parsing, formatting.
 */

const ID = 'AbCdEfGhIjKlMnOpQrStUv';
const SCOPE = 'https://media.example.org/jellyfin/JellyfinSecurity/app/';

describe('routes', () => {
  it('round-trips every page through the URL fragment', () => {
    for (const r of [
      { page: 'home' },
      { page: 'signin' },
      { page: 'enroll' },
      { page: 'approvals' },
      { page: 'approve', id: ID },
      { page: 'security' },
      { page: 'devices' },
      { page: 'activity' },
      { page: 'admin', tab: 'bans' },
      { page: 'pair', code: 'AB23-CD45' },
      { page: 'pair', code: null },
    ] as const) {
      expect(parseHash(hrefOf(r))).toEqual(r.page === 'home' ? { page: 'home' } : r);
    }
  });

  it('refuses what is not an approval id, and unknown pages go home', () => {
    expect(parseHash('#/approve/../../x')).toEqual({ page: 'approvals' });
    expect(parseHash('#/approve/%E0%A4%A')).toEqual({ page: 'approvals' });
    expect(parseHash('#/nope')).toEqual({ page: 'home' });
    expect(parseHash('#/admin/whatever')).toEqual({ page: 'admin', tab: 'users' });
    // The TV's QR code (shared/api/pairing.ts pairPageUrl) lands on the pairing page with its code.
    expect(parseHash('#/pair?code=123456')).toEqual({ page: 'pair', code: '123456' });
    expect(parseHash('#/pair?code=<script>')).toEqual({ page: 'pair', code: null });
    expect(isApprovalId(ID)).toBe(true);
    expect(isApprovalId(`${ID}x`)).toBe(false);
  });

  it('reads the pairing link the gateway puts in the TV\'s QR code', () => {
    const url = new URL(pairPageUrl('https://media.example.org', '/jellyfin', 'AB23-CD45'));
    expect(parseHash(url.hash)).toEqual({ page: 'pair', code: 'AB23-CD45' });
  });

  it('builds the approval page URL under any BaseUrl, and recognises only in-scope URLs', () => {
    expect(approvalPageUrl(SCOPE, ID)).toBe(`${SCOPE}#/approve/${ID}`);
    expect(isInScope(`${SCOPE}#/approve/${ID}`, SCOPE)).toBe(true);
    expect(isInScope('https://evil.example/JellyfinSecurity/app/', SCOPE)).toBe(false);
    expect(isInScope('https://media.example.org/jellyfin/web/', SCOPE)).toBe(false);
    expect(isInScope('javascript:alert(1)', SCOPE)).toBe(false);
  });
});

describe('the approval commitment, checked by the page', () => {
  const asking = {
    client: 'Jellyfin Roku',
    deviceName: 'Living room TV',
    deviceId: 'roku-1',
    ip: '203.0.113.7',
    place: { city: 'Zürich', country: 'CH' },
    time: '2026-11-27T12:00:00.000Z',
    action: null,
  };
  const content = { v: 1 as const, kind: 'login' as const, userId: 'u1', userName: 'älice', asking };

  function view(): ApprovalView {
    return {
      id: ID,
      kind: 'login',
      status: 'pending',
      userId: 'u1',
      userName: 'älice',
      asking: { ...asking, place: { ...asking.place } },
      choices: null,
      createdAt: asking.time,
      expiresAt: '2026-11-27T12:02:00.000Z',
      decidedAt: null,
      reason: null,
      commitment: commit(ID, content),
    };
  }

  it('canonical JSON and the challenge match the server byte for byte', async () => {
    expect(canonicalJson(content)).toBe(serverCanonicalJson(content));
    const nonce = Buffer.from('0123456789abcdef0123456789abcdef');
    const canonical = serverCanonicalJson(content);
    expect(await challengeOf(nonce.toString('base64url'), ID, canonical)).toBe(approvalChallenge(nonce, ID, canonical));
  });

  it('holds for what the server sent, and fails for any field the page would show differently', async () => {
    expect(await commitmentHolds(view())).toBe(true);
    const edits: Array<(v: ApprovalView) => void> = [
      (v) => (v.asking.ip = '198.51.100.1'),
      (v) => (v.asking.deviceName = 'Kitchen TV'),
      (v) => (v.asking.place = null),
      (v) => (v.userName = 'bob'),
      (v) => (v.kind = 'pairing'),
      (v) => (v.id = 'ZZZZZZZZZZZZZZZZZZZZZZ'),
      (v) => (v.commitment.nonce = Buffer.alloc(32).toString('base64url')),
    ];
    for (const edit of edits) {
      const v = view();
      edit(v);
      expect(await commitmentHolds(v)).toBe(false);
    }
  });
});

describe('push payloads in the service worker', () => {
  const good = { v: 1, type: 'approval', approvalId: ID, kind: 'login', title: 'Sign in as alice?', body: 'Roku', tag: ID, expiresAt: 1 };

  it('reads the shared PushPayload and refuses anything else', () => {
    expect(parsePushPayload(good)).toEqual(good);
    // A sign-in by phone alone is shown like any sign-in request (the worker must not drop it).
    expect(parsePushPayload({ ...good, kind: 'signin' })).toMatchObject({ kind: 'signin' });
    expect(parsePushPayload({ v: 1, type: 'notice', kind: 'new_device', title: 't', body: 'b', tag: 'x' })).toMatchObject({ type: 'notice' });
    expect(parsePushPayload({ ...good, approvalId: '../../x' })).toBeUndefined();
    expect(parsePushPayload({ ...good, kind: 'other' })).toBeUndefined();
    expect(parsePushPayload({ ...good, v: 2 })).toBeUndefined();
    expect(parsePushPayload({ ...good, type: 'later' })).toBeUndefined();
    expect(parsePushPayload({ ...good, title: 'x'.repeat(201) })).toBeUndefined();
    expect(parsePushPayload('text')).toBeUndefined();
    expect(parsePushPayload(null)).toBeUndefined();
  });

  it('never serves the app shell for API, login or file navigations', () => {
    const denied = (p: string) => NAVIGATION_DENYLIST.some((r) => r.test(p));
    expect(denied('/JellyfinSecurity/app/')).toBe(false);
    expect(denied('/jellyfin/JellyfinSecurity/app/')).toBe(false);
    expect(denied('/JellyfinSecurity/Me/Approvals')).toBe(true);
    expect(denied('/JellyfinSecurity/app/login.html')).toBe(true);
    expect(denied('/JellyfinSecurity/app/sw.js')).toBe(true);
  });
});

describe('small helpers', () => {
  it('base64url round-trips and compares keys', () => {
    const b = new Uint8Array([0, 255, 62, 63, 1, 2, 3]);
    expect(base64UrlToBytes(bytesToBase64Url(b))).toEqual(b);
    expect(sameKey(b.buffer, b)).toBe(true);
    expect(sameKey(new Uint8Array([1]).buffer, b)).toBe(false);
    expect(sameKey(null, b)).toBe(false);
  });

  it('formats times as people read them, and never says "in 2 minutes" for something that happened', () => {
    const now = Date.parse('2026-11-27T12:00:00Z');
    expect(relativeTime(now - 10_000, now)).toBe('just now');
    expect(relativeTime(now + 120_000, now)).toBe('just now');
    expect(relativeTime(now - 5 * 60_000, now)).toMatch(/5 minutes ago/);
    expect(countdown(65)).toBe('1:05');
    expect(countdown(24 * 3600 - 60)).toBe('23 h 59 min');
    expect(countryName('AU')).toBe('Australia');
    expect(countryName('Somewhere')).toBe('Somewhere');
  });

  it('knows local addresses', () => {
    for (const ip of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.20', '::1', 'fd00::1', 'fe80::1', '::ffff:192.168.0.2']) expect(isLocalAddress(ip), ip).toBe(true);
    for (const ip of ['8.8.8.8', '172.32.0.1', '2001:db8::1', '81.2.69.142']) expect(isLocalAddress(ip), ip).toBe(false);
  });

  it('builds a MediaBrowser header a value cannot break out of', () => {
    const h = mediaBrowserHeader({ deviceId: 'jga-1', deviceName: 'My "phone", new' }, 'tok');
    expect(h).toBe('MediaBrowser Client="Jellyguard Authenticator", Device="My  phone   new", DeviceId="jga-1", Version="0.1.0", Token="tok"');
  });

  it('writes recovery codes as a text file a person understands', () => {
    const text = recoveryCodesText('alice', ['AAAAA-BBBBB', 'CCCCC-DDDDD'], 'media.example.org', new Date('2026-11-27T12:00:00Z'));
    expect(text).toContain('Account: alice');
    expect(text).toContain('AAAAA-BBBBB\nCCCCC-DDDDD');
    expect(text).toContain('2026-11-27 12:00 UTC');
  });
});

describe('the icon of a Jellyfin session', () => {
  it('shows a TV for TV apps and TV browsers, even Android-based ones', async () => {
    const { sessionIcon } = await import('../../pwa/common/device.ts');
    expect(sessionIcon('Jellyfin Android TV', 'Living room TV')).toBe('tv');
    expect(sessionIcon('Jellyfin Roku', 'Bedroom')).toBe('tv');
    expect(sessionIcon('Jellyfin Web', 'Samsung Smart TV')).toBe('tv');
    expect(sessionIcon('Jellyfin Web', 'Chrome')).toBe('globe');
    expect(sessionIcon('Jellyfin Android', 'Pixel 8')).toBe('phone');
    expect(sessionIcon('Jellyguard Authenticator', 'Android phone')).toBe('phone');
  });
});

describe('what is asking, in words', () => {
  it('says "<client> on <device>" without repeating a name', async () => {
    const { clientOnDevice } = await import('../../pwa/common/device.ts');
    expect(clientOnDevice('Jellyfin Roku', 'Bedroom TV')).toBe('Jellyfin Roku on Bedroom TV');
    expect(clientOnDevice('Jellyfin Android TV', 'Android TV')).toBe('Jellyfin Android TV');
    expect(clientOnDevice('Jellyfin Web', 'Jellyfin Web on Chrome')).toBe('Jellyfin Web on Chrome');
    expect(clientOnDevice(null, 'Living room')).toBe('Living room');
    expect(clientOnDevice(null, null)).toBeNull();
  });
});
