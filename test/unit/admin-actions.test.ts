import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ADMIN_ACTION_RULES,
  ADMIN_ROUTES,
  findAdminRoute,
  isSingleUse,
  stepUpApplies,
  type AdminRequest,
} from '../../server/stepup/admin-actions.ts';
import { createPathNormalizer } from '../../server/jellyfin/paths.ts';
import {
  FACTOR_ACTIONS,
  GATEWAY_ADMIN_ACTIONS,
  JELLYFIN_ADMIN_ACTIONS,
  STEP_UP_ACTIONS,
  STEP_UP_ACTION_LABELS,
  stepUpLabel,
} from '../../shared/api/stepup.ts';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const section = README.slice(README.indexOf('## Step-up for admin actions'), README.indexOf('## Someone is locked out'));

const request = (over: Partial<AdminRequest> = {}): AdminRequest => ({
  params: {},
  query: () => [],
  body: undefined,
  callerId: 'c'.repeat(32),
  userState: async () => ({ isAdministrator: false, isDisabled: false }),
  ...over,
});

describe('the administrator action table', () => {
  it('gives every administrator action a level, and every Jellyfin action a route', () => {
    for (const a of [...GATEWAY_ADMIN_ACTIONS, ...JELLYFIN_ADMIN_ACTIONS]) expect(ADMIN_ACTION_RULES[a], a).toBeDefined();
    const routed = new Set(ADMIN_ROUTES.flatMap((r) => r.actions));
    for (const a of JELLYFIN_ADMIN_ACTIONS) expect(routed.has(a), a).toBe(true);
  });

  it('has one read — the list of API keys — and otherwise leaves GET and HEAD on the short path', () => {
    expect(ADMIN_ROUTES.filter((r) => r.method === 'GET').map((r) => r.route)).toEqual(['GET /Auth/Keys']);
    for (const r of ADMIN_ROUTES) expect(['GET', 'POST', 'DELETE']).toContain(r.method);
    expect(findAdminRoute('GET', '/auth/keys')?.row.actions).toEqual(['ViewApiKeys']);
    expect(findAdminRoute('HEAD', '/auth/keys')).toBeUndefined();
    expect(findAdminRoute('GET', '/system/info')).toBeUndefined();
    expect(findAdminRoute('GET', `/users/${'a'.repeat(32)}`)).toBeUndefined();
    expect(findAdminRoute('GET', '/system/configuration')).toBeUndefined();
    expect(findAdminRoute('HEAD', '/users/new')).toBeUndefined();
  });

  it('writes its patterns as the one path normalizer writes paths', () => {
    const n = createPathNormalizer({ baseUrl: '' });
    for (const r of ADMIN_ROUTES) expect(n.normalize(r.pattern), r.pattern).toBe(r.pattern);
  });

  it('matches the most specific row first, and POST /Users/{x} only for a user id', async () => {
    expect(findAdminRoute('POST', '/users/new')?.row.actions).toEqual(['CreateUser']);
    expect(findAdminRoute('POST', '/users/password')?.row.pattern).toBe('/users/password');
    const forgot = findAdminRoute('POST', '/users/forgotpassword')!;
    expect(await forgot.row.resolve(request({ params: forgot.params }))).toBeNull();
    const other = findAdminRoute('POST', `/users/${'b'.repeat(32)}`)!;
    expect(await other.row.resolve(request({ params: other.params }))).toEqual({ action: 'EditUserProfile', target: 'b'.repeat(32) });
  });

  it('reads a policy against the user now, and property names as ASP.NET binds them', async () => {
    const hit = findAdminRoute('POST', `/users/${'b'.repeat(32)}/policy`)!;
    const resolve = (body: Record<string, unknown>, now?: { isAdministrator: boolean; isDisabled: boolean }) =>
      hit.row.resolve(request({ params: hit.params, body, userState: async () => now }));
    expect((await resolve({ IsAdministrator: true }))?.action).toBe('MakeAdministrator');
    expect((await resolve({ IsAdministrator: false, isadministrator: 'true' }))?.action).toBe('MakeAdministrator');
    expect((await resolve({ IsAdministrator: true }, { isAdministrator: true, isDisabled: false }))?.action).toBe('ChangeUserPermissions');
    expect((await resolve({}, { isAdministrator: true, isDisabled: false }))?.action).toBe('RemoveAdministrator');
    expect((await resolve({ IsDisabled: true }, { isAdministrator: false, isDisabled: false }))?.action).toBe('DisableUser');
    // Unknown current policy: the body's admin flag decides (fail closed).
    expect((await resolve({ IsAdministrator: 1 }))?.action).toBe('MakeAdministrator');
  });

  it('asks for another user’s password only, whatever value of userId Jellyfin reads', async () => {
    const hit = findAdminRoute('POST', '/users/password')!;
    const me = 'c'.repeat(32);
    const ask = (values: string[], body = {}) => hit.row.resolve(request({ query: () => values, body }));
    expect(await ask([])).toBeNull();
    expect(await ask([me])).toBeNull();
    expect(await ask([me, 'd'.repeat(32)])).toEqual({ action: 'ChangeUserPassword', target: 'd'.repeat(32) });
    expect(await ask(['not-a-guid'])).toEqual({ action: 'ChangeUserPassword', target: 'not-a-guid' });
    expect(await ask(['d'.repeat(32)], { resetPassword: true })).toEqual({ action: 'ResetUserPassword', target: 'd'.repeat(32) });
  });

  it('makes the most dangerous actions single use, and applies each at its level', () => {
    const single = STEP_UP_ACTIONS.filter(isSingleUse);
    expect(single.sort()).toEqual(['QuickConnectAuthorize', ...FACTOR_ACTIONS, 'MakeAdministrator', 'CreateApiKey', 'InstallPlugin', 'RestoreBackup', 'ApprovePairing'].sort());
    expect(stepUpApplies('MakeAdministrator', 'None')).toBe(false);
    expect(stepUpApplies('AddPhone', 'None')).toBe(true);
    expect(stepUpApplies('QuickConnectAuthorize', 'None')).toBe(true);
    expect(stepUpApplies('EditMetadata', 'AdminActions')).toBe(false);
    expect(stepUpApplies('EditMetadata', 'AllConfigChanges')).toBe(true);
    expect(stepUpApplies('ChangeGatewaySettings', 'AdminActions')).toBe(true);
  });

  it('writes labels a person reads, with the target’s name and no control characters', () => {
    expect(stepUpLabel('MakeAdministrator', 'b'.repeat(32), 'bob')).toBe('Make bob an administrator');
    expect(stepUpLabel('CreateApiKey', 'Sonarr')).toBe('Create an API key “Sonarr”');
    expect(stepUpLabel('DeleteUser', 'x', 'eve\u202e\nadmin')).toBe('Delete user eve admin');
    expect(stepUpLabel('RestartServer', null)).toBe('Restart the server');
  });

  it('is the table the README shows (routes, labels and levels cannot drift apart)', () => {
    expect(section.length).toBeGreaterThan(1000);
    for (const r of ADMIN_ROUTES) {
      const line = section.split('\n').find((l) => l.startsWith(`| \`${r.route}\``));
      expect(line, r.route).toBeDefined();
      for (const a of r.actions) {
        expect(line, `${r.route} ${a}`).toContain(STEP_UP_ACTION_LABELS[a]);
        expect(line, `${r.route} ${a}`).toContain(ADMIN_ACTION_RULES[a].level);
      }
    }
    for (const a of GATEWAY_ADMIN_ACTIONS) {
      const line = section.split('\n').find((l) => l.includes(`| ${STEP_UP_ACTION_LABELS[a]} |`));
      expect(line, a).toBeDefined();
      expect(line, a).toContain(ADMIN_ACTION_RULES[a].level);
    }
  });
});
