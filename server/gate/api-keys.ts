import type { Clock } from '../clock.ts';
import type { JellyfinClient } from '../jellyfin/upstream.ts';
import { keyedHash } from '../crypto.ts';

/**
 * Jellyfin API keys (Sonarr, Radarr, Tautulli…), recognised through `/Auth/Keys` with the gateway's own
 * key, cached as HMACs and refreshed on a timer — and at most every few seconds when an unknown token
 * arrives, so a key created a moment ago works at its first use without letting a flood of bad tokens
 * turn into a flood of upstream calls.
 */
export class ApiKeyCache {
  private hashes = new Set<string>();
  private lastRefresh = 0;
  private inflight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: JellyfinClient,
    private readonly hmacKey: Buffer,
    private readonly clock: Clock,
    private readonly ownKey: string | undefined,
    private readonly log: (msg: string) => void = () => {},
  ) {
    if (ownKey) this.hashes.add(this.hash(ownKey));
  }

  private hash(token: string): string {
    return keyedHash(this.hmacKey, 'apikey', token);
  }

  has(token: string): boolean {
    return this.hashes.has(this.hash(token));
  }

  /** Refresh now (coalesced); a failure keeps the previous list and is logged. */
  refresh(): Promise<void> {
    if (!this.client.hasApiKey) return Promise.resolve();
    this.inflight ??= (async () => {
      try {
        const keys = await this.client.listApiKeys();
        const next = new Set(keys.map((k) => this.hash(k.accessToken)));
        if (this.ownKey) next.add(this.hash(this.ownKey));
        this.hashes = next;
      } catch (e) {
        this.log(`API key list refresh failed: ${(e as Error).message}`);
      } finally {
        this.lastRefresh = this.clock.now();
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }

  /**
   * A key was just created or deleted through the gateway: read the list again, from after that change
   * (a refresh already under way may have read it before), so the new key works at its first use and a
   * deleted one stops at once.
   */
  async refreshAfterChange(): Promise<void> {
    if (this.inflight) await this.inflight;
    await this.refresh();
  }

  /** Refresh if the list is older than `minAgeMs`; used when an unknown token shows up. */
  async refreshIfOlderThan(minAgeMs: number): Promise<void> {
    if (this.inflight) return this.inflight;
    if (this.clock.now() - this.lastRefresh >= minAgeMs) await this.refresh();
  }

  start(intervalMs: number): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
