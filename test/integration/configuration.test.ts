import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/clock.ts';
import { loadConfig } from '../../server/config/index.ts';
import { createGateway } from '../../server/app.ts';
import type { Logger } from '../../server/log.ts';
import type { AuditEvent } from '../../server/audit/index.ts';
import { CONFIG_GROUPS, type ConfigKey, type ConfigurationView } from '../../shared/api/configuration.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { tempDir, type TestGateway } from '../helpers/gateway.ts';
import { api, code, mbHeader, passwordLogin, tapAudit, UA } from './factors-helpers.ts';
import { login } from './guard-helpers.ts';

/**
 * GET/POST {BaseUrl}/JellyfinSecurity/Configuration through the real gateway, started the way
 * server/main.ts starts it: a YAML file with comments, `${NAME}` references and secrets, and the
 * environment over it. Administrators only; a change needs a fresh proof (ChangeGatewaySettings);
 * a bad change is refused whole and the file's bytes stay as they were; a good one is written keeping the
 * comments, applied at once where the key allows it, and listed as waiting for a restart otherwise.
 */

const FILE_TEXT = `# Jellyguard — settings for the configuration test
Host: 127.0.0.1 # loopback only

# ── guard ──
MaxFailedAttempts: 7 # a bit more patient
TrustedProxyCIDRs:
  - 10.9.0.1/32 # the proxy
SMTP:
  Host: 127.0.0.1
  Port: 2525
  Username: mailer
  Password: \${SMTP_PASSWORD} # from the environment
  From: "Jellyfin <jf@example.org>"
MetricsToken: metrics-token-secret-1234567
OIDCProviders:
  - Name: Test IdP
    Id: test
    ClientID: jellyfin
    ClientSecret: oidc-client-secret-abcdef # rotate yearly
    Authority: https://idp.example.org
VapidSubject: \${VAPID_SUBJECT}
`;

const CONFIG = '/JellyfinSecurity/Configuration';
let jf: Emulator;
let gw: TestGateway;
let file: string;
let env: NodeJS.ProcessEnv;
let apiKey: string;
const clock = new ManualClock();
const audit: AuditEvent[] = [];
const logged: string[] = [];
let adminToken = '';
let adminSecret = '';
let aliceToken = '';

const SECRETS = () => [apiKey, 'smtp-password-secret-42', 'metrics-token-secret-1234567', 'oidc-client-secret-abcdef'];
const fileText = () => readFileSync(file, 'utf8');
const keyOf = (view: ConfigurationView, key: string): ConfigKey => view.keys.find((k) => k.key === key)!;

const collect: Logger = {
  debug: (m) => void logged.push(m),
  info: (m) => void logged.push(m),
  warn: (m) => void logged.push(m),
  error: (m, e) => void logged.push(`${m} ${e instanceof Error ? e.message : ''}`),
};

async function tokenOf(user: string, pw: string, deviceId: string): Promise<string> {
  const a = await passwordLogin(gw, user, pw, { deviceId });
  expect(a.status, a.text).toBe(200);
  return (a.json as { AccessToken: string }).AccessToken;
}

