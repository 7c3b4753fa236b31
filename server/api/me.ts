import type Router from '@koa/router';
import type { GatewayContext, GatewayState } from '../context.ts';
import { HttpError } from '../errors.ts';
import type { Services } from '../services.ts';
import { requireSession } from './auth.ts';
import { Factors, type FactorKind } from '../factors/index.ts';
import type { PasskeyInfo as StoredPasskey } from '../factors/passkeys.ts';
import type { TrustedBrowserInfo } from '../factors/trusted-browser.ts';
import { isEmailAddress } from '../factors/email.ts';
import type { RegistrationResponseJSON } from '@simplewebauthn/server';
import { enrolledFirstFactor, isoOrNull, noStore, readJson, rpOf } from './factors.ts';
import { actorOf, stepUpGiven } from './stepup.ts';
import type { FactorAction } from '../../shared/api/stepup.ts';
import {
  ConfirmCodeRequestSchema,
  RegisterPasskeyRequestSchema,
  RenamePasskeyRequestSchema,
  SetEmailRequestSchema,
  type MeResponse,
  type PasskeyInfo,
  type TrustedBrowser,
} from '../../shared/api/factors.ts';

/**
 * Self-service second factors under `/JellyfinSecurity/Me` (shared/api/factors.ts lists them). Every
 * route needs a verified Jellyfin token (any credential form). Confirmation codes count towards the
 * user's wrong-code limit and are reported to the brute-force guard like login codes.
 *
 * Every change to the account's factors is a step-up action (shared/api/stepup.ts): it needs a fresh
 * proof from a factor the account already has — asked at the first step of a two-step addition, before
 * the QR code or the passkey prompt — and the owner's phones and e-mail are told of it (changed() below).
 * Removing a factor is refused when it is the user's last one and policy requires a factor (add the new
 * one first).
 */
export function presentPasskey(p: StoredPasskey): PasskeyInfo {
  return { id: p.id, name: p.name, createdAt: new Date(p.createdAt).toISOString(), lastUsedAt: isoOrNull(p.lastUsedAt), backedUp: p.backedUp };
}

export function presentTrustedBrowser(t: TrustedBrowserInfo): TrustedBrowser {
  return {
    id: t.id,
    label: t.label,
    ipPrefix: t.ipPrefix,
    createdAt: new Date(t.createdAt).toISOString(),
    expiresAt: new Date(t.expiresAt).toISOString(),
    lastUsedAt: isoOrNull(t.lastUsedAt),
  };
}

function me(ctx: GatewayContext): string {
  return ctx.state.session!.userId;
}

async function nameOf(services: Services, userId: string): Promise<string> {
  return (await services.users.get(userId))?.name ?? userId;
}

/** Tell the owner of a change that was made (server/stepup/changes.ts). */
export async function changed(
  ctx: GatewayContext,
  services: Services,
  change: FactorAction,
  ref: string | null = null,
  name: string | null = null,
  previousEmail: string | null = null,
): Promise<void> {
  const actor = actorOf(ctx);
  const proof = services.stepUp.proofOf(actor, change);
  services.stepUp.finished(actor, change);
  await services.factorChanges.record(actor, await nameOf(services, actor.session.userId), change, proof, ref, name, previousEmail);
}

/**
 * A wrong self-service confirmation code (the first code of a new authenticator app, the code mailed to a
 * new address). Both confirm a set-up this session began with a proof, so a wrong one guesses at nothing
 * the account has: it makes the session wait at MaxFailedAttempts and is audited — never a strike against
 * the household's address, nor against the user's name or codes.
 */
async function wrongCode(ctx: GatewayContext, services: Services, kind: FactorKind): Promise<never> {
  const userId = me(ctx);
  const userName = await nameOf(services, userId);
  services.factors.audit({ type: 'factor.failure', outcome: 'failure', userId, userName, ip: ctx.state.client.ip, detail: { method: kind } });
  await services.stepUp.countSessionFailure(actorOf(ctx), { signOut: false });
  throw new HttpError(400, 'invalid_code', 'That code is not right. Check it and try again.');
}

