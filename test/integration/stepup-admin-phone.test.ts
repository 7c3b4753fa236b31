import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, enrollPhone, held, nextApproval, sdkLogin, startWorld, tap, tv, type Phone, type World } from './approvals-helpers.ts';

/**
 * An administrator action proved on the phone, through the real push chain: the admin's session on
 * another device asks to make bob an administrator, the 401 offers the phone, the phone's push names
 * exactly that action and its target, the passkey tap approves it, and the request repeated with the
 * grant is forwarded once. The grant is single use.
 */
let w: World;
let admin: Phone;
let adminTv = '';
const DEVICE = 'admin-living-room';
const asAdminTv = (method: string, path: string, body?: unknown, stepUp?: string) =>
  call(w, method, path, { token: adminTv, deviceId: DEVICE, client: 'Jellyfin Roku', body, stepUp });

const policy = (over: Record<string, unknown>) => ({
  IsAdministrator: false,
  IsDisabled: false,
  AuthenticationProviderId: 'Jellyfin.Server.Implementations.Users.DefaultAuthenticationProvider',
  PasswordResetProviderId: 'Jellyfin.Server.Implementations.Users.DefaultPasswordResetProvider',
  ...over,
});

beforeAll(async () => {
  w = await startWorld();
  admin = await enrollPhone(w, 'admin', 'admin-pw');
  const login = sdkLogin(tv(w, DEVICE), 'admin', 'admin-pw');
  expect((await tap(w, admin, await held(w, admin))).status).toBe(200);
  adminTv = (await login).token!;
}, 60_000);

afterAll(async () => {
  await w?.close();
});

describe('an administrator action approved on the phone', () => {
  it('shows the exact action and target on the phone, and the approved grant lets the request through once', async () => {
    const bob = w.jf.user('bob').id;
    const path = `/Users/${bob}/Policy`;
    const asked = await asAdminTv('POST', path, policy({ IsAdministrator: true }));
    expect(asked.status, asked.text).toBe(401);
    expect(asked.json).toMatchObject({ error: 'step_up_required', action: 'MakeAdministrator', label: 'Make bob an administrator', target: bob });
    expect(asked.json.methods).toContain('phone');

    const started = await asAdminTv('POST', '/JellyfinSecurity/StepUp', { method: 'phone', action: 'MakeAdministrator', target: bob });
    expect(started.status, started.text).toBe(200);
    expect(started.json).toMatchObject({ status: 'pending', action: 'MakeAdministrator', target: bob });
    // The pending grant is inert.
    const early = await asAdminTv('POST', path, policy({ IsAdministrator: true }), started.json.grant);
    expect(early.status).toBe(409);
    expect(w.jf.user('bob').isAdministrator).toBe(false);

    let push = await nextApproval(w, admin);
    for (let i = 0; i < 5 && push.json.approvalId !== started.json.approvalId; i++) push = await nextApproval(w, admin); // the TV's sign-in came first
    expect(push.json.approvalId).toBe(started.json.approvalId);
    expect(push.json.body).toContain('Make bob an administrator');
    expect((await tap(w, admin, push.json.approvalId)).status).toBe(200);
    const status = await asAdminTv('GET', `/JellyfinSecurity/StepUp/${started.json.stepUpId}`);
    expect(status.json.status).toBe('granted');

    const before = w.jf.reached('POST Users/{userId}/Policy');
    const done = await asAdminTv('POST', path, policy({ IsAdministrator: true }), started.json.grant);
    expect(done.status, done.text).toBe(204);
    expect(w.jf.reached('POST Users/{userId}/Policy')).toBe(before + 1);
    expect(w.jf.user('bob').isAdministrator).toBe(true);
    // Making an administrator is single use: the same grant never makes another.
    const alice = w.jf.user('alice').id;
    const again = await asAdminTv('POST', `/Users/${alice}/Policy`, policy({ IsAdministrator: true }), started.json.grant);
    expect(again.status).toBe(403);
    expect(w.jf.user('alice').isAdministrator).toBe(false);
    const granted = w.audit.find((e) => e.type === 'stepup.granted' && e.detail?.method === 'phone');
    expect(granted?.detail?.action).toBe('MakeAdministrator');
  });

  it('the admin’s phone proves its own session with its passkey (there is no other phone to ask)', async () => {
    const asked = await call(w, 'POST', '/System/Shutdown', { token: admin.token, deviceId: admin.deviceId });
    expect(asked.status).toBe(401);
    expect(asked.json.methods).toContain('passkey');
    expect(asked.json.methods).not.toContain('phone');
  });
});
