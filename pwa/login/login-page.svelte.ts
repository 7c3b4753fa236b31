/**
 * The web login's page model: user name and password, then the account's second factor (or setting one
 * up when the server requires it), "trust this browser", and the hand-over to jellyfin-web
 * (session.ts) before going back to it. Login.svelte only draws `step`; the calls are api.ts and every
 * failure is worded by messages.ts.
 */
import { ApiError } from '../common/errors.ts';
import { preferredMethod, type FactorMethod } from '../common/methods.ts';
import { createPasskey, PasskeyError, passkeyAutofillSupported, passkeyName, signInWithPasskey, signWithPasskey } from '../common/passkey.ts';
import { LoginApi, type ChallengeInfo, type LoginOptions, type TotpEnrollment } from './api.ts';
import { describePasskeyFailure, describeProblem } from './messages.ts';
import type { PhoneWait } from './phone-wait.ts';
import { webClientAddress } from './return.ts';
import {
  authorizationHeader,
  browserDeviceId,
  browserDeviceName,
  readAuthenticationResult,
  saveJellyfinSession,
  type KeyValueStore,
  type PublicServerInfo,
} from './session.ts';

export type Step =
  | { kind: 'loading' }
  | { kind: 'unavailable' }
  | { kind: 'setup' }
  | { kind: 'password' }
  | { kind: 'factor'; challenge: ChallengeInfo; method: FactorMethod }
  | { kind: 'enroll'; challenge: ChallengeInfo; mode: 'choose' | 'totp' | 'passkey'; enrollment: TotpEnrollment | null }
  | { kind: 'codes'; challenge: ChallengeInfo; codes: string[] }
  | { kind: 'phone'; userName: string }
  | { kind: 'done'; userName: string };

const TITLES: Record<Step['kind'], string> = {
  loading: 'Sign in',
  unavailable: 'Sign in',
  setup: 'Set up Jellyfin',
  password: 'Sign in',
  factor: 'Two-step verification',
  enroll: 'Set up two-step verification',
  codes: 'Recovery codes',
  phone: 'Approve on your phone',
  done: 'Signed in',
};

/** What the page needs from the browser it runs in (the page passes the real ones). */
export interface LoginPageEnv {
  api: LoginApi;
  /** The BaseUrl ('' or like '/jellyfin'). */
  base: string;
  /** Where to go once signed in (already checked to be this server's web client). */
  returnTo: string;
  origin: string;
  userAgent: string;
  storage: KeyValueStore;
  /**
   * This tab's storage (sessionStorage): the open challenge's id lives there, so a reload resumes the
   * challenge (and its phone approval, never a second push) instead of asking for the password again.
   */
  tabStorage?: KeyValueStore & { removeItem(key: string): void };
  passkeySupported: boolean;
  /** TVs get the phone or a code first: nobody holds a security key up to a TV. */
  onTv: boolean;
  /** Leave for jellyfin-web (location.replace). */
  go: (url: string) => void;
  /** A sign-in begun elsewhere that continues here with its second step (single sign-on hands one over). */
  challengeId?: string | null;
  now?: () => number;
}

/** sessionStorage key of the challenge this tab is in. */
export const OPEN_CHALLENGE_KEY = 'jellyguard.challenge';

export class LoginPage {
  step = $state<Step>({ kind: 'loading' });
  server = $state<PublicServerInfo>({});
  options = $state<LoginOptions | null>(null);
  disclaimer = $state('');
  username = $state('');
  error = $state<string | null>(null);
  info = $state<string | null>(null);
  busy = $state(false);
  emailSent = $state(false);
  phone = $state<PhoneWait | null>(null);
  /** The single sign-on providers, one button each. */
  providers = $state<Array<{ id: string; buttonText: string }>>([]);
  #trust = $state(false);
  /** The phone approval being waited for; aborting it stops the long poll. */
  #phonePoll: AbortController | null = null;

  readonly serverName = $derived(this.server.ServerName?.trim() || 'Jellyfin');
  readonly title = $derived(`${TITLES[this.step.kind]} · ${this.serverName}`);

