import webpush from 'web-push';
import { request } from 'undici';
import type { VapidKeys } from './vapid.ts';
import type { PushSubscription } from './subscription.ts';
import { pushServiceOf } from './subscription.ts';

/** RFC 8030 §5.3 Urgency. Approvals are `high` (delivered at once, even to a phone saving power). */
export type Urgency = 'very-low' | 'low' | 'normal' | 'high';

export interface PushMessage {
  /** The payload (JSON text), encrypted with aes128gcm (RFC 8291). */
  payload: string;
  /** RFC 8030 §5.2: seconds the push service keeps an undelivered message; approvals: the time they have left. */
  ttlSeconds: number;
  urgency: Urgency;
  /** RFC 8030 §5.4: a newer message with the same topic replaces an undelivered one (≤ 32 base64url chars). */
  topic?: string;
}

export type SendOutcome =
  | { kind: 'sent'; status: number }
  /** 404/410: the subscription is gone for good (RFC 8030 §7.3); delete it. */
  | { kind: 'gone'; status: number }
  | { kind: 'failed'; status?: number; error: string };

/** The largest payload sent: RFC 8291 allows 3993 bytes of plaintext in one 4096-byte record. */
export const MAX_PAYLOAD_BYTES = 3000;

/**
 * Send one Web Push message: web-push (RFC 8291 aes128gcm encryption, RFC 8292 VAPID JWT, ES256) builds
 * the request, undici sends it (so http works for a local test service too), with a hard timeout and
 * no redirects followed. Never throws.
 */
export async function sendPush(
  subscription: PushSubscription,
  message: PushMessage,
  vapid: { keys: VapidKeys; subject: string },
  timeoutMs: number,
): Promise<SendOutcome> {
  if (Buffer.byteLength(message.payload) > MAX_PAYLOAD_BYTES) return { kind: 'failed', error: 'payload too large' };
  let details: ReturnType<typeof webpush.generateRequestDetails>;
  try {
    details = webpush.generateRequestDetails(subscription, message.payload, {
      vapidDetails: { subject: vapid.subject, publicKey: vapid.keys.publicKey, privateKey: vapid.keys.privateKey },
      TTL: Math.max(0, Math.floor(message.ttlSeconds)),
      urgency: message.urgency,
      ...(message.topic ? { topic: message.topic } : {}),
      contentEncoding: 'aes128gcm',
    });
  } catch (e) {
    return { kind: 'failed', error: `cannot build the message: ${(e as Error).message}` };
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(details.headers)) {
    if (k.toLowerCase() === 'content-length') continue; // undici sets it from the body
    headers[k] = String(v);
  }
  try {
    const res = await request(details.endpoint, {
      method: 'POST',
      headers,
      body: details.body ?? undefined,
      signal: AbortSignal.timeout(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    await res.body.dump({ limit: 64 * 1024 }).catch(() => {});
    if (res.statusCode >= 200 && res.statusCode < 300) return { kind: 'sent', status: res.statusCode };
    if (res.statusCode === 404 || res.statusCode === 410) return { kind: 'gone', status: res.statusCode };
    return { kind: 'failed', status: res.statusCode, error: `${pushServiceOf(details.endpoint)} answered ${res.statusCode}` };
  } catch (e) {
    const err = e as Error;
    const what = err.name === 'TimeoutError' || err.name === 'AbortError' ? `no answer within ${timeoutMs} ms` : err.message;
    return { kind: 'failed', error: `${pushServiceOf(details.endpoint)}: ${what}` };
  }
}
