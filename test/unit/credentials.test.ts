import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { IncomingHttpHeaders } from 'node:http';
import { getAuthorizationHeader } from '@jellyfin/sdk/lib/utils/authentication.js';
import {
  aspNetQueryDecode,
  parseAuthorizationParameters,
  parseMediaBrowserHeader,
  readCredential,
  webUtilityUrlDecode,
} from '../../server/jellyfin/credentials.ts';

/** Build Node-style `headers` + `headersDistinct` from header lines, as node:http would. */
function req(lines: [string, string][]): { headers: IncomingHttpHeaders; distinct: NodeJS.Dict<string[]> } {
  const headers: Record<string, string> = {};
  const distinct: NodeJS.Dict<string[]> = {};
  for (const [rawName, value] of lines) {
    const name = rawName.toLowerCase();
    (distinct[name] ??= []).push(value);
    if (name === 'authorization') headers[name] ??= value; // Node keeps the first, drops the rest
    else headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { headers, distinct };
}

function read(lines: [string, string][], query = '') {
  const { headers, distinct } = req(lines);
  return readCredential(headers, distinct, query);
}

const TOK = '0123456789abcdef0123456789abcdef';
const TOK2 = 'fedcba9876543210fedcba9876543210';

// ---------------------------------------------------------------------------------------------------------
// Jellyfin's own cases: tests/Jellyfin.Api.Tests/Auth/DefaultAuthorizationPolicy/DefaultAuthorizationHandlerTests.cs
// (GetParts_ValidAuthHeader_Success_Data, jellyfin/jellyfin).

describe('parseAuthorizationParameters: Jellyfin GetParts_ValidAuthHeader_Success_Data', () => {
  const cases: [string, Record<string, string>][] = [
    ['x="123,123",y="123"', { x: '123,123', y: '123' }],
    ['x="123,123",         y="123",z="\'hi\'"', { x: '123,123', y: '123', z: "'hi'" }],
    ['x="ab"', { x: 'ab' }],
    ['param=Hörbücher', { param: 'Hörbücher' }],
    ['param=%22%Hörbücher', { param: '"%Hörbücher' }],
  ];
  it.each(cases)('%s', (input, parts) => {
    const dict = parseAuthorizationParameters(input);
    for (const [k, v] of Object.entries(parts)) expect(dict.get(k)).toBe(v);
  });
});

describe('parseAuthorizationParameters: the rest of the C# loop', () => {
  it('keys are trimmed and case-sensitive, the last one wins', () => {
    const d = parseAuthorizationParameters(' Token="a", token="b",  Token ="c"');
    expect(d.get('Token')).toBe('c');
    expect(d.get('token')).toBe('b');
  });
  it('values are trimmed of quotes only, not of spaces', () => {
    expect(parseAuthorizationParameters('Token= "abc"').get('Token')).toBe(' "abc');
    expect(parseAuthorizationParameters('Token=""').get('Token')).toBe('');
  });
  it('an unquoted "=" in a value starts a new key', () => {
    const d = parseAuthorizationParameters('DeviceId=abc==, Token=t');
    expect(d.get('DeviceId')).toBeUndefined();
    expect(d.get('Token')).toBe('t');
    expect(parseAuthorizationParameters('DeviceId="abc=="').get('DeviceId')).toBe('abc==');
  });
  it('an empty value does not reset the key: "Token=, x" reads Token=" x"', () => {
    expect(parseAuthorizationParameters('Token=, x').get('Token')).toBe(' x');
  });
  it('text without "=" lands under the empty key', () => {
    expect(parseAuthorizationParameters('foo, Token="t"').get('')).toBe('foo');
  });
  it('a quote toggles escaping anywhere, commas inside quotes do not split', () => {
    expect(parseAuthorizationParameters('a="x,y=z", b=1').get('a')).toBe('x,y=z');
    expect(parseAuthorizationParameters('a=x"y,z"w, b=1').get('a')).toBe('x"y,z"w');
  });
  it('values are WebUtility.UrlDecode-d', () => {
    const d = parseAuthorizationParameters('a="Jellyfin%20Web", b="A+B", c="%E2%82%AC", d="%zz%4", e="%C3", f="%2b"');
    expect(d.get('a')).toBe('Jellyfin Web');
    expect(d.get('b')).toBe('A B');
    expect(d.get('c')).toBe('€');
    expect(d.get('d')).toBe('%zz%4');
    expect(d.get('e')).toBe('\uFFFD');
    expect(d.get('f')).toBe('+');
  });
});

describe('.NET decoders', () => {
  it('WebUtility.UrlDecode', () => {
    expect(webUtilityUrlDecode('a+b%20c')).toBe('a b c');
    expect(webUtilityUrlDecode('%')).toBe('%');
    expect(webUtilityUrlDecode('%4')).toBe('%4');
    expect(webUtilityUrlDecode('%41%')).toBe('A%');
    expect(webUtilityUrlDecode('%FF%41')).toBe('\uFFFDA');
    expect(webUtilityUrlDecode('%C3é')).toBe('\uFFFDé');
  });
  it('ASP.NET query decoding keeps invalid UTF-8 escapes literally', () => {
    expect(aspNetQueryDecode('a+b%2B')).toBe('a b+');
    expect(aspNetQueryDecode('%E9x')).toBe('%E9x');
    expect(aspNetQueryDecode('%C3%A9%C3')).toBe('é%C3');
    expect(aspNetQueryDecode('%e2%82%ac')).toBe('€');
    expect(aspNetQueryDecode('%ED%A0%80')).toBe('%ED%A0%80'); // a surrogate is not UTF-8
  });
});

describe('parseMediaBrowserHeader', () => {
  it('accepts MediaBrowser and Emby in any case', () => {
    expect(parseMediaBrowserHeader('MediaBrowser Token="t"')?.get('Token')).toBe('t');
    expect(parseMediaBrowserHeader('mediabrowser Token="t"')?.get('Token')).toBe('t');
    expect(parseMediaBrowserHeader('EMBY Token="t"')?.get('Token')).toBe('t');
  });
  it('refuses other schemes and headers without a space', () => {
    expect(parseMediaBrowserHeader('Basic dXNlcjpwYXNz')).toBeNull();
    expect(parseMediaBrowserHeader('Bearer abc')).toBeNull();
    expect(parseMediaBrowserHeader('MediaBrowser')).toBeNull();
    expect(parseMediaBrowserHeader('MediaBrowser\tToken="t"')).toBeNull();
    expect(parseMediaBrowserHeader('MediaBrowsers Token="t"')).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------------------
// Real clients

describe('real clients', () => {
  it('the TypeScript SDK (values encodeURIComponent-ed, Token="" before login)', () => {
    const clientInfo = { name: 'Jellyguard Tests', version: '1.0.0' };
    const deviceInfo = { name: 'Node "CI" + box', id: 'TW96aWxsYS81LjAgfDE3MDAwMDAwMDA=' };
    const before = read([['Authorization', getAuthorizationHeader(clientInfo, deviceInfo)]]);
    expect(before).toEqual({
      token: null,
      candidates: [],
      client: 'Jellyguard Tests',
      device: 'Node "CI" + box',
      deviceId: 'TW96aWxsYS81LjAgfDE3MDAwMDAwMDA=',
      version: '1.0.0',
    });
    const after = read([['Authorization', getAuthorizationHeader(clientInfo, deviceInfo, TOK)]]);
    expect(after.token).toBe(TOK);
    expect(after.source).toBe('authorization');
    expect(after.candidates).toEqual([TOK]);
  });

  it('jellyfin-web 10.11 (quoted, unencoded base64 DeviceId)', () => {
    const c = read([
      ['Authorization', `MediaBrowser Client="Jellyfin Web", Device="Chrome", DeviceId="TW96aWxsYS81LjAgKFgxMSk7IHwxNzAw", Version="10.11.11", Token="${TOK}"`],
    ]);
    expect(c).toMatchObject({ token: TOK, client: 'Jellyfin Web', device: 'Chrome', deviceId: 'TW96aWxsYS81LjAgKFgxMSk7IHwxNzAw', version: '10.11.11' });
  });

  it('Roku (unencoded values, UserId= ignored)', () => {
    const c = read([
      ['Authorization', `MediaBrowser UserId="4f2e9c0b8d7a4e1f9a3b2c1d0e9f8a7b", Client="Roku", Device="Living Room Roku", DeviceId="YN00AB123456", Version="2.2.5", Token="${TOK}"`],
    ]);
    expect(c).toEqual({ token: TOK, source: 'authorization', candidates: [TOK], client: 'Roku', device: 'Living Room Roku', deviceId: 'YN00AB123456', version: '2.2.5' });
  });

  it('Kodi on a WebSocket upgrade (Authorization header, no query)', () => {
    const c = read([
      ['Connection', 'Upgrade'],
      ['Upgrade', 'websocket'],
      ['Authorization', `MediaBrowser Client="Kodi", Device="LibreELEC", DeviceId="0b5e6a2f-kodi", Version="1.0.6", Token="${TOK}"`],
    ]);
    expect(c.token).toBe(TOK);
    expect(c.client).toBe('Kodi');
  });

  it('jellyfin-web socket: /socket?api_key=…&deviceId=…; 12.0: ?ApiKey=…', () => {
    expect(read([], `api_key=${TOK}&deviceId=abc`)).toMatchObject({ token: TOK, source: 'query:api_key', candidates: [TOK] });
    expect(read([], `ApiKey=${TOK}`)).toMatchObject({ token: TOK, source: 'query:apikey', candidates: [TOK] });
  });

  it('a request without any credential', () => {
    expect(read([['Accept', 'application/json']], 'startIndex=0&limit=10')).toEqual({ token: null, candidates: [] });
  });
});

// ---------------------------------------------------------------------------------------------------------
// The five forms and their precedence

describe('the five forms', () => {
  const forms: [string, [string, string][], string, string][] = [
    ['Authorization Token', [['Authorization', `MediaBrowser Token="${TOK}"`]], '', 'authorization'],
    ['X-Emby-Authorization Token', [['X-Emby-Authorization', `MediaBrowser Token="${TOK}"`]], '', 'x-emby-authorization'],
    ['X-Emby-Token', [['X-Emby-Token', TOK]], '', 'x-emby-token'],
    ['X-MediaBrowser-Token', [['X-MediaBrowser-Token', TOK]], '', 'x-mediabrowser-token'],
    ['query ApiKey', [], `ApiKey=${TOK}`, 'query:apikey'],
    ['query api_key', [], `api_key=${TOK}`, 'query:api_key'],
  ];
  it.each(forms)('%s', (_n, lines, query, source) => {
    const c = read(lines, query);
    expect(c.token).toBe(TOK);
    expect(c.source).toBe(source);
    expect(c.candidates).toEqual([TOK]);
  });

  it('precedence: header Token, X-Emby-Token, X-MediaBrowser-Token, ApiKey, api_key', () => {
    const all: [string, string][] = [
      ['Authorization', 'MediaBrowser Token="t1"'],
      ['X-Emby-Token', 't2'],
      ['X-MediaBrowser-Token', 't3'],
    ];
    const q = 'api_key=t5&ApiKey=t4';
    expect(read(all, q).token).toBe('t1');
    expect(read(all.slice(1), q).token).toBe('t2');
    expect(read(all.slice(2), q).token).toBe('t3');
    expect(read([], q).token).toBe('t4');
    expect(read([], 'api_key=t5').token).toBe('t5');
    expect(read(all, q).candidates.sort()).toEqual(['t1', 't2', 't3', 't4', 't5']);
  });

  it('an empty Token="" falls through to the next form', () => {
    const c = read([['Authorization', 'MediaBrowser Client="x", Token=""'], ['X-Emby-Token', TOK]]);
    expect(c.token).toBe(TOK);
    expect(c.client).toBe('x');
  });

  it('10.11 header order: Authorization first; X-Emby-Authorization only when Authorization is empty', () => {
    const c = read([
      ['X-Emby-Authorization', `MediaBrowser Client="legacy", Token="${TOK2}"`],
      ['Authorization', `MediaBrowser Client="modern", Token="${TOK}"`],
    ]);
    expect(c.token).toBe(TOK);
    expect(c.client).toBe('modern');
    // 10.10 reads X-Emby-Authorization first: its token must be checked too.
    expect(c.candidates).toEqual([TOK, TOK2]);
    const legacyOnly = read([['X-Emby-Authorization', `Emby Client="legacy", Token="${TOK2}"`]]);
    expect(legacyOnly).toMatchObject({ token: TOK2, client: 'legacy', source: 'x-emby-authorization' });
  });

  it('Basic/Bearer Authorization: nothing parsed, X-Emby-Authorization not consulted (10.11), but still a candidate', () => {
    const c = read([
      ['Authorization', 'Basic dXNlcjpwYXNz'],
      ['X-Emby-Authorization', `MediaBrowser Client="c", Token="${TOK}"`],
    ]);
    expect(c.token).toBeNull();
    expect(c.client).toBeUndefined();
    expect(c.candidates).toEqual([TOK]);
    const bearer = read([['Authorization', `Bearer ${TOK2}`]]);
    expect(bearer).toEqual({ token: null, candidates: [] });
  });

  it('query names match case-insensitively and are percent-decoded', () => {
    for (const q of [`APIKEY=${TOK}`, `apikey=${TOK}`, `aPiKeY=${TOK}`, `Api%4Bey=${TOK}`, `%41pi_Key=${TOK}`, `x=1&API_KEY=${TOK}&y=2`]) {
      const c = read([], q);
      expect(c.token, q).toBe(TOK);
      expect(c.candidates, q).toEqual([TOK]);
    }
    expect(read([], 'ApiKey+=x').token).toBeNull(); // "ApiKey " is another name
    expect(read([], `?ApiKey=${TOK}`).token).toBe(TOK); // a leading '?' is tolerated
  });

  it('query values are decoded like ASP.NET', () => {
    expect(read([], 'ApiKey=a%2Bb+c').token).toBe('a+b c');
  });

  it('a Token key in another case is not what 10.11 reads, but is a candidate (10.7 read it)', () => {
    const c = read([['Authorization', `MediaBrowser token="${TOK}"`]]);
    expect(c.token).toBeNull();
    expect(c.candidates).toEqual([TOK]);
  });

  it('a loosely folded query name (dotless ı) is a candidate, not the token', () => {
    const c = read([], `ap\u0131key=${TOK}`);
    expect(c.token).toBeNull();
    expect(c.candidates).toEqual([TOK]);
  });
});

describe('repeated headers and query keys', () => {
  it('X-Emby-Token twice: ASP.NET sees "a,b"; every form is a candidate', () => {
    const c = read([['X-Emby-Token', TOK], ['X-Emby-Token', TOK2]]);
    expect(c.token).toBe(`${TOK},${TOK2}`);
    expect(c.candidates).toEqual(expect.arrayContaining([TOK, TOK2, `${TOK},${TOK2}`, `${TOK}, ${TOK2}`]));
  });

  it('Authorization twice: the first is parsed, both are candidates', () => {
    const c = read([
      ['Authorization', `MediaBrowser Client="one", Token="${TOK}"`],
      ['Authorization', `MediaBrowser Client="two", Token="${TOK2}"`],
    ]);
    expect(c.token).toBe(TOK);
    expect(c.client).toBe('one');
    expect(c.candidates).toEqual(expect.arrayContaining([TOK, TOK2]));
  });

  it('X-Emby-Authorization split over two lines: the merged form a proxy forwards is read too', () => {
    const c = read([
      ['X-Emby-Authorization', 'MediaBrowser Client="x"'],
      ['X-Emby-Authorization', `Token="${TOK}"`],
    ]);
    expect(c.candidates).toContain(TOK);
  });

  it('ApiKey twice (any case): joined with ","', () => {
    const c = read([], `ApiKey=${TOK}&APIKEY=${TOK2}`);
    expect(c.token).toBe(`${TOK},${TOK2}`);
    expect(c.candidates).toEqual(expect.arrayContaining([TOK, TOK2, `${TOK},${TOK2}`]));
  });

  it('without headersDistinct, the merged header values are used', () => {
    const c = readCredential({ 'x-emby-token': `${TOK}, ${TOK2}`, authorization: `MediaBrowser Token="${TOK}"` }, undefined, '');
    expect(c.token).toBe(TOK);
    expect(c.candidates).toEqual(expect.arrayContaining([TOK, `${TOK}, ${TOK2}`]));
  });
});

// ---------------------------------------------------------------------------------------------------------
// Properties

/** A literal port of AuthorizationContext.GetParts, written independently of the module. */
function referenceGetParts(authorizationHeader: string): Map<string, string> {
  const ws = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;
  const trim = (s: string) => s.replace(ws, '');
  const trimQuote = (s: string) => s.replace(/^"+|"+$/g, '');
  const urlDecode = (value: string): string => {
    // WebUtility.UrlDecode: UrlDecoder.AddByte / AddChar, flushing bytes as UTF-8.
    if (value === '') return value;
    let out = '';
    let bytes: number[] = [];
    const flush = () => {
      if (bytes.length) out += Buffer.from(bytes).toString('utf8');
      bytes = [];
    };
    for (let i = 0; i < value.length; i++) {
      let ch = value[i]!;
      if (ch === '+') ch = ' ';
      else if (ch === '%' && i < value.length - 2) {
        const h = value.slice(i + 1, i + 3);
        if (/^[0-9a-fA-F]{2}$/.test(h)) {
          bytes.push(parseInt(h, 16));
          i += 2;
          continue;
        }
      }
      if ((ch.charCodeAt(0) & 0xff80) === 0) bytes.push(ch.charCodeAt(0));
      else {
        flush();
        out += ch;
      }
    }
    flush();
    return out;
  };
  const result = new Map<string, string>();
  let escaped = false;
  let start = 0;
  let key = '';
  let i;
  for (i = 0; i < authorizationHeader.length; i++) {
    const token = authorizationHeader[i];
    if (token === '"' || token === ',') {
      escaped = !escaped === (token === '"');
      if (token === ',' && !escaped) {
        if (start < i) {
          result.set(key, urlDecode(trimQuote(authorizationHeader.slice(start, i))));
          key = '';
        }
        start = i + 1;
      }
    } else if (!escaped && token === '=') {
      key = trim(authorizationHeader.slice(start, i));
      start = i + 1;
    }
  }
  if (start < i) result.set(key, urlDecode(trimQuote(authorizationHeader.slice(start, i))));
  return result;
}

const anyChar = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const anyString = fc.string({ unit: fc.oneof(anyChar, fc.constantFrom('%', '%2', '%C3', '%A9', '%zz', '+', '=', ',', '"', ' ')) });
const grammarString = fc
  .array(
    fc.constantFrom('Token', 'Client', 'token', 'a', 'B', '=', ',', '"', ' ', '\t', '%', '2', '0', 'F', 'C3', 'A9', '+', 'é', '€', '\u0085', '\ufeff', '\u00a0', '😀', '\ud800'),
    { maxLength: 40 },
  )
  .map((a) => a.join(''));

describe('properties', () => {
  it('(a) readCredential never throws, whatever the headers and query', () => {
    const headerArb = fc.dictionary(
      fc.constantFrom('authorization', 'x-emby-authorization', 'x-emby-token', 'x-mediabrowser-token', 'x-other'),
      fc.array(fc.oneof(anyString, grammarString.map((s) => 'MediaBrowser ' + s)), { minLength: 1, maxLength: 3 }),
    );
    fc.assert(
      fc.property(headerArb, anyString, fc.boolean(), (dict, query, withDistinct) => {
        const headers: IncomingHttpHeaders = {};
        for (const [k, v] of Object.entries(dict)) headers[k] = k === 'authorization' ? v[0] : v.join(', ');
        const c = readCredential(headers, withDistinct ? dict : undefined, query);
        expect(Array.isArray(c.candidates)).toBe(true);
        if (c.token) expect(c.candidates).toContain(c.token);
      }),
      { numRuns: 2000 },
    );
  });

  it('(b) parseAuthorizationParameters agrees with a literal port of the C# loop', () => {
    fc.assert(
      fc.property(fc.oneof(grammarString, anyString), (s) => {
        expect(parseAuthorizationParameters(s)).toEqual(referenceGetParts(s));
      }),
      { numRuns: 5000 },
    );
  });

  it('(c) a token placed in any form, among noise, is always a candidate', () => {
    const tokenArb = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 40 });
    const noiseArb = fc.array(fc.tuple(fc.constantFrom('x-emby-token', 'x-mediabrowser-token', 'authorization', 'x-emby-authorization'), tokenArb), { maxLength: 3 });
    const randomCase = (s: string, flips: boolean[]) => [...s].map((ch, i) => (flips[i % flips.length] ? ch.toUpperCase() : ch.toLowerCase())).join('');
    fc.assert(
      fc.property(
        tokenArb,
        fc.constantFrom('authorization', 'x-emby-authorization', 'x-emby-token', 'x-mediabrowser-token', 'query:apikey', 'query:api_key'),
        noiseArb,
        fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
        fc.nat(3),
        (token, form, noise, flips, position) => {
          const lines: [string, string][] = noise.map(([h, t]) =>
            h.endsWith('authorization') ? [h, `MediaBrowser Client="n", Token="${encodeURIComponent(t)}"`] : [h, t],
          );
          const params = ['limit=5', `deviceId=${encodeURIComponent(token)}`];
          if (form === 'authorization' || form === 'x-emby-authorization') {
            const scheme = randomCase('MediaBrowser', flips);
            lines.splice(Math.min(position, lines.length), 0, [form, `${scheme} Client="c", Device="d", DeviceId="i", Version="1", Token="${encodeURIComponent(token)}"`]);
          } else if (form.startsWith('query:')) {
            const name = randomCase(form === 'query:apikey' ? 'ApiKey' : 'api_key', flips);
            params.splice(Math.min(position, params.length), 0, `${name}=${encodeURIComponent(token)}`);
          } else {
            lines.splice(Math.min(position, lines.length), 0, [form, token]);
          }
          const c = read(lines, params.join('&'));
          expect(c.candidates).toContain(token);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('a query string sent URL-encoded as a whole (Jellyfin UrlDecodeQueryFeature)', () => {
  it('still yields the token as a candidate', async () => {
    const { readCredential } = await import('../../server/jellyfin/credentials.ts');
    const tok = 'c'.repeat(32);
    for (const q of [`api_key%3D${tok}`, `ApiKey%3d${tok}`, `deviceId%3Dx%26api_key%3D${tok}`, `api_key%253D${tok}`]) {
      expect(readCredential({}, {}, q).candidates, q).toContain(tok);
    }
  });
});
