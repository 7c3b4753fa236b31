import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  AUTH_ROUTES,
  classifyAuthRoute,
  createPathNormalizer,
  isGatewayRoute,
  isUnderBaseUrl,
  matchRoute,
  stripBaseUrl,
} from '../../server/jellyfin/paths.ts';
import { canonicalGuid } from '../../server/jellyfin/guid.ts';

const plain = createPathNormalizer({ baseUrl: '' });
const based = createPathNormalizer({ baseUrl: '/jellyfin' });

const LOGIN = '/users/authenticatebyname';
const GUID_N = '2d5a3b1c0e9f4a7b8c6d5e4f3a2b1c0d';
const GUID_D = '2D5A3B1C-0E9F-4A7B-8C6D-5E4F3A2B1C0D';

describe('normalize: JELLYFIN.md §9 variants of the login path', () => {
  const variants = [
    '/Users/AuthenticateByName',
    '/users/authenticatebyname',
    '/USERS/AUTHENTICATEBYNAME',
    '/Users/authenticatebyname', // legacy jellyfin-web
    '/jellyfin/Users/AuthenticateByName',
    '/JellyFin/Users/AuthenticateByName',
    '/emby/Users/AuthenticateByName',
    '/EMBY/Users/AuthenticateByName',
    '/mediabrowser/Users/AuthenticateByName',
    '/MediaBrowser/Users/AuthenticateByName',
    '/jellyfin/emby/Users/AuthenticateByName',
    '/emby/jellyfin/Users/AuthenticateByName',
    '/emby/mediabrowser/emby/Users/AuthenticateByName',
    '//Users//AuthenticateByName',
    '///jellyfin///emby//Users/AuthenticateByName',
    '/Users/AuthenticateByName/',
    '/Users/AuthenticateByName//',
    '/Users/%41uthenticateByName',
    '/%55sers/%61uthenticate%42y%4e%61%6d%65',
    '/Users%2FAuthenticateByName',
    '/Users%2fAuthenticateByName',
    '/Users%252FAuthenticateByName',
    '/Users/%2541uthenticateByName',
    '/Users/%252541uthenticateByName',
    '/%65mby/Users/AuthenticateByName',
    '/emby%2FUsers/AuthenticateByName',
    '/Users/./AuthenticateByName',
    '/x/../Users/AuthenticateByName',
    '/../Users/AuthenticateByName',
    '/Users/%2e/AuthenticateByName',
    '/foo/%2e%2e/Users/AuthenticateByName',
    '/foo/%252e%252e/Users/AuthenticateByName',
    '\\Users\\AuthenticateByName',
    '/Users%5CAuthenticateByName',
    '/Users/Authent\u0131cateByName', // dotless i folds to i (fail closed)
    'http://example.com/Users/AuthenticateByName',
  ];
  it.each(variants)('%s', (raw) => {
    expect(based.normalize(raw)).toBe(LOGIN);
  });
  it('without a BaseUrl, the same variants minus the base', () => {
    for (const raw of variants.filter((v) => !/jellyfin/i.test(v))) expect(plain.normalize(raw), raw).toBe(LOGIN);
  });
});

describe('normalize: GUIDs', () => {
  const forms = [
    GUID_N,
    GUID_N.toUpperCase(),
    GUID_D,
    GUID_D.toLowerCase(),
    `{${GUID_D}}`,
    `(${GUID_D})`,
    `%7B${GUID_D}%7D`,
    `%20${GUID_D}%20`, // Guid.Parse trims whitespace
    '{0x2d5a3b1c,0x0e9f,0x4a7b,{0x8c,0x6d,0x5e,0x4f,0x3a,0x2b,0x1c,0x0d}}',
    '{0x2d5a3b1c, 0xe9f, 0x4a7b, {0x8c, 0x6d, 0x5e, 0x4f, 0x3a, 0x2b, 0x1c, 0xd}}',
  ];
  it.each(forms)('/Users/%s/Authenticate', (g) => {
    const n = based.normalize(`/jellyfin/Users/${g}/Authenticate`);
    expect(n).toBe(`/users/${GUID_N}/authenticate`);
    expect(matchRoute(n!, AUTH_ROUTES.authenticateById)).toEqual({ id: GUID_N });
  });

  it('the D-format compat quirks of .NET ("0x" and "+" inside a component)', () => {
    expect(canonicalGuid('0x5a3b1c-0e9f-4a7b-8c6d-5e4f3a2b1c0d')).toBe('005a3b1c0e9f4a7b8c6d5e4f3a2b1c0d');
    expect(canonicalGuid('+0x5a3b1-+0x9-4a7b-8c6d-5e4f3a2b1c0d')).toBe('0005a3b1' + '0009' + '4a7b8c6d5e4f3a2b1c0d');
    expect(canonicalGuid('2d5a3b1c-0e9f-4a7b-8c6d-+x4f3a2b1c0d')).toBeUndefined();
    expect(canonicalGuid('2d5a3b1c-0e9f-4a7b-8c6d-5e4f3a2b1c0g')).toBeUndefined();
  });

  it('non-GUIDs are left alone', () => {
    expect(canonicalGuid('2d5a3b1c0e9f4a7b8c6d5e4f3a2b1c0')).toBeUndefined(); // 31 digits
    expect(canonicalGuid('2d5a3b1c0e9f4a7b8c6d5e4f3a2b1c0dd')).toBeUndefined(); // 33
    expect(canonicalGuid('2d5a3b1c-0e9f4a7b-8c6d-5e4f3a2b1c0d')).toBeUndefined();
    expect(plain.normalize('/Artists/The%20Very%20Long%20Name%20Of%20A%20Band%20Here')).toBe('/artists/the very long name of a band here');
  });

  it('a step-up route matched with a dashed GUID matches the undashed one', () => {
    expect(based.normalize(`/jellyfin/Users/${GUID_D}/Policy`)).toBe(plain.normalize(`/users/${GUID_N}/policy`));
  });
});