  readonly #env: LoginPageEnv;
  readonly #now: () => number;

  constructor(env: LoginPageEnv) {
    this.#env = env;
    this.#now = env.now ?? Date.now;
  }

  get passkeySupported(): boolean {
    return this.#env.passkeySupported;
  }

  /** "Trust this browser" travels with the poll that gets the phone's answer: a change restarts the wait. */
  get trust(): boolean {
    return this.#trust;
  }

  set trust(value: boolean) {
    if (value === this.#trust) return;
    this.#trust = value;
    const step = this.step;
    if (step.kind === 'factor' && step.method === 'phone' && this.#phonePoll && this.phone?.state === 'waiting') {
      this.#phonePoll.abort();
      const poll = new AbortController();
      this.#phonePoll = poll;
      void this.#waitForPhone(step.challenge, poll);
    }
  }

  async load(): Promise<void> {
    const { api } = this.#env;
    this.step = { kind: 'loading' };
    this.error = null;
    try {
      const [info, opts, brand] = await Promise.all([api.publicInfo(), api.loginOptions().catch(() => null), api.branding()]);
      this.server = info;
      this.options = opts;
      this.disclaimer = typeof brand.LoginDisclaimer === 'string' ? brand.LoginDisclaimer.trim() : '';
      if (info.StartupWizardCompleted === false) {
        this.step = { kind: 'setup' };
        return;
      }
      if (this.#env.challengeId) {
        // A single sign-on that needs the second step: its challenge, handed over by the callback page.
        const id = this.#env.challengeId;
        this.#env.challengeId = null;
        this.step = { kind: 'password' };
        await this.#enterChallenge(id).catch((e: unknown) => this.#fail(e));
        if (this.step.kind !== 'password') return;
      } else if (await this.#resume()) {
        return;
      }
      this.step = { kind: 'password' };
      void this.#offerPasswordless();
    } catch (e) {
      this.error = describeProblem(e).message;
      this.step = { kind: 'unavailable' };
    }
  }

  // ── Without a password: a passkey alone, or a single sign-on provider ──

  /** Whether "Sign in with a passkey" is offered (the server allows passkeys, this browser has WebAuthn, a domain name). */
  get passkeySignInOffered(): boolean {
    // A passkey belongs to a domain name: on an address like 192.168.1.10 no browser can use one.
    const host = new URL(this.#env.origin).hostname;
    const ipLiteral = host.startsWith('[') || /^\d+(\.\d+){3}$/.test(host);
    return this.#env.passkeySupported && this.options?.passkeys === true && !ipLiteral;
  }

  /** Where a provider's button goes (the gateway sends the browser on to the provider). */
  ssoHref(providerId: string): string {
    return this.#env.api.ssoAuthorizeUrl(providerId, this.#env.returnTo);
  }

  /** The providers' buttons, and the passkey offered in the user-name field's autofill where the browser can. */
  async #offerPasswordless(): Promise<void> {
    this.providers = await this.#env.api.ssoProviders().catch(() => []);
    if (this.passkeySignInOffered && (await passkeyAutofillSupported())) void this.#passkeySignIn(true);
  }

  /** "Sign in with a passkey": the browser asks which passkey; it names the user. */
  signInWithPasskey(): void {
    void this.#run(() => this.#passkeySignIn(false));
  }

  async #passkeySignIn(autofill: boolean): Promise<void> {
    const { api } = this.#env;
    let response: unknown;
    try {
      const optionsJSON = await api.passkeySignInOptions();
      response = await signInWithPasskey(optionsJSON, { autofill });
    } catch (e) {
      // The autofill offer waits quietly; it is cancelled whenever another ceremony starts.
      if (autofill) return;
      if (e instanceof PasskeyError) {
        this.error = describePasskeyFailure(e, false);
        return;
      }
      throw e;
    }
    if (autofill) {
      // Picked from the autofill: from here on it is like the button.
      return this.#run(async () => this.#finish(await api.passkeySignIn(response, this.#authorization())));
    }
    this.#finish(await api.passkeySignIn(response, this.#authorization()));
  }

