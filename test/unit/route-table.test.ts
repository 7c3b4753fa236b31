import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import Router from '@koa/router';
import { describe, expect, it } from 'vitest';
import { ENDPOINTS } from '../../shared/api/endpoints.ts';
import { API_ERRORS, isApiErrorCode } from '../../shared/api/errors.ts';
import { routeTable, type RouteHandlers } from '../../server/api/routes.ts';
import { SESSION, mountRoutes, route, stepUp, type Guard, type GuardDeps } from '../../server/api/route.ts';

// The table only needs handlers to exist; what they do is tested through the gateway (test/integration).
const anyHandlers = new Proxy({}, { get: () => new Proxy({}, { get: () => () => undefined }) }) as RouteHandlers;
const table = routeTable(anyHandlers);
const label = (g: Guard) => (g.kind === 'stepUp' ? `stepUp(${g.action})` : g.kind === 'feature' ? `feature(${g.feature})` : g.kind);
const rows = table.map((r) => ({ key: `${r.endpoint.method} ${r.endpoint.path}`, guards: r.guards.map(label) }));
const guardsOf = (key: string) => rows.find((r) => r.key === key)?.guards;

describe('the route table', () => {
  it('mounts every declared endpoint exactly once, and nothing undeclared', () => {
    const declared = new Set<unknown>(Object.values(ENDPOINTS));
    for (const r of table) expect(declared.has(r.endpoint), `${r.endpoint.method} ${r.endpoint.path}`).toBe(true);
    for (const [name, e] of Object.entries(ENDPOINTS)) expect(table.filter((r) => r.endpoint === e).length, name).toBe(1);
  });

  it('leaves exactly these routes open to anyone (their own bearer, or nothing to protect)', () => {
    const open = rows.filter((r) => !r.guards.includes('session') && !r.guards.includes('admin')).map((r) => r.key);
    expect(open.sort()).toEqual(
      [
        'GET /Health',
        'GET /Health/Live',
        'GET /Health/Ready',
        'GET /Metrics',
        // the login challenge: its id is the bearer
        'GET /LoginOptions',
        'GET /Challenge/:challengeId',
        'POST /VerifyTOTP',
        'POST /VerifyRecoveryCode',
        'POST /VerifyEmailOTP',
        'POST /SendEmailOTP',
        'POST /VerifyPasskey/Options',
        'POST /VerifyPasskey',
        'POST /Challenge/EnrollTOTP',
        'POST /Challenge/EnrollTOTP/Confirm',
        'POST /Challenge/EnrollPasskey/Options',
        'POST /Challenge/EnrollPasskey',
        'POST /Challenge/Complete',
        // a passkey alone: the assertion is the proof
        'POST /Passkey/SignIn/Options',
        'POST /Passkey/SignIn',
        // TV pairing: the device has no session yet
        'GET /pair',
        'GET /p',
        'GET /pair.js',
        'GET /pair.css',
        'GET /pair/qr.svg',
        'POST /PairDevice',
        'GET /PairDeviceQR',
        'GET /CheckPairingStatus',
        // approvals: the approval id (the phone) or the challenge id (the login page) is the bearer
        'GET /Push/Config',
        'POST /Approvals/Login',
        'POST /Approvals/Login/Status',
        'POST /Approvals/SignIn',
        'POST /Approvals/SignIn/Status',
        'POST /Approvals/Login/Cancel',
        'GET /Approvals/:approvalId',
        'POST /Approvals/:approvalId/Options',
        'POST /Approvals/:approvalId/Approve',
        'POST /Approvals/:approvalId/Deny',
        'POST /Approvals/:approvalId/Report',
        // single sign-on: the provider's answer, checked against the state sealed in this browser's cookie
        'GET /OIDC/Providers',
        'GET /OIDC/Authorize',
        'GET /OIDC/Callback',
        'POST /OIDC/Session',
        'GET /OIDC/complete.js',
        // pages
        'GET /inject.js',
        'GET /stepup.js',
        'GET /login',
        'GET /login/*rest',
        'GET /app',
        'GET /app/*rest',
      ].sort(),
    );
  });

  it('keeps the administrators’ routes for administrators', () => {
    const admin = rows.filter((r) => r.guards.includes('admin')).map((r) => r.key);
    expect(admin.sort()).toEqual(
      [
        'GET /Users',
        'GET /Users/:id',
        'PUT /Users/:id',
        'POST /Users/:id/ResetTOTP',
        'GET /Bans',
        'DELETE /Bans/:id',
        'DELETE /Bans',
        'GET /Users/:id/AllowedIPs',
        'PUT /Users/:id/AllowedIPs',
        'GET /AuditLog',
        'GET /AuditLog/Export',
        'GET /AuditLog/Verify',
        'GET /Configuration',
        'POST /Configuration',
        'GET /PendingPairs',
        'POST /ApprovePair',
        'POST /DenyPair',
      ].sort(),
    );
  });

  it('asks for a fresh proof before every change to the account’s factors', () => {
    const upped = Object.fromEntries(rows.filter((r) => r.guards.some((g) => g.startsWith('stepUp'))).map((r) => [r.key, r.guards]));
    expect(upped).toEqual({
      'POST /Me/TOTP': ['session', 'feature(totp)', 'stepUp(AddTOTP)'],
      'DELETE /Me/TOTP': ['session', 'stepUp(RemoveTOTP)'],
      'POST /Me/RecoveryCodes': ['session', 'feature(recoveryCodes)', 'stepUp(RegenerateRecoveryCodes)'],
      'POST /Me/Passkeys/Options': ['session', 'feature(passkeys)', 'stepUp(AddPasskey)'],
      'DELETE /Me/Passkeys/:id': ['session', 'stepUp(RemovePasskey)'],
      'PUT /Me/Email': ['session', 'feature(email)', 'stepUp(SetEmail)'],
      'DELETE /Me/Email': ['session', 'stepUp(RemoveEmail)'],
      'POST /Me/Phones/Options': ['session', 'stepUp(AddPhone)'],
      'DELETE /Me/Phones/:phoneId': ['session', 'stepUp(RemovePhone)'],
      'POST /Configuration': ['admin', 'stepUp(ChangeGatewaySettings)'],
      // the gateway's own administrator actions (asked at their StepUpLevel: server/stepup/admin-actions.ts)
      'PUT /Users/:id': ['admin', 'stepUp(ChangeUserFactors)'],
      'POST /Users/:id/ResetTOTP': ['admin', 'stepUp(ResetUserTOTP)'],
      'DELETE /Bans/:id': ['admin', 'stepUp(LiftBan)'],
      'DELETE /Bans': ['admin', 'stepUp(LiftAllBans)'],
      'PUT /Users/:id/AllowedIPs': ['admin', 'stepUp(SetUserAllowedIPs)'],
      'GET /PendingPairs': ['feature(pairing)', 'admin', 'stepUp(ViewPendingPairings)'],
      'POST /ApprovePair': ['feature(pairing)', 'admin', 'stepUp(ApprovePairing)'],
      'POST /DenyPair': ['feature(pairing)', 'admin', 'stepUp(DenyPairing)'],
    });
  });

  it('hides TV pairing when it is off, except the list of one’s own paired devices', () => {
    const pairingRoutes = rows.filter((r) => r.guards.includes('feature(pairing)')).map((r) => r.key);
    expect(pairingRoutes).toHaveLength(15);
    expect(guardsOf('GET /Me/PairedDevices')).toEqual(['session']);
    // The feature is checked first: a switched-off pairing answers 404 even to a stranger.
    expect(guardsOf('POST /ApprovePair')).toEqual(['feature(pairing)', 'admin', 'stepUp(ApprovePairing)']);
  });
});

