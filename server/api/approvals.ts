import type Router from '@koa/router';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { GatewayContext, GatewayState } from '../context.ts';
import { HttpError } from '../errors.ts';
import type { Services } from '../services.ts';
import { requireSession } from './auth.ts';
import { stepUpGiven } from './stepup.ts';
import { changed } from './me.ts';
import { enrolledFirstFactor, isoOrNull, noStore, readJson, rpOf } from './factors.ts';
import { Factors } from '../factors/index.ts';
import { readTrustedDeviceCookie, trustedDeviceCookie } from '../factors/trusted-browser.ts';
import { AssertionRefused, clientGone, presentApproval, type PhoneRow } from '../approvals/index.ts';
import { endpointProblem, keysProblem } from '../push/index.ts';
import {
  ApproveRequestSchema,
  DenyRequestSchema,
  EnrollPhoneRequestSchema,
  LoginApprovalRequestSchema,
  LoginApprovalStatusRequestSchema,
  RenamePhoneRequestSchema,
  ReportRequestSchema,
  SubscriptionRequestSchema,
  type ApprovalsResponse,
  type EnrolledPhone,
  type LoginApprovalPending,
  type PhoneInfo,
  type PushConfig,
  type PushSubscriptionInput,
} from '../../shared/api/approvals.ts';

/**
 * Push approvals over HTTP (shared/api/approvals.ts lists the endpoints and bodies): the approval page
 * of the phone (public: the approval id is the bearer, a passkey assertion the proof), the login page's
 * "approve on my phone" (public: the challenge id is the bearer), and self-service phones.
 *
 * Which checks guard which route:
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
const ID = /^[A-Za-z0-9_-]{22}$/;

export function presentPhone(p: PhoneRow): PhoneInfo {
  return {
    id: p.id,
    name: p.name,
    passkeyId: p.credential_id,
    push: p.subscription_enc !== null,
    pushService: p.push_service,
    createdAt: new Date(p.created_at).toISOString(),
    lastSeenAt: isoOrNull(p.last_seen_at),
    subscribedAt: isoOrNull(p.subscribed_at),
  };
}

function approvalId(ctx: GatewayContext): string {
  const id = ctx.params.approvalId ?? '';
  if (!ID.test(id)) throw new HttpError(404, 'unknown_approval', 'This approval is unknown.');
  return id;
}

/** A subscription the gateway may send to (https push service; loopback http only when allowed). */
export function checkSubscription(services: Services, s: PushSubscriptionInput): void {
  const bad = endpointProblem(s.endpoint, { allowHttpLoopback: services.config.PushAllowHttpLoopback });
  if (bad) throw new HttpError(400, 'invalid_request', `subscription.endpoint: ${bad}`);
  const keys = keysProblem(s.keys);
  if (keys) throw new HttpError(400, 'invalid_request', `subscription.keys: ${keys}`);
}

/** Answer a refused assertion with how many tries the approval has left. */
async function withAssertion<T>(ctx: GatewayContext, run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof AssertionRefused) {
      noStore(ctx);
      ctx.status = 401;
      ctx.body = { error: e.code, message: e.message, attemptsLeft: e.attemptsLeft };
      return undefined;
    }
    throw e;
  }
}