/** A POST with a raw body (for malformed and huge ones). */
async function postRaw(body: string, token = adminToken) {
  const res = await fetch(gw.url + CONFIG, {
    method: 'POST',
    headers: { 'user-agent': UA, authorization: mbHeader('web-device', token), 'content-type': 'application/json' },
    body,
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

/** A grant for ChangeGatewaySettings of these keys (the 401's target) from a fresh TOTP code. */
async function grant(target: string | null): Promise<string> {
  clock.advance(30_000);
  const r = await api(gw, 'POST', '/JellyfinSecurity/StepUp', {
    token: adminToken,
    body: { method: 'totp', action: 'ChangeGatewaySettings', target, code: await code(adminSecret, gw) },
  });
  expect(r.status, r.text).toBe(200);
  expect(r.json.status).toBe('granted');
  return r.json.grant as string;
}

beforeAll(async () => {
  jf = await startEmulator({
    users: [
      { name: 'admin', password: 'admin-pw', isAdministrator: true },
      { name: 'alice', password: 'alice-pw' },
      { name: 'carol', password: 'carol-pw' },
    ],
  });
  apiKey = jf.createApiKey('jellyguard');
  const dataDir = tempDir();
  file = path.join(dataDir, 'jellyguard.yaml');
  writeFileSync(file, FILE_TEXT, { mode: 0o600 });
  env = {
    JELLYGUARD_DATA_DIR: dataDir,
    JELLYGUARD_CONFIG: file,
    JELLYFIN_URL: jf.url,
    JELLYFIN_API_KEY: apiKey,
    JELLYGUARD_PORT: '0',
    SMTP_PASSWORD: 'smtp-password-secret-42',
    VAPID_SUBJECT: 'mailto:admin@example.org',
  };
  const loaded = loadConfig(env);
  const keys = { encryptionKey: randomBytes(32), hmacKey: randomBytes(32) };
  const gateway = await createGateway({ config: loaded.config, dataDir, keys, clock, log: collect, configOrigin: loaded.origin });
  const { port } = await gateway.listen(0, '127.0.0.1');
  gw = {
    url: `http://127.0.0.1:${port}`,
    port,
    gateway,
    dataDir,
    config: loaded.config,
    keys,
    stop: () => gateway.close(),
    async close() {
      await gateway.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  tapAudit(gw, audit);

  adminToken = await tokenOf('admin', 'admin-pw', 'admin-laptop');
  const enrollment = await api(gw, 'POST', '/JellyfinSecurity/Me/TOTP', { token: adminToken });
  expect(enrollment.status, enrollment.text).toBe(200);
  adminSecret = enrollment.json.secret;
  const confirm = await api(gw, 'POST', '/JellyfinSecurity/Me/TOTP/Confirm', { token: adminToken, body: { code: await code(adminSecret, gw) } });
  expect(confirm.status, confirm.text).toBe(200);
  aliceToken = await tokenOf('alice', 'alice-pw', 'alice-phone');
});

afterAll(async () => {
  await gw?.close();
  await jf?.close();
});

describe('who may read and change the settings', () => {
  it('nobody without a session (401), no user who is not an administrator (403)', async () => {
    expect((await api(gw, 'GET', CONFIG)).status).toBe(401);
    expect((await api(gw, 'POST', CONFIG, { body: { values: { MaxFailedAttempts: 3 } } })).status).toBe(401);
    const get = await api(gw, 'GET', CONFIG, { token: aliceToken });
    expect(get.status).toBe(403);
    expect(get.text).not.toContain('MaxFailedAttempts');
    expect((await api(gw, 'POST', CONFIG, { token: aliceToken, body: { values: { MaxFailedAttempts: 3 } } })).status).toBe(403);
    expect(fileText()).toBe(FILE_TEXT);
  });
});

describe('GET Configuration', () => {
  it('lists every key with its value, source, description and schema; secrets never leave', async () => {
    const r = await api(gw, 'GET', CONFIG, { token: adminToken });
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get('cache-control')).toMatch(/no-store/);
    const view = r.json as ConfigurationView;
    expect(view.file).toBe(file);
    expect(view.pendingRestart).toEqual([]);
    expect(view.keys.length).toBeGreaterThan(60);
    for (const k of view.keys) {
      expect(CONFIG_GROUPS, k.key).toContain(k.group);
      expect(k.description.length, k.key).toBeGreaterThan(10);
      expect(k.schema.description, k.key).toBe(k.description);
    }
    expect(keyOf(view, 'MaxFailedAttempts')).toMatchObject({
      value: 7,
      source: 'file',
      group: 'guard',
      readOnly: false,
      restartRequired: false,
      schema: { type: 'integer', minimum: 1, maximum: 1000, default: 5 },
    });
    expect(keyOf(view, 'LockoutDuration')).toMatchObject({ value: 900, source: 'default' });
    expect(keyOf(view, 'TrustedProxyCIDRs')).toMatchObject({ value: ['10.9.0.1/32'], source: 'file', restartRequired: true });
    expect(keyOf(view, 'TVPairingEnabled')).toMatchObject({ value: true, source: 'default', restartRequired: false });
    expect(keyOf(view, 'JellyfinUrl')).toMatchObject({ value: jf.url, source: 'environment', readOnly: true });
    expect(keyOf(view, 'JellyfinUrl').readOnlyReason).toContain('JELLYFIN_URL');
    expect(keyOf(view, 'Port')).toMatchObject({ value: 0, source: 'environment', readOnly: true });
    expect(keyOf(view, 'JellyfinApiKey')).toMatchObject({ value: null, secret: true, isSet: true, source: 'environment', readOnly: true });
    expect(keyOf(view, 'MetricsToken')).toMatchObject({ value: null, secret: true, isSet: true, source: 'file', readOnly: false });
    expect(keyOf(view, 'PublicUrl')).toMatchObject({ value: null, isSet: false, source: 'default' });
    expect(keyOf(view, 'VapidSubject')).toMatchObject({ value: 'mailto:admin@example.org', source: 'file', readOnly: true });
    expect(keyOf(view, 'VapidSubject').readOnlyReason).toContain('VAPID_SUBJECT');
    expect(keyOf(view, 'SMTP')).toMatchObject({ secretPaths: ['Password'], readOnly: false, value: { Host: '127.0.0.1', Port: 2525, Password: null } });
    expect(keyOf(view, 'OIDCProviders')).toMatchObject({ secretPaths: ['*.ClientSecret'], value: [{ Id: 'test', ClientSecret: null }] });
    for (const secret of SECRETS()) expect(r.text).not.toContain(secret);
  });
});

describe('POST Configuration', () => {
  it('without a proof: 401 step_up_required naming the action; nothing written', async () => {
    const r = await api(gw, 'POST', CONFIG, { token: adminToken, body: { values: { MaxFailedAttempts: 9 } } });
    expect(r.status, r.text).toBe(401);
    expect(r.json).toMatchObject({ error: 'step_up_required', action: 'ChangeGatewaySettings', target: 'MaxFailedAttempts', label: 'Change Jellyguard settings: MaxFailedAttempts', methods: expect.arrayContaining(['totp']) });
    expect(fileText()).toBe(FILE_TEXT);
  });


  it('refuses a bad value whole with a 400 naming the key, before any proof is asked; the file stays byte for byte', async () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['wrong type', { LockoutDuration: 60, MaxFailedAttempts: 'many' }, 'MaxFailedAttempts'],
      ['out of range', { MaxFailedAttempts: 100_000 }, 'MaxFailedAttempts'],
      ['unknown key', { MaxFailedAtempts: 3, LockoutDuration: 60 }, 'MaxFailedAtempts'],
      ['unicode key', { 'MäxFailedAttempts🔒': 3 }, 'MäxFailedAttempts🔒'],
      ['unicode in a string value', { BaseUrl: '/jellyfin-ü' }, 'BaseUrl'],
      ['wrong enum', { EnforcementScope: 'Everyone' }, 'EnforcementScope'],
      ['null for a required field', { SMTP: { Host: null, From: 'jf@example.org' } }, 'SMTP'],
      ['between keys', { HoldSeconds: 119, ApprovalSeconds: 60 }, 'HoldSeconds'],
      ['a provider without its secret', { OIDCProviders: [{ Name: 'New', Id: 'new', ClientID: 'x', Authority: 'https://new.example.org' }] }, 'OIDCProviders'],
    ];
    for (const [what, values, key] of cases) {
      const r = await api(gw, 'POST', CONFIG, { token: adminToken, body: { values } });
      expect(r.status, `${what}: ${r.text}`).toBe(400);
      expect(r.json.error, what).toBe('invalid_configuration');
      expect(r.json.detail.key, what).toBe(key);
      expect(r.json.message, what).toContain(key);
      expect(fileText(), what).toBe(FILE_TEXT);
    }
    const malformed = await postRaw('{"values": {"MaxFailedAttempts": 9');
    expect(malformed.status).toBe(400);
    expect(malformed.json.error).toBe('malformed_body');
    const huge = await postRaw(JSON.stringify({ values: { Host: 'h'.repeat(200_000) } }));
    expect(huge.status).toBe(413);
    const empty = await api(gw, 'POST', CONFIG, { token: adminToken, body: { values: {} } });
    expect(empty.status).toBe(400);
    expect(fileText()).toBe(FILE_TEXT);
    expect(audit.filter((e) => e.type === 'config.changed')).toEqual([]);
  });

  it('refuses a key set by the environment (or taken from it in the file) with 409 naming it', async () => {
    for (const [key, value] of [['JellyfinUrl', 'http://10.1.1.1:8096'], ['Port', 9000], ['JellyfinApiKey', null], ['VapidSubject', 'mailto:x@example.org']] as const) {
      const r = await api(gw, 'POST', CONFIG, { token: adminToken, body: { values: { [key]: value, MaxFailedAttempts: 8 } } });
      expect(r.status, r.text).toBe(409);
      expect(r.json).toMatchObject({ error: 'read_only_setting', detail: { key } });
      expect(r.json.message).toContain(key);
    }
    expect(fileText()).toBe(FILE_TEXT);
  });

  it('never sends a kept secret to a new destination: another Authority or mail Host needs the secret again (400, before any proof)', async () => {
    const moved = [
      { OIDCProviders: [{ Name: 'Test IdP', Id: 'test', ClientID: 'jellyfin', ClientSecret: null, Authority: 'https://thief.example' }] },
      { SMTP: { Host: 'thief.example', Port: 2525, Username: 'mailer', Password: null, From: 'Jellyfin <jf@example.org>' } },
    ];
    for (const values of moved) {
      const r = await api(gw, 'POST', CONFIG, { token: adminToken, body: { values } });
      expect(r.status, r.text).toBe(400);
      expect(r.json).toMatchObject({ error: 'invalid_configuration', detail: { key: Object.keys(values)[0] } });
      expect(r.json.message).toMatch(/enter (ClientSecret|Password) again/);
    }
    expect(fileText()).toBe(FILE_TEXT);
  });

  it('with a grant: saved keeping comments and order, live keys applied at once, the others wait for a restart', async () => {
    // Before: the TV pairing page is served.
    expect((await fetch(`${gw.url}/JellyfinSecurity/pair`)).status).toBe(200);
    const proof = await grant('MaxFailedAttempts, OIDCProviders, SMTP, TVPairingEnabled');
    const values = {
      MaxFailedAttempts: 2,
      TVPairingEnabled: false,
      // What the console sends back: the secret field as it was shown (null) keeps its value.
      SMTP: { Host: '127.0.0.1', Port: 2526, Username: 'mailer', Password: null, From: 'Jellyfin <jf@example.org>' },
      OIDCProviders: [{ Name: 'Test IdP', Id: 'test', ClientID: 'jellyfin', ClientSecret: null, Authority: 'https://idp.example.org', ButtonText: 'Sign in with the IdP' }],
    };
    const r = await api(gw, 'POST', CONFIG, { token: adminToken, stepUp: proof, body: { values } });
    expect(r.status, r.text).toBe(200);
    expect(r.json.applied).toEqual(['MaxFailedAttempts', 'TVPairingEnabled']);
    expect([...r.json.restartRequired].sort()).toEqual(['OIDCProviders', 'SMTP']);
    expect([...r.json.view.pendingRestart].sort()).toEqual(['OIDCProviders', 'SMTP']);
    expect(keyOf(r.json.view, 'MaxFailedAttempts')).toMatchObject({ value: 2, source: 'file' });
    expect(keyOf(r.json.view, 'TVPairingEnabled')).toMatchObject({ value: false, source: 'file' });
    expect(keyOf(r.json.view, 'SMTP')).toMatchObject({ value: { Port: 2526, Password: null } });
    for (const secret of SECRETS()) expect(r.text).not.toContain(secret);

    expect(fileText()).toBe(
      FILE_TEXT.replace('MaxFailedAttempts: 7', 'MaxFailedAttempts: 2')
        .replace('  Port: 2525', '  Port: 2526')
        .replace('    Authority: https://idp.example.org\n', '    Authority: https://idp.example.org\n    ButtonText: Sign in with the IdP\n') +
        'TVPairingEnabled: false\n',
    );
    expect(statSync(file).mode & 0o777).toBe(0o600);

    // The live keys took effect on the running gateway: the TV pairing page is gone, and an address is
    // banned after two wrong passwords (the file said 7).
    expect((await fetch(`${gw.url}/JellyfinSecurity/pair`)).status).toBe(404);
    const from = '127.0.0.50';
    for (let i = 0; i < 2; i++) expect((await login(gw.url, 'carol', `guess-${i}`, { from })).status).toBe(401);
    expect((await login(gw.url, 'carol', 'carol-pw', { from })).status).toBe(429);
    // The others did not: the running gateway still has its providers as they were.
    expect(gw.gateway.config.OIDCProviders[0]!.ButtonText).toBeUndefined();

    // The next start reads the change, with the kept secrets.
    const next = loadConfig(env).config;
    expect(next.MaxFailedAttempts).toBe(2);
    expect(next.SMTP?.Password).toBe('smtp-password-secret-42');
    expect(next.OIDCProviders[0]).toMatchObject({ ClientSecret: 'oidc-client-secret-abcdef', ButtonText: 'Sign in with the IdP' });
    expect(audit.some((e) => e.type === 'stepup.used' && e.detail?.action === 'ChangeGatewaySettings')).toBe(true);
  });

  it('null removes a key from the file: a secret is gone, back to its default', async () => {
    const r = await api(gw, 'POST', CONFIG, { token: adminToken, stepUp: await grant('MetricsToken'), body: { values: { MetricsToken: null } } });
    expect(r.status, r.text).toBe(200);
    expect(r.json.restartRequired).toEqual(['MetricsToken']);
    expect(keyOf(r.json.view, 'MetricsToken')).toMatchObject({ value: null, isSet: false, source: 'default' });
    expect(fileText()).not.toContain('MetricsToken');
    expect(fileText()).toContain('# rotate yearly');
  });

  it('writes one change at a time: two at once both land', async () => {
    const [a, b] = [await grant('ReportsBeforeHold'), await grant('PairingCodeExpiration')];
    const [ra, rb] = await Promise.all([
      api(gw, 'POST', CONFIG, { token: adminToken, stepUp: a, body: { values: { ReportsBeforeHold: 5 } } }),
      api(gw, 'POST', CONFIG, { token: adminToken, stepUp: b, body: { values: { PairingCodeExpiration: 600 } } }),
    ]);
    expect([ra.status, rb.status]).toEqual([200, 200]);
    expect(fileText()).toContain('ReportsBeforeHold: 5\n');
    expect(fileText()).toContain('PairingCodeExpiration: 600\n');
    expect(gw.gateway.config.PairingCodeExpiration).toBe(600); // live
  });

  it('is audited as config.changed with the key names, never a secret; the log has none either', () => {
    const changed = audit.filter((e) => e.type === 'config.changed');
    expect(changed.length).toBe(4);
    expect(changed[0]).toMatchObject({ outcome: 'success', userId: jf.user('admin').id, userName: 'admin', detail: { applied: ['MaxFailedAttempts', 'TVPairingEnabled'] } });
    expect(changed[0]!.detail!.keys).toEqual(['MaxFailedAttempts', 'TVPairingEnabled', 'SMTP', 'OIDCProviders']);
    const everything = JSON.stringify(audit) + logged.join('\n');
    for (const secret of SECRETS()) expect(everything).not.toContain(secret);
  });

  it('a proof names the keys it changes: one given for MaxFailedAttempts cannot lower StepUpLevel', async () => {
    const proof = await grant('MaxFailedAttempts');
    const r = await api(gw, 'POST', CONFIG, { token: adminToken, stepUp: proof, body: { values: { StepUpLevel: 'None' } } });
    expect(r.status, r.text).toBe(403);
    expect(r.json.error).toBe('step_up_invalid');
    expect(gw.gateway.config.StepUpLevel).toBe('AdminActions');
  });
});
