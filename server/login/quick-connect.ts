import type { Clock } from '../clock.ts';
import type { GatewayMiddleware } from '../context.ts';
import { HttpError } from '../errors.ts';
import { canonicalGuid, stringField, tryParseJson } from '../jellyfin/json.ts';
import type { JellyfinClient } from '../jellyfin/upstream.ts';
import type { DB } from '../store/index.ts';
import type { QuickConnectTable } from '../store/schema.ts';
import { QUICK_CONNECT_CODE, compactCode } from '../../shared/api/pairing.ts';
import { forwardBuffered, recordOrRevoke, type LoginDeps } from './password.ts';
import { readSmallBody, parseLoginJson } from './body.ts';
import { parseAuthenticationResult } from './result.ts';
import { relay } from './relay.ts';
import { queryParam } from './query.ts';
import type { AuditSink } from '../audit/index.ts';
import { keyedHash } from '../crypto.ts';

/** Jellyfin keeps a Quick Connect request for 10 minutes after DateAdded (JELLYFIN.md §4). */
export const QUICK_CONNECT_LIFETIME_MS = 10 * 60 * 1000;

/**
 * The Quick Connect requests the gateway saw initiated (the quick_connect table; its only reader and
 * writer). The interceptor below remembers them and finds the authorised one a device's secret names;
 * TV pairing (server/pairing) finds the one waiting behind a code and claims it for a user BEFORE
 * Jellyfin is asked to authorise it (so the device's exchange, which may come the same instant, already
 * finds it approved), giving it back when Jellyfin refuses. A claim succeeds once: codes are single use.
 */
export class QuickConnectRequests {
  constructor(
    private readonly db: DB,
    private readonly clock: Clock,
    private readonly hmacKey: Buffer,
  ) {}

  /** Secrets are stored hashed: the table alone cannot collect anyone's token. */
  private secretHash(secret: string): string {
    return keyedHash(this.hmacKey, 'qc', secret.toUpperCase());
  }

  /** Remember a request Jellyfin just initiated (once per secret), and forget the expired ones. */
  async remember(secret: string, request: Omit<QuickConnectTable, 'secret_hash' | 'created_at' | 'expires_at' | 'authorized_user_id' | 'authorized_at'>): Promise<void> {
    const now = this.clock.now();
    await this.db
      .insertInto('quick_connect')
      .values({
        ...request,
        secret_hash: this.secretHash(secret),
        created_at: now,
        expires_at: now + QUICK_CONNECT_LIFETIME_MS,
        authorized_user_id: null,
        authorized_at: null,
      })
      .onConflict((oc) => oc.column('secret_hash').doNothing())
      .execute();
    await this.db.deleteFrom('quick_connect').where('expires_at', '<', now).execute();
  }

  /** The request a device's secret belongs to, if the gateway saw it initiated. */
  async bySecret(secret: string): Promise<QuickConnectTable | undefined> {
    return this.db.selectFrom('quick_connect').selectAll().where('secret_hash', '=', this.secretHash(secret)).executeTakeFirst();
  }

  /** Record that `code` was authorised for `userId` through the gateway; how many requests that marked. */
  async markAuthorized(code: string, userId: string): Promise<number> {
    const now = this.clock.now();
    const r = await this.db
      .updateTable('quick_connect')
      .set({ authorized_user_id: userId, authorized_at: now })
      .where('code', '=', code)
      .where('expires_at', '>=', now)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** The newest request behind this code that is still waiting, or undefined. */
  async pending(code: string): Promise<QuickConnectTable | undefined> {
    const c = compactCode(code);
    if (!QUICK_CONNECT_CODE.test(c)) return undefined;
    return this.db
      .selectFrom('quick_connect')
      .selectAll()
      .where('code', '=', c)
      .where('expires_at', '>=', this.clock.now())
      .where('authorized_at', 'is', null)
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
  }

  /** Claim the waiting request for `userId`; the claim's time (to give it back), or undefined if none waits. */
  async claim(code: string, userId: string): Promise<number | undefined> {
    const now = this.clock.now();
    const res = await this.db
      .updateTable('quick_connect')
      .set({ authorized_user_id: userId, authorized_at: now })
      .where('code', '=', compactCode(code))
      .where('expires_at', '>=', now)
      .where('authorized_at', 'is', null)
      .executeTakeFirst();
    return res.numUpdatedRows > 0n ? now : undefined;
  }

  /** Jellyfin refused: the request waits again. */
  async unclaim(code: string, userId: string, at: number): Promise<void> {
    await this.db
      .updateTable('quick_connect')
      .set({ authorized_user_id: null, authorized_at: null })
      .where('code', '=', compactCode(code))
      .where('authorized_user_id', '=', userId)
      .where('authorized_at', '=', at)
      .execute();
  }
}

export interface QuickConnectDeps extends LoginDeps {
  requests: QuickConnectRequests;
  clock: Clock;
  client: JellyfinClient;
  audit: AuditSink;
}

/**
 * Quick Connect through the gateway. The gateway remembers every request it sees initiated, marks a
 * code as authorised only when a verified session authorised it here, and treats the token a device
 * collects as verified only for such codes. A code authorised behind the gateway's back (directly at
 * Jellyfin) yields nothing: its token is revoked, not released.
 */
export class QuickConnectInterceptor {
  /** The requests it remembers (shared with TV pairing). */
  readonly requests: QuickConnectRequests;

