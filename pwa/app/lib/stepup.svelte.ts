/**
 * Step-up (shared/api/stepup.ts): an action the gateway guards answers 401 `step_up_required`; the app
 * then asks the user for a fresh proof from a factor the account already has (a passkey tap, an approval
 * on another phone, an authenticator code, a recovery code — or, for an account with no factor, the
 * password), exchanges it for a single-use grant of this session (`POST StepUp`), and repeats the action
 * with the grant in `X-Jellyguard-StepUp`. `withStepUp` wraps any action; the StepUpDialog component answers.
 */
import { z } from 'zod';
import { ENDPOINTS } from '../../../shared/api/endpoints.ts';
import { isFactorAction, STEP_UP_ACTION_LABELS, STEP_UP_HEADER_NAME, type StepUpAction } from '../../../shared/api/stepup.ts';
import { ApiError, call } from './api.ts';
import { requestOptionsOf, signWithPasskey } from '../../common/passkey.ts';

/** The 401 body, read leniently (an action or method this version does not list is still a step-up). */
const RequiredSchema = z.object({
  error: z.literal('step_up_required'),
  message: z.string(),
  action: z.string(),
  /** What a person reads, target included ("Make bob an administrator"); older gateways did not send it. */
  label: z.string().optional(),
  target: z.string().nullable(),
  methods: z.array(z.string()),
});
export type StepUpNeeded = z.infer<typeof RequiredSchema>;

export type Proof =
  | { method: 'passkey' }
  | { method: 'phone' }
  | { method: 'totp'; code: string }
  | { method: 'recovery'; code: string }
  | { method: 'password'; password: string };

/**
 * What the dialog says the action is: the gateway's own words for this action and target ("Change
 * Jellyguard settings", "Make bob an administrator"), else this app's name for the action.
 */
export function actionLabel(needed: { action: string; label?: string }): string {
  return needed.label?.trim() || STEP_UP_ACTION_LABELS[needed.action as StepUpAction] || 'This change';
}

class StepUpPrompt {
  /** The step-up the dialog is asking for, and how to answer it. */
  open = $state<(StepUpNeeded & { problem: string | null; waiting: boolean; resolve: (proof: Proof | null) => void }) | null>(null);

  ask(needed: StepUpNeeded, problem: string | null = null): Promise<Proof | null> {
    this.open?.resolve(null);
    return new Promise((resolve) => (this.open = { ...needed, problem, waiting: false, resolve }));
  }

  /** Show that the phone was asked and the app is waiting for its answer (the dialog stays open). */
  waitingForPhone(on: boolean): void {
    if (this.open) this.open.waiting = on;
  }

  answer(proof: Proof | null): void {
    const o = this.open;
    if (proof === null) this.cancelled = true;
    if (proof?.method === 'phone' && o) {
      // The dialog stays, saying it waits for the phone; Cancel still ends it.
      o.resolve(proof);
      return;
    }
    this.open = null;
    o?.resolve(proof);
  }

  /** The user closed the dialog while the phone was being asked. */
  cancelled = false;

  close(): void {
    this.open = null;
  }
}

export const stepUpPrompt = new StepUpPrompt();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Ask the account's phones, then wait (polling) until the approval there turns the grant usable. */
async function grantFromPhone(base: { action: string; target: string | null }): Promise<string> {
  const started = await call(ENDPOINTS.StepUp, { body: { ...base, method: 'phone' } });
  stepUpPrompt.cancelled = false;
  stepUpPrompt.waitingForPhone(true);
  const until = Date.parse(started.expiresAt);
  try {
    for (;;) {
      if (stepUpPrompt.cancelled) throw new StepUpCancelled();
      const s = await call(ENDPOINTS.StepUpStatus, { params: { id: started.stepUpId } });
      if (s.status === 'granted') return started.grant;
      if (s.status !== 'pending') throw new ApiError(403, s.status === 'denied' ? 'step_up_denied' : 'step_up_expired', s.status === 'denied' ? 'It was denied on the phone.' : 'The phone did not answer in time.', {});
      if (Date.now() > until) throw new ApiError(403, 'step_up_expired', 'The phone did not answer in time.', {});
      await sleep(2000);
    }
  } finally {
    stepUpPrompt.waitingForPhone(false);
  }
}

