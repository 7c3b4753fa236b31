/**
 * The sign-in page's steps (the page only renders them): password → (choose a second step) → the step →
 * signed in. Each step calls lib/signin.ts; errors become one sentence (handle-error.ts).
 */
import type { TotpEnrollment } from '../../../shared/api/factors.ts';
import { API_ERRORS } from '../../../shared/api/errors.ts';
import { ApiError } from './api.ts';
import { deviceName } from '../../common/device.ts';
import { messageOf } from './handle-error.ts';
import {
  beginTotpInChallenge,
  challengeInfo,
  completeChallenge,
  confirmTotpInChallenge,
  enrollPasskeyInChallenge,
  passkeyAlone,
  sendEmailCode,
  startPhoneApproval,
  submitPassword,
  verifyCode,
  verifyPasskey,
  waitForPhone,
  type Challenge,
  type ChallengeInfo,
} from './signin.ts';

export type Method = 'phone' | 'passkey' | 'totp' | 'email' | 'recovery';
export const METHOD_ORDER: Method[] = ['phone', 'passkey', 'totp', 'email', 'recovery'];

export const METHOD_TEXT: Record<Method, { title: string; sub: string }> = {
  phone: { title: 'Approve on my phone', sub: 'Your phone with Jellyguard gets a notification.' },
  passkey: { title: 'Use a passkey', sub: 'Fingerprint, face or screen lock, or a security key.' },
  totp: { title: 'Code from my authenticator app', sub: 'The 6 digits your app shows for this server.' },
  email: { title: 'Send me a code by e-mail', sub: 'We send a code to your e-mail address.' },
  recovery: { title: 'Use a recovery code', sub: 'One of the codes you saved when you set up your account.' },
};

export type Step =
  | { name: 'password' }
  | { name: 'choose' }
  | { name: 'code'; method: 'totp' | 'email' | 'recovery'; sent?: boolean }
  | { name: 'passkey' }
  | { name: 'phone'; number: string | null; expiresAt: string | null; note: string | null }
  | { name: 'enroll' }
  | { name: 'enroll-totp'; enrollment: TotpEnrollment }
  | { name: 'recovery-codes'; codes: string[] }
  | { name: 'done' };

export class SignInFlow {
  step = $state<Step>({ name: 'password' });
  username = $state('');
  password = $state('');
  challenge = $state<Challenge | null>(null);
  info = $state<ChallengeInfo | null>(null);
  busy = $state(false);
  error = $state<string | null>(null);
  #phoneRun = 0;

  /** The second steps this account can use here, in the order people prefer them. */
  get methods(): Method[] {
    const offered = this.info?.methods ?? this.challenge?.methods ?? [];
    return METHOD_ORDER.filter((m) => offered.includes(m));
  }

