import type { Clock } from '../clock.ts';
import type { DB } from '../store/index.ts';
import type { LoginChallengesTable, LoginChallengeState } from '../store/schema.ts';
import type { TokenRegistry } from '../gate/tokens.ts';
import type { JellyfinClient } from '../jellyfin/upstream.ts';
import type { AuditEvent } from '../audit/index.ts';
import { open, randomId, seal } from '../crypto.ts';
import { CHALLENGE_MAX_ATTEMPTS, type LoginMethod } from '../factors/index.ts';
import type { AuthenticationResult } from './result.ts';

/**
 * Login challenges: a password login Jellyfin accepted whose token the gateway holds (recorded as
 * `pending` in the token registry, so the gate refuses it everywhere) until a second factor is given.
 *
 * State machine (one conditional UPDATE per transition, so concurrent requests cannot both win):
 *   pending ──factor──► verified (token verified, Jellyfin's answer released once, then wiped)
 *   pending ──enroll──► satisfied ──Complete──► verified
 *   pending|satisfied ──5 wrong codes──► failed    ┐
 *   pending|satisfied ──ChallengeSeconds──► expired ├─► token revoked at Jellyfin and forgotten
 *   pending|satisfied ──newer login, same device──► superseded ┘
 * Revocation is retried by the sweep until Jellyfin confirms the token is dead (fail closed: until
 * then the token stays pending, which the gate refuses). Jellyfin's answer is sealed with AES-256-GCM
 * under the challenge id as associated data and wiped as soon as it is released or revoked.
 */
export type ChallengeRow = LoginChallengesTable;

export interface ChallengeStoreDeps {
  db: DB;
  clock: Clock;
  encryptionKey: Buffer;
  tokens: TokenRegistry;
  jellyfin: Pick<JellyfinClient, 'logout' | 'whoAmI'>;
  challengeSeconds: number;
  log: (msg: string) => void;
  audit: (e: AuditEvent) => void;
}

export interface NewChallenge {
  result: AuthenticationResult;
  /** Jellyfin's 200 answer, as it will be released. */
  body: Buffer;
  contentType: string | undefined;
  methods: LoginMethod[];
  ip: string;
  deviceId: string | null;
  deviceName: string | null;
  client: string | null;
  appVersion: string | null;
}

interface Sealed {
  body: string; // base64
  token: string;
}

/** Terminal rows are kept this long for the record, then deleted. */
const KEEP_ENDED_MS = 24 * 60 * 60 * 1000;
/** A verified row still holding its answer after this long was interrupted mid-release: revoke it. */
const STUCK_RELEASE_MS = 60 * 1000;

const LIVE: LoginChallengeState[] = ['pending', 'satisfied'];

export class LoginChallenges {
  constructor(private readonly deps: ChallengeStoreDeps) {}

  get seconds(): number {
    return this.deps.challengeSeconds;
  }

  private sealResult(id: string, body: Buffer, token: string): string {
    const payload: Sealed = { body: body.toString('base64'), token };
    return seal(this.deps.encryptionKey, id, JSON.stringify(payload));
  }

  private openResult(row: ChallengeRow): Sealed | undefined {
    if (!row.result_enc) return undefined;
    try {
      return JSON.parse(open(this.deps.encryptionKey, row.id, row.result_enc).toString('utf8')) as Sealed;
    } catch {
      this.deps.log(`login challenge ${row.id.slice(0, 6)}…: its sealed answer cannot be opened`);
      return undefined;
    }
  }

  /** Hold a login: record its token as pending and store the challenge. */
  async create(c: NewChallenge): Promise<ChallengeRow> {
    const id = randomId();
    const now = this.deps.clock.now();
    const row: ChallengeRow = {
      id,
      user_id: c.result.userId,
      user_name: c.result.userName,
      is_admin: c.result.isAdmin ? 1 : 0,
      token_hash: this.deps.tokens.hash(c.result.accessToken),
      result_enc: this.sealResult(id, c.body, c.result.accessToken),
      content_type: c.contentType ?? null,
      methods: JSON.stringify(c.methods),
      device_id: c.deviceId,
      device_name: c.deviceName,
      client: c.client,
      ip: c.ip,
      attempts: 0,
      state: 'pending',
      method: null,
      created_at: now,
      expires_at: now + this.deps.challengeSeconds * 1000,
      ended_at: null,
      revoked_at: null,
    };
    // The challenge first: should the process stop before the token is recorded, the sweep still finds
    // the challenge and revokes the token at Jellyfin (and the gate refuses an unknown token anyway).
    await this.deps.db.insertInto('login_challenges').values(row).execute();
    await this.deps.tokens.record(
      c.result.accessToken,
      {
        userId: c.result.userId,
        deviceId: c.deviceId,
        deviceName: c.deviceName,
        client: c.client,
        appVersion: c.appVersion,
        ip: c.ip,
        method: 'challenge',
      },
      'pending',
    );
    return row;
  }

