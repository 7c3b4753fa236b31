import type { RegistrationResponseJSON } from '@simplewebauthn/server';
import type { ENDPOINTS } from '../../shared/api/endpoints.ts';
import type { MeResponse } from '../../shared/api/factors.ts';
import type { Config } from '../config/index.ts';
import type { GatewayContext } from '../context.ts';
import { apiError } from '../errors.ts';
import { Factors, type FactorKind } from '../factors/index.ts';
import { afterEnrollment } from '../factors/enrolled.ts';
import { isEmailAddress } from '../factors/email.ts';
import type { UserDirectory } from '../gate/users.ts';
import type { StepUp } from '../stepup/index.ts';
import type { ChangeRecorder } from './factor-change.ts';
import { actorOf, isoOrNull, me, noStore, rpOf } from './http.ts';
import { loginOptions } from './login-challenge.ts';
import { presentPasskey, presentTrustedBrowser } from './presenters.ts';
import type { RouteContext } from './route.ts';

/**
 * Self-service second factors under `Me` (shared/api/factors.ts). Confirmation codes make the session
 * wait after too many wrong ones, like step-up.
 *
 * Every change to the account's factors is a step-up action (the route table says which): it needs a
 * fresh proof from a factor the account already has — asked at the first step of a two-step addition,
 * before the QR code or the passkey prompt — and the owner's phones and e-mail are told of it. Removing a
 * factor is refused when it is the user's last one and policy requires a factor (add the new one first).
 */

type Ctx<K extends keyof typeof ENDPOINTS> = RouteContext<(typeof ENDPOINTS)[K]>;

export interface MeDeps {
  config: Config;
  factors: Factors;
  users: UserDirectory;
  stepUp: StepUp;
  changed: ChangeRecorder;
}

/**
 * Refuse to remove the last factor of a user who must have one. Shared with the removal of a phone,
 * whose passkey is a factor.
 */
export async function assertCanRemove(
  factors: Factors,
  users: UserDirectory,
  userId: string,
  removing: 'totp' | 'passkey' | 'email',
  passkeyId?: string,
  message = 'This is your last second factor and one is required: add another first.',
): Promise<void> {
  const s = await factors.summary(userId);
  const raw = {
    totp: await factors.totp.isEnrolled(userId),
    passkeys: await factors.passkeys.count(userId),
    email: factors.email.enabled ? ((await factors.email.address(userId))?.email ?? null) : null,
  };
  const remaining =
    (removing === 'totp' ? false : raw.totp) ||
    (removing === 'passkey' && passkeyId ? raw.passkeys - 1 : raw.passkeys) > 0 ||
    (removing === 'email' ? null : raw.email) !== null;
  if (remaining) return;
  const after = { ...s, totp: false, passkeys: 0, email: null, enrolled: false };
  const known = await users.get(userId);
  const requirement = await factors.requirement(userId, known?.isAdmin === true, after);
  if (requirement.required) throw apiError('factor_required', message);
}

