/// <reference lib="webworker" />
/**
 * `pushsubscriptionchange`: the push service replaced (or dropped) this phone's subscription. Subscribe
 * again if the browser did not already, and send the new one to the gateway
 * (`PUT Me/Phones/{phoneId}/Subscription`) with the app's session, read from IndexedDB. Without a session
 * or an enrolled phone nothing is sent; the app re-subscribes at its next start anyway.
 */
import type { PushConfig } from '../../../shared/api/approvals.ts';
import { mediaBrowserHeader } from '../../common/auth-header.ts';
import { base64UrlToBytes } from '../lib/push-keys.ts';
import { loadWorkerPhone, loadWorkerSession } from '../lib/worker-store.ts';

export interface SubscriptionChange extends ExtendableEvent {
  readonly oldSubscription: PushSubscription | null;
  readonly newSubscription: PushSubscription | null;
}

export async function onPushSubscriptionChange(self: ServiceWorkerGlobalScope, event: SubscriptionChange): Promise<void> {
  const [session, phone] = await Promise.all([loadWorkerSession(), loadWorkerPhone()]);
  if (!session || !phone || phone.userId !== session.userId) return;
  const api = (path: string) => new URL(`../${path}`, self.registration.scope).href;
  const headers = { authorization: mediaBrowserHeader(session, session.token), 'content-type': 'application/json', accept: 'application/json' };

  let sub = event.newSubscription;
  if (!sub) {
    const config = (await (await fetch(api('Push/Config'), { headers })).json()) as PushConfig;
    if (!config.enabled) return;
    sub = await self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlToBytes(config.publicKey) });
  }
  const res = await fetch(api(`Me/Phones/${encodeURIComponent(phone.phoneId)}/Subscription`), {
    method: 'PUT',
    headers,
    body: JSON.stringify({ subscription: sub.toJSON() }),
  });
  if (!res.ok) throw new Error(`re-posting the push subscription: HTTP ${res.status}`);
}