describe('mounting the table', () => {
  const deps = { featureOff: () => undefined, stepUpGiven: async () => true } as unknown as GuardDeps;
  it('refuses a step-up route without a session guard, and a route without any guard', () => {
    expect(() => mountRoutes(new Router(), [route(ENDPOINTS.MeTOTPRemove, [stepUp('RemoveTOTP')], { run: () => undefined })], deps)).toThrow(/session guard/);
    expect(() => mountRoutes(new Router(), [route(ENDPOINTS.Me, [], () => undefined)], deps)).toThrow(/no guard/);
    expect(() => mountRoutes(new Router(), [route(ENDPOINTS.Me, [SESSION], { run: () => undefined })], deps)).toThrow(/step-up routes/);
  });
});

describe('errors thrown anywhere in the server', () => {
  function* sources(dir: string): Generator<string> {
    for (const name of readdirSync(dir)) {
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) yield* sources(p);
      else if (p.endsWith('.ts')) yield p;
    }
  }
  it('use a code of the catalogue with one of its statuses', () => {
    let seen = 0;
    for (const file of sources(path.join(import.meta.dirname, '../../server'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/new HttpError\(\s*(\d{3}),\s*'([a-z_]+)'/g)) {
        seen++;
        const [, status, code] = m;
        expect(isApiErrorCode(code!), `${file}: ${code}`).toBe(true);
        const e = API_ERRORS[code as keyof typeof API_ERRORS];
        expect([e.status, ...('also' in e ? e.also : [])], `${file}: ${code} ${status}`).toContain(Number(status));
      }
    }
    expect(seen).toBeGreaterThan(10);
  });
});
