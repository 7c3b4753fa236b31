import { createHash, timingSafeEqual } from 'node:crypto';
import type { DB } from '../store/index.ts';

/** The outcome of one check. `unavailable` means the service could not say: the login goes on (fail open). */
export type BreachResult =
  | { result: 'clean'; count: 0 }
  | { result: 'breached'; count: number }
  | { result: 'unavailable'; count: 0; reason: string };

export interface BreachCheckOptions {
  /** The range API's base, e.g. https://api.pwnedpasswords.com (BreachCheckUrl). */
  baseUrl: string;
  /** Give up after this long (3 s: a login must not hang on a third party). */
  timeoutMs?: number;
  /** The fetch to use (the platform's by default). */
  fetch?: typeof fetch;
}

/** Longest range answer read (a padded answer is about 30–40 KB). */
const MAX_BODY = 2 * 1024 * 1024;

/**
 * The breached-password check by k-anonymity (Have I Been Pwned's range API): only the first five hex
 * characters of the password's SHA-1 leave the machine; the answer lists every suffix with that prefix
 * and the suffix is looked up here. `Add-Padding: true` asks for decoy entries (count 0) so that the
 * answer's size does not tell an observer which prefix was asked. Any error or a timeout is
 * `unavailable`: the check fails open, because a breach service being down must not lock anyone out.
 */
export class BreachChecker {
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;

  constructor(opts: BreachCheckOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 3000;
    this.fetch = opts.fetch ?? fetch;
  }

  async check(password: string): Promise<BreachResult> {
    const sha1 = createHash('sha1').update(password, 'utf8').digest('hex').toUpperCase();
    const prefix = sha1.slice(0, 5);
    const suffix = Buffer.from(sha1.slice(5), 'latin1');
    let text: string;
    try {
      const res = await this.fetch(`${this.base}/range/${prefix}`, {
        headers: { 'Add-Padding': 'true', 'User-Agent': 'Jellyguard breach check', Accept: 'text/plain' },
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      });
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => {});
        return { result: 'unavailable', count: 0, reason: `the range API answered ${res.status}` };
      }
      text = await readCapped(res, MAX_BODY);
    } catch (e) {
      const name = (e as Error).name;
      const reason = name === 'TimeoutError' || name === 'AbortError' ? `no answer within ${this.timeoutMs} ms` : `the range API could not be reached (${(e as Error).message})`;
      return { result: 'unavailable', count: 0, reason };
    }
    let count = 0;
    // Every line is compared (in constant time) so that timing does not tell where the suffix was.
    for (const line of text.split('\n')) {
      const colon = line.indexOf(':');
      if (colon !== 35) continue;
      const candidate = Buffer.from(line.slice(0, 35).toUpperCase(), 'latin1');
      if (candidate.length === suffix.length && timingSafeEqual(candidate, suffix)) {
        const n = Number.parseInt(line.slice(36).trim(), 10);
        if (Number.isFinite(n) && n > 0) count = n; // padding entries have count 0
      }
    }
    return count > 0 ? { result: 'breached', count } : { result: 'clean', count: 0 };
  }
}

async function readCapped(res: Response, cap: number): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > cap) throw new Error('the range answer is too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The last breach check of a user's password (the `password_checks` row the guard writes at sign-in). */
export async function lastPasswordCheck(db: DB, userId: string): Promise<{ result: 'clean' | 'breached' | 'unavailable'; count: number; checkedAt: number } | undefined> {
  const r = await db.selectFrom('password_checks').selectAll().where('user_id', '=', userId).executeTakeFirst();
  return r ? { result: r.result, count: r.count, checkedAt: r.checked_at } : undefined;
}