describe('normalize: refusals (null → 400)', () => {
  const bad = [
    '',
    'Users/AuthenticateByName',
    '*',
    '/Users/%FF',
    '/Users/%C3%28',
    '/Users/%ED%A0%80', // an encoded surrogate
    '/Users/%00/x',
    '/Users/%2500',
    '/Users/AuthenticateByName#x',
    '/embyUsers/AuthenticateByName', // Jellyfin's StartsWith("/emby") would mangle it
    '/mediabrowserx',
    '/jellyfin/embyx/y',
    '/Users/%25252525252541', // deeper than MAX_DECODE_ROUNDS
    '/' + 'a'.repeat(20_000),
  ];
  it.each(bad)('%j', (raw) => {
    expect(based.normalize(raw)).toBeNull();
  });
});

describe('normalize: other shapes', () => {
  it('root, base only, prefixes only', () => {
    expect(based.normalize('/')).toBe('/');
    expect(based.normalize('/jellyfin')).toBe('/');
    expect(based.normalize('/jellyfin/')).toBe('/');
    expect(based.normalize('/emby')).toBe('/');
    expect(based.normalize('/..')).toBe('/');
  });
  it('a % not followed by two hex digits stays', () => {
    expect(plain.normalize('/Genres/100%')).toBe('/genres/100%');
    expect(plain.normalize('/Genres/100%25')).toBe('/genres/100%');
    expect(plain.normalize('/Genres/%zz')).toBe('/genres/%zz');
  });
  it('UTF-8 names decode', () => {
    expect(plain.normalize('/Genres/H%C3%B6rb%C3%BCcher')).toBe('/genres/hörbücher');
  });
  it('a BaseUrl that is also a route root is stripped only once, as Jellyfin does', () => {
    const users = createPathNormalizer({ baseUrl: '/users' });
    expect(users.normalize('/users/users/authenticatebyname')).toBe(LOGIN);
    expect(users.normalize('/Users/Emby/Users/AuthenticateByName')).toBe(LOGIN);
  });
  it('a multi-segment BaseUrl, given with a trailing slash', () => {
    const deep = createPathNormalizer({ baseUrl: 'media/Jellyfin/' });
    expect(deep.baseUrl).toBe('/media/jellyfin');
    expect(deep.normalize('/Media/JELLYFIN/Users/AuthenticateByName')).toBe(LOGIN);
    expect(deep.normalize('/media/Users/AuthenticateByName')).toBe('/media/users/authenticatebyname');
  });
  it('an invalid BaseUrl is a configuration error', () => {
    expect(() => createPathNormalizer({ baseUrl: '/jelly fin' })).toThrow(/BaseUrl/);
    expect(() => createPathNormalizer({ baseUrl: '/a/../b' })).toThrow(/BaseUrl/);
    expect(() => createPathNormalizer({ baseUrl: '/a%2Fb' })).toThrow(/BaseUrl/);
  });
});

describe('stripBaseUrl', () => {
  it('returns the raw remainder under the BaseUrl, case-insensitively and segment-wise', () => {
    expect(stripBaseUrl('/jellyfin/JellyfinSecurity/app/', '/jellyfin')).toBe('/JellyfinSecurity/app/');
    expect(stripBaseUrl('/JELLYFIN', '/jellyfin')).toBe('/');
    expect(stripBaseUrl('/jelly%66in/x', '/jellyfin')).toBe('/x');
    expect(stripBaseUrl('/jellyfinx/x', '/jellyfin')).toBeNull();
    expect(stripBaseUrl('/other/x', '/jellyfin')).toBeNull();
    expect(stripBaseUrl('/any/thing', '')).toBe('/any/thing');
    expect(isUnderBaseUrl('/jellyfin/web/', '/jellyfin/')).toBe(true);
    expect(isUnderBaseUrl('/web/', '/jellyfin')).toBe(false);
  });
});

