import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.ts';
import { canonicalGuid, field, stringField, tryParseJson } from '../jellyfin/json.ts';
import type { JellyfinProxy } from '../jellyfin/proxy.ts';
import { mediaBrowserHeader } from '../jellyfin/upstream.ts';
import type { DB } from '../store/index.ts';
import type { SsoLinksTable } from '../store/schema.ts';

export interface JellyfinUser {
  id: string;
  name: string;
  isAdmin: boolean;
  isDisabled: boolean;
  /** The whole UserPolicy as Jellyfin sent it (a policy update replaces all of it). */
  policy: Record<string, unknown>;
}

function readUser(json: unknown): JellyfinUser | undefined {
  const id = canonicalGuid(stringField(json, 'Id'));
  const name = stringField(json, 'Name');
  const policy = field(json, 'Policy');
  if (!id || !name || !policy || typeof policy !== 'object') return undefined;
  return {
    id,
    name,
    isAdmin: field(policy, 'IsAdministrator') === true,
    isDisabled: field(policy, 'IsDisabled') === true,
    policy: policy as Record<string, unknown>,
  };
}

/** The user administration single sign-on needs, with the gateway's API key (JELLYFIN.md §5). */
export class JellyfinAccounts {
  constructor(
    private readonly proxy: JellyfinProxy,
    private readonly baseUrl: string,
    private readonly apiKey: string | undefined,
  ) {}

  private async call(method: string, path: string, body?: unknown) {
    if (!this.apiKey) throw new Error('JELLYFIN_API_KEY is not set');
    const headers: Record<string, string> = { authorization: mediaBrowserHeader(this.apiKey), accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return this.proxy.request({
      method,
      path: this.baseUrl + path,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      maxResponseBytes: 8 * 1024 * 1024,
      timeoutMs: 10_000,
    });
  }

  async get(id: string): Promise<JellyfinUser | undefined> {
    const res = await this.call('GET', `/Users/${id}`);
    return res.status === 200 ? readUser(tryParseJson(res.body.toString('utf8'))) : undefined;
  }

  async list(): Promise<JellyfinUser[]> {
    const res = await this.call('GET', '/Users');
    if (res.status !== 200) throw new Error(`GET /Users answered ${res.status}`);
    const json = tryParseJson(res.body.toString('utf8'));
    return Array.isArray(json) ? json.flatMap((u) => readUser(u) ?? []) : [];
  }

  /** `POST /Users/New` with a random password nobody knows (the user signs in through the provider). */
  async create(name: string): Promise<{ ok: true; user: JellyfinUser } | { ok: false; status: number }> {
    const res = await this.call('POST', '/Users/New', { Name: name, Password: randomBytes(32).toString('base64url') });
    const user = res.status === 200 ? readUser(tryParseJson(res.body.toString('utf8'))) : undefined;
    return user ? { ok: true, user } : { ok: false, status: res.status };
  }

  /** Make a user an administrator or not (the whole policy is sent back, changed in that one field). */
  async setAdmin(user: JellyfinUser, isAdmin: boolean): Promise<boolean> {
    if (user.isAdmin === isAdmin) return true;
    const res = await this.call('POST', `/Users/${user.id}/Policy`, { ...user.policy, IsAdministrator: isAdmin });
    return res.status === 204 || res.status === 200;
  }
}

/** Which Jellyfin user an identity (issuer, subject) is. */
export class SsoLinks {
  constructor(
    private readonly db: DB,
    private readonly clock: Clock,
  ) {}

  find(issuer: string, subject: string): Promise<SsoLinksTable | undefined> {
    return this.db.selectFrom('sso_links').selectAll().where('issuer', '=', issuer).where('subject', '=', subject).executeTakeFirst();
  }

  async link(row: Omit<SsoLinksTable, 'created_at' | 'last_login_at'>): Promise<void> {
    const now = this.clock.now();
    await this.db
      .insertInto('sso_links')
      .values({ ...row, created_at: now, last_login_at: now })
      .onConflict((oc) => oc.columns(['issuer', 'subject']).doUpdateSet({ user_id: row.user_id, provider_id: row.provider_id, linked_by: row.linked_by }))
      .execute();
  }

  async touch(issuer: string, subject: string): Promise<void> {
    await this.db.updateTable('sso_links').set({ last_login_at: this.clock.now() }).where('issuer', '=', issuer).where('subject', '=', subject).execute();
  }

  async unlink(issuer: string, subject: string): Promise<void> {
    await this.db.deleteFrom('sso_links').where('issuer', '=', issuer).where('subject', '=', subject).execute();
  }

  /** Whether a Jellyfin user signs in through a provider (DisablePasswordLoginForSSOUsers). */
  async isLinked(userId: string): Promise<boolean> {
    return !!(await this.db.selectFrom('sso_links').select('user_id').where('user_id', '=', userId).executeTakeFirst());
  }

  /** The gateway's confirmed e-mail address of a user (factor_email), to link by e-mail. */
  async userByConfirmedEmail(email: string): Promise<string | undefined> {
    const r = await this.db
      .selectFrom('factor_email')
      .select('user_id')
      .where((eb) => eb.fn('lower', ['email']), '=', email.toLowerCase())
      .execute();
    return r.length === 1 ? r[0]!.user_id : undefined; // an address two users share links nobody
  }
}
