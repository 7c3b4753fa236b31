import { createECDH, createPublicKey, randomBytes, verify, type ECDH } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import ece from 'http_ece';

/**
 * A local Web Push service (TESTING.md "Web Push without Google's push service"): it does what a real
 * push service does with a message from an application server, on http://127.0.0.1:
 *   - RFC 8292 VAPID: `Authorization: vapid t=<JWT>, k=<public key>`; the JWT is ES256 over the key `k`,
 *     `aud` is this service's origin, `exp` is in the future and at most 24 h away, `sub` is a mailto:
 *     or https: URL; `k` must be the applicationServerKey the subscription was made with (403 otherwise);
 *   - RFC 8030 headers: TTL (required, a non-negative integer), Urgency (very-low | low | normal | high),
 *     Topic (at most 32 base64url characters);
 *   - RFC 8291 payload: Content-Encoding aes128gcm, decrypted with the subscriber's ECDH key and auth
 *     secret (http_ece);
 *   - answers 201 Created — or whatever a test told it to answer for a subscriber (404/410 for an
 *     expired subscription, 500, or never: "hang").
 * Messages are collected; `nextMessage` resolves when one arrives (tests wait on it, never sleep).
 */
export interface PushSubscriber {
  id: string;
  /** PushSubscription.toJSON() as a browser gives it. */
  subscription: { endpoint: string; expirationTime: null; keys: { p256dh: string; auth: string } };
  ecdh: ECDH;
  authSecret: Buffer;
}

export interface ReceivedPush {
  subscriberId: string;
  ttl: number;
  urgency: string;
  topic: string | undefined;
  vapid: { aud: string; exp: number; sub: string; publicKey: string };
  /** The decrypted payload. */
  payload: Buffer;
  /** The payload as JSON (undefined when it is not JSON). */
  json: any;
  at: number;
}

export interface RejectedPush {
  subscriberId: string | undefined;
  status: number;
  reason: string;
}

export type Answer = number | 'hang';

export interface PushServiceHandle {
  url: string;
  origin: string;
  /** A subscriber made in Node: P-256 ECDH keys and a 16-byte auth secret; its endpoint points here. */
  subscribe(opts?: { applicationServerKey?: string }): PushSubscriber;
  /** From now on, answer this subscriber's messages with `answer` (201 is the default). */
  answer(subscriberId: string, answer: Answer): void;
  messages: ReceivedPush[];
  rejected: RejectedPush[];
  /** The next message (matching `pred`) — one already received and not yet taken, or the next to arrive. */
  nextMessage(pred?: (m: ReceivedPush) => boolean): Promise<ReceivedPush>;
  /** Messages received for a subscriber. */
  messagesFor(subscriberId: string): ReceivedPush[];
  close(): Promise<void>;
}

const B64URL = /^[A-Za-z0-9_-]+$/;
const URGENCIES = new Set(['very-low', 'low', 'normal', 'high']);

function jwkOfPoint(point: Buffer) {
  return { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33, 65).toString('base64url') };
}

/** Verify an RFC 8292 `vapid` Authorization header; returns the claims or what is wrong. */
export function verifyVapid(header: string | undefined, origin: string, now = Date.now()): { ok: true; aud: string; exp: number; sub: string; publicKey: string } | { ok: false; reason: string } {
  if (!header) return { ok: false, reason: 'no Authorization header' };
  const m = /^vapid\s+(.*)$/i.exec(header.trim());
  if (!m) return { ok: false, reason: 'Authorization scheme is not vapid' };
  const params = new Map<string, string>();
  for (const part of m[1]!.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const t = params.get('t');
  const k = params.get('k');
  if (!t || !k) return { ok: false, reason: 'vapid needs t and k' };
  const point = Buffer.from(k, 'base64url');
  if (!B64URL.test(k) || point.length !== 65 || point[0] !== 4) return { ok: false, reason: 'k is not an uncompressed P-256 key' };
  const parts = t.split('.');
  if (parts.length !== 3 || !parts.every((p) => B64URL.test(p))) return { ok: false, reason: 't is not a JWS compact serialization' };
  let jose: { typ?: string; alg?: string };
  let claims: { aud?: unknown; exp?: unknown; sub?: unknown };
  try {
    jose = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'JWT is not JSON' };
  }
  if (jose.alg !== 'ES256') return { ok: false, reason: `JWT alg ${String(jose.alg)} is not ES256` };
  let key;
  try {
    key = createPublicKey({ key: jwkOfPoint(point), format: 'jwk' });
  } catch {
    return { ok: false, reason: 'k is not a point on P-256' };
  }
  const sig = Buffer.from(parts[2]!, 'base64url');
  if (sig.length !== 64) return { ok: false, reason: 'ES256 signature is not 64 bytes' };
  const good = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key, dsaEncoding: 'ieee-p1363' }, sig);
  if (!good) return { ok: false, reason: 'JWT signature does not verify with k' };
  if (claims.aud !== origin) return { ok: false, reason: `aud ${String(claims.aud)} is not ${origin}` };
  if (typeof claims.exp !== 'number') return { ok: false, reason: 'exp missing' };
  const seconds = now / 1000;
  if (claims.exp <= seconds) return { ok: false, reason: 'JWT expired' };
  if (claims.exp > seconds + 24 * 3600) return { ok: false, reason: 'exp more than 24 hours away' };
  if (typeof claims.sub !== 'string' || !/^(mailto:|https:)/.test(claims.sub)) return { ok: false, reason: 'sub is not a mailto: or https: URL' };
  return { ok: true, aud: claims.aud, exp: claims.exp, sub: claims.sub, publicKey: k };
}

