/**
 * Step-up (shared/api/pairing.ts "STEP-UP"): an action the gateway guards answers 401
 * `step_up_required`; the app then asks the user for a fresh proof (a passkey tap or an authenticator
 * code), exchanges it for a single-use grant of this session (`POST StepUp`), and repeats the action with
 * the grant in `X-Jellyguard-StepUp`. `withStepUp` wraps any action; the StepUpDialog component answers.
 */
import { z } from 'zod';
import { STEP_UP_HEADER_NAME, StepUpGrantSchema, type StepUpMethod } from '../../shared/api/pairing.ts';
import { ApiError, post } from './api.ts';
import { signWithPasskey, type PublicKeyCredentialRequestOptionsJSON } from './passkey.ts';

/** The 401 body, read leniently (an action this version does not list is still a step-up). */
const RequiredSchema = z.object({
  error: z.literal('step_up_required'),
  message: z.string(),
  action: z.string(),
  target: z.string().nullable(),
  methods: z.array(z.string()),
});
export type StepUpNeeded = z.infer<typeof RequiredSchema>;

export type Proof = { method: 'passkey' } | { method: 'totp'; code: string };

class StepUpPrompt {
  /** The step-up the dialog is asking for, and how to answer it. */
  open = $state<(StepUpNeeded & { problem: string | null; resolve: (proof: Proof | null) => void }) | null>(null);

  ask(needed: StepUpNeeded, problem: string | null = null): Promise<Proof | null> {
    this.open?.resolve(null);
    return new Promise((resolve) => (this.open = { ...needed, problem, resolve }));
  }

  answer(proof: Proof | null): void {
    const o = this.open;
    this.open = null;
    o?.resolve(proof);
  }
}

export const stepUpPrompt = new StepUpPrompt();

export const STEP_UP_METHODS_HERE: StepUpMethod[] = ['passkey', 'totp'];

/** A single-use grant for `needed.action` from a proof. */
async function grantFor(needed: StepUpNeeded, proof: Proof): Promise<string> {
  const base = { action: needed.action, target: needed.target };
  if (proof.method === 'totp') {
    return (await post('StepUp', { ...base, method: 'totp', code: proof.code }, { schema: StepUpGrantSchema })).grant;
  }
  const options = (await post('StepUp/Passkey/Options', base)) as PublicKeyCredentialRequestOptionsJSON;
  const response = await signWithPasskey(options);
  return (await post('StepUp', { ...base, method: 'passkey', response }, { schema: StepUpGrantSchema })).grant;
}

/** Why nothing happened: the user closed the step-up dialog. */
export class StepUpCancelled extends Error {
  constructor() {
    super('Cancelled.');
    this.name = 'StepUpCancelled';
  }
}

/**
 * Run `action`; if the gateway wants a fresh proof first, ask for one and run it again with the grant.
 * `action` receives the extra headers to send.
 */
export async function withStepUp<T>(action: (headers: Record<string, string>) => Promise<T>): Promise<T> {
  try {
    return await action({});
  } catch (err) {
    const needed = err instanceof ApiError && err.code === 'step_up_required' ? RequiredSchema.safeParse(err.body) : null;
    if (!needed?.success) throw err;
    let error: string | null = null;
    for (;;) {
      const proof = await stepUpPrompt.ask(needed.data, error);
      if (!proof) throw new StepUpCancelled();
      try {
        const grant = await grantFor(needed.data, proof);
        return await action({ [STEP_UP_HEADER_NAME]: grant });
      } catch (e) {
        // A wrong code: ask again (the dialog shows why); anything else ends here.
        if (e instanceof ApiError && e.code === 'invalid_code') {
          error = 'That was not accepted. Try again.';
          continue;
        }
        throw e;
      }
    }
  }
}

