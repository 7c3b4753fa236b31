import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { ENDPOINTS } from '../../shared/api/endpoints.ts';
import type { LoginOptions } from '../../shared/api/factors.ts';
import type { Config } from '../config/index.ts';
import { Factors } from '../factors/index.ts';
import { afterEnrollment } from '../factors/enrolled.ts';
import type { UserDirectory } from '../gate/users.ts';
import type { ChallengeRow, LoginChallenges } from '../login/challenge-store.ts';
import type { ChallengeService } from '../login/challenges.ts';
import { assertCodeShape } from '../factors/code-shape.ts';
import { browserOf, noStore, rpOf, sendChallengeAnswer } from './http.ts';
import type { RouteContext } from './route.ts';

/**
 * The login challenge's public endpoints: the challenge id is the bearer (a login whose password Jellyfin
 * already accepted). The checks themselves live in server/login/challenges.ts; which guards what:
 *
 *   route                          | challenge state | attempt spent | per-user lock | method must be offered
 *   VerifyTOTP / RecoveryCode /    | pending         | yes           | yes           | totp / recovery / email
 *     EmailOTP                     |                 |               |               |
 *   VerifyPasskey                  | pending         | yes           | yes           | passkey
 *   VerifyPasskey/Options          | pending         | no            | no            | passkey
 *   SendEmailOTP                   | (any; 202)      | no            | no            | email (silently)
 *   Challenge/EnrollTOTP[/Confirm] | pending         | Confirm: yes  | Confirm: yes  | enroll (user has no factor)
 *   Challenge/EnrollPasskey[/…]    | pending         | Verify: yes   | Verify: yes   | enroll (user has no factor)
 *   Challenge/Complete             | satisfied       | no            | no            | —
 */

type Ctx<K extends keyof typeof ENDPOINTS> = RouteContext<(typeof ENDPOINTS)[K]>;

export interface LoginChallengeDeps {
  config: Config;
  factors: Factors;
  /** The checks of a held login's second step. */
  challenge: ChallengeService;
  /** The held logins themselves (SendEmailOTP looks one up without any check). */
  challenges: LoginChallenges;
  users: UserDirectory;
}

/** What the login page may offer, from the configuration (also part of GET Me). */
export function loginOptions(c: Config, emailEnabled: boolean): LoginOptions {
  return {
    totp: c.TOTPEnabled,
    passkeys: c.PasskeysEnabled,
    email: emailEnabled,
    recoveryCodes: c.RecoveryCodesEnabled,
    totpInPassword: c.AllowTOTPInPassword && c.TOTPEnabled,
    trustedDeviceDays: c.TrustedDeviceDays,
    showBuiltIn2FAButton: c.ShowBuiltIn2FAButton,
    showBuiltInPasskeyButton: c.ShowBuiltInPasskeyButton && c.PasskeysEnabled,
  };
}

