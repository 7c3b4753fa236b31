import type { Clock } from '../clock.ts';
import type { GatewayMiddleware } from '../context.ts';
import { HttpError } from '../errors.ts';
import { canonicalGuid, stringField, tryParseJson } from '../jellyfin/json.ts';
import type { JellyfinClient } from '../jellyfin/upstream.ts';
import type { DB } from '../store/index.ts';
import { forwardBuffered, recordOrRevoke, type LoginDeps } from './password.ts';
import { readSmallBody, parseLoginJson } from './body.ts';
import { parseAuthenticationResult } from './result.ts';
import { relay } from './relay.ts';
import { queryParam } from './query.ts';
import type { AuditSink } from '../audit/index.ts';
import { keyedHash } from '../crypto.ts';

/** Jellyfin keeps a Quick Connect request for 10 minutes after DateAdded (JELLYFIN.md §4). */
export const QUICK_CONNECT_LIFETIME_MS = 10 * 60 * 1000;

export interface QuickConnectDeps extends LoginDeps {
  db: DB;
  clock: Clock;
  hmacKey: Buffer;
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
  constructor(private readonly deps: QuickConnectDeps) {}

  private secretHash(secret: string): string {
    return keyedHash(this.deps.hmacKey, 'qc', secret.toUpperCase());
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
        const now = this.deps.clock.now();
        await this.deps.db
          .insertInto('quick_connect')
          .values({
            secret_hash: this.secretHash(secret),
            code,
            device_id: stringField(json, 'DeviceId') ?? ctx.state.credential.deviceId ?? null,
            device_name: stringField(json, 'DeviceName') ?? ctx.state.credential.device ?? null,
            app_name: stringField(json, 'AppName') ?? ctx.state.credential.client ?? null,
            app_version: stringField(json, 'AppVersion') ?? ctx.state.credential.version ?? null,
            ip: ctx.state.client.ip,
            created_at: now,
            expires_at: now + QUICK_CONNECT_LIFETIME_MS,
            authorized_user_id: null,
            authorized_at: null,
          })
          .onConflict((oc) => oc.column('secret_hash').doNothing())
          .execute();
        await this.deps.db.deleteFrom('quick_connect').where('expires_at', '<', now).execute();
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
      if (code && (await this.markAuthorized(code, userId)) > 0) {
        this.deps.audit.record({
          type: 'quickconnect.authorized', outcome: 'success', userId, ip: ctx.state.client.ip,
          deviceId: session.deviceId, client: session.client, detail: { by: session.userId },
        });
      }
    }
    relay(ctx, res);
  };

  /** Record that `code` was authorised for `userId` through the gateway (also used by phone approval). */
  async markAuthorized(code: string, userId: string): Promise<number> {
    const now = this.deps.clock.now();
    const r = await this.deps.db
      .updateTable('quick_connect')
      .set({ authorized_user_id: userId, authorized_at: now })
      .where('code', '=', code)
      .where('expires_at', '>=', now)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

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
    const row = secret
      ? await this.deps.db.selectFrom('quick_connect').selectAll().where('secret_hash', '=', this.secretHash(secret)).executeTakeFirst()
      : undefined;
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
