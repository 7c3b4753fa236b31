import type { Logger } from '../log.ts';
import type { AuditEvent } from '../audit/index.ts';
import type { PushPayload } from '../../shared/api/approvals.ts';
import { sendPush, type SendOutcome, type Urgency } from './sender.ts';
import { endpointProblem, pushServiceOf, type PushSubscription } from './subscription.ts';
import type { VapidKeys } from './vapid.ts';

export { loadOrCreateVapidKeys, vapidSubject, type VapidKeys } from './vapid.ts';
export { sendPush, MAX_PAYLOAD_BYTES, type PushMessage, type SendOutcome, type Urgency } from './sender.ts';
export { endpointProblem, keysProblem, pushServiceOf, type PushSubscription } from './subscription.ts';

/** The narrow slice of the phone store that sending needs. */
export interface SubscriptionSource {
  /** The live subscriptions of a user's phones (opened from their sealed form). */
  subscriptionsOf(userId: string): Promise<Array<{ phoneId: string; endpointHash: string; subscription: PushSubscription }>>;
  /** The push service said 404/410: drop this subscription (unless the phone re-subscribed meanwhile). */
  forget(phoneId: string, endpointHash: string): Promise<boolean>;
}

export interface PushServiceDeps {
  keys: VapidKeys;
  subject: string;
  enabled: boolean;
  subscriptions: SubscriptionSource;
  /** PushAllowHttpLoopback, checked again at every send (a stored endpoint is only sent to while allowed). */
  allowHttpLoopback?: boolean;
  log: Logger;
  audit: (e: AuditEvent) => void;
  /** A send that takes longer is abandoned (the login it is for never waits on it anyway). */
  timeoutMs?: number;
}

export interface SendOptions {
  ttlSeconds: number;
  urgency: Urgency;
  topic?: string;
}

/** One message handed to the push service, for tests and logs. */
export interface SendRecord {
  userId: string;
  phoneId: string;
  outcome: SendOutcome;
}

/**
 * Web Push to a user's enrolled phones. Sending is fire and forget: `sendToUser` reads the user's
 * subscriptions and returns how many messages it queued; the HTTP requests run in the background (each
 * with a timeout) and never delay or fail the caller. A 404/410 answer deletes that subscription.
 * Payloads are small and carry no secret (shared/api/approvals.ts PushPayload).
 */
export class PushService {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly timeoutMs: number;
  /** Called after every send (tests, metrics). */
  onSent: ((r: SendRecord) => void) | undefined;

  constructor(private readonly deps: PushServiceDeps) {
    this.timeoutMs = deps.timeoutMs ?? 5000;
  }

  get enabled(): boolean {
    return this.deps.enabled;
  }

  get publicKey(): string {
    return this.deps.keys.publicKey;
  }

  /** Queue `payload` to every phone of `userId` with a live subscription. Returns how many were queued. */
  async sendToUser(userId: string, payload: PushPayload, opts: SendOptions): Promise<number> {
    if (!this.deps.enabled) return 0;
    let subs: Awaited<ReturnType<SubscriptionSource['subscriptionsOf']>>;
    try {
      subs = await this.deps.subscriptions.subscriptionsOf(userId);
    } catch (e) {
      this.deps.log.error('reading push subscriptions failed', e);
      return 0;
    }
    const text = JSON.stringify(payload);
    for (const s of subs) this.track(this.deliver(userId, s, { payload: text, ...opts }).then(() => undefined));
    return subs.length;
  }

  /**
   * Send `payload` to one phone of `userId` and wait for the push service's answer (the test
   * notification: the person is told what really happened). Undefined when the phone has no subscription.
   */
  async sendToPhone(userId: string, phoneId: string, payload: PushPayload, opts: SendOptions): Promise<SendOutcome | undefined> {
    if (!this.deps.enabled) return undefined;
    const sub = (await this.deps.subscriptions.subscriptionsOf(userId)).find((s) => s.phoneId === phoneId);
    if (!sub) return undefined;
    const sent = this.deliver(userId, sub, { payload: JSON.stringify(payload), ...opts });
    this.track(sent.then(() => undefined));
    return sent;
  }

  /** Resolves when every message queued so far was answered, failed or timed out (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
  }

  private track(p: Promise<void>): void {
    const t = p.catch((e) => this.deps.log.error('a push failed unexpectedly', e)).finally(() => this.inFlight.delete(t));
    this.inFlight.add(t);
  }

  private async deliver(
    userId: string,
    s: { phoneId: string; endpointHash: string; subscription: PushSubscription },
    message: { payload: string } & SendOptions,
  ): Promise<SendOutcome> {
    const problem = endpointProblem(s.subscription.endpoint, { allowHttpLoopback: this.deps.allowHttpLoopback ?? false });
    if (problem) {
      this.deps.log.warn(`not sending to phone ${s.phoneId.slice(0, 6)}…: its endpoint ${problem}`);
      const outcome: SendOutcome = { kind: 'failed', error: `endpoint ${problem}` };
      this.onSent?.({ userId, phoneId: s.phoneId, outcome });
      return outcome;
    }
    const outcome = await sendPush(s.subscription, message, { keys: this.deps.keys, subject: this.deps.subject }, this.timeoutMs);
    const service = pushServiceOf(s.subscription.endpoint);
    if (outcome.kind === 'gone') {
      const forgotten = await this.deps.subscriptions.forget(s.phoneId, s.endpointHash);
      if (forgotten) {
        this.deps.log.info(`push subscription of phone ${s.phoneId.slice(0, 6)}… expired (${service} answered ${outcome.status}): deleted`);
        this.deps.audit({ type: 'push.subscription.expired', outcome: 'info', userId, detail: { phoneId: s.phoneId, status: outcome.status, service } });
      }
    } else if (outcome.kind === 'failed') {
      this.deps.log.warn(`a push to phone ${s.phoneId.slice(0, 6)}… failed: ${outcome.error}`);
    }
    this.onSent?.({ userId, phoneId: s.phoneId, outcome });
    return outcome;
  }
}