export function mountApprovalRoutes(router: Router<GatewayState>, services: Services): void {
  const auth = requireSession(services);
  const { approvals } = services;
  const me = (ctx: GatewayContext) => ctx.state.session!.userId;

  router.get('/Push/Config', (ctx) => {
    const body: PushConfig = { enabled: approvals.push.enabled, publicKey: approvals.push.publicKey };
    ctx.body = body;
  });

  // ── The login page ──
  router.post('/Approvals/Login', async (ctx) => {
    const input = await readJson(ctx, LoginApprovalRequestSchema);
    noStore(ctx);
    ctx.body = await approvals.login.startWeb(input.challengeId);
  });

  router.post('/Approvals/Login/Status', async (ctx) => {
    const input = await readJson(ctx, LoginApprovalStatusRequestSchema);
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
    const row = r.row;
    const ip = ctx.state.client.ip;
    await services.factors.attempts.succeed(row.user_id);
    services.factors.audit({
      type: 'login.challenge.passed',
      outcome: 'success',
      userId: row.user_id,
      userName: row.user_name,
      ip,
      deviceId: row.device_id,
      deviceName: row.device_name,
      client: row.client,
      detail: { method: 'phone' },
    });
    if (input.trustBrowser && services.factors.trustedBrowsers.enabled && row.device_id) {
      const issued = await services.factors.trustedBrowsers.issue(
        row.user_id,
        { deviceId: row.device_id, userAgent: ctx.get('user-agent'), ip },
        readTrustedDeviceCookie(ctx.get('cookie') || undefined),
      );
      const secure = (ctx.state.client.proto ?? ('encrypted' in ctx.req.socket ? 'https' : 'http')) === 'https';
      ctx.append(
        'set-cookie',
        trustedDeviceCookie(issued.cookie, { maxAgeSeconds: issued.maxAgeSeconds, secure, path: services.config.BaseUrl ? `${services.config.BaseUrl}/` : '/' }),
      );
      services.factors.audit({
        type: 'trusted_browser.created',
        outcome: 'success',
        userId: row.user_id,
        userName: row.user_name,
        ip,
        deviceId: row.device_id,
        detail: { trustedBrowserId: issued.info.id, label: issued.info.label, ipPrefix: issued.info.ipPrefix },
      });
    }
    ctx.status = 200;
    ctx.body = r.body;
    ctx.set('content-type', r.contentType ?? 'application/json; charset=utf-8');
  });

  // ── The approval page (the phone) ──
  router.get('/Approvals/:approvalId', async (ctx) => {
    const row = await approvals.get(approvalId(ctx));
    if (!row) throw new HttpError(404, 'unknown_approval', 'This approval is unknown.');
    if (row.status === 'pending' && row.expires_at <= services.clock.now()) await approvals.expire(row);
    noStore(ctx);
    ctx.body = presentApproval((await approvals.get(row.id))!);
  });

  router.post('/Approvals/:approvalId/Options', async (ctx) => {
    const id = approvalId(ctx);
    noStore(ctx);
    ctx.body = await approvals.options(id, rpOf(ctx, services));
  });

  router.post('/Approvals/:approvalId/Approve', async (ctx) => {
    const id = approvalId(ctx);
    const input = await readJson(ctx, ApproveRequestSchema);
    const row = await withAssertion(ctx, () =>
      approvals.approve(id, { number: input.number, response: input.response as unknown as AuthenticationResponseJSON }, { ip: ctx.state.client.ip, rp: rpOf(ctx, services) }),
    );
    if (!row) return;
    noStore(ctx);
    ctx.body = presentApproval(row);
  });

  router.post('/Approvals/:approvalId/Deny', async (ctx) => {
    const id = approvalId(ctx);
    await readJson(ctx, DenyRequestSchema);
    const row = await approvals.deny(id, { ip: ctx.state.client.ip });
    noStore(ctx);
    ctx.body = presentApproval(row);
  });

  router.post('/Approvals/:approvalId/Report', async (ctx) => {
    const id = approvalId(ctx);
    const input = await readJson(ctx, ReportRequestSchema);
    const row = await withAssertion(ctx, () =>
      approvals.report(id, input.response as unknown as AuthenticationResponseJSON, { ip: ctx.state.client.ip, rp: rpOf(ctx, services) }),
    );
    if (!row) return;
    noStore(ctx);
    ctx.body = presentApproval(row);
  });

  // ── Self-service ──
  router.get('/Me/Approvals', auth, async (ctx) => {
    const userId = me(ctx);
    const pending = await approvals.listPending(userId);
    const own = await services.factorChanges.madeBy(pending.filter((r) => r.kind === 'change').map((r) => r.id), ctx.state.session!.tokenHash);
    const body: ApprovalsResponse = {
      items: pending.filter((r) => !own.has(r.id)).map(presentApproval),
      accountHeld: await approvals.holds.isHeld(userId),
    };
    noStore(ctx);
    ctx.body = body;
  });

  router.post('/Me/Phones/Options', auth, async (ctx) => {
    const userId = me(ctx);
    if (!(await stepUpGiven(ctx, services, 'AddPhone'))) return;
    const name = (await services.users.get(userId))?.name ?? userId;
    const options = await services.factors.passkeys.registrationOptions({ id: userId, name }, rpOf(ctx, services));
    // This phone's own authenticator (a platform passkey), user verification required.
    options.authenticatorSelection = { ...options.authenticatorSelection, authenticatorAttachment: 'platform', userVerification: 'required' };
    noStore(ctx);
    ctx.body = options;
  });

  router.post('/Me/Phones', auth, async (ctx) => {
    const input = await readJson(ctx, EnrollPhoneRequestSchema);
    if (input.subscription) checkSubscription(services, input.subscription);
    const userId = me(ctx);
    const userName = (await services.users.get(userId))?.name ?? userId;
    const name = input.name ?? 'Phone';
    const wasFirst = !Factors.hasPrimary(await services.factors.summary(userId));
    const r = await services.factors.passkeys.verifyRegistration(userId, input.response as unknown as RegistrationResponseJSON, name);
    if (!r.ok) {
      if (r.reason === 'duplicate_credential') throw new HttpError(409, 'duplicate_credential', 'This passkey is already registered.');
      throw new HttpError(400, r.reason === 'unknown_ceremony' ? 'unknown_ceremony' : 'invalid_passkey', 'The passkey could not be registered. Try again.');
    }
    let phone: PhoneRow;
    try {
      phone = await approvals.phones.create(userId, { name, credentialId: r.passkey.id, subscription: input.subscription ?? null, deviceId: ctx.state.session!.deviceId });
    } catch (e) {
      await services.factors.passkeys.remove(userId, r.passkey.id); // one record or none
      throw e;
    }
    const recoveryCodes = wasFirst ? await enrolledFirstFactor(ctx, services, userId, userName, 'passkey') : [];
    if (!wasFirst) services.factors.audit({ type: 'factor.passkey.registered', outcome: 'success', userId, userName, ip: ctx.state.client.ip, detail: { credentialId: r.passkey.id, phone: true } });
    approvals.audit({
      type: 'phone.enrolled',
      outcome: 'success',
      userId,
      userName,
      ip: ctx.state.client.ip,
      deviceId: ctx.state.session!.deviceId,
      detail: { phoneId: phone.id, name: phone.name, push: phone.subscription_enc !== null, pushService: phone.push_service },
    });
    await changed(ctx, services, 'AddPhone', phone.id, phone.name);
    const body: EnrolledPhone = { ...presentPhone(phone), recoveryCodes };
    noStore(ctx);
    ctx.status = 201;
    ctx.body = body;
  });

  router.get('/Me/Phones', auth, async (ctx) => {
    noStore(ctx);
    ctx.body = (await approvals.phones.list(me(ctx))).map(presentPhone);
  });

  const phoneId = (ctx: GatewayContext) => {
    const id = ctx.params.phoneId ?? '';
    if (!ID.test(id)) throw new HttpError(404, 'unknown_phone', 'No such phone.');
    return id;
  };

  router.patch('/Me/Phones/:phoneId', auth, async (ctx) => {
    const id = phoneId(ctx);
    const input = await readJson(ctx, RenamePhoneRequestSchema);
    const row = await approvals.phones.rename(me(ctx), id, input.name);
    if (!row) throw new HttpError(404, 'unknown_phone', 'No such phone.');
    approvals.audit({ type: 'phone.renamed', outcome: 'success', userId: me(ctx), ip: ctx.state.client.ip, detail: { phoneId: id, name: row.name } });
    ctx.body = presentPhone(row);
  });

  router.put('/Me/Phones/:phoneId/Subscription', auth, async (ctx) => {
    const id = phoneId(ctx);
    const input = await readJson(ctx, SubscriptionRequestSchema);
    checkSubscription(services, input.subscription);
    // Where a phone's notifications go is the phone's own business: the notices of every change reach the
    // owner through them, so another session (a stolen TV token) must not move them to another endpoint.
    const phone = await approvals.phones.get(me(ctx), id);
    if (!phone) throw new HttpError(404, 'unknown_phone', 'No such phone.');
    const session = ctx.state.session!;
    const own = phone.device_id !== null ? session.deviceId === phone.device_id : session.client === 'Jellyguard Authenticator' && session.deviceId !== null;
    if (!own) {
      approvals.audit({ type: 'phone.resubscribed', outcome: 'refused', userId: me(ctx), ip: ctx.state.client.ip, deviceId: session.deviceId, client: session.client, detail: { phoneId: id } });
      throw new HttpError(403, 'not_this_phone', 'Only the Jellyguard app on that phone can change where its notifications go.');
    }
    if (phone.device_id === null) await approvals.phones.claimDevice(me(ctx), id, session.deviceId!);
    const r = await approvals.phones.setSubscription(me(ctx), id, input.subscription);
    if (!r) throw new HttpError(404, 'unknown_phone', 'No such phone.');
    if (r.changed) {
      approvals.audit({ type: 'phone.resubscribed', outcome: 'success', userId: me(ctx), ip: ctx.state.client.ip, detail: { phoneId: id, pushService: r.row.push_service } });
    }
    noStore(ctx);
    ctx.body = presentPhone(r.row);
  });

  router.post('/Me/Phones/:phoneId/Test', auth, async (ctx) => {
    const id = phoneId(ctx);
    const phone = await approvals.phones.get(me(ctx), id);
    if (!phone) throw new HttpError(404, 'unknown_phone', 'No such phone.');
    if (!phone.subscription_enc) throw new HttpError(409, 'no_subscription', 'This phone has no push subscription: open the app on it.');
    if (!approvals.push.enabled) throw new HttpError(409, 'push_disabled', 'Push notifications are turned off on this server.');
    await approvals.push.sendToUser(me(ctx), { v: 1, type: 'notice', kind: 'test', title: 'Jellyguard', body: 'Notifications work on this phone.', tag: 'test' }, {
      ttlSeconds: 60,
      urgency: 'normal',
    });
    ctx.status = 202;
    ctx.body = { status: 'queued' };
  });

  router.delete('/Me/Phones/:phoneId', auth, async (ctx) => {
    const id = phoneId(ctx);
    const userId = me(ctx);
    const phone = await approvals.phones.get(userId, id);
    if (!phone) throw new HttpError(404, 'unknown_phone', 'No such phone.');
    const usable = await approvals.phones.usable(userId);
    if ((await approvals.holds.isHeld(userId)) && usable.every((p) => p.id === id)) {
      throw new HttpError(409, 'account_held', 'Sign-ins to this account wait for a phone: approve one with this phone before removing it.');
    }
    // Its passkey goes too — unless it is the last second factor of a user who must have one.
    const passkeyExists = (await services.factors.passkeys.list(userId)).some((p) => p.id === phone.credential_id);
    if (passkeyExists) {
      const s = await services.factors.summary(userId);
      const otherFactor =
        (await services.factors.totp.isEnrolled(userId)) ||
        (await services.factors.passkeys.count(userId)) > 1 ||
        (services.factors.email.enabled && ((await services.factors.email.address(userId)) ?? null) !== null);
      if (!otherFactor) {
        const known = await services.users.get(userId);
        const requirement = await services.factors.requirement(userId, known?.isAdmin === true, { ...s, totp: false, passkeys: 0, email: null, enrolled: false });
        if (requirement.required) throw new HttpError(409, 'factor_required', 'This phone’s passkey is your last second factor and one is required: add another first.');
      }
    }
    if (!(await stepUpGiven(ctx, services, 'RemovePhone', id))) return;
    // Told before it goes: the phone being removed hears of it too (it may be the only one).
    await changed(ctx, services, 'RemovePhone', id, phone.name);
    await approvals.phones.remove(userId, id);
    if (passkeyExists) {
      await services.factors.passkeys.remove(userId, phone.credential_id);
      await services.factors.afterPrimaryRemoved(userId);
      services.factors.audit({ type: 'factor.passkey.removed', outcome: 'success', userId, ip: ctx.state.client.ip, detail: { credentialId: phone.credential_id, phone: true } });
    }
    approvals.audit({ type: 'phone.removed', outcome: 'success', userId, ip: ctx.state.client.ip, detail: { phoneId: id, name: phone.name } });
    ctx.status = 204;
  });
}
