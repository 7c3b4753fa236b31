import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import {
  authorizationHeader,
  browserDeviceId,
  browserDeviceName,
  generateDeviceId,
  readAuthenticationResult,
  readCredentials,
  saveJellyfinSession,
  type KeyValueStore,
} from '../../pwa/login/session.ts';
import { baseUrlOf, safeReturnPath, webClientAddress } from '../../pwa/login/return.ts';
import { describeProblem, describePasskeyFailure } from '../../pwa/login/messages.ts';
import { ApiError } from '../../pwa/common/errors.ts';
import { injectIntoHtml, injectScriptTag } from '../../server/login/web-index.ts';

/**
 * The web login page's logic without a browser: jellyfin-web's device identity and credentials
 * format, the return-path check, the words for failures, the HTML rewrite, and the injected script
 * run against a fake jellyfin-web page. The browser tests (test/browser/login-*.test.ts) run it for real.
 */

class MemoryStore implements KeyValueStore {
  readonly map = new Map<string, string>();
  getItem(k: string) {
    return this.map.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.map.set(k, String(v));
  }
}

const CHROME_LINUX = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';
const SERVER_ID = '0123456789abcdef0123456789abcdef';
const USER_ID = 'fedcba9876543210fedcba9876543210';

function authResult(token = 'a'.repeat(32)) {
  return {
    User: { Name: 'alice', ServerId: SERVER_ID, Id: USER_ID, HasPassword: true, Policy: { IsAdministrator: false } },
    SessionInfo: { Id: 'x', UserId: USER_ID, DeviceId: 'd' },
    AccessToken: token,
    ServerId: SERVER_ID,
  };
}

describe('jellyfin-web identity', () => {
  it('creates a DeviceId the way jellyfin-web does, once', () => {
    expect(generateDeviceId('UA/1.0', 1700000000000)).toBe(Buffer.from('UA/1.0|1700000000000').toString('base64').replace(/=/g, '1'));
    const store = new MemoryStore();
    const id = browserDeviceId(store, CHROME_LINUX, 1700000000000);
    expect(store.getItem('_deviceId2')).toBe(id);
    expect(browserDeviceId(store, CHROME_LINUX, 1800000000000)).toBe(id);
    store.setItem('_deviceId2', 'existing-id');
    expect(browserDeviceId(store, CHROME_LINUX, 1)).toBe('existing-id');
  });

  it('names the device like jellyfin-web', () => {
    expect(browserDeviceName(CHROME_LINUX)).toBe('Chrome');
    expect(browserDeviceName('Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36')).toBe('Chrome Android');
    expect(browserDeviceName('Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1')).toBe('Safari iPhone');
    expect(browserDeviceName('Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0')).toBe('Firefox');
    expect(browserDeviceName('Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) Version/6.0 TV Safari/537.36')).toBe('Samsung Smart TV');
    expect(browserDeviceName('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0')).toBe('Edge Chromium');
  });

  it('names a TV browser as a TV, not "Chrome Android"', () => {
    const chromeOn = (platform: string) => `Mozilla/5.0 (Linux; ${platform}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36`;
    expect(browserDeviceName(chromeOn('Android 12; BRAVIA 4K VH2 Build/STT1.211025.001.Z4'))).toBe('Sony TV');
    expect(browserDeviceName(chromeOn('Android 11; AFTKA Build/RS8101.1303N'))).toBe('Fire TV');
    expect(browserDeviceName(chromeOn('Android 12; Android TV; Chromecast HD'))).toBe('Android TV');
    expect(browserDeviceName('Mozilla/5.0 (X11; Linux armv7l) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36 CrKey/1.56.500000')).toBe('Chromecast');
    expect(browserDeviceName('Mozilla/5.0 (Linux; U; Android 9; SMART-TV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/96.0 Safari/537.36')).toBe('Smart TV');
    expect(browserDeviceName('Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/87.0 Safari/537.36 WebAppManager')).toBe('LG Smart TV');
  });

  it('writes the MediaBrowser header jellyfin-web sends, and no field can break its grammar', () => {
    expect(authorizationHeader({ deviceName: 'Chrome', deviceId: 'abc+/1', version: '10.11.11' })).toBe(
      'MediaBrowser Client="Jellyfin Web", Device="Chrome", DeviceId="abc+/1", Version="10.11.11"',
    );
    const evil = authorizationHeader({ deviceName: 'x", Token="stolen', deviceId: 'id,Token=1', version: '' });
    expect(evil).not.toMatch(/Token=/);
    expect(evil).toContain('Version="10.11.0"');
  });
});

