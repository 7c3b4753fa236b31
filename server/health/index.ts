import type SQLite from 'better-sqlite3';
import type { Clock } from '../clock.ts';
import type { JellyfinProxy } from '../jellyfin/proxy.ts';
import type { JellyfinClient } from '../jellyfin/upstream.ts';
import { checkDataDir } from '../store/data-dir.ts';

/**
 * Liveness and readiness for Docker's HEALTHCHECK, systemd, Uptime Kuma and load balancers.
 *
 * - live: the process answers (the event loop runs). Nothing else: restarting the gateway cures nothing
 *   that Jellyfin being away causes.
 * - ready: the gateway can do its job — the data directory and the database take a write, Jellyfin
 *   answers, and the API key (when set) is a valid API key. Answers 503 when a check fails.
 *
 * Checks name what is wrong in a few words and never include a secret. Results are kept for a couple of
 * seconds so that a burst of probes costs one round.
 */
export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface CheckResult {
  status: CheckStatus;
  /** For people; no secret, no user data. */
  message: string;
}

export interface Readiness {
  status: CheckStatus;
  checks: Record<'database' | 'jellyfin' | 'apiKey', CheckResult>;
}

export interface HealthDeps {
  dataDir: string;
  sqlite: SQLite.Database;
  proxy: JellyfinProxy;
  jellyfin: JellyfinClient;
  baseUrl: string;
  apiKey: string | undefined;
  clock: Clock;
  /** Seconds a result is reused (default 2). */
  cacheMs?: number;
}

export class Health {
  private cached: { at: number; result: Promise<Readiness> } | undefined;

  constructor(private readonly deps: HealthDeps) {}

  ready(): Promise<Readiness> {
    const now = this.deps.clock.now();
    if (this.cached && now - this.cached.at < (this.deps.cacheMs ?? 2000)) return this.cached.result;
    const result = this.check();
    this.cached = { at: now, result };
    return result;
  }

  private async check(): Promise<Readiness> {
    const [database, jellyfin, apiKey] = await Promise.all([this.database(), this.upstream(), this.key()]);
    const all = [database, jellyfin, apiKey];
    const status: CheckStatus = all.some((c) => c.status === 'fail') ? 'fail' : all.some((c) => c.status === 'warn') ? 'warn' : 'pass';
    return { status, checks: { database, jellyfin, apiKey } };
  }

  /** A probe file written and fsynced in the data directory, and one committed write to the database. */
  private async database(): Promise<CheckResult> {
    try {
      checkDataDir(this.deps.dataDir);
    } catch (e) {
      return { status: 'fail', message: (e as Error).message };
    }
    try {
      // user_version is a header field of the database file that nothing else uses (migrations keep their
      // own table): setting it is a real write transaction that must reach the WAL file.
      this.deps.sqlite.pragma(`user_version = ${this.deps.clock.now() % 2_000_000_000}`);
      return { status: 'pass', message: 'the data directory and the database take writes' };
    } catch (e) {
      const err = e as { code?: string; message?: string };
      return { status: 'fail', message: `the database cannot be written (${err.code ?? 'error'}: ${err.message ?? ''})` };
    }
  }

  private async upstream(): Promise<CheckResult> {
    try {
      const res = await this.deps.proxy.request({
        method: 'GET',
        path: `${this.deps.baseUrl}/System/Info/Public`,
        headers: { accept: 'application/json' },
        timeoutMs: 3000,
        maxResponseBytes: 64 * 1024,
      });
      if (res.status === 200) return { status: 'pass', message: 'Jellyfin answers' };
      return { status: 'fail', message: `Jellyfin answered ${res.status} to /System/Info/Public` };
    } catch (e) {
      return { status: 'fail', message: (e as Error).message || 'Jellyfin could not be reached' };
    }
  }

  private async key(): Promise<CheckResult> {
    if (!this.deps.apiKey) {
      return { status: 'warn', message: 'JELLYFIN_API_KEY is not set: API keys of other apps are refused and phone pairing is off' };
    }
    try {
      const who = await this.deps.jellyfin.whoAmI(this.deps.apiKey);
      if (who.kind === 'apikey') return { status: 'pass', message: 'the API key is valid' };
      if (who.kind === 'user') return { status: 'fail', message: "JELLYFIN_API_KEY is a user's session token, not an API key" };
      return { status: 'fail', message: 'Jellyfin refuses JELLYFIN_API_KEY' };
    } catch (e) {
      return { status: 'fail', message: `the API key could not be checked: ${(e as Error).message}` };
    }
  }
}
