import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../server/config/index.ts';
import type { ConfigInput } from '../../server/config/schema.ts';
import { runChecks, type Finding } from '../../server/doctor/index.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { tempDir } from '../helpers/gateway.ts';
import { buildMmdb, cityRecord } from '../helpers/mmdb.ts';

/**
 * `jellyguard doctor`: every check against a Jellyfin emulator (and an SMTP server, a GeoIP file, a data
 * directory) first set up right, then set up to fail that one check.
 */
let jf: Emulator;
let apiKey: string;
let clockOffsetMs = 0;
let smtp: SMTPServer;
let smtpPort: number;
let dataDir: string;
let freshGeo: string;
let staleGeo: string;

const SMTP_USER = 'jellyguard@home.test';
const SMTP_PASSWORD = 'right-password';

beforeAll(async () => {
  jf = await startEmulator({
    users: [
      { name: 'admin', password: 'admin-pw', isAdministrator: true },
      { name: 'alice', password: 'alice-pw' },
    ],
    now: () => Date.now() + clockOffsetMs,
  });
  apiKey = jf.createApiKey('jellyguard');
  // An SMTP server that wants a login, as a mail provider does.
  smtp = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === SMTP_USER && auth.password === SMTP_PASSWORD) cb(null, { user: auth.username });
      else cb(new Error('Invalid username or password'));
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', () => resolve()));
  smtpPort = (smtp.server.address() as AddressInfo).port;
  dataDir = tempDir('jellyguard-doctor-');
  const net = [{ cidr: '203.0.113.0/24', data: cityRecord('Berlin', 'DE', 52.52, 13.4) }];
  freshGeo = path.join(dataDir, 'fresh.mmdb');
  writeFileSync(freshGeo, buildMmdb(net, { buildEpoch: new Date(Date.now() - 5 * 86_400_000) }));
  staleGeo = path.join(dataDir, 'stale.mmdb');
  writeFileSync(staleGeo, buildMmdb(net, { buildEpoch: new Date(Date.now() - 200 * 86_400_000) }));
});

afterAll(async () => {
  await jf?.close();
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
});

/** The deployment as it should be: every check passes. */
function goodSetup(): void {
  clockOffsetMs = 0;
  jf.quickConnectEnabled = true;
  jf.network.KnownProxies = ['127.0.0.1'];
  jf.network.LocalNetworkAddresses = ['127.0.0.1'];
  jf.network.PublishedServerUriBySubnet = [];
  jf.network.AutoDiscovery = false;
  for (const name of ['admin', 'alice']) jf.user(name).loginAttemptsBeforeLockout = -1;
}

function config(over: Partial<ConfigInput> = {}): Config {
  return parseConfig({
    JellyfinUrl: jf.url,
    JellyfinApiKey: apiKey,
    PublicUrl: 'https://jellyfin.home.test',
    VapidSubject: 'mailto:admin@home.test',
    EmailOTPEnabled: true,
    SMTP: { Host: '127.0.0.1', Port: smtpPort, Username: SMTP_USER, Password: SMTP_PASSWORD, From: 'Jellyfin <jf@home.test>' },
    GeoIPDatabasePath: freshGeo,
    ImpossibleTravelEnabled: true,
    ...over,
  });
}

async function doctor(over: Partial<ConfigInput> = {}, dir = dataDir): Promise<Record<string, Finding>> {
  const findings = await runChecks({ config: config(over), dataDir: dir, now: () => Date.now(), timeoutMs: 5000 });
  return Object.fromEntries(findings.map((f) => [f.id, f]));
}

beforeEach(goodSetup);