describe('handing the session to jellyfin-web (JELLYFIN.md §6)', () => {
  it('reads an AuthenticationResult in PascalCase or camelCase, and nothing else', () => {
    const pascal = readAuthenticationResult(authResult());
    expect(pascal).toMatchObject({ accessToken: 'a'.repeat(32), userId: USER_ID, serverId: SERVER_ID, userName: 'alice' });
    const camel = readAuthenticationResult({ user: { id: USER_ID, name: 'alice', serverId: SERVER_ID }, accessToken: 'b'.repeat(32), serverId: SERVER_ID });
    expect(camel?.accessToken).toBe('b'.repeat(32));
    expect(readAuthenticationResult({ error: 'second_factor_required' })).toBeUndefined();
    expect(readAuthenticationResult({ AccessToken: 'x', User: { Id: USER_ID } })).toBeUndefined(); // no server id
    expect(readAuthenticationResult(null)).toBeUndefined();
  });

  it('writes jellyfin_credentials, the cached user and enableAutoLogin', () => {
    const store = new MemoryStore();
    const session = readAuthenticationResult(authResult())!;
    saveJellyfinSession(store, {
      session,
      server: { Id: SERVER_ID, ServerName: 'Home', LocalAddress: 'http://10.0.0.2:8096' },
      address: 'https://media.example.org',
      now: 1700000000000,
    });
    expect(JSON.parse(store.getItem('jellyfin_credentials')!)).toEqual({
      Servers: [
        {
          Id: SERVER_ID,
          Name: 'Home',
          ManualAddress: 'https://media.example.org',
          LocalAddress: 'http://10.0.0.2:8096',
          LastConnectionMode: 2,
          DateLastAccessed: 1700000000000,
          UserId: USER_ID,
          AccessToken: 'a'.repeat(32),
        },
      ],
    });
    expect(JSON.parse(store.getItem(`user-${USER_ID}-${SERVER_ID}`)!)).toMatchObject({ Name: 'alice', Id: USER_ID });
    expect(store.getItem('enableAutoLogin')).toBe('true');
  });

  it('merges with what jellyfin-web saved: other servers stay, this one is updated, a stale entry for the address goes', () => {
    const store = new MemoryStore();
    const other = { Id: 'b'.repeat(32), ManualAddress: 'https://other.example.org', AccessToken: 'o'.repeat(32), UserId: 'u' };
    const stale = { Id: 'c'.repeat(32), ManualAddress: 'https://MEDIA.example.org', AccessToken: null, UserId: null };
    const mine = { Id: SERVER_ID, ManualAddress: 'https://old.example.org', AccessToken: null, UserId: null, manualAddressOnly: true, DateLastAccessed: 5 };
    store.setItem('jellyfin_credentials', JSON.stringify({ Servers: [other, stale, mine], Extra: 1 }));
    saveJellyfinSession(store, { session: readAuthenticationResult(authResult())!, server: {}, address: 'https://media.example.org', now: 42 });
    const saved = readCredentials(store);
    expect(saved.Extra).toBe(1);
    expect(saved.Servers.map((s) => s.Id)).toEqual([other.Id, SERVER_ID]);
    expect(saved.Servers[1]).toMatchObject({ manualAddressOnly: true, ManualAddress: 'https://media.example.org', AccessToken: 'a'.repeat(32), DateLastAccessed: 42 });
  });

  it('starts over from credentials it cannot read', () => {
    const store = new MemoryStore();
    store.setItem('jellyfin_credentials', '{not json');
    saveJellyfinSession(store, { session: readAuthenticationResult(authResult())!, server: {}, address: 'http://h', now: 1 });
    expect(readCredentials(store).Servers).toHaveLength(1);
    store.setItem('jellyfin_credentials', '[1,2]');
    expect(readCredentials(store).Servers).toEqual([]);
  });
});