/** A single-use grant for `needed.action` from a proof. */
async function grantFor(needed: StepUpNeeded, proof: Proof): Promise<string> {
  const base = { action: needed.action, target: needed.target };
  switch (proof.method) {
    case 'totp':
    case 'recovery':
      return (await call(ENDPOINTS.StepUp, { body: { ...base, method: proof.method, code: proof.code } })).grant;
    case 'password':
      return (await call(ENDPOINTS.StepUp, { body: { ...base, method: 'password', password: proof.password } })).grant;
    case 'phone':
      return grantFromPhone(base);
    case 'passkey': {
      const options = requestOptionsOf(await call(ENDPOINTS.StepUpPasskeyOptions, { body: base }));
      const response = await signWithPasskey(options);
      return (await call(ENDPOINTS.StepUp, { body: { ...base, method: 'passkey', response } })).grant;
    }
  }
}

/** Why nothing happened: the user closed the step-up dialog. */
export class StepUpCancelled extends Error {
  constructor() {
    super('Cancelled.');
    this.name = 'StepUpCancelled';
  }
}

/** Errors after which the dialog asks again (with the reason) instead of giving up. */
const ASK_AGAIN: Record<string, string> = {
  invalid_code: 'That was not accepted. Try again.',
  step_up_denied: 'It was denied on the phone. Try again, or use another way.',
  step_up_expired: 'The phone did not answer in time. Try again, or use another way.',
  method_unavailable: 'That way is not available for this account. Use another.',
};

/**
 * An administrator's grant stays usable by this session for the same action and target until the
 * gateway's StepUpWindowSeconds run out (except its single-use actions), so a page that saves twice asks
 * once: the last grant per action and target is tried before asking again. The gateway alone decides
 * whether it still counts; factor changes and Quick Connect grants are spent at once and never kept.
 */
const lastGrants = new Map<string, string>();
const grantKeyOf = (n: { action: string; target: string | null }) => `${n.action}\n${n.target ?? ''}`;
const keepsGrant = (action: string) => !isFactorAction(action) && action !== 'QuickConnectAuthorize';
/** The answers to a kept grant that is no longer good (used, expired, unknown): ask again. */
const STALE_GRANT = new Set(['step_up_required', 'step_up_used', 'step_up_expired', 'step_up_invalid']);

function stepUpNeeded(err: unknown): StepUpNeeded | null {
  if (!(err instanceof ApiError) || err.code !== 'step_up_required') return null;
  const parsed = RequiredSchema.safeParse(err.body);
  return parsed.success ? parsed.data : null;
}

/**
 * Run `action`; if the gateway wants a fresh proof first, ask for one and run it again with the grant.
 * `action` receives the extra headers to send.
 */
export async function withStepUp<T>(action: (headers: Record<string, string>) => Promise<T>): Promise<T> {
  try {
    return await action({});
  } catch (err) {
    let needed = stepUpNeeded(err);
    if (!needed) throw err;
    const kept = keepsGrant(needed.action) ? lastGrants.get(grantKeyOf(needed)) : undefined;
    if (kept) {
      try {
        return await action({ [STEP_UP_HEADER_NAME]: kept });
      } catch (e) {
        lastGrants.delete(grantKeyOf(needed));
        if (!(e instanceof ApiError) || !STALE_GRANT.has(e.code)) throw e;
        needed = stepUpNeeded(e) ?? needed;
      }
    }
    let error: string | null = null;
    for (;;) {
      const proof = await stepUpPrompt.ask(needed, error);
      if (!proof) throw new StepUpCancelled();
      try {
        const grant = await grantFor(needed, proof);
        stepUpPrompt.close();
        if (keepsGrant(needed.action)) lastGrants.set(grantKeyOf(needed), grant);
        return await action({ [STEP_UP_HEADER_NAME]: grant });
      } catch (e) {
        if (e instanceof StepUpCancelled) {
          stepUpPrompt.close();
          throw e;
        }
        const again = e instanceof ApiError ? ASK_AGAIN[e.code] : undefined;
        if (again) {
          error = again;
          continue;
        }
        stepUpPrompt.close();
        throw e;
      }
    }
  }
}
