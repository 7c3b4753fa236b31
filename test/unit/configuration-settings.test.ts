import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CONFIG_GROUPS } from '../../shared/api/configuration.ts';
import { HttpError } from '../../server/errors.ts';
import { loadConfig, parseConfig } from '../../server/config/index.ts';
import { CONFIG_KEYS, configSchema, settingMeta } from '../../server/config/schema.ts';
import { Settings, keepSecrets, redactSecrets } from '../../server/config/settings.ts';
import { changeYaml, writeFileAtomic } from '../../server/config/yaml-file.ts';
import type { AuditEvent } from '../../server/audit/index.ts';
import { tempDir } from '../helpers/gateway.ts';

/**
 * The parts of GET/POST Configuration one by one: the schema as the one place for descriptions, redaction
 * and keeping of secret fields, rewriting the YAML file keeping the admin's comments, the atomic write,
 * and the Settings service on a real file (sources, read-only keys, refusals that write nothing,
 * one write at a time). The endpoint itself: test/integration/configuration.test.ts.
 */

const mode = (file: string) => statSync(file).mode & 0o777;

async function refusal(p: Promise<unknown>): Promise<HttpError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(HttpError);
  return e as HttpError;
}

describe('the schema is the one place for every key’s words and flags', () => {
  it('gives every key a description, a group of the console and a JSON Schema carrying the description', () => {
    expect(CONFIG_KEYS.length).toBeGreaterThan(60);
    for (const key of CONFIG_KEYS) {
      const meta = settingMeta(key);
      expect(meta.description.length, key).toBeGreaterThan(15);
      expect(CONFIG_GROUPS, key).toContain(meta.group);
      const schema = z.toJSONSchema(configSchema.shape[key], { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
      expect(schema.description, key).toBe(meta.description);
    }
  });

  it('marks the secrets, and the secret fields inside values', () => {
    expect(CONFIG_KEYS.filter((k) => settingMeta(k).secret).sort()).toEqual(['JellyfinApiKey', 'MetricsToken']);
    expect(settingMeta('SMTP').secretPaths).toEqual(['Password']);
    expect(settingMeta('OIDCProviders').secretPaths).toEqual(['*.ClientSecret']);
  });

  it('says which keys apply at once; the ones read at start-up need a restart', () => {
    const live = (k: (typeof CONFIG_KEYS)[number]) => settingMeta(k).live === true;
    for (const k of ['TOTPEnabled', 'EnforcementScope', 'TVPairingEnabled', 'BreachCheckBlocks', 'ShutdownGraceSeconds', 'MaxFailedAttempts', 'PushMaxPerWindow'] as const) {
      expect(live(k), k).toBe(true);
    }
    for (const k of ['Port', 'Host', 'BaseUrl', 'JellyfinUrl', 'TrustedProxyCIDRs', 'OIDCProviders', 'MetricsEnabled', 'GeoIPDatabasePath', 'AuditLogMaxAge', 'TOTPTimeSkew', 'PushEnabled'] as const) {
      expect(live(k), k).toBe(false);
    }
  });
});

describe('secret fields inside a value', () => {
  const providers = [
    { Id: 'a', ClientSecret: 'secret-a', Name: 'A' },
    { Id: 'b', ClientSecret: 'secret-b', Name: 'B' },
  ];

  it('are null in what is shown, the rest untouched (and the original not changed)', () => {
    expect(redactSecrets(providers, ['*.ClientSecret'])).toEqual([
      { Id: 'a', ClientSecret: null, Name: 'A' },
      { Id: 'b', ClientSecret: null, Name: 'B' },
    ]);
    expect(providers[0]!.ClientSecret).toBe('secret-a');
    expect(redactSecrets({ Host: 'h', Password: 'pw' }, ['Password'])).toEqual({ Host: 'h', Password: null });
    expect(redactSecrets({ Host: 'h' }, ['Password'])).toEqual({ Host: 'h' });
  });

  it('keep the current secret when posted null or left out: by Id, else by position; a new item inherits nothing', () => {
    const posted = [
      { Id: 'b', ClientSecret: null, Name: 'B renamed' }, // moved to the front
      { Id: 'c', ClientSecret: null, Name: 'C' }, // new: nothing to keep
      { Id: 'a', Name: 'A' }, // left out
    ];
    expect(keepSecrets(posted, providers, ['*.ClientSecret'])).toEqual([
      { Id: 'b', ClientSecret: 'secret-b', Name: 'B renamed' },
      { Id: 'c', Name: 'C' },
      { Id: 'a', ClientSecret: 'secret-a', Name: 'A' },
    ]);
    expect(keepSecrets([{ ClientSecret: null }], [{ ClientSecret: 'x' }], ['*.ClientSecret'])).toEqual([{ ClientSecret: 'x' }]);
    expect(keepSecrets({ Host: 'h', Port: 25, Password: null }, { Host: 'h', Port: 25, Password: '${SMTP_PASSWORD}' }, ['Password'])).toEqual({ Host: 'h', Port: 25, Password: '${SMTP_PASSWORD}' });
    expect(keepSecrets({ Host: 'h2', Password: 'new' }, { Host: 'h', Password: 'old' }, ['Password'])).toEqual({ Host: 'h2', Password: 'new' });
  });
});

describe('a kept secret stays with where it is sent', () => {
  it('is not kept for another Authority, Host or TLS setting: the 400 asks for it again', () => {
    const idp = [{ Id: 'a', ClientSecret: 'secret-a', Authority: 'https://idp.example.org' }];
    expect(() => keepSecrets([{ Id: 'a', ClientSecret: null, Authority: 'https://thief.example' }], idp, ['*.ClientSecret'], 'OIDCProviders')).toThrow(/OIDCProviders: Authority changed, so enter ClientSecret again/);
    const smtp = { Host: 'mail.example.org', Port: 587, Password: 'pw' };
    for (const moved of [{ Host: 'thief.example' }, { Secure: false }]) {
      expect(() => keepSecrets({ ...smtp, ...moved, Password: null }, smtp, ['Password'], 'SMTP'), JSON.stringify(moved)).toThrow(/enter Password again/);
    }
    // A new secret with the new destination is fine.
    expect(keepSecrets([{ Id: 'a', ClientSecret: 'new', Authority: 'https://idp2.example.org' }], idp, ['*.ClientSecret'])).toEqual([{ Id: 'a', ClientSecret: 'new', Authority: 'https://idp2.example.org' }]);
  });
});

describe('rewriting the YAML file', () => {
  const text = [
    '# Jellyguard settings',
    'JellyfinUrl: http://10.0.0.5:8096 # the server',
    '',
    '# ── guard ──',
    'MaxFailedAttempts: 7 # a bit more patient',
    'TrustedProxyCIDRs:',
    '  - 10.0.0.1/32 # nginx',
    '  - 10.0.0.2/32',
    'LANBypassCIDRs: [10.0.0.0/8, 192.168.0.0/16]',
    'SMTP:',
    '  Host: mail.example.org',
    '  Password: ${SMTP_PASSWORD} # from the environment',
    '  From: "Jellyfin <j@example.org>"',
    '',
  ].join('\n');

  it('changes nothing when nothing changes', () => {
    expect(changeYaml(text, { MaxFailedAttempts: 7, SMTP: { Host: 'mail.example.org', Password: '${SMTP_PASSWORD}', From: 'Jellyfin <j@example.org>' } })).toBe(text);
  });

  it('keeps comments, order and quoting; a new key goes at the end; null removes a key', () => {
    const out = changeYaml(text, {
      MaxFailedAttempts: 9,
      TrustedProxyCIDRs: ['10.0.0.1/32'],
      LANBypassCIDRs: ['10.0.0.0/8'],
      SMTP: { Host: 'mail2.example.org', Password: '${SMTP_PASSWORD}', From: 'Jellyfin <j@example.org>' },
      PushEnabled: false,
    });
    expect(out).toBe(
      text
        .replace('MaxFailedAttempts: 7', 'MaxFailedAttempts: 9')
        .replace('  - 10.0.0.2/32\n', '')
        .replace('[10.0.0.0/8, 192.168.0.0/16]', '[10.0.0.0/8]')
        .replace('Host: mail.example.org', 'Host: mail2.example.org') + 'PushEnabled: false\n',
    );
    // The first key removed: the file's heading comment stays.
    const removed = changeYaml(text, { JellyfinUrl: null, NotThere: null });
    expect(removed.startsWith('# Jellyguard settings\n')).toBe(true);
    expect(removed).not.toContain('JellyfinUrl');
    expect(removed).toContain('# ── guard ──\nMaxFailedAttempts: 7 # a bit more patient\n');
  });

  it('writes a string that YAML would read as something else in quotes, and starts an empty file', () => {
    const out = changeYaml('', { Host: 'true', BaseUrl: '', Port: 8097 });
    expect(out).toBe('Host: "true"\nBaseUrl: ""\nPort: 8097\n');
    expect(changeYaml('Host: plain\n', { Host: '8097' })).toBe('Host: "8097"\n');
    expect(changeYaml('Host: "quoted"\n', { Host: 'other' })).toBe('Host: "other"\n');
  });

  it('refuses a file that is not YAML', () => {
    expect(() => changeYaml('a: [\n', { Port: 1 })).toThrow(/not valid YAML/);
  });
});

describe('the atomic write', () => {
  it('replaces the file whole, readable by its owner only, leaving no temporary file', () => {
    const dir = tempDir();
    const file = path.join(dir, 'config.yaml');
    writeFileSync(file, 'Port: 1\n');
    chmodSync(file, 0o644);
    writeFileAtomic(file, 'Port: 2\n');
    expect(readFileSync(file, 'utf8')).toBe('Port: 2\n');
    expect(mode(file)).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['config.yaml']);
  });
});

describe('the Settings service on a real file', () => {
  const FILE = [
    '# test settings',
    'Host: 127.0.0.1',
    'MaxFailedAttempts: 7 # patient',
    'VapidSubject: ${VAPID}',
    'SMTP:',
    '  Host: 127.0.0.1',
    '  Username: mailer',
    '  Password: ${SMTP_PW}',
    '  From: jf@example.org',
    'MetricsToken: metrics-token-0123456789',
    '',
  ].join('\n');

  function setUp() {
    const dir = tempDir();
    const file = path.join(dir, 'config.yaml');
    writeFileSync(file, FILE, { mode: 0o600 });
    const env = { JELLYGUARD_DATA_DIR: dir, JELLYFIN_URL: 'http://127.0.0.1:18096', JELLYFIN_API_KEY: 'ab'.repeat(16), VAPID: 'mailto:a@example.org', SMTP_PW: 'smtp-password-secret' };
    const loaded = loadConfig(env);
    const events: AuditEvent[] = [];
    const settings = new Settings({ config: loaded.config, origin: loaded.origin, dataDir: dir, audit: { record: (e) => events.push(e) } });
    return { dir, file, env, loaded, settings, events };
  }
  const who = { userId: 'a'.repeat(32), userName: 'admin', ip: '127.0.0.1' };

  it('tells where each value comes from, redacts every secret and makes environment keys read-only', () => {
    const { settings, file } = setUp();
    const view = settings.view();
    const k = (key: string) => view.keys.find((x) => x.key === key)!;
    expect(view.file).toBe(file);
    expect(k('JellyfinUrl')).toMatchObject({ source: 'environment', value: 'http://127.0.0.1:18096', readOnly: true });
    expect(k('JellyfinUrl').readOnlyReason).toMatch(/JELLYFIN_URL/);
    expect(k('JellyfinApiKey')).toMatchObject({ source: 'environment', value: null, secret: true, isSet: true, readOnly: true });
    expect(k('MaxFailedAttempts')).toMatchObject({ source: 'file', value: 7, readOnly: false, restartRequired: false });
    expect(k('TOTPTimeSkew')).toMatchObject({ source: 'default', value: 1, restartRequired: true });
    expect(k('LockoutDuration')).toMatchObject({ source: 'default', value: 900, isSet: true });
    expect(k('PublicUrl')).toMatchObject({ source: 'default', value: null, isSet: false });
    expect(k('VapidSubject')).toMatchObject({ source: 'file', readOnly: true });
    expect(k('VapidSubject').readOnlyReason).toMatch(/VAPID/);
    // ${SMTP_PW} sits in a secret field: the key stays editable, the field is kept when posted null.
    expect(k('SMTP')).toMatchObject({ source: 'file', readOnly: false, value: { Host: '127.0.0.1', Username: 'mailer', Password: null } });
    expect(k('MetricsToken')).toMatchObject({ source: 'file', value: null, secret: true, isSet: true });
    const body = JSON.stringify(view);
    for (const secret of ['ab'.repeat(16), 'smtp-password-secret', 'metrics-token-0123456789']) expect(body).not.toContain(secret);
  });

  it('refuses a bad update whole and writes nothing; names the key', async () => {
    const { settings, file } = setUp();
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [{ LockoutDuration: 60, MaxFailedAttempts: 'many' }, 400, 'MaxFailedAttempts'],
      [{ MaxFailedAttempts: 0 }, 400, 'MaxFailedAttempts'],
      [{ TypoKey: 1, LockoutDuration: 60 }, 400, 'TypoKey'],
      [{ 'Schlüssel✓': 1 }, 400, 'Schlüssel✓'],
      [{ BaseUrl: '/jellyfin-ü' }, 400, 'BaseUrl'],
      [{ SMTP: { Host: null, From: 'jf@example.org' } }, 400, 'SMTP'],
      [{ HoldSeconds: 120 }, 400, 'HoldSeconds'], // not shorter than ApprovalSeconds: the next start would fail
      [{ EmailOTPEnabled: true, SMTP: null }, 400, 'EmailOTPEnabled'],
      [{ GeoIPDatabasePath: '/nonexistent/GeoLite2-City.mmdb' }, 400, 'GeoIPDatabasePath'],
      [{ Port: 70000 }, 400, 'Port'],
      [{ JellyfinUrl: 'http://10.0.0.9:8096' }, 409, 'JellyfinUrl'],
      [{ VapidSubject: 'mailto:b@example.org' }, 409, 'VapidSubject'],
    ];
    for (const [values, status, key] of cases) {
      const e = await refusal(settings.update(values, who));
      expect(e.status, JSON.stringify(values)).toBe(status);
      expect(e.code).toBe(status === 409 ? 'read_only_setting' : 'invalid_configuration');
      expect(e.detail?.key, JSON.stringify(values)).toBe(key);
      expect(e.message).toContain(key);
      expect(readFileSync(file, 'utf8')).toBe(FILE);
    }
    expect(settings.view().pendingRestart).toEqual([]);
  });

  it('writes the change keeping comments, applies live keys to the running object, lists the others', async () => {
    const { settings, file, loaded, events, env } = setUp();
    const saved = await settings.update(
      {
        MaxFailedAttempts: 9,
        EnforcementScope: 'All',
        TOTPTimeSkew: 2,
        SMTP: { Host: '127.0.0.1', Username: 'mailer2', Password: null, From: 'jf@example.org' },
        MetricsToken: null,
      },
      who,
    );
    expect(saved.applied).toEqual(['MaxFailedAttempts', 'EnforcementScope']);
    expect(saved.restartRequired.sort()).toEqual(['MetricsToken', 'SMTP', 'TOTPTimeSkew']);
    expect(saved.view.pendingRestart.sort()).toEqual(['MetricsToken', 'SMTP', 'TOTPTimeSkew']);
    expect(loaded.config).toMatchObject({ MaxFailedAttempts: 9, EnforcementScope: 'All' }); // the running object
    expect(loaded.config.TOTPTimeSkew).toBe(1); // still, until the restart
    expect(readFileSync(file, 'utf8')).toBe(
      FILE.replace('MaxFailedAttempts: 7', 'MaxFailedAttempts: 9')
        .replace('  Username: mailer', '  Username: mailer2')
        .replace('MetricsToken: metrics-token-0123456789\n', '') + 'EnforcementScope: All\nTOTPTimeSkew: 2\n',
    );
    expect(mode(file)).toBe(0o600);
    // The next start reads what was saved; the SMTP password still comes from the environment.
    const next = loadConfig(env).config;
    expect(next).toMatchObject({ MaxFailedAttempts: 9, EnforcementScope: 'All' });
    expect(next.MetricsToken).toBeUndefined();
    expect(next.SMTP).toMatchObject({ Username: 'mailer2', Password: 'smtp-password-secret' });
    // Audited with key names only.
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'config.changed', outcome: 'success', userId: who.userId });
    expect(JSON.stringify(events)).not.toMatch(/smtp-password|metrics-token|mailer2/);
    // Back to the start value: no longer waiting for a restart.
    const back = await settings.update({ TOTPTimeSkew: 1 }, who);
    expect(back.view.pendingRestart.sort()).toEqual(['MetricsToken', 'SMTP']);
  });

  it('writes one change at a time: concurrent updates all land', async () => {
    const { settings, file } = setUp();
    const updates = [{ LockoutDuration: 61 }, { PushWindowSeconds: 601 }, { ReportsBeforeHold: 4 }, { TrustedDeviceDays: 30 }, { ChallengeSeconds: 301 }];
    await Promise.all(updates.map((u) => settings.update(u, who)));
    const text = readFileSync(file, 'utf8');
    for (const u of updates) for (const [k, v] of Object.entries(u)) expect(text).toContain(`${k}: ${v}\n`);
  });

  it('a gateway started without a file writes $dataDir/config.yaml on the first change', async () => {
    const dir = tempDir();
    const config = parseConfig({ Host: '127.0.0.1', Port: 0 });
    const settings = new Settings({ config, dataDir: dir, audit: { record: () => {} } });
    expect(settings.view().file).toBeNull();
    expect(settings.view().keys.find((k) => k.key === 'Port')).toMatchObject({ value: 0, readOnly: false });
    const saved = await settings.update({ TOTPTimeSkew: 2, TVPairingEnabled: false }, who);
    const file = path.join(dir, 'config.yaml');
    expect(existsSync(file)).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('TOTPTimeSkew: 2\nTVPairingEnabled: false\n');
    expect(mode(file)).toBe(0o600);
    expect(saved.view.file).toBe(file);
    expect(saved.applied).toEqual(['TVPairingEnabled']);
    expect(config.TVPairingEnabled).toBe(false);
    expect(saved.view.keys.find((k) => k.key === 'TOTPTimeSkew')).toMatchObject({ source: 'file', value: 2 });
  });
});

