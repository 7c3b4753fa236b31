import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { ENDPOINTS } from '../../shared/api/endpoints.ts';
import type { ApprovalsResponse, EnrolledPhone, LoginApprovalPending, PushConfig, PushSubscriptionInput, TestPushResponse } from '../../shared/api/approvals.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/index.ts';
import type { GatewayContext } from '../context.ts';
import { apiError, errorBody } from '../errors.ts';
import { Factors } from '../factors/index.ts';
import { afterEnrollment } from '../factors/enrolled.ts';
import type { UserDirectory } from '../gate/users.ts';
import type { ChallengeService } from '../login/challenges.ts';
import type { FactorChanges } from '../stepup/changes.ts';
import { AssertionRefused, clientGone, presentApproval, type Approvals, type PhoneRow } from '../approvals/index.ts';
import { endpointProblem, keysProblem, type SendOutcome } from '../push/index.ts';
import type { ChangeRecorder } from './factor-change.ts';
import { browserOf, me, noStore, rpOf } from './http.ts';
import { assertCanRemove } from './me.ts';
import { presentPhone } from './presenters.ts';
import type { RouteContext } from './route.ts';

/**
 * Push approvals over HTTP (shared/api/approvals.ts): the approval page of the phone (public: the approval
 * id is the bearer, a passkey assertion the proof), the login page's "approve on my phone" (public: the
 * challenge id is the bearer), and self-service phones.
 *
 *   route                         | bearer        | proof                          | limits
 *   GET Approvals/{id}            | approval id   | —                              | —
 *   POST Approvals/{id}/Options   | approval id   | —                              | pending only
 *   POST Approvals/{id}/Approve   | approval id   | assertion (UV) + number        | 3 refused assertions end it; guard counts
 *   POST Approvals/{id}/Deny      | approval id   | —                              | pending only
 *   POST Approvals/{id}/Report    | approval id   | assertion (UV)                 | as Approve
 *   POST Approvals/Login[/Status] | challenge id  | (the password already passed)  | one approval per login; push budget
 *   Me/Approvals, Me/Phones…      | session       | —                              | —
 * Banned addresses never get here (the guard's middleware refuses them first).
 */

type Ctx<K extends keyof typeof ENDPOINTS> = RouteContext<(typeof ENDPOINTS)[K]>;

export interface ApprovalRouteDeps {
  config: Config;
  clock: Clock;
  approvals: Approvals;
  factors: Factors;
  users: UserDirectory;
  /** Approved on the phone: the held login passes as any challenge does (trusted-browser cookie included). */
  challenge: ChallengeService;
  factorChanges: FactorChanges;
  changed: ChangeRecorder;
}

/** A subscription the gateway may send to (https push service; loopback http only when allowed). */
function checkSubscription(config: Config, s: PushSubscriptionInput): void {
  const bad = endpointProblem(s.endpoint, { allowHttpLoopback: config.PushAllowHttpLoopback });
  if (bad) throw apiError('invalid_request', `subscription.endpoint: ${bad}`);
  const keys = keysProblem(s.keys);
  if (keys) throw apiError('invalid_request', `subscription.keys: ${keys}`);
}

/** Answer a refused assertion with how many tries the approval has left. */
export async function withAssertion<T>(ctx: GatewayContext, run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof AssertionRefused) {
      noStore(ctx);
      ctx.status = 401;
      ctx.body = { ...errorBody(e.code, e.message), attemptsLeft: e.attemptsLeft };
      return undefined;
    }
    throw e;
  }
}