describe('where the page may go after signing in', () => {
  const origin = 'https://media.example.org';

  it('finds the BaseUrl in its own path', () => {
    expect(baseUrlOf('/JellyfinSecurity/login/')).toBe('');
    expect(baseUrlOf('/jellyfin/JellyfinSecurity/login/')).toBe('/jellyfin');
    expect(baseUrlOf('/a/b/jellyfinsecurity/login')).toBe('/a/b');
  });

  it('accepts same-origin jellyfin-web and Authenticator paths', () => {
    expect(safeReturnPath('/web/', '', origin)).toBe('/web/');
    expect(safeReturnPath('/web/#/details?id=1', '', origin)).toBe('/web/#/details?id=1');
    expect(safeReturnPath('/web/index.html#/home', '', origin)).toBe('/web/index.html#/home');
    expect(safeReturnPath('/jellyfin/web/', '/jellyfin', origin)).toBe('/jellyfin/web/');
    expect(safeReturnPath('/emby/web/index.html', '', origin)).toBe('/emby/web/index.html');
    expect(safeReturnPath('/JellyfinSecurity/app/#/devices', '', origin)).toBe('/JellyfinSecurity/app/#/devices');
  });

  it('refuses everything else, and falls back to jellyfin-web home', () => {
    for (const bad of [
      null,
      '',
      'https://evil.example/web/',
      '//evil.example/web/',
      '/\\evil.example/web/',
      '\\\\evil.example/web/',
      'javascript:alert(1)',
      '/web/\u0000',
      '/web\n/',
      '/JellyfinSecurity/login/?return=/web/',
      '/Users/Me',
      '/webhook',
      'web/',
    ]) {
      expect(safeReturnPath(bad, '/jf', origin), String(bad)).toBe('/jf/web/');
    }
    // Percent-encoded slashes stay a path on this origin: harmless.
    expect(safeReturnPath('/%2F%2Fevil.example/web/', '', origin)).toBe('/%2F%2Fevil.example/web/');
  });

  it('gives jellyfin-web the address it computes itself (the page URL before "/web")', () => {
    expect(webClientAddress(origin, '/web/', '')).toBe(origin);
    expect(webClientAddress(origin, '/jellyfin/web/index.html#/home', '/jellyfin')).toBe(origin + '/jellyfin');
    expect(webClientAddress(origin, '/emby/web/', '')).toBe(origin + '/emby');
    expect(webClientAddress(origin, '/JellyfinSecurity/app/', '/jf')).toBe(origin + '/jf');
  });
});