  /** Back into the challenge this tab was in before a reload, while it is still open. */
  async #resume(): Promise<boolean> {
    const id = this.#env.tabStorage?.getItem(OPEN_CHALLENGE_KEY);
    if (!id) return false;
    try {
      await this.#enterChallenge(id);
      return true;
    } catch {
      // Over, expired or unknown: start again from the password, as if there had been none.
      this.#forgetChallenge();
      return false;
    }
  }

  #forgetChallenge(): void {
    this.#env.tabStorage?.removeItem(OPEN_CHALLENGE_KEY);
  }

  /** A failure: word it; back to the password when the challenge is over. */
  #fail(e: unknown): void {
    const p = describeProblem(e);
    this.info = null;
    if (p.restart) {
      this.#forgetChallenge();
      this.#stopPhone();
      this.#trust = false;
      this.step = { kind: 'password' };
    }
    this.error = p.message;
  }

  async #run(task: () => Promise<void>): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    this.error = null;
    try {
      await task();
    } catch (e) {
      this.#fail(e);
    } finally {
      this.busy = false;
    }
  }

  /** Hand the session to jellyfin-web and go back to it. */
  #finish(result: unknown): void {
    const session = readAuthenticationResult(result);
    if (!session) throw new ApiError(200, 'bad_response', '');
    const { storage, origin, returnTo, base } = this.#env;
    this.#forgetChallenge();
    saveJellyfinSession(storage, { session, server: this.server, address: webClientAddress(origin, returnTo, base), now: this.#now() });
    this.step = { kind: 'done', userName: session.userName };
    this.#env.go(returnTo);
  }

  async #enterChallenge(challengeId: string): Promise<void> {
    const challenge = await this.#env.api.challenge(challengeId);
    if (challenge.state !== 'pending') throw new ApiError(410, 'challenge_over', '');
    this.#env.tabStorage?.setItem(OPEN_CHALLENGE_KEY, challengeId);
    this.username = challenge.userName;
    this.info = null;
    this.emailSent = challenge.emailCodeSent;
    if (challenge.methods.includes('enroll')) {
      this.step = { kind: 'enroll', challenge, mode: 'choose', enrollment: null };
      return;
    }
    const method = preferredMethod(challenge.methods, {
      passkeyUsable: this.#env.passkeySupported,
      preferPasskey: !this.#env.onTv && this.options?.showBuiltInPasskeyButton !== false,
    });
    if (!method) throw new ApiError(403, 'second_factor_unavailable', 'A second factor is required, but none can be used here. Ask your administrator.');
    this.step = { kind: 'factor', challenge, method };
    if (method === 'phone') void this.#startPhone(challenge);
  }

  signIn(user: string, password: string): void {
    this.username = user;
    void this.#run(async () => {
      const { api, storage, userAgent } = this.#env;
      const authorization = authorizationHeader({
        deviceName: browserDeviceName(userAgent),
        deviceId: browserDeviceId(storage, userAgent, this.#now()),
        version: this.server.Version ?? '',
      });
      const outcome = await api.authenticate(user, password, authorization);
      if (outcome.kind === 'signed_in') this.#finish(outcome.result);
      else await this.#enterChallenge(outcome.challenge.challengeId);
    });
  }

  /** The browser's own identity at Jellyfin: the session is opened for it. */
  #authorization(): string {
    const { storage, userAgent } = this.#env;
    return authorizationHeader({
      deviceName: browserDeviceName(userAgent),
      deviceId: browserDeviceId(storage, userAgent, this.#now()),
      version: this.server.Version ?? '',
    });
  }

  // ── Approve on my phone, with the user name alone ──

  /** Ask the user's phone; the page cannot tell (and never says) whether the user has one. */
  signInByPhone(user: string): void {
    if (!user.trim()) {
      this.error = 'Enter your user name first.';
      return;
    }
    this.username = user.trim();
    this.#stopPhone();
    const poll = new AbortController();
    this.#phonePoll = poll;
    this.error = null;
    this.info = null;
    this.step = { kind: 'phone', userName: this.username };
    this.phone = { state: 'starting', number: null, pushed: false, pushSkipped: null };
    void (async () => {
      const authorization = this.#authorization();
      try {
        const started = await this.#env.api.startPhoneSignIn(this.username, authorization);
        if (poll.signal.aborted) return;
        this.phone = { state: 'waiting', number: started.number, pushed: false, pushSkipped: null };
        while (!poll.signal.aborted) {
          const asked = this.#now();
          const answer = await this.#env.api.phoneSignInStatus(started.requestId, 25, authorization, poll.signal);
          if (poll.signal.aborted) return;
          if (answer.kind === 'signed_in') {
            this.#phonePoll = null;
            this.#finish(answer.result);
            return;
          }
          if (this.#now() - asked < 1000) await pause(2000, poll.signal);
        }
      } catch (e) {
        if (poll.signal.aborted) return;
        this.#phonePoll = null;
        const p = describeProblem(e);
        if (p.restart) return this.#fail(e); // denied or reported on the phone: back to the start
        const over = e instanceof ApiError && (e.code === 'approval_expired' || e.code === 'no_approval' || e.code === 'challenge_over');
        this.phone = { state: over ? 'expired' : 'stalled', number: null, pushed: false, pushSkipped: null };
        this.error = p.message;
      }
    })();
  }

  /** The challenge the page is in, if any. */
  get #openChallenge(): ChallengeInfo | null {
    const step = this.step;
    return step.kind === 'factor' || step.kind === 'enroll' || step.kind === 'codes' ? step.challenge : null;
  }

  /** The page is closing (or reloading): its phone request goes unless the page comes back at once. */
  leaving(): void {
    const challenge = this.#openChallenge;
    if (challenge) this.#env.api.cancelPhoneApproval(challenge.challengeId, true);
  }

  restart(): void {
    const challenge = this.#openChallenge;
    if (challenge) this.#env.api.cancelPhoneApproval(challenge.challengeId, false);
    this.#forgetChallenge();
    this.#stopPhone();
    this.error = null;
    this.info = null;
    this.#trust = false;
    this.step = { kind: 'password' };
    void this.#offerPasswordless();
  }

  // ── Second factor ──

  pick(method: FactorMethod): void {
    if (this.step.kind !== 'factor') return;
    this.#stopPhone();
    this.error = null;
    this.info = null;
    this.step = { ...this.step, method };
    if (method === 'phone') void this.#startPhone(this.step.challenge);
  }

  // ── Approve on the phone: start (or get back) the approval, then long-poll until it is decided ──

  #stopPhone(): void {
    this.#phonePoll?.abort();
    this.#phonePoll = null;
  }

  async #startPhone(challenge: ChallengeInfo): Promise<void> {
    this.#stopPhone();
    const poll = new AbortController();
    this.#phonePoll = poll;
    this.error = null;
    this.phone = { state: 'starting', number: null, pushed: false, pushSkipped: null };
    try {
      const started = await this.#env.api.startPhoneApproval(challenge.challengeId);
      if (poll.signal.aborted) return;
      this.phone = { state: 'waiting', number: started.number, pushed: started.pushed, pushSkipped: started.pushSkipped };
    } catch (e) {
      if (!poll.signal.aborted) this.#phoneFailed(e);
      return;
    }
    await this.#waitForPhone(challenge, poll);
  }

  async #waitForPhone(challenge: ChallengeInfo, poll: AbortController): Promise<void> {
    try {
      while (!poll.signal.aborted) {
        const asked = this.#now();
        const answer = await this.#env.api.phoneApprovalStatus(challenge.challengeId, 25, this.#trust, poll.signal);
        if (poll.signal.aborted) return;
        if (answer.kind === 'signed_in') {
          this.#phonePoll = null;
          this.#finish(answer.result);
          return;
        }
        if (this.phone) this.phone = { ...this.phone, number: answer.pending.number };
        // A long poll that came back at once (a proxy cut it, the server is restarting): never spin.
        if (this.#now() - asked < 1000) await pause(2000, poll.signal);
      }
    } catch (e) {
      if (!poll.signal.aborted) this.#phoneFailed(e);
    }
  }

  #phoneFailed(e: unknown): void {
    this.#phonePoll = null;
    const p = describeProblem(e);
    if (p.restart) return this.#fail(e);
    const expired = e instanceof ApiError && (e.code === 'approval_expired' || e.code === 'no_approval');
    this.phone = { state: expired ? 'expired' : 'stalled', number: null, pushed: false, pushSkipped: null };
    this.error = p.message;
  }

  retryPhone(): void {
    if (this.step.kind !== 'factor' || this.step.method !== 'phone') return;
    void this.#startPhone(this.step.challenge);
  }

  verifyCode(code: string): void {
    const step = this.step;
    if (step.kind !== 'factor' || step.method === 'passkey' || step.method === 'phone') return;
    const { challenge, method } = step;
    void this.#run(async () => this.#finish(await this.#env.api.verifyCode(method, challenge.challengeId, code, this.#trust)));
  }

  sendEmail(): void {
    if (this.step.kind !== 'factor') return;
    const { challenge } = this.step;
    void this.#run(async () => {
      await this.#env.api.sendEmailCode(challenge.challengeId);
      this.emailSent = true;
      this.info = `If this account can receive codes by e-mail, one is on its way to ${challenge.emailHint ?? 'its address'}. Check your inbox.`;
    });
  }

  usePasskey(): void {
    if (this.step.kind !== 'factor') return;
    const { challenge } = this.step;
    void this.#run(async () => {
      const optionsJSON = await this.#env.api.passkeyOptions(challenge.challengeId);
      let response: unknown;
      try {
        response = await signWithPasskey(optionsJSON, { asServerSays: true });
      } catch (e) {
        this.error = describePasskeyFailure(e, false);
        return;
      }
      this.#finish(await this.#env.api.verifyPasskey(challenge.challengeId, response, this.#trust));
    });
  }

  // ── Enrollment inside the sign-in ──

  chooseEnroll(method: 'totp' | 'passkey'): void {
    if (this.step.kind !== 'enroll') return;
    const { challenge } = this.step;
    if (method === 'passkey') {
      this.error = null;
      this.step = { kind: 'enroll', challenge, mode: 'passkey', enrollment: null };
      return;
    }
    void this.#run(async () => {
      const enrollment = await this.#env.api.enrollTotp(challenge.challengeId);
      this.step = { kind: 'enroll', challenge, mode: 'totp', enrollment };
    });
  }

  /** Back from setting up one method to the choice. */
  backToChoice(): void {
    if (this.step.kind !== 'enroll') return;
    this.error = null;
    this.step = { ...this.step, mode: 'choose', enrollment: null };
  }

  #enrolled(challenge: ChallengeInfo, codes: string[]): void {
    this.error = null;
    if (codes.length > 0) this.step = { kind: 'codes', challenge, codes };
    else void this.#run(async () => this.#finish(await this.#env.api.complete(challenge.challengeId, this.#trust)));
  }

  confirmTotp(code: string): void {
    if (this.step.kind !== 'enroll') return;
    const { challenge } = this.step;
    void this.#run(async () => {
      const done = await this.#env.api.confirmTotp(challenge.challengeId, code);
      this.#enrolled(challenge, done.recoveryCodes);
    });
  }

  createEnrollPasskey(): void {
    if (this.step.kind !== 'enroll') return;
    const { challenge } = this.step;
    void this.#run(async () => {
      const optionsJSON = await this.#env.api.enrollPasskeyOptions(challenge.challengeId);
      let response: unknown;
      try {
        response = await createPasskey(optionsJSON, { asServerSays: true });
      } catch (e) {
        this.error = describePasskeyFailure(e, true);
        return;
      }
      const done = await this.#env.api.enrollPasskey(challenge.challengeId, response, passkeyName(this.#env.userAgent));
      this.#enrolled(challenge, done.recoveryCodes);
    });
  }

  completeEnrollment(): void {
    if (this.step.kind !== 'codes') return;
    const { challenge } = this.step;
    void this.#run(async () => this.#finish(await this.#env.api.complete(challenge.challengeId, this.#trust)));
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}