export function loginChallengeHandlers(d: LoginChallengeDeps) {
  const { config, factors, challenge } = d;

  /** A first factor set up inside the challenge: audited, recovery codes with it, the sign-in may complete. */
  const enrolled = async (ctx: Ctx<'ChallengeEnrollTOTPConfirm'> | Ctx<'ChallengeEnrollPasskey'>, row: ChallengeRow, kind: 'totp' | 'passkey') => {
    const recoveryCodes = await afterEnrollment(factors, config.RecoveryCodesEnabled, { userId: row.user_id, userName: row.user_name, ip: ctx.state.client.ip }, kind);
    await challenge.enrolled(row, kind);
    noStore(ctx);
    ctx.body = { status: 'enrolled', recoveryCodes };
  };

  return {
    options(ctx: Ctx<'LoginOptions'>) {
      ctx.body = loginOptions(config, factors.email.enabled);
    },

    async info(ctx: Ctx<'Challenge'>) {
      const info = await challenge.info(ctx.params.challengeId);
      noStore(ctx);
      ctx.body = info;
    },

    // ── Codes ──
    async verifyTotp(ctx: Ctx<'VerifyTOTP'>) {
      const { challengeId, code, trustBrowser } = ctx.input;
      sendChallengeAnswer(ctx, await challenge.verifyCode(challengeId, 'totp', code, (row) => factors.totp.verify(row.user_id, code), browserOf(ctx), trustBrowser));
    },

    async verifyRecoveryCode(ctx: Ctx<'VerifyRecoveryCode'>) {
      const { challengeId, code, trustBrowser } = ctx.input;
      const check = async (row: { user_id: string; user_name: string }) => {
        const ok = await factors.recovery.redeem(row.user_id, code);
        if (ok) {
          factors.audit({
            type: 'factor.recovery.used',
            outcome: 'success',
            userId: row.user_id,
            userName: row.user_name,
            ip: ctx.state.client.ip,
            detail: { remaining: await factors.recovery.remaining(row.user_id) },
          });
        }
        return ok;
      };
      sendChallengeAnswer(ctx, await challenge.verifyCode(challengeId, 'recovery', code, check, browserOf(ctx), trustBrowser));
    },

    async verifyEmailCode(ctx: Ctx<'VerifyEmailOTP'>) {
      const { challengeId, code, trustBrowser } = ctx.input;
      const check = async (row: { user_id: string }) => (await factors.email.verify(row.user_id, 'login', code)).ok;
      sendChallengeAnswer(ctx, await challenge.verifyCode(challengeId, 'email', code, check, browserOf(ctx), trustBrowser));
    },

    /** Always the same 202, whether or not a user, an address or a code exists (or the limits refused). */
    async sendEmailCode(ctx: Ctx<'SendEmailOTP'>) {
      const input = ctx.input;
      const ip = ctx.state.client.ip;
      let userId: string | undefined;
      let userName: string | undefined;
      let fromChallenge = false;
      if (input.challengeId) {
        const row = await d.challenges.get(input.challengeId);
        if (row && row.state === 'pending' && Factors.methods(await factors.summary(row.user_id)).includes('email')) {
          userId = row.user_id;
          userName = row.user_name;
          fromChallenge = true;
        }
      } else if (input.username) {
        const user = await d.users.byName(input.username);
        userId = user?.id;
        userName = user?.name;
      }
      const outcome = await factors.email.sendLoginCode(userId, ip, userName, fromChallenge);
      if (outcome.sent) {
        factors.audit({ type: 'factor.email.code_sent', outcome: 'info', userId, userName, ip, detail: { purpose: 'login' } });
      }
      noStore(ctx);
      ctx.status = 202;
      ctx.body = { status: 'accepted', message: 'If this account can receive codes by e-mail, one is on its way.' };
    },

    // ── Passkeys ──
    async passkeyOptions(ctx: Ctx<'VerifyPasskeyOptions'>) {
      const row = await challenge.live(ctx.input.challengeId);
      await challenge.offered(row, 'passkey');
      noStore(ctx);
      ctx.body = await factors.passkeys.authenticationOptions(row.user_id, rpOf(ctx, config.PublicUrl), row.id);
    },

    async verifyPasskey(ctx: Ctx<'VerifyPasskey'>) {
      const input = ctx.input;
      const row = await challenge.live(input.challengeId);
      await challenge.offered(row, 'passkey');
      await challenge.beginAttempt(row, { guess: false });
      const r = await factors.passkeys.verifyAuthentication(row.user_id, input.response as unknown as AuthenticationResponseJSON, row.id);
      if (!r.ok) {
        if (r.reason === 'counter_regression') {
          factors.audit({
            type: 'factor.passkey.counter_regression',
            outcome: 'refused',
            userId: row.user_id,
            userName: row.user_name,
            ip: ctx.state.client.ip,
            detail: { credentialId: r.credentialId },
          });
        }
        return sendChallengeAnswer(ctx, await challenge.wrongCode(row, 'passkey', ctx.state.client.ip, { reason: r.reason }));
      }
      sendChallengeAnswer(ctx, await challenge.release(row, 'passkey', 'pending', browserOf(ctx), input.trustBrowser));
    },

    // ── Enrollment inside a challenge (users without any factor whom policy requires to have one) ──
    async enrollTotp(ctx: Ctx<'ChallengeEnrollTOTP'>) {
      const row = await challenge.live(ctx.input.challengeId);
      await challenge.offered(row, 'enroll');
      noStore(ctx);
      ctx.body = await factors.totp.beginEnrollment(row.user_id, row.user_name);
    },

    async enrollTotpConfirm(ctx: Ctx<'ChallengeEnrollTOTPConfirm'>) {
      const row = await challenge.live(ctx.input.challengeId);
      await challenge.offered(row, 'enroll');
      assertCodeShape('totp', ctx.input.code);
      await challenge.beginAttempt(row);
      if (!(await factors.totp.confirmEnrollment(row.user_id, ctx.input.code))) {
        return sendChallengeAnswer(ctx, await challenge.wrongCode(row, 'totp', ctx.state.client.ip, { enrollment: true }));
      }
      await enrolled(ctx, row, 'totp');
    },

    async enrollPasskeyOptions(ctx: Ctx<'ChallengeEnrollPasskeyOptions'>) {
      const row = await challenge.live(ctx.input.challengeId);
      await challenge.offered(row, 'enroll');
      noStore(ctx);
      ctx.body = await factors.passkeys.registrationOptions({ id: row.user_id, name: row.user_name }, rpOf(ctx, config.PublicUrl), row.id);
    },

    async enrollPasskey(ctx: Ctx<'ChallengeEnrollPasskey'>) {
      const input = ctx.input;
      const row = await challenge.live(input.challengeId);
      await challenge.offered(row, 'enroll');
      await challenge.beginAttempt(row);
      const r = await factors.passkeys.verifyRegistration(row.user_id, input.response as unknown as RegistrationResponseJSON, input.name ?? 'Passkey', row.id);
      if (!r.ok) return sendChallengeAnswer(ctx, await challenge.wrongCode(row, 'passkey', ctx.state.client.ip, { enrollment: true, reason: r.reason }));
      await enrolled(ctx, row, 'passkey');
    },

    async complete(ctx: Ctx<'ChallengeComplete'>) {
      const row = await challenge.live(ctx.input.challengeId, 'satisfied');
      sendChallengeAnswer(ctx, await challenge.release(row, row.method ?? 'enroll', 'satisfied', browserOf(ctx), ctx.input.trustBrowser));
    },
  };
}
