import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/clock.ts';
import { keyedHash } from '../../server/crypto.ts';
import { totpCodeAt } from '../../server/factors/totp.ts';
import type { AuditEvent } from '../../server/audit/index.ts';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { login, passwordGrant, send, tapAudit, variantsOf, type Answer } from './stepup-admin-helpers.ts';

/**
 * Step-up for administrator actions through Jellyfin's own API (server/stepup/admin-actions.ts), behind a
 * BaseUrl: a verified administrator session (root, an account with no second factor, so it proves itself
 * with its password) can do none of the listed actions, in any spelling of the path, without a fresh
 * proof of THIS session for THIS action and target — and the emulator's counters show nothing was
 * forwarded. With one, the request is forwarded once. Real gateway, real SQLite, the Jellyfin emulator.
 */
const BASE = '/jellyfin';
let jf: Emulator;
let gw: TestGateway;
let clock: ManualClock;
let audit: AuditEvent[];
let root = '';
let apiKey = '';
const ROOT_PW = 'root-pw';
const id = (name: string) => jf.user(name).id;
const asRoot = (method: string, path: string, opts: { body?: unknown; stepUp?: string; token?: string; deviceId?: string } = {}) =>
  send(gw.url, method, BASE + path, { token: opts.token ?? root, deviceId: opts.deviceId ?? 'root-web', body: opts.body, stepUp: opts.stepUp });
const grant = (action: string, target: string | null, token = root, deviceId = 'root-web') => passwordGrant(gw, BASE, token, deviceId, ROOT_PW, action, target);

/** A full UserPolicy as the dashboard sends it. */
const policy = (over: Record<string, unknown> = {}) => ({
  IsAdministrator: false,
  IsHidden: true,
  IsDisabled: false,
  EnableAllFolders: true,
  AuthenticationProviderId: 'Jellyfin.Server.Implementations.Users.DefaultAuthenticationProvider',
  PasswordResetProviderId: 'Jellyfin.Server.Implementations.Users.DefaultPasswordResetProvider',
  ...over,
});

interface Case {
  name: string;
  method: string;
  /** Without the BaseUrl. */
  path: () => string;
  body?: () => unknown;
  /** The emulator's route (method + template) the request reaches. */
  reaches: string;
  action: string;
  label: string | RegExp;
  target: () => string | null;
  /** What Jellyfin answers once the proof is given. */
  status: number;
  after?: () => void;
}

