import { LRUCache } from 'lru-cache';
import type { Clock } from '../clock.ts';
import type { JellyfinClient } from '../jellyfin/upstream.ts';
import { canonicalGuid, stringField, field } from '../jellyfin/json.ts';
import type { ApiKeyCache } from './api-keys.ts';
import type { TokenEntry, TokenRegistry } from './tokens.ts';
import type { UserDirectory } from './users.ts';
import type { AuditSink } from '../audit/index.ts';

export { TokenRegistry, type TokenEntry, type TokenInfo } from './tokens.ts';
export { ApiKeyCache } from './api-keys.ts';
export { UserDirectory } from './users.ts';

export type GateDecision =
  | { pass: true; session: TokenEntry | undefined; apiKey: boolean }
  | { pass: false; reason: 'unknown_token' | 'pending_token' | 'api_key_refused' };

export interface GateOptions {
  audit?: AuditSink;
  apiKeyBypass: boolean;
  /** Epoch ms until which tokens issued before the gateway may be adopted; undefined = never. */
  adoptUntil: number | undefined;
  /** Minimum age of the API key list before an unknown token triggers a refresh. */
  apiKeyMissRefreshMs: number;
}

/**
 * The token gate (DESIGN principle 4): a request that carries any credential reaches Jellyfin only if
 * EVERY token it presents, in any of the five forms, is verified or a Jellyfin API key policy admits.
 * The common case is decided synchronously from memory.
 */
export class TokenGate {
  /** Tokens Jellyfin said are not live sessions, remembered briefly so they cannot flood the upstream. */
  private readonly refusedAdoption = new LRUCache<string, true>({ max: 10_000, ttl: 60_000 });
  private readonly adopting = new Map<string, Promise<boolean>>();

  constructor(
    private readonly tokens: TokenRegistry,
    private readonly apiKeys: ApiKeyCache,
    private readonly client: JellyfinClient,
    private readonly users: UserDirectory,
    private readonly clock: Clock,
    private readonly opts: GateOptions,
    private readonly log: (msg: string) => void = () => {},
  ) {}

  /** Synchronous verdict when memory alone decides; undefined when a slower check is needed. */
  checkFast(candidates: readonly string[]): GateDecision | undefined {
    let session: TokenEntry | undefined;
    let apiKey = false;
    for (const token of candidates) {
      const entry = this.tokens.lookup(token);
      if (entry) {
        if (entry.state !== 'verified') return { pass: false, reason: 'pending_token' };
        session ??= entry;
        continue;
      }
      if (this.apiKeys.has(token)) {
        if (!this.opts.apiKeyBypass) return { pass: false, reason: 'api_key_refused' };
        apiKey = true;
        continue;
      }
      return undefined;
    }
    return { pass: true, session, apiKey };
  }

  async check(candidates: readonly string[]): Promise<GateDecision> {
    const fast = this.checkFast(candidates);
    if (fast) return fast;
    // Some token is unknown: perhaps an API key created since the last refresh.
    await this.apiKeys.refreshIfOlderThan(this.opts.apiKeyMissRefreshMs);
    const again = this.checkFast(candidates);
    if (again) return again;
    if (this.adoptionOpen()) {
      for (const token of candidates) {
        if (this.tokens.lookup(token) || this.apiKeys.has(token)) continue;
        if (!(await this.adopt(token))) return { pass: false, reason: 'unknown_token' };
      }
      const adopted = this.checkFast(candidates);
      if (adopted) return adopted;
    }
    return { pass: false, reason: 'unknown_token' };
  }

  /** Refusals are audited at most once a minute per address, so a flood cannot crowd out the log. */
  private readonly refusalsAudited = new LRUCache<string, true>({ max: 10_000, ttl: 60_000 });

  noteRefusal(ip: string, reason: string, detail: Record<string, unknown>): void {
    if (this.refusalsAudited.has(ip)) return;
    this.refusalsAudited.set(ip, true);
    this.opts.audit?.record({ type: 'gate.refused', outcome: 'refused', ip, detail: { reason, ...detail } });
  }

  private adoptionOpen(): boolean {
    return this.opts.adoptUntil !== undefined && this.clock.now() < this.opts.adoptUntil;
  }

  /** Ask Jellyfin once whether a pre-existing token is a live session; adopt it if so. */
  private adopt(token: string): Promise<boolean> {
    const key = this.tokens.hash(token);
    if (this.refusedAdoption.has(key)) return Promise.resolve(false);
    let p = this.adopting.get(key);
    if (!p) {
      p = (async () => {
        try {
          const who = await this.client.whoAmI(token);
          if (who.kind === 'apikey') {
            await this.apiKeys.refresh();
            return this.apiKeys.has(token);
          }
          const userId = who.kind === 'user' ? canonicalGuid(stringField(who.user, 'Id')) : undefined;
          if (who.kind !== 'user' || !userId) {
            this.refusedAdoption.set(key, true);
            return false;
          }
          const name = stringField(who.user, 'Name') ?? userId;
          const isAdmin = field(field(who.user, 'Policy'), 'IsAdministrator') === true;
          await this.users.upsert({ id: userId, name, isAdmin });
          await this.tokens.record(token, { userId, method: 'adopted' });
          this.log(`adopted an existing Jellyfin session of ${name}`);
          this.opts.audit?.record({ type: 'session.adopted', outcome: 'success', userId, userName: name });
          return true;
        } catch (e) {
          this.log(`adoption check failed: ${(e as Error).message}`);
          return false;
        } finally {
          this.adopting.delete(key);
        }
      })();
      this.adopting.set(key, p);
    }
    return p;
  }
}

/**
 * Sign a session out everywhere the gateway can: it stops passing the gate at once, and its device is
 * deleted at Jellyfin (with the gateway's API key) so Jellyfin drops the token too.
 */
export async function revokeSession(
  tokens: import('./tokens.ts').TokenRegistry,
  jellyfin: Pick<import('../jellyfin/upstream.ts').JellyfinClient, 'deleteDevice'>,
  tokenHash: string,
): Promise<boolean> {
  const entry = tokens.byHashEntry(tokenHash);
  if (!entry) return false;
  await tokens.forgetHash(tokenHash);
  if (entry.deviceId) await jellyfin.deleteDevice(entry.deviceId).catch(() => false);
  return true;
}