describe('matchRoute and the route table', () => {
  it('{id} matches any single segment, not only GUIDs', () => {
    expect(matchRoute('/users/bob/authenticate', AUTH_ROUTES.authenticateById)).toEqual({ id: 'bob' });
    expect(matchRoute('/users/authenticatebyname', AUTH_ROUTES.authenticateById)).toBeNull();
    expect(matchRoute('/users/a/b/authenticate', AUTH_ROUTES.authenticateById)).toBeNull();
    expect(matchRoute('/users/authenticatebyname', AUTH_ROUTES.authenticateByName)).toEqual({});
    expect(matchRoute('/users/authenticatebyname/x', AUTH_ROUTES.authenticateByName)).toBeNull();
    expect(matchRoute('/users', '/users/{id}')).toBeNull();
    expect(matchRoute('/', '/')).toEqual({});
  });
  it('classifies every auth route', () => {
    const cases: [string, string][] = [
      ['/Users/AuthenticateByName', 'authenticateByName'],
      [`/Users/${GUID_D}/Authenticate`, 'authenticateById'],
      ['/Users/AuthenticateWithQuickConnect', 'authenticateWithQuickConnect'],
      ['/QuickConnect/Initiate', 'quickConnectInitiate'],
      ['/QuickConnect/Connect', 'quickConnectConnect'],
      ['/QuickConnect/Authorize', 'quickConnectAuthorize'],
      ['/Sessions/Logout', 'sessionsLogout'],
      ['/web/index.html', 'webIndex'],
      ['/web/', 'webIndex'],
      ['/web', 'webIndex'],
      ['/socket', 'socket'],
    ];
    for (const [raw, route] of cases) expect(classifyAuthRoute(plain.normalize(raw)!)?.route, raw).toBe(route);
    expect(classifyAuthRoute('/system/info')).toBeNull();
    expect(classifyAuthRoute('/web/main.js')).toBeNull();
  });
  it('isGatewayRoute', () => {
    expect(isGatewayRoute(based.normalize('/jellyfin/JellyfinSecurity/app/')!)).toBe(true);
    expect(isGatewayRoute(based.normalize('/JellyfinSecurity')!)).toBe(true);
    expect(isGatewayRoute(based.normalize('/emby/jellyfinsecurity/PairDevice')!)).toBe(true);
    expect(isGatewayRoute(based.normalize('/JellyfinSecurityX')!)).toBe(false);
    expect(isGatewayRoute(based.normalize('/Users/AuthenticateByName')!)).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Properties

const anyChar = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const pathish = fc
  .array(fc.oneof(anyChar, fc.constantFrom('/', '//', '.', '..', '%', '%2', '%2F', '%25', '%2e', '%C3', '%A9', '%FF', '%00', '\\', 'emby', 'Users', 'jellyfin', '{', '}', '-', GUID_D)), { maxLength: 30 })
  .map((a) => '/' + a.join(''));

/** Encode one char of a path in a random way: as is, %XX, or %25XX (double). */
function encodeChar(ch: string, mode: number): string {
  if (mode === 0 || ch === '/') return ch;
  const hex = ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');
  return mode === 1 ? `%${hex}` : mode === 2 ? `%${hex.toLowerCase()}` : `%25${hex}`;
}

describe('properties', () => {
  it('never throws', () => {
    fc.assert(
      fc.property(fc.oneof(pathish, fc.string({ unit: anyChar })), (raw) => {
        for (const n of [plain, based]) {
          const out = n.normalize(raw);
          if (out !== null) expect(out.startsWith('/')).toBe(true);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('is idempotent', () => {
    fc.assert(
      fc.property(pathish, (raw) => {
        for (const n of [plain, based]) {
          const once = n.normalize(raw);
          if (once !== null) expect(n.normalize(once)).toBe(once);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('every generated variant of a login path normalizes to the canonical one', () => {
    const variantArb = fc.record({
      route: fc.constantFrom('Users/AuthenticateByName', `Users/${GUID_D}/Authenticate`, `Users/${GUID_N}/Authenticate`, 'QuickConnect/Authorize', 'Users/AuthenticateWithQuickConnect'),
      prefixes: fc.array(fc.constantFrom('jellyfin', 'emby', 'mediabrowser', 'JellyFin', 'EMBY', 'MediaBrowser'), { maxLength: 4 }),
      caseFlips: fc.array(fc.boolean(), { minLength: 1, maxLength: 16 }),
      encodes: fc.array(fc.nat(7), { minLength: 1, maxLength: 16 }),
      slashes: fc.array(fc.constantFrom('/', '//', '/./', '\\', '%2F', '%252F', '/x/../'), { minLength: 1, maxLength: 8 }),
      trailing: fc.constantFrom('', '/', '//', '/.', '%2F'),
    });
    fc.assert(
      fc.property(variantArb, ({ route, prefixes, caseFlips, encodes, slashes, trailing }) => {
        const segments = [...prefixes, ...route.split('/')];
        let k = 0;
        const text = segments
          .map((seg) =>
            [...seg]
              .map((ch) => {
                k++;
                const c = caseFlips[k % caseFlips.length] ? ch.toUpperCase() : ch.toLowerCase();
                return encodeChar(c, encodes[k % encodes.length]! % 4);
              })
              .join(''),
          )
          .map((seg, i) => slashes[i % slashes.length] + seg)
          .join('');
        const raw = '/' + text + trailing;
        const expected = plain.normalize('/' + route)!;
        expect(based.normalize(raw), raw).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });
});
