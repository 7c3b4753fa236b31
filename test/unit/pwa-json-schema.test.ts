import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { canonical, check, emptyValue, kindOf, linesOf, numberFromText, pathMatches, sentence, unwrapNullable, type JsonSchema } from '../../pwa/app/lib/json-schema.ts';
import { hrefOf, parseHash } from '../../pwa/app/lib/routes.ts';
import { nullAuditSink } from '../../server/audit/event.ts';
import { parseConfig } from '../../server/config/index.ts';
import { Settings } from '../../server/config/settings.ts';
import { tempDir } from '../helpers/gateway.ts';

/**
 * The settings console's checker (pwa/app/lib/json-schema.ts), run against the JSON Schemas the gateway
 * itself sends in GET Configuration (server/config/settings.ts over the one config schema), so what the
 * console refuses before sending is what the server would.
 */
const dir = tempDir('jellyguard-schema-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const VIEW = new Settings({ config: parseConfig({}), dataDir: dir, audit: nullAuditSink }).view();
const ALL = { properties: Object.fromEntries(VIEW.keys.map((k) => [k.key, k.schema as JsonSchema])) };
const key = (k: string) => ALL.properties[k]!;
const messages = (s: JsonSchema, v: unknown, opts = {}) => check(s, v, opts).map((p) => `${p.path}: ${p.message}`);

describe('check', () => {
  it('accepts every default, and every value the gateway shows, of the real configuration', () => {
    for (const [k, s] of Object.entries(ALL.properties)) if (s.default !== undefined) expect(check(s, s.default), k).toEqual([]);
    for (const k of VIEW.keys) if (k.value !== null) expect(check(k.schema as JsonSchema, k.value, { secretPaths: k.secretPaths }), k.key).toEqual([]);
  });

  it('integers: type, minimum and maximum in words', () => {
    expect(messages(key('MaxFailedAttempts'), 5)).toEqual([]);
    expect(messages(key('MaxFailedAttempts'), 0)).toEqual([': must be at least 1']);
    expect(messages(key('MaxFailedAttempts'), 1001)).toEqual([': must be at most 1000']);
    expect(messages(key('MaxFailedAttempts'), 2.5)).toEqual([': must be a whole number']);
    expect(messages(key('MaxFailedAttempts'), 'lots')).toEqual([': must be a whole number']);
    expect(messages(key('MaxFailedAttempts'), null)).toEqual([': is required']);
  });

  it('numbers: exclusive minimum', () => {
    expect(messages(key('ImpossibleTravelThreshold'), 0)).toEqual([': must be more than 0']);
    expect(messages(key('ImpossibleTravelThreshold'), 0.5)).toEqual([]);
  });

  it('enums, booleans, patterns, lengths and formats', () => {
    expect(messages(key('EnforcementScope'), 'Everyone')).toEqual([': must be one of: Optional, Admins, All']);
    expect(messages(key('TOTPEnabled'), 'yes')).toEqual([': must be on or off']);
    expect(messages(key('BaseUrl'), '/jellyfin')).toEqual([]);
    expect(messages(key('BaseUrl'), 'jellyfin/')).toEqual([': is not in the expected form']);
    expect(messages(key('MetricsToken'), 'short')).toEqual([': must be at least 16 characters']);
    expect(messages(key('Host'), '')).toEqual([': must not be empty']);
    expect(messages(key('JellyfinUrl'), 'not a url')).toEqual([': must be a full address like https://example.org']);
    expect(messages(key('AdoptExistingSessionsUntil'), '2026-12-31T23:00:00Z')).toEqual([]);
    expect(messages(key('AdoptExistingSessionsUntil'), 'tomorrow')).toHaveLength(2); // pattern and format
  });

  it('arrays of strings check each item by its position', () => {
    expect(messages(key('LANBypassCIDRs'), ['10.0.0.0/8', ''])).toEqual(['1: must not be empty']);
    expect(messages({ type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 2, uniqueItems: true }, ['a', 'a', 'b'])).toEqual([
      ': has room for at most 2 entries',
      ': has the same entry twice',
    ]);
  });

  it('objects: required fields, their own checks, unknown fields', () => {
    const smtp = key('SMTP');
    expect(messages(smtp, { Host: 'mail.example.org', From: 'Jellyfin <j@example.org>' })).toEqual([]);
    expect(messages(smtp, { Host: '', Port: 70000 })).toEqual(['From: is required', 'Host: must not be empty', 'Port: must be at most 65535']);
    expect(messages(smtp, { Host: 'h', From: 'abc', Colour: 'red' })).toEqual([': Colour is not a known field']);
  });

  it('a null secret inside a value is "keep the current one", where the caller allows it', () => {
    const oidc = key('OIDCProviders');
    const provider = { Name: 'Pocket ID', Id: 'pocket', ClientID: 'jellyfin', ClientSecret: null, Authority: 'https://id.example.org' };
    expect(messages(oidc, [provider])).toEqual(['0.ClientSecret: is required']);
    expect(messages(oidc, [provider], { secretPaths: ['*.ClientSecret'] })).toEqual([]);
    // A provider that is new (no current secret to keep) must have one typed.
    const opts = { secretPaths: ['*.ClientSecret'], allowNullSecret: (p: string) => p.startsWith('0.') };
    expect(messages(oidc, [provider, { ...provider, Id: 'other' }], opts)).toEqual(['1.ClientSecret: is required']);
    const { ClientSecret: _, ...missing } = provider;
    expect(messages(oidc, [missing], { secretPaths: ['*.ClientSecret'] })).toEqual([]);
    expect(messages(oidc, [{ ...provider, ClientSecret: 's', Id: 'bad id!' }])).toEqual(['0.Id: is not in the expected form']);
  });

  it('"X or null" picks the problems of the alternative with the value\'s type', () => {
    const s: JsonSchema = { anyOf: [{ type: 'integer', minimum: 3 }, { type: 'null' }] };
    expect(messages(s, null)).toEqual([]);
    expect(messages(s, 2)).toEqual([': must be at least 3']);
    expect(unwrapNullable(s)).toMatchObject({ type: 'integer', minimum: 3 });
  });
});

describe('helpers', () => {
  it('pathMatches, canonical, sentence', () => {
    expect(pathMatches('*.ClientSecret', '3.ClientSecret')).toBe(true);
    expect(pathMatches('*.ClientSecret', '3.ClientID')).toBe(false);
    expect(pathMatches('Password', 'Password')).toBe(true);
    expect(canonical({ b: 1, a: [{ d: 2, c: 3 }] })).toBe(canonical({ a: [{ c: 3, d: 2 }], b: 1 }));
    expect(sentence('must be at least 1')).toBe('Must be at least 1.');
  });

  it('kindOf picks the control for every key of the real config schema', () => {
    const kinds = Object.fromEntries(Object.entries(ALL.properties).map(([k, s]) => [k, kindOf(s)]));
    expect(kinds).toMatchObject({
      TOTPEnabled: 'boolean',
      EnforcementScope: 'enum',
      MaxFailedAttempts: 'integer',
      ImpossibleTravelThreshold: 'number',
      JellyfinApiKey: 'string',
      LANBypassCIDRs: 'strings',
      AuditLogExcludedEvents: 'strings',
      SMTP: 'object',
      OIDCProviders: 'objects',
    });
    expect(Object.values(kinds)).not.toContain('json');
  });

  it('emptyValue makes a new sub-form with its required fields', () => {
    const provider = emptyValue(key('OIDCProviders').items!);
    expect(provider).toEqual({ Name: '', Id: '', ClientID: '', ClientSecret: '', Authority: '' });
    expect(emptyValue(key('SMTP'))).toEqual({ Host: '', From: '' });
  });

  it('numberFromText and linesOf read what was typed', () => {
    expect(numberFromText(' 42 ')).toBe(42);
    expect(numberFromText('-1.5')).toBe(-1.5);
    expect(numberFromText('')).toBeUndefined();
    expect(numberFromText('12abc')).toBe('12abc');
    expect(numberFromText('1,5')).toBe('1,5');
    expect(linesOf('10.0.0.0/8\r\n\n  192.168.0.0/16  \n')).toEqual(['10.0.0.0/8', '192.168.0.0/16']);
  });
});

describe('the console\'s place', () => {
  it('is the Admin area\'s settings tab, #/admin/settings', () => {
    expect(hrefOf({ page: 'admin', tab: 'settings' })).toBe('#/admin/settings');
    expect(parseHash('#/admin/settings')).toEqual({ page: 'admin', tab: 'settings' });
  });
});