describe('words for failures', () => {
  it('says how many tries are left after a wrong code', () => {
    expect(describeProblem(new ApiError(401, 'invalid_code', 'That code is not right.', { attemptsLeft: 4 }))).toEqual({
      message: 'That code is not right. 4 tries left.',
      restart: false,
      locked: false,
    });
    expect(describeProblem(new ApiError(401, 'invalid_code', 'That code is not right.', { attemptsLeft: 1 })).message).toContain('1 try left');
    // A 20,000-character user name: the gateway's 413, said as a person understands it.
    expect(describeProblem(new ApiError(413, 'payload_too_large', 'Sign-in requests are limited to 16384 bytes.')).message).toBe(
      'That user name or password is too long. Check what you typed and try again.',
    );
    expect(describeProblem(new ApiError(401, 'invalid_code', 'The passkey was not accepted.', { attemptsLeft: 2 })).message).toBe('The passkey was not accepted. 2 tries left.');
  });

  it('starts over when the challenge is over', () => {
    for (const code of ['challenge_failed', 'challenge_expired', 'challenge_over', 'unknown_challenge']) {
      expect(describeProblem(new ApiError(410, code, 'x')).restart, code).toBe(true);
    }
    expect(describeProblem(new ApiError(410, 'challenge_expired', '')).message).toMatch(/expired/);
  });

  it('follows the phone: a denial or report ends the sign-in, an expired request can be sent again', () => {
    expect(describeProblem(new ApiError(410, 'approval_denied', '')).restart).toBe(true);
    expect(describeProblem(new ApiError(410, 'approval_reported', '')).restart).toBe(true);
    expect(describeProblem(new ApiError(410, 'approval_expired', ''))).toMatchObject({ restart: false, message: expect.stringContaining('Send a new request') });
  });

  it("shows the server's words when a session could not be minted (not a generic \"Jellyfin is not responding\")", () => {
    const said = 'Signing in without a password needs Quick Connect, which is turned off in Jellyfin.';
    expect(describeProblem(new ApiError(503, 'quick_connect_disabled', said)).message).toBe(said);
    expect(describeProblem(new ApiError(403, 'user_disabled', 'Your Jellyfin account is disabled.')).message).toBe('Your Jellyfin account is disabled.');
  });

  it('words the network, Jellyfin, the guard and unknown failures', () => {
    expect(describeProblem(new ApiError(0, 'network', '')).message).toMatch(/No connection/);
    expect(describeProblem(new ApiError(401, 'wrong_password', '')).message).toBe('Wrong user name or password.');
    expect(describeProblem(new ApiError(403, 'not_allowed', '')).message).toMatch(/cannot sign in right now/);
    const ban = describeProblem(new ApiError(429, 'address_banned', 'Too many failed sign-in attempts from your network. Try again in 15 minutes.'));
    expect(ban).toMatchObject({ locked: true, message: expect.stringContaining('15 minutes') });
    expect(describeProblem(new ApiError(502, 'http_502', '')).message).toMatch(/not responding/);
    expect(describeProblem(new Error('boom')).message).toMatch(/Reload/);
  });

  it('words a refused passkey ceremony', () => {
    const notAllowed = Object.assign(new Error('x'), { name: 'NotAllowedError' });
    expect(describePasskeyFailure(notAllowed, false)).toMatch(/could not verify you/);
    expect(describePasskeyFailure({ code: 'ERROR_AUTHENTICATOR_PREVIOUSLY_REGISTERED' }, true)).toMatch(/already registered/);
  });
});

describe('the HTML rewrite of /web/index.html', () => {
  const tag = injectScriptTag('/jellyfin');

  it('names the script under the BaseUrl, deferred', () => {
    expect(injectScriptTag('')).toBe('<script src="/JellyfinSecurity/inject.js" defer></script>');
    expect(tag).toBe('<script src="/jellyfin/JellyfinSecurity/inject.js" defer></script>');
  });

  it('inserts it before </head>, once, whatever the case, keeping every other byte', () => {
    const page = Buffer.from('<!DOCTYPE html><html><HEAD><title>Jellyfin – ü</title></HEAD><body></body></html>', 'utf8');
    const out = injectIntoHtml(page, tag);
    expect(out.toString('utf8')).toBe(`<!DOCTYPE html><html><HEAD><title>Jellyfin – ü</title>${tag}</HEAD><body></body></html>`);
    expect(injectIntoHtml(out, tag).equals(out)).toBe(true);
  });

  it('still injects into a page without a head', () => {
    expect(injectIntoHtml(Buffer.from('<html><body>x</body></html>'), tag).toString()).toBe(`<html>${tag}<body>x</body></html>`);
    expect(injectIntoHtml(Buffer.from('<!doctype html>x'), tag).toString()).toBe(`<!doctype html>${tag}x`);
  });
});

// ── The injected script (pwa/login/inject.js), run against a fake jellyfin-web page ──

const INJECT = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../pwa/login/inject.js'), 'utf8');