describe('jellyguard doctor', () => {
  it('passes every check on a deployment done right', async () => {
    const f = await doctor();
    for (const finding of Object.values(f)) expect({ id: finding.id, status: finding.status, detail: finding.detail }).toMatchObject({ status: 'ok' });
    expect(f['jellyfin']!.detail).toContain('10.11.11');
    expect(Object.keys(f)).toEqual(['data-dir', 'jellyfin', 'api-key', 'quick-connect', 'known-proxies', 'lockout', 'bypass', 'public-url', 'vapid', 'smtp', 'geoip', 'clock']);
  });

  it('data directory: a file where a directory should be', async () => {
    const file = path.join(dataDir, 'not-a-dir');
    writeFileSync(file, 'x');
    const f = await doctor({}, path.join(file, 'data'));
    expect(f['data-dir']).toMatchObject({ status: 'fail' });
    expect(f['data-dir']!.detail).toContain(path.join(file, 'data'));
    expect(f['data-dir']!.detail).toContain('ENOTDIR');
  });

  it('Jellyfin unreachable: fails, and the checks that need it are skipped', async () => {
    const f = await doctor({ JellyfinUrl: 'http://127.0.0.1:9' });
    expect(f['jellyfin']).toMatchObject({ status: 'fail' });
    expect(f['jellyfin']!.fix).toMatch(/JELLYFIN_URL/);
    for (const id of ['api-key', 'quick-connect', 'known-proxies', 'lockout', 'bypass', 'clock']) expect(f[id]!.status).toBe('skip');
  });

  it('API key: missing, invalid, or a user\'s session token', async () => {
    expect((await doctor({ JellyfinApiKey: undefined }))['api-key']).toMatchObject({ status: 'warn' });
    const invalid = (await doctor({ JellyfinApiKey: 'f'.repeat(32) }))['api-key']!;
    expect(invalid).toMatchObject({ status: 'fail' });
    expect(invalid.detail).toMatch(/refuses/);
    const session = jf.loginDirect('admin', 'admin-pw');
    const token = (await doctor({ JellyfinApiKey: session }))['api-key']!;
    expect(token).toMatchObject({ status: 'fail' });
    expect(token.detail).toMatch(/session token/);
    expect(JSON.stringify(token)).not.toContain(session);
  });

  it('Quick Connect off', async () => {
    jf.quickConnectEnabled = false;
    const f = await doctor();
    expect(f['quick-connect']).toMatchObject({ status: 'warn' });
    expect(f['quick-connect']!.fix).toMatch(/Quick Connect/);
  });

  it('the gateway missing from Known proxies (and found by network or host name)', async () => {
    jf.network.KnownProxies = ['10.0.0.5'];
    const f = await doctor();
    expect(f['known-proxies']).toMatchObject({ status: 'fail' });
    expect(f['known-proxies']!.fix).toContain('add 127.0.0.1');
    jf.network.KnownProxies = ['127.0.0.0/8'];
    expect((await doctor())['known-proxies']!.status).toBe('ok');
    jf.network.KnownProxies = ['localhost'];
    expect((await doctor())['known-proxies']!.status).toBe('ok');
  });

  it("Jellyfin's lockout at or below MaxFailedAttempts fails; below PermanentBanThreshold warns", async () => {
    jf.user('alice').loginAttemptsBeforeLockout = 3;
    const f = await doctor({ MaxFailedAttempts: 5 });
    expect(f['lockout']).toMatchObject({ status: 'fail' });
    expect(f['lockout']!.detail).toContain('alice (3)');
    jf.user('alice').loginAttemptsBeforeLockout = 10;
    const g = await doctor({ MaxFailedAttempts: 5, PermanentBanThreshold: 20 });
    expect(g['lockout']).toMatchObject({ status: 'warn' });
    expect((await doctor({ MaxFailedAttempts: 5, PermanentBanThreshold: 8 }))['lockout']!.status).toBe('ok');
    expect((await doctor({ BruteForceEnabled: false }))['lockout']!.status).toBe('warn');
  });

  it('ways around the gateway: Jellyfin on every interface, a published Jellyfin address, auto discovery', async () => {
    jf.network.LocalNetworkAddresses = [];
    let f = await doctor();
    expect(f['bypass']).toMatchObject({ status: 'fail' });
    expect(f['bypass']!.detail).toMatch(/every network interface/);
    expect(f['bypass']!.fix).toMatch(/Bind to local network address/);

    goodSetup();
    jf.network.PublishedServerUriBySubnet = ['all=http://192.168.1.10:8096'];
    f = await doctor();
    expect(f['bypass']).toMatchObject({ status: 'fail' });
    expect(f['bypass']!.detail).toContain('http://192.168.1.10:8096');

    goodSetup();
    jf.network.PublishedServerUriBySubnet = ['all=https://jellyfin.home.test'];
    expect((await doctor())['bypass']!.status).toBe('ok');

    goodSetup();
    jf.network.AutoDiscovery = true;
    f = await doctor();
    expect(f['bypass']).toMatchObject({ status: 'warn' });
    expect(f['bypass']!.detail).toMatch(/auto-discovery/);
  });

  it('PublicUrl: missing warns, plain http fails (no passkeys, no push)', async () => {
    expect((await doctor({ PublicUrl: undefined }))['public-url']!.status).toBe('warn');
    const f = await doctor({ PublicUrl: 'http://jellyfin.home.test' });
    expect(f['public-url']).toMatchObject({ status: 'fail' });
    expect(f['public-url']!.detail).toMatch(/https/);
    expect((await doctor({ PublicUrl: 'http://localhost:8097' }))['public-url']!.status).toBe('ok');
  });

  it('VAPID subject: the placeholder, or a contact that is not real', async () => {
    const f = await doctor({ VapidSubject: undefined, PublicUrl: 'http://localhost:8097' });
    expect(f['vapid']).toMatchObject({ status: 'warn' });
    expect(f['vapid']!.detail).toMatch(/placeholder/);
    expect((await doctor({ VapidSubject: 'mailto:me@example.com' }))['vapid']!.status).toBe('warn');
    expect((await doctor({ VapidSubject: undefined }))['vapid']!.status).toBe('ok'); // the https PublicUrl
  });

  it('SMTP: a wrong password, no server, no SMTP while e-mail codes are on', async () => {
    const smtpCfg = { Host: '127.0.0.1', Port: smtpPort, Username: SMTP_USER, Password: 'wrong', From: 'x <x@home.test>' };
    const f = await doctor({ SMTP: smtpCfg });
    expect(f['smtp']).toMatchObject({ status: 'fail' });
    expect(f['smtp']!.detail).toMatch(/EAUTH/);
    expect(f['smtp']!.fix).toMatch(/SMTP.Password/);
    expect(JSON.stringify(f['smtp'])).not.toContain('wrong');
    expect((await doctor({ SMTP: { ...smtpCfg, Port: 9 } }))['smtp']!.status).toBe('fail');
    expect((await doctor({ SMTP: undefined }))['smtp']!.status).toBe('fail');
    expect((await doctor({ SMTP: undefined, EmailOTPEnabled: false }))['smtp']!.status).toBe('skip');
  });

  it('GeoIP database: old, missing, or not configured while impossible travel is on', async () => {
    const old = await doctor({ GeoIPDatabasePath: staleGeo });
    expect(old['geoip']).toMatchObject({ status: 'warn' });
    expect(old['geoip']!.detail).toMatch(/20\d days ago/);
    expect((await doctor({ GeoIPDatabasePath: path.join(dataDir, 'nope.mmdb') }))['geoip']!.status).toBe('fail');
    expect((await doctor({ GeoIPDatabasePath: undefined }))['geoip']!.status).toBe('fail');
    expect((await doctor({ GeoIPDatabasePath: undefined, ImpossibleTravelEnabled: false }))['geoip']!.status).toBe('skip');
  });

  it("clock: Jellyfin's Date two minutes away fails, ten seconds warns", async () => {
    clockOffsetMs = 120_000;
    const f = await doctor();
    expect(f['clock']).toMatchObject({ status: 'fail' });
    expect(f['clock']!.detail).toMatch(/behind/);
    clockOffsetMs = -10_000;
    const g = await doctor();
    expect(g['clock']).toMatchObject({ status: 'warn' });
    expect(g['clock']!.detail).toMatch(/ahead of/);
  });

  it('as a command: prints each finding with its fix and exits 1 when something is unsafe', async () => {
    jf.network.KnownProxies = [];
    const dir = tempDir('jellyguard-doctor-cli-');
    // Asynchronously: the emulator answering it runs in this process.
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/cli.ts', 'doctor'], {
      env: { ...process.env, JELLYGUARD_DATA_DIR: dir, JELLYFIN_URL: jf.url, JELLYFIN_API_KEY: apiKey, JELLYGUARD_CONFIG: '' },
    });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    const status = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const run = { status, stdout };
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(/\[ FAIL\] Gateway in Known proxies/);
    expect(run.stdout).toMatch(/fix: Jellyfin Dashboard → Networking → Known proxies: add 127\.0\.0\.1/);
    expect(run.stdout).toMatch(/\[  ok \] Jellyfin reachable: Jellyfin 10\.11\.11/);
    expect(run.stdout).not.toContain(apiKey);
  });
});