  constructor(private readonly deps: QuickConnectDeps) {
    this.requests = deps.requests;
  }

  /** `Initiate`: pass through and remember the code, its secret (hashed) and the asking device. */
  readonly initiate: GatewayMiddleware = async (ctx) => {
    const body = await readSmallBody(ctx, this.deps.maxBodyBytes, 'Quick Connect requests');
    const res = await forwardBuffered(ctx, this.deps, body);
    if (res.status === 200) {
      const json = tryParseJson(res.body.toString('utf8'));
      const secret = stringField(json, 'Secret');
      const code = stringField(json, 'Code');
      if (secret && code) {
        await this.deps.requests.remember(secret, {
          code,
          device_id: stringField(json, 'DeviceId') ?? ctx.state.credential.deviceId ?? null,
          device_name: stringField(json, 'DeviceName') ?? ctx.state.credential.device ?? null,
          app_name: stringField(json, 'AppName') ?? ctx.state.credential.client ?? null,
          app_version: stringField(json, 'AppVersion') ?? ctx.state.credential.version ?? null,
          ip: ctx.state.client.ip,
        });
      }
    }
    relay(ctx, res);
  };

  /**
   * `Authorize?code=&userId=` from a verified session (the gate ran first). Jellyfin signs the waiting
   * device in with no password, so only authorisations made here by a verified user session count.
   */
  readonly authorize: GatewayMiddleware = async (ctx) => {
    const body = await readSmallBody(ctx, this.deps.maxBodyBytes, 'Quick Connect requests');
    const res = await forwardBuffered(ctx, this.deps, body);
    const session = ctx.state.session;
    if (res.status === 200 && session && res.body.toString('utf8').trim() === 'true') {
      const code = queryParam(ctx.querystring, 'code');
      const named = canonicalGuid(queryParam(ctx.querystring, 'userId'));
      const userId = named ?? session.userId;
      if (code && (await this.deps.requests.markAuthorized(code, userId)) > 0) {
        this.deps.audit.record({
          type: 'quickconnect.authorized', outcome: 'success', userId, ip: ctx.state.client.ip,
          deviceId: session.deviceId, client: session.client, detail: { by: session.userId },
        });
      }
    }
    relay(ctx, res);
  };

  /** `AuthenticateWithQuickConnect {Secret}`: release the token only for codes authorised here. */
  readonly exchange: GatewayMiddleware = async (ctx) => {
    const body = await readSmallBody(ctx, this.deps.maxBodyBytes, 'Quick Connect requests');
    const json = parseLoginJson(body);
    const res = await forwardBuffered(ctx, this.deps, body);
    if (res.status !== 200) return relay(ctx, res);
    const result = parseAuthenticationResult(res.body);
    if (!result) {
      throw new HttpError(502, 'unreadable_login_response', 'Jellyfin answered the login in a form the gateway cannot read');
    }
    const secret = stringField(json, 'Secret');
    const row = secret ? await this.deps.requests.bySecret(secret) : undefined;
    if (!row || row.authorized_user_id !== result.userId || row.expires_at < this.deps.clock.now()) {
      this.deps.log('a Quick Connect code authorised outside the gateway was refused; its token is revoked');
      await this.deps.client.logout(result.accessToken).catch(() => false);
      this.deps.audit.record({
        type: 'login.quickconnect.refused', outcome: 'refused', userId: result.userId, userName: result.userName,
        ip: ctx.state.client.ip, deviceId: result.deviceId, deviceName: result.deviceName, client: result.client,
      });
      throw new HttpError(403, 'quick_connect_not_approved', 'This Quick Connect request was not approved through Jellyguard.');
    }
    await recordOrRevoke(ctx, this.deps, result, 'quickconnect');
    this.deps.audit.record({
      type: 'login.quickconnect.success', outcome: 'success', userId: result.userId, userName: result.userName,
      ip: ctx.state.client.ip, deviceId: result.deviceId, deviceName: result.deviceName, client: result.client,
    });
    relay(ctx, res);
  };
}