  /**
   * End the live challenges of this user and device other than `keepTokenHash`: Jellyfin revoked their
   * tokens when the same device logged in again (JELLYFIN.md §3); the gateway revokes them too.
   */
  async supersede(userId: string, deviceId: string | null, keepTokenHash: string): Promise<void> {
    if (!deviceId) return;
    const rows = await this.deps.db
      .selectFrom('login_challenges')
      .selectAll()
      .where('user_id', '=', userId)
      .where('device_id', '=', deviceId)
      .where('state', 'in', LIVE)
      .where('token_hash', '!=', keepTokenHash)
      .execute();
    for (const r of rows) await this.end(r, 'superseded');
  }

  /** A challenge by id; a live one past its expiry is expired (and its token revoked) on the way. */
  async get(id: string): Promise<ChallengeRow | undefined> {
    const row = await this.deps.db.selectFrom('login_challenges').selectAll().where('id', '=', id).executeTakeFirst();
    if (row && LIVE.includes(row.state) && row.expires_at <= this.deps.clock.now()) {
      await this.end(row, 'expired');
      return { ...row, state: 'expired' };
    }
    return row;
  }

  /** The live (pending or satisfied) challenges of one session of a user. */
  async openForSession(userId: string, tokenHash: string): Promise<ChallengeRow[]> {
    return this.deps.db
      .selectFrom('login_challenges')
      .selectAll()
      .where('user_id', '=', userId)
      .where('token_hash', '=', tokenHash)
      .where('state', 'in', ['pending', 'satisfied'])
      .execute();
  }

  static methodsOf(row: ChallengeRow): LoginMethod[] {
    try {
      return JSON.parse(row.methods) as LoginMethod[];
    } catch {
      return [];
    }
  }

  attemptsLeft(row: ChallengeRow): number {
    return Math.max(0, CHALLENGE_MAX_ATTEMPTS - row.attempts);
  }

  /**
   * Take one of the challenge's attempts before checking a code (so concurrent guesses cannot exceed
   * the limit). Returns the attempts used including this one, or undefined when none is left or the
   * challenge is not in `state`.
   */
  async reserveAttempt(id: string, state: LoginChallengeState = 'pending'): Promise<number | undefined> {
    const now = this.deps.clock.now();
    const res = await this.deps.db
      .updateTable('login_challenges')
      .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
      .where('id', '=', id)
      .where('state', '=', state)
      .where('attempts', '<', CHALLENGE_MAX_ATTEMPTS)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    if (res.numUpdatedRows !== 1n) return undefined;
    const r = await this.deps.db.selectFrom('login_challenges').select('attempts').where('id', '=', id).executeTakeFirst();
    return r?.attempts;
  }

  /** After a wrong code: end the challenge if that was its last attempt. Returns the attempts left. */
  async failed(id: string): Promise<number> {
    const row = await this.deps.db.selectFrom('login_challenges').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return 0;
    const left = this.attemptsLeft(row);
    if (left === 0 && LIVE.includes(row.state)) await this.end(row, 'failed');
    return left;
  }

  /** An enrollment inside the challenge succeeded: the login may now be completed. */
  async satisfy(id: string, method: string): Promise<boolean> {
    const res = await this.deps.db
      .updateTable('login_challenges')
      .set({ state: 'satisfied', method })
      .where('id', '=', id)
      .where('state', '=', 'pending')
      .where('expires_at', '>', this.deps.clock.now())
      .executeTakeFirst();
    return res.numUpdatedRows === 1n;
  }