/** Refuse to remove the last factor of a user who must have one. */
async function assertCanRemove(services: Services, userId: string, removing: 'totp' | 'passkey' | 'email', passkeyId?: string): Promise<void> {
  const s = await services.factors.summary(userId);
  const raw = {
    totp: await services.factors.totp.isEnrolled(userId),
    passkeys: await services.factors.passkeys.count(userId),
    email: services.factors.email.enabled ? ((await services.factors.email.address(userId))?.email ?? null) : null,
  };
  const remaining =
    (removing === 'totp' ? false : raw.totp) ||
    (removing === 'passkey' && passkeyId ? raw.passkeys - 1 : raw.passkeys) > 0 ||
    (removing === 'email' ? null : raw.email) !== null;
  if (remaining) return;
  const after = { ...s, totp: false, passkeys: 0, email: null, enrolled: false };
  const known = await services.users.get(userId);
  const requirement = await services.factors.requirement(userId, known?.isAdmin === true, after);
  if (requirement.required) throw new HttpError(409, 'factor_required', 'This is your last second factor and one is required: add another first.');
}

export function mountMeRoutes(router: Router<GatewayState>, services: Services): void {
  const auth = requireSession(services);
  const { factors } = services;
  const audit = (ctx: GatewayContext, type: Parameters<Factors['audit']>[0]['type'], detail?: Record<string, unknown>) =>
    factors.audit({ type, outcome: 'success', userId: me(ctx), ip: ctx.state.client.ip, deviceId: ctx.state.session?.deviceId, detail });

  router.get('/Me', auth, async (ctx) => {
    const userId = me(ctx);
    const known = await services.users.get(userId);
    const [totp, passkeys, email, recoveryCodesRemaining, trusted, summary] = await Promise.all([
      factors.totp.status(userId),
      factors.passkeys.list(userId),
      factors.email.address(userId),
      factors.recovery.remaining(userId),
      factors.trustedBrowsers.list(userId),
      factors.summary(userId),
    ]);
    const requirement = await factors.requirement(userId, known?.isAdmin === true, summary);
    const c = services.config;
    const body: MeResponse = {
      userId,
      userName: known?.name ?? userId,
      isAdmin: known?.isAdmin === true,
      secondFactorRequired: requirement.required,
      factors: {
        totp: { enrolled: totp.enrolled, confirmedAt: isoOrNull(totp.confirmedAt), pending: totp.pending },
        passkeys: passkeys.map(presentPasskey),
        email: email ? { address: email.email, setBy: email.setBy, confirmedAt: new Date(email.confirmedAt).toISOString() } : null,
        recoveryCodesRemaining,
      },
      trustedBrowsers: trusted.map(presentTrustedBrowser),
      options: {
        totp: c.TOTPEnabled,
        passkeys: c.PasskeysEnabled,
        email: factors.email.enabled,
        recoveryCodes: c.RecoveryCodesEnabled,
        totpInPassword: c.AllowTOTPInPassword && c.TOTPEnabled,
        trustedDeviceDays: c.TrustedDeviceDays,
        showBuiltIn2FAButton: c.ShowBuiltIn2FAButton,
        showBuiltInPasskeyButton: c.ShowBuiltInPasskeyButton && c.PasskeysEnabled,
      },
    };
    noStore(ctx);
    ctx.body = body;
  });

  // ── TOTP ──
  router.post('/Me/TOTP', auth, async (ctx) => {
    if (!services.config.TOTPEnabled) throw new HttpError(400, 'method_unavailable', 'TOTP is turned off.');
    const userId = me(ctx);
    // One authenticator app at a time: replacing it would make "This wasn't me" unable to give it back.
    if (await factors.totp.isEnrolled(userId)) throw new HttpError(409, 'already_enrolled', 'An authenticator app is already set up: remove it first to set up another.');
    if (!(await stepUpGiven(ctx, services, 'AddTOTP'))) return;
    noStore(ctx);
    ctx.body = await factors.totp.beginEnrollment(userId, await nameOf(services, userId));
  });

  router.post('/Me/TOTP/Confirm', auth, async (ctx) => {
    if (!services.config.TOTPEnabled) throw new HttpError(400, 'method_unavailable', 'TOTP is turned off.');
    const input = await readJson(ctx, ConfirmCodeRequestSchema);
    const userId = me(ctx);
    if (!(await factors.totp.status(userId)).pending) throw new HttpError(409, 'no_enrollment', 'Start the TOTP set-up first.');
    services.stepUp.assertSessionMayTry(actorOf(ctx));
    if (!(await factors.totp.confirmEnrollment(userId, input.code))) return wrongCode(ctx, services, 'totp');
    const recoveryCodes = await enrolledFirstFactor(ctx, services, userId, await nameOf(services, userId), 'totp');
    await changed(ctx, services, 'AddTOTP');
    noStore(ctx);
    ctx.body = { recoveryCodes };
  });

  router.delete('/Me/TOTP', auth, async (ctx) => {
    const userId = me(ctx);
    if (!(await factors.totp.isEnrolled(userId))) throw new HttpError(404, 'not_enrolled', 'No authenticator app is set up.');
    await assertCanRemove(services, userId, 'totp');
    if (!(await stepUpGiven(ctx, services, 'RemoveTOTP'))) return;
    if (!(await factors.totp.remove(userId))) throw new HttpError(404, 'not_enrolled', 'No authenticator app is set up.');
    await factors.afterPrimaryRemoved(userId);
    audit(ctx, 'factor.totp.removed');
    await changed(ctx, services, 'RemoveTOTP');
    ctx.status = 204;
  });

  // ── Recovery codes ──
  router.post('/Me/RecoveryCodes', auth, async (ctx) => {
    if (!services.config.RecoveryCodesEnabled) throw new HttpError(400, 'method_unavailable', 'Recovery codes are turned off.');
    const userId = me(ctx);
    if (!Factors.hasPrimary(await factors.summary(userId))) {
      throw new HttpError(409, 'no_factor', 'Recovery codes back up a second factor: set one up first.');
    }
    if (!(await stepUpGiven(ctx, services, 'RegenerateRecoveryCodes'))) return;
    const recoveryCodes = await factors.recovery.generate(userId);
    audit(ctx, 'factor.recovery.generated');
    await changed(ctx, services, 'RegenerateRecoveryCodes');
    noStore(ctx);
    ctx.body = { recoveryCodes };
  });

  // ── Passkeys ──
  router.post('/Me/Passkeys/Options', auth, async (ctx) => {
    if (!services.config.PasskeysEnabled) throw new HttpError(400, 'method_unavailable', 'Passkeys are turned off.');
    const userId = me(ctx);
    if (!(await stepUpGiven(ctx, services, 'AddPasskey'))) return;
    noStore(ctx);
    ctx.body = await factors.passkeys.registrationOptions({ id: userId, name: await nameOf(services, userId) }, rpOf(ctx, services));
  });

  router.post('/Me/Passkeys', auth, async (ctx) => {
    if (!services.config.PasskeysEnabled) throw new HttpError(400, 'method_unavailable', 'Passkeys are turned off.');
    const input = await readJson(ctx, RegisterPasskeyRequestSchema);
    const userId = me(ctx);
    const wasFirst = !Factors.hasPrimary(await factors.summary(userId));
    const r = await factors.passkeys.verifyRegistration(userId, input.response as unknown as RegistrationResponseJSON, input.name ?? 'Passkey');
    if (!r.ok) {
      if (r.reason === 'duplicate_credential') throw new HttpError(409, 'duplicate_credential', 'This passkey is already registered.');
      throw new HttpError(400, r.reason === 'unknown_ceremony' ? 'unknown_ceremony' : 'invalid_passkey', 'The passkey could not be registered. Try again.');
    }
    const recoveryCodes = wasFirst ? await enrolledFirstFactor(ctx, services, userId, await nameOf(services, userId), 'passkey') : [];
    if (!wasFirst) audit(ctx, 'factor.passkey.registered', { credentialId: r.passkey.id });
    await changed(ctx, services, 'AddPasskey', r.passkey.id, r.passkey.name);
    noStore(ctx);
    ctx.status = 201;
    ctx.body = { ...presentPasskey(r.passkey), recoveryCodes };
  });

  router.patch('/Me/Passkeys/:id', auth, async (ctx) => {
    const input = await readJson(ctx, RenamePasskeyRequestSchema);
    const userId = me(ctx);
    const id = ctx.params.id ?? '';
    if (!(await factors.passkeys.rename(userId, id, input.name))) throw new HttpError(404, 'unknown_passkey', 'No such passkey.');
    audit(ctx, 'factor.passkey.renamed', { credentialId: id });
    const p = (await factors.passkeys.list(userId)).find((x) => x.id === id)!;
    ctx.body = presentPasskey(p);
  });

  router.delete('/Me/Passkeys/:id', auth, async (ctx) => {
    const userId = me(ctx);
    const id = ctx.params.id ?? '';
    const passkey = (await factors.passkeys.list(userId)).find((p) => p.id === id);
    if (!passkey) throw new HttpError(404, 'unknown_passkey', 'No such passkey.');
    await assertCanRemove(services, userId, 'passkey', id);
    if (!(await stepUpGiven(ctx, services, 'RemovePasskey', id))) return;
    if (!(await factors.passkeys.remove(userId, id))) throw new HttpError(404, 'unknown_passkey', 'No such passkey.');
    await factors.afterPrimaryRemoved(userId);
    audit(ctx, 'factor.passkey.removed', { credentialId: id });
    await changed(ctx, services, 'RemovePasskey', id, passkey.name);
    ctx.status = 204;
  });

  // ── E-mail ──
  router.put('/Me/Email', auth, async (ctx) => {
    if (!factors.email.enabled) throw new HttpError(400, 'method_unavailable', 'E-mail codes are turned off.');
    const input = await readJson(ctx, SetEmailRequestSchema);
    if (!isEmailAddress(input.email)) throw new HttpError(400, 'invalid_request', 'email: must be an e-mail address');
    const userId = me(ctx);
    if (!(await stepUpGiven(ctx, services, 'SetEmail'))) return;
    const r = await factors.email.sendConfirmation(userId, input.email, ctx.state.client.ip, await nameOf(services, userId));
    if (r.reason === 'rate_limited') throw new HttpError(429, 'too_many_emails', 'Too many codes were sent. Try again later.');
    audit(ctx, 'factor.email.code_sent', { purpose: 'confirm' });
    noStore(ctx);
    ctx.status = 202;
    ctx.body = { status: 'confirmation_sent', message: 'A confirmation code was sent to that address.' };
  });

  router.post('/Me/Email/Confirm', auth, async (ctx) => {
    if (!factors.email.enabled) throw new HttpError(400, 'method_unavailable', 'E-mail codes are turned off.');
    const input = await readJson(ctx, ConfirmCodeRequestSchema);
    const userId = me(ctx);
    if (!(await factors.email.hasPendingConfirmation(userId))) throw new HttpError(409, 'no_pending', 'Give the new address first: no confirmation code is waiting.');
    services.stepUp.assertSessionMayTry(actorOf(ctx));
    const r = await factors.email.verify(userId, 'confirm', input.code);
    if (!r.ok) return wrongCode(ctx, services, 'email');
    const previous = (await factors.email.address(userId))?.email ?? null;
    await factors.email.setAddress(userId, r.email, 'self');
    audit(ctx, 'factor.email.confirmed', { setBy: 'self' });
    await changed(ctx, services, 'SetEmail', r.email, r.email, previous !== r.email ? previous : null);
    const a = (await factors.email.address(userId))!;
    noStore(ctx);
    ctx.body = { address: a.email, setBy: a.setBy, confirmedAt: new Date(a.confirmedAt).toISOString() };
  });

  router.delete('/Me/Email', auth, async (ctx) => {
    const userId = me(ctx);
    const address = await factors.email.address(userId);
    if (!address) throw new HttpError(404, 'not_enrolled', 'No e-mail address is set.');
    await assertCanRemove(services, userId, 'email');
    if (!(await stepUpGiven(ctx, services, 'RemoveEmail'))) return;
    if (!(await factors.email.removeAddress(userId))) throw new HttpError(404, 'not_enrolled', 'No e-mail address is set.');
    await factors.afterPrimaryRemoved(userId);
    audit(ctx, 'factor.email.removed');
    await changed(ctx, services, 'RemoveEmail', address.email, address.email, address.email); // the removed address is told
    ctx.status = 204;
  });

  // ── Trusted browsers ──
  router.get('/Me/TrustedBrowsers', auth, async (ctx) => {
    noStore(ctx);
    ctx.body = (await factors.trustedBrowsers.list(me(ctx))).map(presentTrustedBrowser);
  });

  router.delete('/Me/TrustedBrowsers/:id', auth, async (ctx) => {
    const id = ctx.params.id ?? '';
    if (!(await factors.trustedBrowsers.revoke(me(ctx), id))) throw new HttpError(404, 'unknown_trusted_browser', 'No such trusted browser.');
    audit(ctx, 'trusted_browser.revoked', { trustedBrowserId: id });
    ctx.status = 204;
  });
}