export function meHandlers({ config, factors, users, stepUp, changed }: MeDeps) {
  const nameOf = async (userId: string) => (await users.get(userId))?.name ?? userId;
  const audit = (ctx: GatewayContext, type: Parameters<Factors['audit']>[0]['type'], detail?: Record<string, unknown>) =>
    factors.audit({ type, outcome: 'success', userId: me(ctx), ip: ctx.state.client.ip, deviceId: ctx.state.session?.deviceId, detail });

  /**
   * A wrong self-service confirmation code (the first code of a new authenticator app, the code mailed to a
   * new address). Both confirm a set-up this session began with a proof, so a wrong one guesses at nothing
   * the account has: it makes the session wait at MaxFailedAttempts and is audited — never a strike against
   * the household's address, nor against the user's name or codes.
   */
  const wrongCode = async (ctx: GatewayContext, kind: FactorKind): Promise<never> => {
    const userId = me(ctx);
    factors.audit({ type: 'factor.failure', outcome: 'failure', userId, userName: await nameOf(userId), ip: ctx.state.client.ip, detail: { method: kind } });
    await stepUp.countSessionFailure(actorOf(ctx), { signOut: false });
    throw apiError('invalid_code', 'That code is not right. Check it and try again.');
  };

  return {
    async me(ctx: Ctx<'Me'>) {
      const userId = me(ctx);
      const known = await users.get(userId);
      const [totp, passkeys, email, recoveryCodesRemaining, trusted, summary] = await Promise.all([
        factors.totp.status(userId),
        factors.passkeys.list(userId),
        factors.email.address(userId),
        factors.recovery.remaining(userId),
        factors.trustedBrowsers.list(userId),
        factors.summary(userId),
      ]);
      const requirement = await factors.requirement(userId, known?.isAdmin === true, summary);
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
        options: loginOptions(config, factors.email.enabled),
      };
      noStore(ctx);
      ctx.body = body;
    },

    // ── TOTP ──
    beginTotp: {
      async check(ctx: Ctx<'MeTOTP'>) {
        // One authenticator app at a time: replacing it would make "This wasn't me" unable to give it back.
        if (await factors.totp.isEnrolled(me(ctx))) throw apiError('already_enrolled', 'An authenticator app is already set up: remove it first to set up another.');
      },
      async run(ctx: Ctx<'MeTOTP'>) {
        const userId = me(ctx);
        noStore(ctx);
        ctx.body = await factors.totp.beginEnrollment(userId, await nameOf(userId));
      },
    },

    async confirmTotp(ctx: Ctx<'MeTOTPConfirm'>) {
      const userId = me(ctx);
      if (!(await factors.totp.status(userId)).pending) throw apiError('no_enrollment', 'Start the TOTP set-up first.');
      stepUp.assertSessionMayTry(actorOf(ctx));
      if (!(await factors.totp.confirmEnrollment(userId, ctx.input.code))) return wrongCode(ctx, 'totp');
      const recoveryCodes = await afterEnrollment(factors, config.RecoveryCodesEnabled, { userId, userName: await nameOf(userId), ip: ctx.state.client.ip }, 'totp');
      await changed(ctx, 'AddTOTP');
      noStore(ctx);
      ctx.body = { recoveryCodes };
    },

    removeTotp: {
      async check(ctx: Ctx<'MeTOTPRemove'>) {
        const userId = me(ctx);
        if (!(await factors.totp.isEnrolled(userId))) throw apiError('not_enrolled', 'No authenticator app is set up.');
        await assertCanRemove(factors, users, userId, 'totp');
      },
      async run(ctx: Ctx<'MeTOTPRemove'>) {
        const userId = me(ctx);
        if (!(await factors.totp.remove(userId))) throw apiError('not_enrolled', 'No authenticator app is set up.');
        await factors.afterPrimaryRemoved(userId);
        audit(ctx, 'factor.totp.removed');
        await changed(ctx, 'RemoveTOTP');
        ctx.status = 204;
      },
    },

    // ── Recovery codes ──
    regenerateRecoveryCodes: {
      async check(ctx: Ctx<'MeRecoveryCodes'>) {
        if (!Factors.hasPrimary(await factors.summary(me(ctx)))) throw apiError('no_factor', 'Recovery codes back up a second factor: set one up first.');
      },
      async run(ctx: Ctx<'MeRecoveryCodes'>) {
        const recoveryCodes = await factors.recovery.generate(me(ctx));
        audit(ctx, 'factor.recovery.generated');
        await changed(ctx, 'RegenerateRecoveryCodes');
        noStore(ctx);
        ctx.body = { recoveryCodes };
      },
    },

    // ── Passkeys ──
    passkeyOptions: {
      async run(ctx: Ctx<'MePasskeysOptions'>) {
        const userId = me(ctx);
        noStore(ctx);
        ctx.body = await factors.passkeys.registrationOptions({ id: userId, name: await nameOf(userId) }, rpOf(ctx, config.PublicUrl));
      },
    },

    async registerPasskey(ctx: Ctx<'MePasskeysRegister'>) {
      const input = ctx.input;
      const userId = me(ctx);
      const wasFirst = !Factors.hasPrimary(await factors.summary(userId));
      const r = await factors.passkeys.verifyRegistration(userId, input.response as unknown as RegistrationResponseJSON, input.name ?? 'Passkey');
      if (!r.ok) {
        if (r.reason === 'duplicate_credential') throw apiError('duplicate_credential');
        throw apiError(r.reason === 'unknown_ceremony' ? 'unknown_ceremony' : 'invalid_passkey', 'The passkey could not be registered. Try again.');
      }
      const recoveryCodes = wasFirst ? await afterEnrollment(factors, config.RecoveryCodesEnabled, { userId, userName: await nameOf(userId), ip: ctx.state.client.ip }, 'passkey') : [];
      if (!wasFirst) audit(ctx, 'factor.passkey.registered', { credentialId: r.passkey.id });
      await changed(ctx, 'AddPasskey', r.passkey.id, r.passkey.name);
      noStore(ctx);
      ctx.status = 201;
      ctx.body = { ...presentPasskey(r.passkey), recoveryCodes };
    },

    async renamePasskey(ctx: Ctx<'MePasskeyRename'>) {
      const userId = me(ctx);
      const id = ctx.params.id;
      if (!(await factors.passkeys.rename(userId, id, ctx.input.name))) throw apiError('unknown_passkey');
      audit(ctx, 'factor.passkey.renamed', { credentialId: id });
      const p = (await factors.passkeys.list(userId)).find((x) => x.id === id)!;
      ctx.body = presentPasskey(p);
    },

    removePasskey: {
      async check(ctx: Ctx<'MePasskeyRemove'>) {
        const userId = me(ctx);
        const id = ctx.params.id;
        const passkey = (await factors.passkeys.list(userId)).find((p) => p.id === id);
        if (!passkey) throw apiError('unknown_passkey');
        await assertCanRemove(factors, users, userId, 'passkey', id);
        return passkey;
      },
      async run(ctx: Ctx<'MePasskeyRemove'>, passkey: { name: string }) {
        const userId = me(ctx);
        const id = ctx.params.id;
        if (!(await factors.passkeys.remove(userId, id))) throw apiError('unknown_passkey');
        await factors.afterPrimaryRemoved(userId);
        audit(ctx, 'factor.passkey.removed', { credentialId: id });
        await changed(ctx, 'RemovePasskey', id, passkey.name);
        ctx.status = 204;
      },
    },

    // ── E-mail ──
    setEmail: {
      check(ctx: Ctx<'MeEmailSet'>) {
        if (!isEmailAddress(ctx.input.email)) throw apiError('invalid_request', 'email: must be an e-mail address');
      },
      async run(ctx: Ctx<'MeEmailSet'>) {
        const userId = me(ctx);
        const r = await factors.email.sendConfirmation(userId, ctx.input.email, ctx.state.client.ip, await nameOf(userId));
        if (r.reason === 'rate_limited') throw apiError('too_many_emails');
        audit(ctx, 'factor.email.code_sent', { purpose: 'confirm' });
        noStore(ctx);
        ctx.status = 202;
        ctx.body = { status: 'confirmation_sent', message: 'A confirmation code was sent to that address.' };
      },
    },

    async confirmEmail(ctx: Ctx<'MeEmailConfirm'>) {
      const userId = me(ctx);
      if (!(await factors.email.hasPendingConfirmation(userId))) throw apiError('no_pending', 'Give the new address first: no confirmation code is waiting.');
      stepUp.assertSessionMayTry(actorOf(ctx));
      const r = await factors.email.verify(userId, 'confirm', ctx.input.code);
      if (!r.ok) return wrongCode(ctx, 'email');
      const previous = (await factors.email.address(userId))?.email ?? null;
      await factors.email.setAddress(userId, r.email, 'self');
      audit(ctx, 'factor.email.confirmed', { setBy: 'self' });
      await changed(ctx, 'SetEmail', r.email, r.email, previous !== r.email ? previous : null);
      const a = (await factors.email.address(userId))!;
      noStore(ctx);
      ctx.body = { address: a.email, setBy: a.setBy, confirmedAt: new Date(a.confirmedAt).toISOString() };
    },

    removeEmail: {
      async check(ctx: Ctx<'MeEmailRemove'>) {
        const userId = me(ctx);
        const address = await factors.email.address(userId);
        if (!address) throw apiError('not_enrolled', 'No e-mail address is set.');
        await assertCanRemove(factors, users, userId, 'email');
        return address;
      },
      async run(ctx: Ctx<'MeEmailRemove'>, address: { email: string }) {
        const userId = me(ctx);
        if (!(await factors.email.removeAddress(userId))) throw apiError('not_enrolled', 'No e-mail address is set.');
        await factors.afterPrimaryRemoved(userId);
        audit(ctx, 'factor.email.removed');
        await changed(ctx, 'RemoveEmail', address.email, address.email, address.email); // the removed address is told
        ctx.status = 204;
      },
    },

    // ── Trusted browsers ──
    async trustedBrowsers(ctx: Ctx<'MeTrustedBrowsers'>) {
      noStore(ctx);
      ctx.body = (await factors.trustedBrowsers.list(me(ctx))).map(presentTrustedBrowser);
    },

    async revokeTrustedBrowser(ctx: Ctx<'MeTrustedBrowserRevoke'>) {
      const id = ctx.params.id;
      if (!(await factors.trustedBrowsers.revoke(me(ctx), id))) throw apiError('unknown_trusted_browser');
      audit(ctx, 'trusted_browser.revoked', { trustedBrowserId: id });
      ctx.status = 204;
    },
  };
}
