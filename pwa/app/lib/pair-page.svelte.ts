/**
 * "Sign in a TV" (shared/api/pairing.ts, the phone's "Pair a TV" page): the code the TV shows — typed,
 * or in the URL when the phone's camera opened the TV's QR code — is looked up, the page shows exactly
 * who is asking, and a passkey tap approves it (the gateway then signs the TV in), or Deny refuses it.
 * The approval is started before the tap, so the tap itself only asks for the passkey.
 */
import { ENDPOINTS } from '../../../shared/api/endpoints.ts';
import {
  parsePairCode,
  type PairApprovalStarted,
  type PairTarget,
} from '../../../shared/api/pairing.ts';
import { ApiError, call } from './api.ts';
import { messageOf } from './handle-error.ts';
import { requestOptionsOf, signWithPasskey } from '../../common/passkey.ts';

export type PairStep = 'enter' | 'review' | 'approved' | 'denied';

export class PairPage {
  step = $state<PairStep>('enter');
  code = $state('');
  target = $state<PairTarget | null>(null);
  started = $state<PairApprovalStarted | null>(null);
  message = $state<string | null>(null);
  busy = $state(false);
  error = $state<string | null>(null);

  #explain(err: unknown): string {
    if (err instanceof ApiError && err.code === 'unknown_code') return 'That code is not right, or it has expired. Check the code on the TV and try again.';
    if (err instanceof ApiError && err.code === 'invalid_assertion') return 'That passkey was not accepted. Use the passkey of this phone.';
    return messageOf(err);
  }

  /** Look the code up and start the approval (the TV's details and the passkey options). */
  async lookup(input: string): Promise<void> {
    const parsed = parsePairCode(input);
    if (!parsed) {
      this.error = 'A code is 6 digits (Quick Connect) or 8 letters and digits like AB23-CD45.';
      return;
    }
    this.busy = true;
    this.error = null;
    try {
      this.code = parsed.code;
      this.target = await call(ENDPOINTS.PairLookup, { query: { code: parsed.code } });
      this.started = await call(ENDPOINTS.PairApproval, { body: { code: parsed.code } });
      this.target = this.started.target;
      this.step = 'review';
    } catch (err) {
      this.error = this.#explain(err);
    } finally {
      this.busy = false;
    }
  }

  async approve(): Promise<void> {
    const s = this.started;
    if (!s) return;
    this.busy = true;
    this.error = null;
    try {
      const response = await signWithPasskey(requestOptionsOf(s.options));
      const done = await call(ENDPOINTS.PairApprove, { body: { approvalId: s.approvalId, response } });
      this.message = done.message;
      this.step = 'approved';
    } catch (err) {
      this.error = this.#explain(err);
    } finally {
      this.busy = false;
    }
  }

  async deny(): Promise<void> {
    const s = this.started;
    this.busy = true;
    this.error = null;
    try {
      if (s) await call(ENDPOINTS.PairDeny, { body: { approvalId: s.approvalId } });
      this.step = 'denied';
    } catch (err) {
      this.error = this.#explain(err);
    } finally {
      this.busy = false;
    }
  }

  startOver(): void {
    this.step = 'enter';
    this.code = '';
    this.target = null;
    this.started = null;
    this.error = null;
  }
}