const CASES: Case[] = [
  { name: 'server settings', method: 'POST', path: () => '/System/Configuration', body: () => ({ ...jf.admin.server, ServerName: 'changed' }), reaches: 'POST System/Configuration', action: 'ChangeServerSettings', label: 'Change server settings', target: () => null, status: 204, after: () => expect(jf.admin.server.ServerName).toBe('changed') },
  { name: 'network settings', method: 'POST', path: () => '/System/Configuration/network', body: () => ({ ...jf.network, KnownProxies: ['10.9.9.9'] }), reaches: 'POST System/Configuration/{key}', action: 'ChangeNetworkSettings', label: 'Change network settings', target: () => null, status: 204, after: () => expect(jf.network.KnownProxies).toEqual(['10.9.9.9']) },
  { name: 'create a user', method: 'POST', path: () => '/Users/New', body: () => ({ Name: 'mallory', Password: 'x' }), reaches: 'POST Users/New', action: 'CreateUser', label: 'Create user mallory', target: () => 'mallory', status: 200, after: () => expect(jf.user('mallory').isAdministrator).toBe(false) },
  { name: 'delete a user', method: 'DELETE', path: () => `/Users/${id('carl')}`, reaches: 'DELETE Users/{userId}', action: 'DeleteUser', label: 'Delete user carl', target: () => id('carl'), status: 204, after: () => expect(() => jf.user('carl')).toThrow() },
  { name: 'make an administrator', method: 'POST', path: () => `/Users/${id('bob')}/Policy`, body: () => policy({ IsAdministrator: true }), reaches: 'POST Users/{userId}/Policy', action: 'MakeAdministrator', label: 'Make bob an administrator', target: () => id('bob'), status: 204, after: () => expect(jf.user('bob').isAdministrator).toBe(true) },
  { name: "another user's password", method: 'POST', path: () => `/Users/${id('dan')}/Password`, body: () => ({ NewPw: 'owned' }), reaches: 'POST Users/{userId}/Password', action: 'ChangeUserPassword', label: 'Change dan’s password', target: () => id('dan'), status: 204 },
  { name: "reset another user's password", method: 'POST', path: () => `/Users/Password?userId=${id('dan')}`, body: () => ({ ResetPassword: true }), reaches: 'POST Users/Password', action: 'ResetUserPassword', label: 'Reset dan’s password', target: () => id('dan'), status: 204 },
  { name: 'create an API key', method: 'POST', path: () => '/Auth/Keys?app=Thief', reaches: 'POST Auth/Keys', action: 'CreateApiKey', label: 'Create an API key “Thief”', target: () => 'Thief', status: 204 },
  { name: 'revoke an API key', method: 'DELETE', path: () => `/Auth/Keys/${apiKey}`, reaches: 'DELETE Auth/Keys/{key}', action: 'RevokeApiKey', label: 'Revoke the API key “Sonarr”', target: () => fingerprint(apiKey), status: 204 },
  { name: 'install a plugin', method: 'POST', path: () => '/Packages/Installed/Playback%20Reporting?version=17.0.0.0', reaches: 'POST Packages/Installed/{name}', action: 'InstallPlugin', label: 'Install plugin Playback Reporting 17.0.0.0', target: () => 'Playback Reporting 17.0.0.0', status: 204, after: () => expect(jf.admin.installed).toEqual(['Playback Reporting 17.0.0.0']) },
  { name: 'shut down', method: 'POST', path: () => '/System/Shutdown', reaches: 'POST System/Shutdown', action: 'ShutdownServer', label: 'Shut down the server', target: () => null, status: 204, after: () => expect(jf.admin.shutdowns).toBe(1) },
  { name: 'restart', method: 'POST', path: () => '/System/Restart', reaches: 'POST System/Restart', action: 'RestartServer', label: 'Restart the server', target: () => null, status: 204 },
  { name: 'restore a backup', method: 'POST', path: () => '/Backup/Restore', body: () => ({ ArchiveFileName: 'jellyfin-backup-20260101000000.zip' }), reaches: 'POST Backup/Restore', action: 'RestoreBackup', label: 'Restore backup jellyfin-backup-20260101000000.zip and restart the server', target: () => 'jellyfin-backup-20260101000000.zip', status: 204 },
  { name: 'add a library', method: 'POST', path: () => '/Library/VirtualFolders?name=Stolen&collectionType=movies&paths=/etc', reaches: 'POST Library/VirtualFolders', action: 'AddLibrary', label: 'Add library Stolen', target: () => 'Stolen', status: 204, after: () => expect(jf.admin.libraries.map((l) => l.Name)).toContain('Stolen') },
];

/** An API key is named by its fingerprint, never in the clear (server/stepup/admin-gate.ts). */
const fingerprint = (key: string) => keyedHash(gw.keys.hmacKey, 'stepup-apikey', key.toLowerCase()).slice(0, 16);

beforeAll(async () => {
  clock = new ManualClock();
  jf = await startEmulator({
    baseUrl: BASE,
    users: [
      { name: 'root', password: ROOT_PW, isAdministrator: true },
      { name: 'alice', password: 'alice-pw' },
      { name: 'bob', password: 'bob-pw' },
      { name: 'carl', password: 'carl-pw' },
      { name: 'dan', password: 'dan-pw' },
    ],
  });
  gw = await startGateway({ upstreamUrl: new URL(jf.url).origin, clock, config: { BaseUrl: BASE, JellyfinApiKey: jf.createApiKey('jellyguard') } });
  audit = tapAudit(gw);
  apiKey = jf.createApiKey('Sonarr');
  root = await login(gw, BASE, 'root', ROOT_PW, 'root-web');
}, 30_000);

afterAll(async () => {
  await gw?.close();
  await jf?.close();
});

