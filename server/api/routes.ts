import { ENDPOINTS as E } from '../../shared/api/endpoints.ts';
import { ApprovalIdSchema, PhoneIdSchema } from '../../shared/api/approvals.ts';
import { ChallengeIdSchema } from '../../shared/api/factors.ts';
import type { GatewayContext } from '../context.ts';
import { apiError } from '../errors.ts';
import { canonicalGuid } from '../jellyfin/json.ts';
import type { adminUserHandlers } from './admin-users.ts';
import type { allowedIpHandlers } from './allowed-ips.ts';
import type { approvalHandlers } from './approvals.ts';
import type { auditHandlers } from './audit.ts';
import type { configurationHandlers } from './configuration.ts';
import { banIdParam, type banHandlers } from './bans.ts';
import { sessionIdParam, type deviceHandlers } from './devices.ts';
import type { loginChallengeHandlers } from './login-challenge.ts';
import type { loginPageHandlers } from './login-page.ts';
import type { meHandlers } from './me.ts';
import type { operationsHandlers } from './operations.ts';
import type { pairingHandlers } from './pairing.ts';
import type { authenticatorAppHandlers } from './pwa.ts';
import type { stepUpHandlers } from './stepup.ts';
import type { ssoHandlers } from './sso.ts';
import type { passkeySignInHandlers } from './passkey-signin.ts';
import type { phoneSignInHandlers } from './phone-signin.ts';
import { userIdParam } from './admin-users.ts';
import { ADMIN, PUBLIC, SESSION, feature, route, stepUp, type ParamRule, type Route } from './route.ts';

/**
 * Every route under `{BaseUrl}/JellyfinSecurity`, with who may call it. Read a row as: endpoint (its path
 * and request schema are in shared/api/endpoints.ts), guards in the order they run, handler, and the
 * checks of its path parameters. Guards:
 *
 *   PUBLIC            anyone; the route's own bearer (a challenge or approval id) or nothing is the check
 *   SESSION           a verified Jellyfin session through the gateway (401 unauthenticated otherwise)
 *   ADMIN             a session of a Jellyfin administrator right now (401, or 403 forbidden)
 *   stepUp(action)    a fresh proof for this action (and target) (401 StepUpRequired); asked after the
 *                     handler's own checks, so nobody confirms what would fail anyway. An administrator
 *                     action is asked only at its StepUpLevel (server/stepup/admin-actions.ts)
 *   feature(name)     the feature is switched on (TOTP, passkeys, e-mail, recovery codes: 400
 *                     method_unavailable; TV pairing, metrics: 404, as if the route did not exist)
 *
 * Between guards and handler, the body (or a GET's query string) is validated with the endpoint's schema
 * into `ctx.input`: a bad request gets the catalogue's 400 and changes nothing.
 */

export interface RouteHandlers {
  operations: ReturnType<typeof operationsHandlers>;
  challenge: ReturnType<typeof loginChallengeHandlers>;
  me: ReturnType<typeof meHandlers>;
  adminUsers: ReturnType<typeof adminUserHandlers>;
  bans: ReturnType<typeof banHandlers>;
  allowedIps: ReturnType<typeof allowedIpHandlers>;
  audit: ReturnType<typeof auditHandlers>;
  configuration: ReturnType<typeof configurationHandlers>;
  pairing: ReturnType<typeof pairingHandlers>;
  stepUp: ReturnType<typeof stepUpHandlers>;
  approvals: ReturnType<typeof approvalHandlers>;
  devices: ReturnType<typeof deviceHandlers>;
  loginPage: ReturnType<typeof loginPageHandlers>;
  app: ReturnType<typeof authenticatorAppHandlers>;
  sso: ReturnType<typeof ssoHandlers>;
  passkeySignIn: ReturnType<typeof passkeySignInHandlers>;
  phoneSignIn: ReturnType<typeof phoneSignInHandlers>;
}

/** An id in a path that is not even well-formed names nothing: the same 404 as an unknown one. */
const idOf =
  (schema: { safeParse(v: string): { success: boolean } }, unknown: 'unknown_challenge' | 'unknown_approval' | 'unknown_phone'): ParamRule =>
  (raw) => {
    if (!schema.safeParse(raw).success) throw apiError(unknown);
    return raw;
  };