  async #run(fn: () => Promise<void>): Promise<void> {
    this.busy = true;
    this.error = null;
    try {
      await fn();
    } catch (err) {
      this.error = this.#explain(err);
    } finally {
      this.busy = false;
    }
  }

  #explain(err: unknown): string {
    if (err instanceof ApiError) {
      if (err.code === 'invalid_code') {
        const left = typeof err.body.attemptsLeft === 'number' ? err.body.attemptsLeft : null;
        return left !== null && left <= 2 ? `That code is not right. ${left} ${left === 1 ? 'try' : 'tries'} left.` : 'That code is not right. Try again.';
      }
      if (err.code === 'challenge_failed') {
        this.#restart();
        return API_ERRORS.challenge_failed.message; // the same words as the web login's
      }
      if (err.code === 'unknown_challenge' || err.code === 'challenge_expired' || err.status === 410 && err.code.startsWith('challenge')) {
        this.#restart();
        return 'This sign-in has ended. Enter your password again.';
      }
    }
    return messageOf(err);
  }

  #restart(): void {
    this.#phoneRun++;
    this.challenge = null;
    this.info = null;
    this.password = '';
    this.step = { name: 'password' };
  }

  submitPassword(): Promise<void> {
    return this.#run(async () => {
      const outcome = await submitPassword(this.username.trim(), this.password);
      this.password = '';
      if (outcome.kind === 'signed_in') {
        this.step = { name: 'done' };
        return;
      }
      this.challenge = outcome.challenge;
      this.info = await challengeInfo(outcome.challenge.challengeId).catch(() => null);
      if (outcome.challenge.methods.includes('enroll')) {
        this.step = { name: 'enroll' };
        return;
      }
      const methods = this.methods;
      if (methods.length === 1) this.choose(methods[0]!);
      else this.step = { name: 'choose' };
    });
  }

  /** "Sign in with a passkey": no user name, no password. */
  signInWithPasskey(): Promise<void> {
    return this.#run(async () => {
      await passkeyAlone();
      this.step = { name: 'done' };
    });
  }

  choose(method: Method): void {
    this.error = null;
    if (method === 'phone') void this.startPhone();
    else if (method === 'passkey') this.step = { name: 'passkey' };
    else this.step = { name: 'code', method };
  }

  back(): void {
    this.#phoneRun++;
    this.error = null;
    this.step = this.methods.length > 1 ? { name: 'choose' } : { name: 'password' };
    if (this.step.name === 'password') this.#restart();
  }

  startOver(): void {
    this.error = null;
    this.#restart();
  }

  submitCode(code: string): Promise<void> {
    const step = this.step;
    if (step.name !== 'code' || !this.challenge) return Promise.resolve();
    return this.#run(async () => {
      await verifyCode(step.method, this.challenge!.challengeId, code);
      this.step = { name: 'done' };
    });
  }

  sendEmail(): Promise<void> {
    return this.#run(async () => {
      await sendEmailCode(this.challenge!.challengeId);
      this.step = { name: 'code', method: 'email', sent: true };
    });
  }

  usePasskey(): Promise<void> {
    return this.#run(async () => {
      await verifyPasskey(this.challenge!.challengeId);
      this.step = { name: 'done' };
    });
  }

  /** Ask the enrolled phone, then wait for it (long polls) until it answers or the user goes back. */
  async startPhone(): Promise<void> {
    const run = ++this.#phoneRun;
    const id = this.challenge!.challengeId;
    this.step = { name: 'phone', number: null, expiresAt: null, note: null };
    await this.#run(async () => {
      const started = await startPhoneApproval(id);
      if (run !== this.#phoneRun) return;
      const note = started.pushed ? null : started.pushSkipped === 'no_subscription' ? 'Your phone cannot get notifications: open Jellyguard on it to see the request.' : 'Open Jellyguard on your phone to see the request.';
      this.step = { name: 'phone', number: started.number, expiresAt: started.expiresAt, note };
    });
    if (this.error) return;
    let failures = 0;
    while (run === this.#phoneRun) {
      try {
        const r = await waitForPhone(id, 25);
        if (run !== this.#phoneRun) return;
        if (r.state === 'signed_in') {
          this.step = { name: 'done' };
          return;
        }
        failures = 0;
      } catch (err) {
        if (run !== this.#phoneRun) return;
        if (err instanceof ApiError && err.status === 410) {
          this.error =
            err.code === 'approval_denied' || err.code === 'approval_reported'
              ? 'The sign-in was denied on your phone.'
              : 'The phone did not answer in time. Try again, or choose another way.';
          if (err.code === 'approval_expired') this.step = { name: 'choose' };
          else this.#restart();
          return;
        }
        if (++failures >= 5) {
          this.error = messageOf(err);
          return;
        }
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  }

  /** No second factor yet but one is required: make this phone's passkey the first one. */
  enrollPasskey(): Promise<void> {
    return this.#run(async () => {
      const codes = await enrollPasskeyInChallenge(this.challenge!.challengeId, deviceName());
      if (codes.length) this.step = { name: 'recovery-codes', codes };
      else await this.complete();
    });
  }

  beginTotp(): Promise<void> {
    return this.#run(async () => {
      this.step = { name: 'enroll-totp', enrollment: await beginTotpInChallenge(this.challenge!.challengeId) };
    });
  }

  confirmTotp(code: string): Promise<void> {
    return this.#run(async () => {
      const codes = await confirmTotpInChallenge(this.challenge!.challengeId, code);
      if (codes.length) this.step = { name: 'recovery-codes', codes };
      else await this.complete();
    });
  }

  /** After the recovery codes were shown: release the login. */
  complete(): Promise<void> {
    return this.#run(async () => {
      await completeChallenge(this.challenge!.challengeId);
      this.step = { name: 'done' };
    });
  }
}
