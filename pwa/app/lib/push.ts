/**
 * Web Push on the page side: ask for notifications, subscribe with the gateway's VAPID key
 * (`GET Push/Config`), and hand the subscription (PushSubscription.toJSON()) to the gateway.
 *
 * Tests: `pushManager.subscribe` needs the browser vendor's push service, which is unreachable in a test
 * (TESTING.md). The browser tests replace `PushManager.prototype.subscribe` / `getSubscription` with an
 * init script (test/helpers/browser.ts `fakePushManager`) that returns a subscription whose endpoint is
 * the local push service. Nothing in the app knows about it: there is no switch to turn on.
 */
import type { PushConfig, PushSubscriptionInput } from '../../../shared/api/approvals.ts';
import { ENDPOINTS } from '../../../shared/api/endpoints.ts';
import { call } from './api.ts';
import { base64UrlToBytes, sameKey } from './push-keys.ts';

export type { PushConfig, PushSubscriptionInput };

export function pushSupported(): boolean {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

export function notificationPermission(): NotificationPermission | 'unsupported' {
  return 'Notification' in window ? Notification.permission : 'unsupported';
}

export const getPushConfig = () => call(ENDPOINTS.PushConfig, { auth: false });

export class PushUnavailable extends Error {
  constructor(
    readonly reason: 'unsupported' | 'denied' | 'disabled' | 'failed' | 'timeout',
    message: string,
  ) {
    super(message);
    this.name = 'PushUnavailable';
  }
}

/** Ask for permission to show notifications (call it straight from a tap: iOS requires that). */
export async function askNotificationPermission(): Promise<NotificationPermission> {
  if (!('Notification' in window)) throw new PushUnavailable('unsupported', 'This browser cannot show notifications. On an iPhone, add the app to the Home Screen first.');
  if (Notification.permission !== 'default') return Notification.permission;
  return Notification.requestPermission();
}

/**
 * How long the browser may take to sign up with its push service. `pushManager.subscribe` can hang for
 * ever (no answer from the vendor's push service); past this the person is offered a retry or to go on
 * without notifications.
 */
export const SUBSCRIBE_TIMEOUT_MS = 15_000;

/** `p`, or a PushUnavailable('timeout') once `ms` passed without an answer. */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new PushUnavailable('timeout', 'This phone’s push service did not answer. Try again, or continue without notifications and turn them on later.')),
      ms,
    );
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * This browser's push subscription for the gateway's key: the existing one if it was made with that key,
 * else a new one. Needs notification permission and an active service worker.
 */
export async function subscribe(registration: ServiceWorkerRegistration, config: PushConfig): Promise<PushSubscriptionInput> {
  if (!pushSupported()) throw new PushUnavailable('unsupported', 'This browser cannot receive notifications. On an iPhone, add the app to the Home Screen first.');
  if (!config.enabled) throw new PushUnavailable('disabled', 'Notifications are turned off on this server.');
  if (Notification.permission !== 'granted') throw new PushUnavailable('denied', 'Notifications are blocked for this app. Allow them in the browser’s site settings.');
  const key = base64UrlToBytes(config.publicKey);
  try {
    let sub = await withTimeout(registration.pushManager.getSubscription(), SUBSCRIBE_TIMEOUT_MS);
    if (sub && !sameKey(sub.options?.applicationServerKey, key)) {
      await sub.unsubscribe().catch(() => false);
      sub = null;
    }
    sub ??= await withTimeout(registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key }), SUBSCRIBE_TIMEOUT_MS);
    return toInput(sub);
  } catch (err) {
    if (err instanceof PushUnavailable) throw err;
    console.warn('push subscription failed', err);
    throw new PushUnavailable('failed', 'This phone could not sign up for notifications. Check the connection and try again.');
  }
}

function toInput(sub: PushSubscription): PushSubscriptionInput {
  const j = sub.toJSON() as { endpoint?: string; expirationTime?: number | null; keys?: Record<string, string> };
  if (!j.endpoint || !j.keys?.p256dh || !j.keys.auth) throw new PushUnavailable('failed', 'The browser gave an incomplete push subscription.');
  return { endpoint: j.endpoint, expirationTime: j.expirationTime ?? null, keys: { p256dh: j.keys.p256dh, auth: j.keys.auth } };
}