describe('the README', () => {
  it('lists exactly the keys that apply without a restart', () => {
    const readme = readFileSync(path.join(import.meta.dirname, '../../README.md'), 'utf8');
    const paragraph = readme.slice(readme.indexOf('**Applied at once**'), readme.indexOf('**Every other key needs a restart**'));
    const listed = [...paragraph.matchAll(/`([A-Za-z0-9]+)`/g)].map((m) => m[1]).sort();
    expect(listed).toEqual(CONFIG_KEYS.filter((k) => settingMeta(k).live).sort());
  });
});

describe('the refusal detail', () => {
  it('has the shape the contract gives the console', async () => {
    const { ConfigurationRefusalDetailSchema } = await import('../../shared/api/configuration.ts');
    const settings = new Settings({ config: parseConfig({}), dataDir: tempDir(), audit: { record: () => {} } });
    const who = { userId: 'a'.repeat(32) };
    for (const values of [{ SMTP: { Host: '', From: 'x@y.z' } }, { Nope: 1, Neither: 2 }]) {
      const e = await refusal(settings.update(values, who));
      expect(ConfigurationRefusalDetailSchema.parse(e.detail)).toEqual(e.detail);
    }
    const e = await refusal(settings.update({ SMTP: { Host: '', From: 'x@y.z' } }, who));
    expect(e.detail).toMatchObject({ key: 'SMTP', path: 'SMTP.Host' });
  });
});