function expectStepUp(r: Answer, c: Case, where: string): void {
  expect(r.status, `${where}: ${r.text}`).toBe(401);
  expect(r.headers['cache-control'], where).toBe('no-store');
  expect(r.json, where).toMatchObject({ error: 'step_up_required', action: c.action, methods: ['password'] });
  // A name taken from the path keeps the case the client wrote (another spelling, another target).
  expect(String(r.json.target).toLowerCase(), where).toBe(String(c.target()).toLowerCase());
  if (typeof c.label === 'string') expect(r.json.label.toLowerCase(), where).toBe(c.label.toLowerCase());
  else expect(r.json.label, where).toMatch(c.label);
  expect(r.json.message, where).toContain(r.json.label);
}

describe('administrator actions without a proof', () => {
  it('each listed endpoint, in every spelling Jellyfin routes, answers 401 naming the action and the methods — and nothing reaches Jellyfin', async () => {
    for (const c of CASES) {
      let routed = 0;
      for (const path of variantsOf(BASE, c.path())) {
        // Does Jellyfin route this spelling to the action? (With no token: it is counted, then refused.)
        const before = jf.reached(c.reaches);
        await send(new URL(jf.url).origin, c.method, path, { body: c.body?.() });
        const isRoute = jf.reached(c.reaches) === before + 1;
        const r = await send(gw.url, c.method, path, { token: root, deviceId: 'root-web', body: c.body?.() });
        expect(jf.reached(c.reaches), `${c.name}: ${c.method} ${path} was forwarded`).toBe(before + (isRoute ? 1 : 0));
        if (isRoute && path.includes(';')) {
          // Routed to the same action with another parameter (a key or an id Jellyfin cannot bind): still asked.
          expect(r.status, `${c.method} ${path}`).toBe(401);
          expect(r.json.error).toBe('step_up_required');
        } else if (isRoute) {
          routed++;
          expectStepUp(r, c, `${c.name}: ${c.method} ${path}`);
        } else {
          expect(r.status, `${c.method} ${path}`).not.toBeLessThan(400);
        }
      }
      expect(routed, c.name).toBeGreaterThanOrEqual(9);
    }
    // Nothing changed at Jellyfin.
    expect(jf.user('bob').isAdministrator).toBe(false);
    expect(jf.admin.installed).toEqual([]);
    expect(jf.admin.shutdowns).toBe(0);
    expect(jf.admin.restores).toEqual([]);
    // Every refusal is audited, with the label.
    const refused = audit.filter((e) => e.type === 'stepup.required');
    expect(refused.some((e) => e.detail?.action === 'MakeAdministrator' && e.detail?.label === 'Make bob an administrator')).toBe(true);
  }, 120_000);

  it('a malformed or oversized body of a body-reading action is refused before Jellyfin sees it', async () => {
    const before = jf.reached('POST Users/{userId}/Policy');
    const bad = await send(gw.url, 'POST', `${BASE}/Users/${id('bob')}/Policy`, { token: root, deviceId: 'root-web', rawBody: '{"IsAdministrator": tru' });
    expect(bad.status).toBe(400);
    const big = await send(gw.url, 'POST', `${BASE}/Users/${id('bob')}/Policy`, { token: root, deviceId: 'root-web', rawBody: JSON.stringify(policy({ BlockedTags: ['x'.repeat(1024 * 1024)] })) });
    expect(big.status).toBe(413);
    expect(big.json.message).toMatch(/limited to 1048576 bytes/);
    expect(jf.reached('POST Users/{userId}/Policy')).toBe(before);
  });
});