const challengeId = idOf(ChallengeIdSchema, 'unknown_challenge');
const approvalId = idOf(ApprovalIdSchema, 'unknown_approval');
const phoneId = idOf(PhoneIdSchema, 'unknown_phone');

/** The step-up target of a removal: the one thing named in the path (a grant for one cannot remove another). */
const pathParam = (name: string) => (ctx: GatewayContext) => (ctx as GatewayContext & { params: Record<string, string> }).params[name] ?? null;

/** The user a pairing is approved for (the body's UserId, as a GUID), the target of ApprovePairing. */
const pairingUser = (ctx: GatewayContext) => {
  const raw = (ctx as GatewayContext & { input?: { UserId?: string } }).input?.UserId;
  return raw === undefined ? null : (canonicalGuid(raw) ?? raw.slice(0, 64));
};

export function routeTable(h: RouteHandlers): Route[] {
  const pairing = feature('pairing');
  return [
    // ── Operations: monitors have no Jellyfin session ──
    route(E.Health, PUBLIC, h.operations.live),
    route(E.HealthLive, PUBLIC, h.operations.live),
    route(E.HealthReady, PUBLIC, h.operations.ready),
    route(E.Metrics, feature('metrics'), h.operations.metrics), // the bearer token or an allowed address, checked inside

    // ── The login challenge: the challenge id is the bearer ──
    route(E.LoginOptions, PUBLIC, h.challenge.options),
    route(E.Challenge, PUBLIC, h.challenge.info, { challengeId }),
    route(E.VerifyTOTP, PUBLIC, h.challenge.verifyTotp),
    route(E.VerifyRecoveryCode, PUBLIC, h.challenge.verifyRecoveryCode),
    route(E.VerifyEmailOTP, PUBLIC, h.challenge.verifyEmailCode),
    route(E.SendEmailOTP, PUBLIC, h.challenge.sendEmailCode),
    route(E.VerifyPasskeyOptions, PUBLIC, h.challenge.passkeyOptions),
    route(E.VerifyPasskey, PUBLIC, h.challenge.verifyPasskey),
    route(E.ChallengeEnrollTOTP, [PUBLIC, feature('totp')], h.challenge.enrollTotp),
    route(E.ChallengeEnrollTOTPConfirm, [PUBLIC, feature('totp')], h.challenge.enrollTotpConfirm),
    route(E.ChallengeEnrollPasskeyOptions, [PUBLIC, feature('passkeys')], h.challenge.enrollPasskeyOptions),
    route(E.ChallengeEnrollPasskey, [PUBLIC, feature('passkeys')], h.challenge.enrollPasskey),
    route(E.ChallengeComplete, PUBLIC, h.challenge.complete),

    // ── Sign in with a passkey alone: the assertion is the proof (limits per address and user inside) ──
    route(E.PasskeySignInOptions, [PUBLIC, feature('passkeys')], h.passkeySignIn.options),
    route(E.PasskeySignIn, [PUBLIC, feature('passkeys')], h.passkeySignIn.signIn),

    // ── Self-service second factors ──
    route(E.Me, SESSION, h.me.me),
    route(E.MeTOTP, [SESSION, feature('totp'), stepUp('AddTOTP')], h.me.beginTotp),
    route(E.MeTOTPConfirm, [SESSION, feature('totp')], h.me.confirmTotp),
    route(E.MeTOTPRemove, [SESSION, stepUp('RemoveTOTP')], h.me.removeTotp),
    route(E.MeRecoveryCodes, [SESSION, feature('recoveryCodes'), stepUp('RegenerateRecoveryCodes')], h.me.regenerateRecoveryCodes),
    route(E.MePasskeysOptions, [SESSION, feature('passkeys'), stepUp('AddPasskey')], h.me.passkeyOptions),
    route(E.MePasskeysRegister, [SESSION, feature('passkeys')], h.me.registerPasskey), // the proof was given for its Options
    route(E.MePasskeyRename, SESSION, h.me.renamePasskey),
    route(E.MePasskeyRemove, [SESSION, stepUp('RemovePasskey', pathParam('id'))], h.me.removePasskey),
    route(E.MeEmailSet, [SESSION, feature('email'), stepUp('SetEmail')], h.me.setEmail),
    route(E.MeEmailConfirm, [SESSION, feature('email')], h.me.confirmEmail),
    route(E.MeEmailRemove, [SESSION, stepUp('RemoveEmail')], h.me.removeEmail),
    route(E.MeTrustedBrowsers, SESSION, h.me.trustedBrowsers),
    route(E.MeTrustedBrowserRevoke, SESSION, h.me.revokeTrustedBrowser),

    // ── Admin: every user's second factors ──
    route(E.Users, ADMIN, h.adminUsers.list),
    route(E.User, ADMIN, h.adminUsers.get, { id: userIdParam }),
    route(E.UserUpdate, [ADMIN, stepUp('ChangeUserFactors', pathParam('id'))], h.adminUsers.update, { id: userIdParam }),
    route(E.UserResetTOTP, [ADMIN, stepUp('ResetUserTOTP', pathParam('id'))], h.adminUsers.reset, { id: userIdParam }),

    // ── The guard and the audit log ──
    route(E.Bans, ADMIN, h.bans.list),
    route(E.BanLift, [ADMIN, stepUp('LiftBan', pathParam('id'))], h.bans.lift, { id: banIdParam }),
    route(E.BansLiftAll, [ADMIN, stepUp('LiftAllBans')], h.bans.liftAll),
    route(E.UserAllowedIPs, ADMIN, h.allowedIps.get, { id: userIdParam }),
    route(E.UserAllowedIPsSet, [ADMIN, stepUp('SetUserAllowedIPs', pathParam('id'))], h.allowedIps.set, { id: userIdParam }),
    route(E.MeAllowedIPs, SESSION, h.allowedIps.mine),
    route(E.AuditLog, ADMIN, h.audit.query),
    route(E.AuditLogExport, ADMIN, h.audit.export),
    route(E.AuditLogVerify, ADMIN, h.audit.verify),
    route(E.MeAuditLog, SESSION, h.audit.mine),
    route(E.MePasswordCheck, SESSION, h.audit.passwordCheck),

    // ── The gateway's own settings ──
    route(E.Configuration, ADMIN, h.configuration.get),
    route(E.ConfigurationUpdate, [ADMIN, stepUp('ChangeGatewaySettings', (ctx) => h.configuration.changedKeys(ctx as never))], h.configuration.update),

    // ── TV pairing: the big-screen page, PairDevice (devices without Quick Connect), the phone's approval of a code ──
    route(E.PairPage, [PUBLIC, pairing], h.pairing.page),
    route(E.PairPageShort, [PUBLIC, pairing], h.pairing.page),
    route(E.PairScript, [PUBLIC, pairing], h.pairing.script),
    route(E.PairStyles, [PUBLIC, pairing], h.pairing.styles),
    route(E.PairQrSvg, [PUBLIC, pairing], h.pairing.qrSvg),
    route(E.PairDevice, [PUBLIC, pairing], h.pairing.request),
    route(E.PairDeviceQR, [PUBLIC, pairing], h.pairing.qr),
    route(E.CheckPairingStatus, [PUBLIC, pairing], h.pairing.status), // the code is the bearer
    // (step-up at the level of each action: server/stepup/admin-actions.ts)
    route(E.PendingPairs, [pairing, ADMIN, stepUp('ViewPendingPairings')], h.pairing.pending),
    // A pairing approved is a device signed in as UserId: the proof names that user and is spent once.
    route(E.ApprovePair, [pairing, ADMIN, stepUp('ApprovePairing', pairingUser)], h.pairing.approve),
    route(E.DenyPair, [pairing, ADMIN, stepUp('DenyPairing')], h.pairing.deny),
    route(E.MePairedDevices, SESSION, h.pairing.mine), // still listed (and revocable) with pairing off
    route(E.MePairedDeviceRevoke, SESSION, h.pairing.revoke),
    route(E.PairLookup, [pairing, SESSION], h.pairing.lookup),
    route(E.PairApproval, [pairing, SESSION], h.pairing.startApproval),
    route(E.PairApprove, [pairing, SESSION], h.pairing.finishApproval),
    route(E.PairDeny, [pairing, SESSION], h.pairing.declineApproval),

    // ── Step-up: a proof becomes a single-use grant of this session ──
    route(E.StepUpPasskeyOptions, SESSION, h.stepUp.passkeyOptions),
    route(E.StepUp, SESSION, h.stepUp.grant),
    route(E.StepUpStatus, SESSION, h.stepUp.status),

    // ── Push approvals: the phone's approval page (the approval id is the bearer), the login page's
    //    "approve on my phone" (the challenge id is the bearer), phones ──
    route(E.PushConfig, PUBLIC, h.approvals.pushConfig),
    route(E.ApprovalsLogin, PUBLIC, h.approvals.startLogin),
    route(E.ApprovalsLoginStatus, PUBLIC, h.approvals.loginStatus),
    route(E.PhoneSignIn, PUBLIC, h.phoneSignIn.start), // the same answer for every user name
    route(E.PhoneSignInStatus, PUBLIC, h.phoneSignIn.status), // the sealed request id is the bearer
    route(E.ApprovalsLoginCancel, PUBLIC, h.approvals.cancelLogin),
    route(E.Approval, PUBLIC, h.approvals.get, { approvalId }),
    route(E.ApprovalOptions, PUBLIC, h.approvals.options, { approvalId }),
    route(E.ApprovalApprove, PUBLIC, h.approvals.approve, { approvalId }), // a passkey assertion is the proof
    route(E.ApprovalDeny, PUBLIC, h.approvals.deny, { approvalId }),
    route(E.ApprovalReport, PUBLIC, h.approvals.report, { approvalId }), // a passkey assertion is the proof
    route(E.MeApprovals, SESSION, h.approvals.pending),
    route(E.MePhonesOptions, [SESSION, stepUp('AddPhone')], h.approvals.phoneOptions),
    route(E.MePhonesEnroll, SESSION, h.approvals.enrollPhone), // the proof was given for its Options
    route(E.MePhones, SESSION, h.approvals.phones),
    route(E.MePhoneRename, SESSION, h.approvals.renamePhone, { phoneId }),
    route(E.MePhoneSubscription, SESSION, h.approvals.resubscribe, { phoneId }), // only from that phone, checked inside
    route(E.MePhoneTest, SESSION, h.approvals.testPush, { phoneId }),
    route(E.MePhoneRemove, [SESSION, stepUp('RemovePhone', pathParam('phoneId'))], h.approvals.removePhone, { phoneId }),
    route(E.MeDevices, SESSION, h.devices.list),
    route(E.MeSessionRevoke, SESSION, h.devices.revokeSession, { sessionId: sessionIdParam }),

    // ── Single sign-on: the provider's answer is the proof (state sealed in a cookie of this browser) ──
    route(E.OIDCProviders, PUBLIC, h.sso.providers),
    route(E.OIDCAuthorize, PUBLIC, h.sso.authorize),
    route(E.OIDCCallback, PUBLIC, h.sso.callback),
    route(E.OIDCSession, PUBLIC, h.sso.session), // the single-use ticket cookie the callback set is the bearer
    route(E.OIDCCompleteScript, PUBLIC, h.sso.script),

    // ── Pages: the web login (and the script injected into jellyfin-web), the Authenticator app ──
    route(E.InjectScript, PUBLIC, h.loginPage.inject),
    route(E.StepUpDialogScript, PUBLIC, h.loginPage.stepUpDialog), // loaded by inject.js on first need
    route(E.LoginPage, PUBLIC, h.loginPage.page),
    route(E.LoginPageFiles, PUBLIC, h.loginPage.files),
    route(E.App, PUBLIC, h.app.app),
    route(E.AppFiles, PUBLIC, h.app.files),
  ];
}