  /**
   * Release the held login: exactly one caller gets Jellyfin's answer; the token becomes verified.
   * Undefined when the challenge is not in `from` any more (completed, ended, expired).
   */
  async complete(id: string, method: string, from: 'pending' | 'satisfied'): Promise<{ body: Buffer; contentType: string | undefined; row: ChallengeRow } | undefined> {
    const now = this.deps.clock.now();
    const row = await this.deps.db.selectFrom('login_challenges').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row || row.state !== from || row.expires_at <= now) return undefined;
    const finalMethod = from === 'satisfied' && row.method ? row.method : method;
    const claimed = await this.deps.db
      .updateTable('login_challenges')
      .set({ state: 'verified', method: finalMethod, ended_at: now })
      .where('id', '=', id)
      .where('state', '=', from)
      .executeTakeFirst();
    if (claimed.numUpdatedRows !== 1n) return undefined;
    const sealed = this.openResult(row);
    const verified = sealed ? await this.deps.tokens.verify(row.token_hash, finalMethod) : false;
    if (!sealed || !verified) {
      // The token was replaced meanwhile (same device logged in again) or the answer is unreadable.
      await this.deps.db.updateTable('login_challenges').set({ state: 'superseded' }).where('id', '=', id).execute();
      await this.revoke({ ...row, state: 'superseded' });
      return undefined;
    }
    await this.deps.db.updateTable('login_challenges').set({ result_enc: null }).where('id', '=', id).execute();
    return { body: Buffer.from(sealed.body, 'base64'), contentType: row.content_type ?? undefined, row: { ...row, state: 'verified' } };
  }

  /** End a live challenge and revoke its token at Jellyfin. */
  async end(row: ChallengeRow, state: 'failed' | 'expired' | 'superseded', detail?: Record<string, unknown>): Promise<void> {
    const res = await this.deps.db
      .updateTable('login_challenges')
      .set({ state, ended_at: this.deps.clock.now() })
      .where('id', '=', row.id)
      .where('state', 'in', LIVE)
      .executeTakeFirst();
    if (res.numUpdatedRows !== 1n) return;
    if (state !== 'superseded') {
      this.deps.audit({
        type: state === 'failed' ? 'login.challenge.ended' : 'login.challenge.expired',
        outcome: 'refused',
        userId: row.user_id,
        userName: row.user_name,
        ip: row.ip,
        deviceId: row.device_id,
        deviceName: row.device_name,
        client: row.client,
        ...(detail ? { detail } : {}),
      });
    }
    await this.revoke({ ...row, state });
  }

  /**
   * Revoke the held token at Jellyfin (`/Sessions/Logout` with the token itself), then forget it.
   * If Jellyfin cannot be reached, or says the logout failed while the token still works, the token
   * stays pending (refused by the gate) and the sweep tries again.
   */
  async revoke(row: ChallengeRow): Promise<boolean> {
    const sealed = this.openResult(row);
    let dead = !sealed; // nothing to revoke with: an unreadable answer leaves only the hash to forget
    if (sealed) {
      try {
        dead = (await this.deps.jellyfin.logout(sealed.token)) || (await this.deps.jellyfin.whoAmI(sealed.token)).kind === 'invalid';
      } catch (e) {
        this.deps.log(`revoking a held login token failed, will retry: ${(e as Error).message}`);
        dead = false;
      }
    }
    if (!dead) return false;
    const entry = this.deps.tokens.byHashEntry(row.token_hash);
    if (entry && entry.state === 'pending') await this.deps.tokens.forgetHash(row.token_hash);
    await this.deps.db
      .updateTable('login_challenges')
      .set({ result_enc: null, revoked_at: this.deps.clock.now() })
      .where('id', '=', row.id)
      .execute();
    return true;
  }

  /** Expire what is due, retry failed revocations, delete old records. Runs on a timer and at start. */
  async sweep(): Promise<void> {
    const now = this.deps.clock.now();
    const due = await this.deps.db
      .selectFrom('login_challenges')
      .selectAll()
      .where('state', 'in', LIVE)
      .where('expires_at', '<=', now)
      .execute();
    for (const r of due) await this.end(r, 'expired');
    const unrevoked = await this.deps.db
      .selectFrom('login_challenges')
      .selectAll()
      .where('state', 'in', ['failed', 'expired', 'superseded'])
      .where('revoked_at', 'is', null)
      .execute();
    for (const r of unrevoked) await this.revoke(r);
    const stuck = await this.deps.db
      .selectFrom('login_challenges')
      .selectAll()
      .where('state', '=', 'verified')
      .where('result_enc', 'is not', null)
      .where('ended_at', '<', now - STUCK_RELEASE_MS)
      .execute();
    for (const r of stuck) {
      await this.deps.db.updateTable('login_challenges').set({ state: 'failed' }).where('id', '=', r.id).execute();
      const entry = this.deps.tokens.byHashEntry(r.token_hash);
      if (entry) await this.deps.tokens.forgetHash(r.token_hash);
      await this.revoke({ ...r, state: 'failed' });
    }
    await this.deps.db
      .deleteFrom('login_challenges')
      .where('state', 'not in', LIVE)
      .where('ended_at', '<', now - KEEP_ENDED_MS)
      .where('result_enc', 'is', null)
      .execute();
  }
}