describe('administrator actions with a proof', () => {
  it('each is forwarded exactly once with a grant for this session, action and target (the proof never reaches Jellyfin)', async () => {
    for (const c of CASES) {
      const first = await asRoot(c.method, c.path(), { body: c.body?.() });
      expectStepUp(first, c, c.name);
      expect(first.json.target, c.name).toBe(c.target());
      if (typeof c.label === 'string') expect(first.json.label, c.name).toBe(c.label);
      const g = await grant(c.action, c.target());
      const before = jf.reached(c.reaches);
      const r = await asRoot(c.method, c.path(), { body: c.body?.(), stepUp: g });
      expect(r.status, `${c.name}: ${r.text}`).toBe(c.status);
      expect(jf.reached(c.reaches), c.name).toBe(before + 1);
      expect(jf.requests.at(-1)!.headers['x-jellyguard-stepup'], c.name).toBeUndefined();
      c.after?.();
    }
    const used = audit.filter((e) => e.type === 'stepup.used').map((e) => e.detail?.action);
    for (const c of CASES) expect(used).toContain(c.action);
  }, 60_000);

  it('a single-use grant is spent by its first use; a replay is refused and not forwarded', async () => {
    const g = await grant('CreateApiKey', 'Once');
    expect((await asRoot('POST', '/Auth/Keys?app=Once', { stepUp: g })).status).toBe(204);
    const before = jf.reached('POST Auth/Keys');
    const replay = await asRoot('POST', '/Auth/Keys?app=Once', { stepUp: g });
    expect(replay.status).toBe(403);
    expect(replay.json.error).toBe('step_up_used');
    expect(jf.reached('POST Auth/Keys')).toBe(before);
  });

  it('any other grant serves the same session, action and target again within StepUpWindowSeconds, then expires', async () => {
    const g = await grant('ChangeServerSettings', null);
    const body = { ...jf.admin.server, ServerName: 'first' };
    expect((await asRoot('POST', '/System/Configuration', { body, stepUp: g })).status).toBe(204);
    clock.advance(200_000);
    expect((await asRoot('POST', '/System/Configuration', { body: { ...body, ServerName: 'second' }, stepUp: g })).status).toBe(204);
    expect(jf.admin.server.ServerName).toBe('second');
    clock.advance(101_000); // 301 s after the grant
    const late = await asRoot('POST', '/System/Configuration', { body, stepUp: g });
    expect(late.status).toBe(403);
    expect(late.json.error).toBe('step_up_expired');
    expect(jf.admin.server.ServerName).toBe('second');
  });

  it('a grant of another session, for another action or for another target is refused, and nothing is forwarded', async () => {
    const other = await login(gw, BASE, 'root', ROOT_PW, 'root-laptop');
    const g = await grant('ChangeServerSettings', null, other, 'root-laptop');
    const before = jf.reached('POST System/Configuration');
    const stolen = await asRoot('POST', '/System/Configuration', { body: jf.admin.server, stepUp: g });
    expect(stolen.status).toBe(403);
    expect(stolen.json.error).toBe('step_up_invalid');
    // Its own session, but another action.
    const shutdowns = jf.admin.shutdowns;
    const elsewhere = await send(gw.url, 'POST', `${BASE}/System/Shutdown`, { token: other, deviceId: 'root-laptop', stepUp: g });
    expect(elsewhere.status).toBe(403);
    expect(jf.admin.shutdowns).toBe(shutdowns);
    expect(jf.reached('POST System/Configuration')).toBe(before);
    // Another target: a grant to delete one user never deletes another.
    const eve = jf.addUser('eve', 'eve-pw');
    const frank = jf.addUser('frank', 'frank-pw');
    const forEve = await grant('DeleteUser', eve.id);
    const wrong = await asRoot('DELETE', `/Users/${frank.id}`, { stepUp: forEve });
    expect(wrong.status).toBe(403);
    expect(wrong.json.error).toBe('step_up_invalid');
    expect(jf.user('frank').id).toBe(frank.id);
    expect(audit.filter((e) => e.type === 'stepup.failure').map((e) => e.detail?.reason)).toEqual(expect.arrayContaining(['other_session', 'other_action']));
  });

  it('a dashboard "Create user" (the user, then its policy) takes one proof — unless the policy makes an administrator', async () => {
    const g = await grant('CreateUser', 'grace');
    const created = await asRoot('POST', '/Users/New', { body: { Name: 'grace', Password: 'g' }, stepUp: g });
    expect(created.status, created.text).toBe(200);
    const graceId = created.json.Id as string;
    const follow = await asRoot('POST', `/Users/${graceId}/Policy`, { body: policy({ EnableAllFolders: false }) });
    expect(follow.status, follow.text).toBe(204);
    // Once: the next change of her policy asks again.
    const again = await asRoot('POST', `/Users/${graceId}/Policy`, { body: policy() });
    expect(again.status).toBe(401);
    // A new user made an administrator right away is asked for (single use), even by the session that made her.
    const h = await grant('CreateUser', 'heidi');
    const heidi = await asRoot('POST', '/Users/New', { body: { Name: 'heidi', Password: 'h' }, stepUp: h });
    const admin = await asRoot('POST', `/Users/${heidi.json.Id}/Policy`, { body: policy({ IsAdministrator: true }) });
    expect(admin.status).toBe(401);
    expect(admin.json).toMatchObject({ action: 'MakeAdministrator', label: 'Make heidi an administrator' });
    expect(jf.user('heidi').isAdministrator).toBe(false);
  });

  it('removing admin rights and disabling a user are named as such', async () => {
    const ivan = jf.addUser('ivan', 'ivan-pw', true);
    const demote = await asRoot('POST', `/Users/${ivan.id}/Policy`, { body: policy({ IsAdministrator: false }) });
    expect(demote.json).toMatchObject({ action: 'RemoveAdministrator', label: 'Remove ivan’s administrator rights' });
    const judy = jf.addUser('judy', 'judy-pw');
    const disable = await asRoot('POST', `/Users/${judy.id}/Policy`, { body: policy({ IsDisabled: true }) });
    expect(disable.json).toMatchObject({ action: 'DisableUser', label: 'Disable user judy' });
    // Property names as ASP.NET binds them: case-insensitive, the last one wins.
    const sneaky = await asRoot('POST', `/Users/${judy.id}/Policy`, { body: { ...policy(), isadministrator: true } });
    expect(sneaky.json.action).toBe('MakeAdministrator');
  });
});