export async function startPushService(opts: { host?: string } = {}): Promise<PushServiceHandle> {
  const host = opts.host ?? '127.0.0.1';
  const subscribers = new Map<string, PushSubscriber & { applicationServerKey?: string; answer: Answer }>();
  const messages: ReceivedPush[] = [];
  const rejected: RejectedPush[] = [];
  const taken = new Set<ReceivedPush>();
  const waiting: Array<{ pred: (m: ReceivedPush) => boolean; resolve: (m: ReceivedPush) => void }> = [];
  const hanging = new Map<ServerResponse, string>();
  const sockets = new Set<Socket>();
  let origin = '';

  function deliver(m: ReceivedPush): void {
    messages.push(m);
    const i = waiting.findIndex((w) => w.pred(m));
    if (i >= 0) {
      taken.add(m);
      waiting.splice(i, 1)[0]!.resolve(m);
    }
  }

  function refuse(res: ServerResponse, subscriberId: string | undefined, status: number, reason: string): void {
    rejected.push({ subscriberId, status, reason });
    res.writeHead(status, { 'content-type': 'text/plain' }).end(reason);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const m = /^\/push\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '');
    const sub = m ? subscribers.get(m[1]!) : undefined;
    if (req.method !== 'POST' || !sub) return refuse(res, m?.[1], 404, 'no such subscription');
    if (sub.answer === 'hang') {
      hanging.set(res, sub.id);
      return;
    }
    if (sub.answer !== 201) return refuse(res, sub.id, sub.answer, `told to answer ${sub.answer}`);

    const vapid = verifyVapid(req.headers.authorization, origin);
    if (!vapid.ok) return refuse(res, sub.id, 401, vapid.reason);
    if (sub.applicationServerKey && vapid.publicKey !== sub.applicationServerKey) {
      return refuse(res, sub.id, 403, 'k is not the applicationServerKey of this subscription');
    }
    const ttlHeader = req.headers.ttl;
    if (typeof ttlHeader !== 'string' || !/^\d+$/.test(ttlHeader)) return refuse(res, sub.id, 400, 'TTL header missing or not a non-negative integer');
    const urgency = (req.headers.urgency as string | undefined) ?? 'normal';
    if (!URGENCIES.has(urgency)) return refuse(res, sub.id, 400, `Urgency ${urgency} is not valid`);
    const topic = req.headers.topic as string | undefined;
    if (topic !== undefined && (topic.length > 32 || !B64URL.test(topic))) return refuse(res, sub.id, 400, 'Topic must be at most 32 base64url characters');
    if ((req.headers['content-encoding'] ?? '').toLowerCase() !== 'aes128gcm') return refuse(res, sub.id, 415, 'Content-Encoding must be aes128gcm');
    if (body.length > 4096) return refuse(res, sub.id, 413, 'payload larger than 4096 bytes');
    let payload: Buffer;
    try {
      payload = ece.decrypt(body, { version: 'aes128gcm', privateKey: sub.ecdh, authSecret: sub.authSecret });
    } catch (e) {
      return refuse(res, sub.id, 400, `cannot decrypt: ${(e as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      json = undefined;
    }
    res.writeHead(201, { location: `${origin}/message/${randomBytes(8).toString('hex')}` }).end();
    deliver({ subscriberId: sub.id, ttl: Number(ttlHeader), urgency, topic, vapid: { aud: vapid.aud, exp: vapid.exp, sub: vapid.sub, publicKey: vapid.publicKey }, payload, json, at: Date.now() });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e) => refuse(res, undefined, 500, (e as Error).message));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  origin = `http://${host}:${port}`;

  return {
    url: origin,
    origin,
    subscribe(o = {}) {
      const id = randomBytes(12).toString('base64url');
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      const authSecret = randomBytes(16);
      const s = {
        id,
        ecdh,
        authSecret,
        subscription: {
          endpoint: `${origin}/push/${id}`,
          expirationTime: null,
          keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: authSecret.toString('base64url') },
        },
        applicationServerKey: o.applicationServerKey,
        answer: 201 as Answer,
      };
      subscribers.set(id, s);
      return s;
    },
    answer(subscriberId, answer) {
      const s = subscribers.get(subscriberId);
      if (!s) throw new Error('unknown subscriber');
      s.answer = answer;
      // Messages left hanging for this subscriber are now answered (503: they were never delivered).
      for (const [res, id] of hanging) {
        if (id !== subscriberId || answer === 'hang') continue;
        hanging.delete(res);
        refuse(res, id, 503, 'was hanging');
      }
    },
    messages,
    rejected,
    nextMessage(pred = () => true) {
      const ready = messages.find((m) => !taken.has(m) && pred(m));
      if (ready) {
        taken.add(ready);
        return Promise.resolve(ready);
      }
      return new Promise((resolve) => waiting.push({ pred, resolve }));
    },
    messagesFor(subscriberId) {
      return messages.filter((m) => m.subscriberId === subscriberId);
    },
    async close() {
      for (const r of hanging.keys()) r.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