function fakePage(href: string, opts: { credentials?: unknown; src?: string; session?: Map<string, string> } = {}) {
  const url = new URL(href);
  const replaced: string[] = [];
  const listeners: Record<string, Array<() => void>> = {};
  const local = new MemoryStore();
  if (opts.credentials !== undefined) local.setItem('jellyfin_credentials', JSON.stringify(opts.credentials));
  const sessionMap = opts.session ?? new Map<string, string>();
  const location = {
    protocol: url.protocol,
    host: url.host,
    pathname: url.pathname,
    search: url.search,
    hash: url.hash,
    get href() {
      return `${url.protocol}//${url.host}${this.pathname}${this.search}${this.hash}`;
    },
    replace: (u: string) => replaced.push(u),
  };
  const history = { pushState() {}, replaceState() {} };
  const window = {
    addEventListener: (t: string, f: () => void) => (listeners[t] ??= []).push(f),
    console: { warn() {} },
  };
  const document = { currentScript: { src: opts.src ?? `${url.protocol}//${url.host}/JellyfinSecurity/inject.js` } };
  vm.runInNewContext(INJECT, {
    window,
    document,
    location,
    history,
    localStorage: local,
    sessionStorage: { getItem: (k: string) => sessionMap.get(k) ?? null, setItem: (k: string, v: string) => sessionMap.set(k, v) },
  });
  return {
    replaced,
    location,
    history,
    local,
    fire(type: string) {
      for (const f of listeners[type] ?? []) f();
    },
  };
}

const TOKEN_FOR = (address: string) => ({ Servers: [{ Id: SERVER_ID, ManualAddress: address, AccessToken: 'a'.repeat(32), UserId: USER_ID }] });

describe('the injected script', () => {
  it('sends a browser without a token to the login page, with the way back', () => {
    const p = fakePage('http://localhost:8097/web/index.html#/details?id=1');
    expect(p.replaced).toEqual(['http://localhost:8097/JellyfinSecurity/login/?return=' + encodeURIComponent('/web/index.html#/details?id=1')]);
  });

  it('leaves a signed-in browser alone, until jellyfin-web shows its login route', () => {
    const p = fakePage('http://localhost:8097/web/#/home', { credentials: TOKEN_FOR('http://localhost:8097') });
    expect(p.replaced).toEqual([]);
    p.location.hash = '#/login?serverid=x&url=%2Fmovies%3FtopParentId%3D1';
    p.history.replaceState(); // React Router navigates with the History API
    expect(p.replaced).toEqual(['http://localhost:8097/JellyfinSecurity/login/?return=' + encodeURIComponent('/web/#/movies?topParentId=1')]);
  });

  it('treats a token saved for another address as none (jellyfin-web matches by address)', () => {
    expect(fakePage('http://localhost:8097/web/', { credentials: TOKEN_FOR('http://other:8096') }).replaced).toHaveLength(1);
    expect(fakePage('http://h/jellyfin/web/', { credentials: TOKEN_FOR('http://H/jellyfin'), src: 'http://h/jellyfin/JellyfinSecurity/inject.js' }).replaced).toEqual([]);
  });

  it('takes over the select-server page and old "#!/login.html" routes, not the setup wizard or password reset', () => {
    expect(fakePage('http://h/web/#/selectserver', { credentials: TOKEN_FOR('http://h') }).replaced).toHaveLength(1);
    expect(fakePage('http://h/web/#!/login.html', { credentials: TOKEN_FOR('http://h') }).replaced).toHaveLength(1);
    expect(fakePage('http://h/web/#/wizardstart').replaced).toEqual([]);
    expect(fakePage('http://h/web/#/forgotpassword').replaced).toEqual([]);
  });

  it('uses the BaseUrl of its own script tag', () => {
    const p = fakePage('http://h/jellyfin/web/', { src: 'http://h/jellyfin/JellyfinSecurity/inject.js' });
    expect(p.replaced[0]).toBe('http://h/jellyfin/JellyfinSecurity/login/?return=' + encodeURIComponent('/jellyfin/web/'));
  });

  it('never loops: at most 4 redirects a minute per tab', () => {
    const session = new Map<string, string>();
    const counts = Array.from({ length: 6 }, () => fakePage('http://h/web/', { session }).replaced.length);
    expect(counts).toEqual([1, 1, 1, 1, 0, 0]);
  });

  it('keeps a route target that would leave the origin out of the way back', () => {
    const p = fakePage('http://h/web/#/login?url=%2F%2Fevil.example');
    expect(p.replaced[0]).toBe('http://h/JellyfinSecurity/login/?return=' + encodeURIComponent('/web/'));
  });
});