describe('who is asked', () => {
  it('never a read: GET /System/Info, GET /Users/{id}, GET /System/Configuration pass untouched', async () => {
    for (const path of ['/System/Info', `/Users/${id('root')}`, '/System/Configuration', '/System/Configuration/network']) {
      const r = await asRoot('GET', path);
      expect(r.status, path).toBe(200);
    }
  });

  it('a user’s own password is not an administrator action', async () => {
    const alice = await login(gw, BASE, 'alice', 'alice-pw', 'alice-web');
    const r = await send(gw.url, 'POST', `${BASE}/Users/${id('alice')}/Password`, { token: alice, deviceId: 'alice-web', body: { CurrentPw: 'alice-pw', NewPw: 'alice-pw2' } });
    expect(r.status, r.text).toBe(204);
  });

  it('a user who is not an administrator is not asked: Jellyfin refuses them itself', async () => {
    jf.addUser('kim', 'kim-pw');
    const kim = await login(gw, BASE, 'kim', 'kim-pw', 'kim-web');
    const before = jf.reached('POST System/Configuration');
    const r = await send(gw.url, 'POST', `${BASE}/System/Configuration`, { token: kim, deviceId: 'kim-web', body: jf.admin.server });
    expect(r.status).toBe(403);
    expect(jf.reached('POST System/Configuration')).toBe(before + 1);
  });

  it('an API key (automation) is let through and audited: it cannot step up, and is an administrator’s secret already', async () => {
    const key = jf.createApiKey('Script');
    const r = await send(gw.url, 'POST', `${BASE}/System/Configuration`, { headers: { 'x-emby-token': key }, body: { ...jf.admin.server, ServerName: 'by-script' } });
    expect(r.status, r.text).toBe(204);
    expect(jf.admin.server.ServerName).toBe('by-script');
    expect(audit.some((e) => e.type === 'stepup.apikey' && e.detail?.action === 'ChangeServerSettings')).toBe(true);
  });

  it("the gateway's own administrator changes ask too", async () => {
    const lift = await asRoot('DELETE', '/JellyfinSecurity/Bans');
    expect(lift.status).toBe(401);
    expect(lift.json).toMatchObject({ error: 'step_up_required', action: 'LiftAllBans', methods: ['password'] });
    const g = await grant('LiftAllBans', null);
    expect((await asRoot('DELETE', '/JellyfinSecurity/Bans', { stepUp: g })).status).toBe(200);
    const allowed = await asRoot('PUT', `/JellyfinSecurity/Users/${id('alice')}/AllowedIPs`, { body: { cidrs: [] } });
    expect(allowed.status).toBe(401);
    expect(allowed.json).toMatchObject({ action: 'SetUserAllowedIPs', label: 'Change the addresses alice may sign in from', target: id('alice') });
    // Each of the gateway's own administrator changes, before anything is done.
    const bobId = id('bob');
    const own: Array<[string, string, unknown, string, string | null, string]> = [
      ['PUT', `/JellyfinSecurity/Users/${bobId}`, { requireSecondFactor: true }, 'ChangeUserFactors', bobId, 'Change bob’s sign-in factors'],
      ['POST', `/JellyfinSecurity/Users/${bobId}/ResetTOTP`, undefined, 'ResetUserTOTP', bobId, 'Reset all of bob’s second factors'],
      ['DELETE', '/JellyfinSecurity/Bans/12', undefined, 'LiftBan', '12', 'Lift a ban'],
      ['POST', '/JellyfinSecurity/ApprovePair', { PairingCode: '123456', UserId: bobId }, 'ApprovePairing', bobId, 'Approve a device pairing as bob'],
      ['POST', '/JellyfinSecurity/DenyPair', { PairingCode: '123456' }, 'DenyPairing', null, 'Deny a device pairing'],
    ];
    for (const [method, path, body, action, target, label] of own) {
      const r = await asRoot(method, path, { body });
      expect(r.status, `${method} ${path}: ${r.text}`).toBe(401);
      expect(r.json, path).toMatchObject({ error: 'step_up_required', action, target, label });
    }
    // A pairing approved signs a device in as UserId: the proof names that user and is spent once.
    const pair = await grant('ApprovePairing', bobId);
    const asRootUser = await asRoot('POST', '/JellyfinSecurity/ApprovePair', { body: { PairingCode: '123456', UserId: id('root') }, stepUp: pair });
    expect(asRootUser.status, asRootUser.text).toBe(403);
    expect(asRootUser.json.error).toBe('step_up_invalid');
    const first = await asRoot('POST', '/JellyfinSecurity/ApprovePair', { body: { PairingCode: '123456', UserId: bobId }, stepUp: pair });
    expect(first.json.error, first.text).toBe('unknown_pairing'); // proof spent, then no such code
    const again = await asRoot('POST', '/JellyfinSecurity/ApprovePair', { body: { PairingCode: '123456', UserId: bobId }, stepUp: pair });
    expect(again.status, again.text).toBe(403);
    expect(again.json.error).toBe('step_up_used');
    // Reading the waiting pairings is asked only at AllConfigChanges.
    expect((await asRoot('GET', '/JellyfinSecurity/PendingPairs')).status).toBe(200);
  });
});