export function approvalHandlers({ config, clock, approvals, factors, users, challenge, factorChanges, changed }: ApprovalRouteDeps) {
  return {
    pushConfig(ctx: Ctx<'PushConfig'>) {
      const body: PushConfig = { enabled: approvals.push.enabled, publicKey: approvals.push.publicKey };
      ctx.body = body;
    },

    // ── The login page ──
    async startLogin(ctx: Ctx<'ApprovalsLogin'>) {
      noStore(ctx);
      ctx.body = await approvals.login.startWeb(ctx.input.challengeId);
    },

    async cancelLogin(ctx: Ctx<'ApprovalsLoginCancel'>) {
      noStore(ctx);
      await approvals.login.cancelWeb(ctx.input.challengeId, ctx.input.leaving);
      ctx.status = 204;
    },

    async loginStatus(ctx: Ctx<'ApprovalsLoginStatus'>) {
      const input = ctx.input;
      if (input.waitSeconds > 0) approvals.login.track(ctx);
      const gone = clientGone(ctx);
      let r;
      try {
        r = await approvals.login.statusWeb(input.challengeId, input.waitSeconds, gone.signal);
      } finally {
        gone.done();
      }
      noStore(ctx);
      if (r.kind === 'pending') {
        const body: LoginApprovalPending = { status: 'pending', number: r.approval.number!, expiresAt: new Date(r.approval.expires_at).toISOString() };
        ctx.status = 202;
        ctx.body = body;
        return;
      }
      const browser = browserOf(ctx);
      await challenge.passed(r.row, 'phone', browser.ip);
      const cookie = input.trustBrowser ? await challenge.trustBrowser(r.row, browser) : undefined;
      if (cookie) ctx.append('set-cookie', cookie);
      ctx.status = 200;
      ctx.body = r.body;
      ctx.set('content-type', r.contentType ?? 'application/json; charset=utf-8');
    },

    // ── The approval page (the phone) ──
    async get(ctx: Ctx<'Approval'>) {
      const row = await approvals.get(ctx.params.approvalId);
      if (!row) throw apiError('unknown_approval');
      if (row.status === 'pending' && row.expires_at <= clock.now()) await approvals.expire(row);
      noStore(ctx);
      ctx.body = presentApproval((await approvals.get(row.id))!);
    },

    async options(ctx: Ctx<'ApprovalOptions'>) {
      noStore(ctx);
      ctx.body = await approvals.options(ctx.params.approvalId, rpOf(ctx, config.PublicUrl));
    },

    async approve(ctx: Ctx<'ApprovalApprove'>) {
      const input = ctx.input;
      const row = await withAssertion(ctx, () =>
        approvals.approve(
          ctx.params.approvalId,
          { number: input.number, response: input.response as unknown as AuthenticationResponseJSON },
          { ip: ctx.state.client.ip, rp: rpOf(ctx, config.PublicUrl) },
        ),
      );
      if (!row) return;
      noStore(ctx);
      const retry = row.kind === 'login' && !row.deviceWaiting && row.retry_until !== null;
      ctx.body = { ...presentApproval(row), retryUntil: retry ? new Date(row.retry_until!).toISOString() : null };
    },

    async deny(ctx: Ctx<'ApprovalDeny'>) {
      const row = await approvals.deny(ctx.params.approvalId, { ip: ctx.state.client.ip });
      noStore(ctx);
      ctx.body = presentApproval(row);
    },

    async report(ctx: Ctx<'ApprovalReport'>) {
      const row = await withAssertion(ctx, () =>
        approvals.report(ctx.params.approvalId, ctx.input.response as unknown as AuthenticationResponseJSON, { ip: ctx.state.client.ip, rp: rpOf(ctx, config.PublicUrl) }),
      );
      if (!row) return;
      noStore(ctx);
      ctx.body = presentApproval(row);
    },

    // ── Self-service ──
    async pending(ctx: Ctx<'MeApprovals'>) {
      const userId = me(ctx);
      const list = await approvals.listPending(userId);
      // A change this very session made is not shown back to it as something to answer.
      const own = await factorChanges.madeBy(list.filter((r) => r.kind === 'change').map((r) => r.id), ctx.state.session!.tokenHash);
      const body: ApprovalsResponse = { items: list.filter((r) => !own.has(r.id)).map(presentApproval), accountHeld: await approvals.holds.isHeld(userId) };
      noStore(ctx);
      ctx.body = body;
    },

    phoneOptions: {
      async run(ctx: Ctx<'MePhonesOptions'>) {
        const userId = me(ctx);
        const name = (await users.get(userId))?.name ?? userId;
        const options = await factors.passkeys.registrationOptions({ id: userId, name }, rpOf(ctx, config.PublicUrl));
        // This phone's own authenticator (a platform passkey), user verification required.
        options.authenticatorSelection = { ...options.authenticatorSelection, authenticatorAttachment: 'platform', userVerification: 'required' };
        noStore(ctx);
        ctx.body = options;
      },
    },

    async enrollPhone(ctx: Ctx<'MePhonesEnroll'>) {
      const input = ctx.input;
      if (input.subscription) checkSubscription(config, input.subscription);
      const userId = me(ctx);
      const userName = (await users.get(userId))?.name ?? userId;
      const name = input.name ?? 'Phone';
      const wasFirst = !Factors.hasPrimary(await factors.summary(userId));
      const r = await factors.passkeys.verifyRegistration(userId, input.response as unknown as RegistrationResponseJSON, name);
      if (!r.ok) {
        if (r.reason === 'duplicate_credential') throw apiError('duplicate_credential');
        throw apiError(r.reason === 'unknown_ceremony' ? 'unknown_ceremony' : 'invalid_passkey', 'The passkey could not be registered. Try again.');
      }
      let phone: PhoneRow;
      try {
        phone = await approvals.phones.create(userId, { name, credentialId: r.passkey.id, subscription: input.subscription ?? null, deviceId: ctx.state.session!.deviceId });
      } catch (e) {
        await factors.passkeys.remove(userId, r.passkey.id); // one record or none
        throw e;
      }
      const ip = ctx.state.client.ip;
      const recoveryCodes = wasFirst ? await afterEnrollment(factors, config.RecoveryCodesEnabled, { userId, userName, ip }, 'passkey') : [];
      if (!wasFirst) factors.audit({ type: 'factor.passkey.registered', outcome: 'success', userId, userName, ip, detail: { credentialId: r.passkey.id, phone: true } });
      approvals.audit({
        type: 'phone.enrolled',
        outcome: 'success',
        userId,
        userName,
        ip,
        deviceId: ctx.state.session!.deviceId,
        detail: { phoneId: phone.id, name: phone.name, push: phone.subscription_enc !== null, pushService: phone.push_service },
      });
      await changed(ctx, 'AddPhone', phone.id, phone.name);
      const body: EnrolledPhone = { ...presentPhone(phone), recoveryCodes };
      noStore(ctx);
      ctx.status = 201;
      ctx.body = body;
    },

    async phones(ctx: Ctx<'MePhones'>) {
      noStore(ctx);
      ctx.body = (await approvals.phones.list(me(ctx))).map(presentPhone);
    },

    async renamePhone(ctx: Ctx<'MePhoneRename'>) {
      const id = ctx.params.phoneId;
      const row = await approvals.phones.rename(me(ctx), id, ctx.input.name);
      if (!row) throw apiError('unknown_phone');
      approvals.audit({ type: 'phone.renamed', outcome: 'success', userId: me(ctx), ip: ctx.state.client.ip, detail: { phoneId: id, name: row.name } });
      ctx.body = presentPhone(row);
    },

    async resubscribe(ctx: Ctx<'MePhoneSubscription'>) {
      const id = ctx.params.phoneId;
      checkSubscription(config, ctx.input.subscription);
      // Where a phone's notifications go is the phone's own business: the notices of every change reach the
      // owner through them, so another session (a stolen TV token) must not move them to another endpoint.
      const phone = await approvals.phones.get(me(ctx), id);
      if (!phone) throw apiError('unknown_phone');
      const session = ctx.state.session!;
      const own = phone.device_id !== null ? session.deviceId === phone.device_id : session.client === 'Jellyguard Authenticator' && session.deviceId !== null;
      if (!own) {
        approvals.audit({ type: 'phone.resubscribed', outcome: 'refused', userId: me(ctx), ip: ctx.state.client.ip, deviceId: session.deviceId, client: session.client, detail: { phoneId: id } });
        throw apiError('not_this_phone');
      }
      if (phone.device_id === null) await approvals.phones.claimDevice(me(ctx), id, session.deviceId!);
      const r = await approvals.phones.setSubscription(me(ctx), id, ctx.input.subscription);
      if (!r) throw apiError('unknown_phone');
      if (r.changed) {
        approvals.audit({ type: 'phone.resubscribed', outcome: 'success', userId: me(ctx), ip: ctx.state.client.ip, detail: { phoneId: id, pushService: r.row.push_service } });
      }
      noStore(ctx);
      ctx.body = presentPhone(r.row);
    },

    async testPush(ctx: Ctx<'MePhoneTest'>) {
      const phone = await approvals.phones.get(me(ctx), ctx.params.phoneId);
      if (!phone) throw apiError('unknown_phone');
      if (!phone.subscription_enc) throw apiError('no_subscription');
      if (!approvals.push.enabled) throw apiError('push_disabled');
      const payload = { v: 1, type: 'notice', kind: 'test', title: 'Jellyguard', body: 'Notifications work on this phone.', tag: 'test' } as const;
      const outcome = await approvals.push.sendToPhone(me(ctx), phone.id, payload, { ttlSeconds: 60, urgency: 'normal' });
      if (!outcome) throw apiError('no_subscription');
      ctx.body = testPushAnswer(outcome);
    },

    removePhone: {
      async check(ctx: Ctx<'MePhoneRemove'>) {
        const id = ctx.params.phoneId;
        const userId = me(ctx);
        const phone = await approvals.phones.get(userId, id);
        if (!phone) throw apiError('unknown_phone');
        const usable = await approvals.phones.usable(userId);
        if ((await approvals.holds.isHeld(userId)) && usable.every((p) => p.id === id)) {
          throw apiError('account_held', { status: 409, message: 'Sign-ins to this account wait for a phone: approve one with this phone before removing it.' });
        }
        // Its passkey goes too — unless it is the last second factor of a user who must have one.
        const passkeyExists = (await factors.passkeys.list(userId)).some((p) => p.id === phone.credential_id);
        if (passkeyExists) {
          await assertCanRemove(factors, users, userId, 'passkey', phone.credential_id, 'This phone’s passkey is your last second factor and one is required: add another first.');
        }
        return { phone, passkeyExists };
      },
      async run(ctx: Ctx<'MePhoneRemove'>, { phone, passkeyExists }: { phone: PhoneRow; passkeyExists: boolean }) {
        const id = ctx.params.phoneId;
        const userId = me(ctx);
        // Told before it goes: the phone being removed hears of it too (it may be the only one).
        await changed(ctx, 'RemovePhone', id, phone.name);
        await approvals.phones.remove(userId, id);
        if (passkeyExists) {
          await factors.passkeys.remove(userId, phone.credential_id);
          await factors.afterPrimaryRemoved(userId);
          factors.audit({ type: 'factor.passkey.removed', outcome: 'success', userId, ip: ctx.state.client.ip, detail: { credentialId: phone.credential_id, phone: true } });
        }
        approvals.audit({ type: 'phone.removed', outcome: 'success', userId, ip: ctx.state.client.ip, detail: { phoneId: id, name: phone.name } });
        ctx.status = 204;
      },
    },
  };
}

/** The push service's answer to a test notification, as the phone says it. */
export function testPushAnswer(outcome: SendOutcome): TestPushResponse {
  if (outcome.kind === 'sent') return { status: 'sent', message: 'Test notification sent: it should appear on this phone in a moment.' };
  if (outcome.kind === 'gone') return { status: 'gone', message: 'The push service says this phone’s notifications have ended. Turn notifications on again on this phone.' };
  // No HTTP answer at all: a name that does not resolve, a refused or cut connection, a timeout.
  if (outcome.status === undefined) {
    return { status: 'unreachable', message: 'The push service could not be reached from the server, so no notification was sent. Ask whoever runs the server to check its internet access.' };
  }
  return { status: 'refused', message: `The push service refused the notification (HTTP ${outcome.status}). Try again later, or turn notifications on again on this phone.` };
}