describe('StepUpLevel', () => {
  it('None lets administrator actions through; Quick Connect Authorize is still asked', async () => {
    gw.config.StepUpLevel = 'None';
    try {
      const r = await asRoot('POST', '/System/Configuration', { body: { ...jf.admin.server, ServerName: 'none' } });
      expect(r.status).toBe(204);
      const qc = await asRoot('POST', '/QuickConnect/Authorize?code=123456');
      expect(qc.status).toBe(401);
      expect(qc.json.action).toBe('QuickConnectAuthorize');
    } finally {
      gw.config.StepUpLevel = 'AdminActions';
    }
  });

  it('AllConfigChanges also asks for every other change an administrator makes', async () => {
    const item = `/Items/${'ab'.repeat(16)}`;
    const tasks = '/ScheduledTasks/Running/abc';
    // At AdminActions these go straight to Jellyfin.
    const forwarded = () => jf.requests.filter((r) => /\/(items|scheduledtasks)\//i.test(r.url)).length;
    const n = forwarded();
    expect((await asRoot('POST', item, { body: {} })).status).not.toBe(401);
    expect(forwarded()).toBe(n + 1);
    gw.config.StepUpLevel = 'AllConfigChanges';
    try {
      const edit = await asRoot('POST', item, { body: {} });
      expect(edit.json).toMatchObject({ error: 'step_up_required', action: 'EditMetadata' });
      const run = await asRoot('POST', tasks);
      expect(run.json).toMatchObject({ action: 'ManageTasks' });
      const pending = await asRoot('GET', '/JellyfinSecurity/PendingPairs');
      expect(pending.json).toMatchObject({ action: 'ViewPendingPairings' });
      expect(forwarded()).toBe(n + 1);
      // Reads still pass.
      expect((await asRoot('GET', '/System/Info')).status).toBe(200);
    } finally {
      gw.config.StepUpLevel = 'AdminActions';
    }
  });
});

describe('a native admin tool', () => {
  it('can send a current authenticator code as the proof, in the request itself', async () => {
    // root sets up an authenticator app (proved with the password: the account has no factor yet).
    const add = await grant('AddTOTP', null);
    const begin = await asRoot('POST', '/JellyfinSecurity/Me/TOTP', { body: {}, stepUp: add });
    expect(begin.status, begin.text).toBe(200);
    const secret = begin.json.secret as string;
    const confirm = await asRoot('POST', '/JellyfinSecurity/Me/TOTP/Confirm', { body: { code: await totpCodeAt(secret, clock.now()) } });
    expect(confirm.status, confirm.text).toBe(200);
    clock.advance(30_000);
    // Now the 401 offers the code (and no longer the password)…
    const asked = await asRoot('POST', '/System/Shutdown');
    expect(asked.status).toBe(401);
    expect(asked.json.methods).toEqual(['totp', 'recovery']);
    // …and a script answers with a current code in X-Jellyguard-StepUp.
    const shutdowns = jf.admin.shutdowns;
    const done = await asRoot('POST', '/System/Shutdown', { stepUp: await totpCodeAt(secret, clock.now()) });
    expect(done.status, done.text).toBe(204);
    expect(jf.admin.shutdowns).toBe(shutdowns + 1);
  });
});

describe('the list of API keys', () => {
  it('is asked for in every spelling (a key acts as an administrator that cannot confirm), never handing a key to a session without a proof', async () => {
    const radarr = jf.createApiKey('Radarr');
    jf.addUser('erin', 'erin-pw', true); // an administrator with no second factor: proves with the password
    const erin = await login(gw, BASE, 'erin', 'erin-pw', 'erin-web');
    const asErin = (stepUp?: string) => send(gw.url, 'GET', `${BASE}/Auth/Keys`, { token: erin, deviceId: 'erin-web', stepUp });
    for (const path of variantsOf(BASE, '/Auth/Keys')) {
      const r = await send(gw.url, 'GET', path, { token: erin, deviceId: 'erin-web' });
      // Spellings Jellyfin does not route are refused there; none may show a key.
      expect(r.text, path).not.toContain(radarr);
      if (r.status === 401) expect(r.json, path).toMatchObject({ error: 'step_up_required', action: 'ViewApiKeys', target: null });
    }
    const plain = await asErin();
    expect(plain.status, plain.text).toBe(401);
    expect(plain.json.label).toBe('See the API keys (each one works like an administrator’s password)');
    const g = await passwordGrant(gw, BASE, erin, 'erin-web', 'erin-pw', 'ViewApiKeys', null);
    const shown = await asErin(g);
    expect(shown.status, shown.text).toBe(200);
    expect(shown.text).toContain(radarr);
    // Within the window the page may be read again with the same proof (the dashboard reloads it).
    expect((await asErin(g)).status).toBe(200);
    // An API key itself (the gateway's own refresh, a script) reads it as before.
    const byKey = await send(gw.url, 'GET', `${BASE}/Auth/Keys`, { token: radarr });
    expect(byKey.status, byKey.text).toBe(200);
    expect(byKey.text).toContain(radarr);
  });
});
