import { LRUCache } from 'lru-cache';
import type { Clock } from '../clock.ts';
import { open, seal } from '../crypto.ts';
import type { DB } from '../store/index.ts';
import type { PairedDevicesTable, PairingsTable } from '../store/schema.ts';
import { parsePairCode } from '../../shared/api/pairing.ts';
import { deviceTokenHash, newDeviceToken, newId, newPairingCode, pairingCodeHash } from './codes.ts';

/** Pending pairings one address may have at once (PairDevice is anonymous). */
export const MAX_PENDING_PER_ADDRESS = 5;
/** Pending pairings in all (a flood from many addresses cannot fill the disk). */
export const MAX_PENDING_TOTAL = 1000;
/** CheckPairingStatus answers one poll per code this often. */
export const POLL_INTERVAL_MS = 2000;
/** Finished pairings are kept this long (for PendingPairs and the audit trail), then deleted. */
export const FINISHED_KEEP_MS = 24 * 60 * 60 * 1000;

export interface PairingRequestInput {
  deviceName: string;
  deviceId: string;
  client: string | null;
  appVersion: string | null;
  ip: string;
}

export type PollResult =
  | { kind: 'unknown' }
  | { kind: 'too_fast'; retryAfterMs: number }
  | { kind: 'expired'; row: PairingsTable; justExpired: boolean }
  | { kind: 'pending'; row: PairingsTable }
  | { kind: 'denied'; row: PairingsTable }
  | { kind: 'approved'; row: PairingsTable; deviceToken: string }
  | { kind: 'collected'; row: PairingsTable };

export type DeviceTokenCheck =
  | { ok: true; device: PairedDevicesTable }
  | { ok: false; reason: 'unknown' | 'other_user' | 'other_device'; device?: PairedDevicesTable };

/**
 * The seed's PairDevice pairings and the devices they pair (DESIGN: TV pairing). A device asks with its
 * name and DeviceId and gets a code; an administrator (ApprovePair) or the user from the phone approves it
 * for a user; the device collects a device token ONCE (CheckPairingStatus). The token, sent as
 * X-Device-Token with a password login from the same DeviceId, skips the second factor for that user and
 * device only. Every state change is one conditional UPDATE (or one transaction): a code is approved
 * once, collected once.
 */
export class DevicePairings {
  private readonly lastPoll = new LRUCache<string, number>({ max: 10_000 });

  constructor(
    private readonly db: DB,
    private readonly clock: Clock,
    private readonly keys: { encryptionKey: Buffer; hmacKey: Buffer },
    private readonly expirationMs: () => number,
  ) {}

  codeHash(code: string): string | undefined {
    const p = parsePairCode(code);
    return p?.kind === 'device' ? pairingCodeHash(this.keys.hmacKey, p.code) : undefined;
  }

  /** How many pairings this address has waiting, and how many wait in all. */
  async pendingCounts(ip: string): Promise<{ address: number; total: number }> {
    const now = this.clock.now();
    const rows = await this.db
      .selectFrom('pairings')
      .select(['ip'])
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      .execute();
    return { address: rows.filter((r) => r.ip === ip).length, total: rows.length };
  }

  /** A new pending pairing and its code (shown to the device, never stored). */
  async request(input: PairingRequestInput): Promise<{ code: string; row: PairingsTable }> {
    const now = this.clock.now();
    for (let attempt = 0; ; attempt++) {
      const code = newPairingCode();
      const row: PairingsTable = {
        id: newId(),
        code_hash: pairingCodeHash(this.keys.hmacKey, code),
        device_id: input.deviceId,
        device_name: input.deviceName,
        client: input.client,
        app_version: input.appVersion,
        ip: input.ip,
        status: 'pending',
        user_id: null,
        decided_by: null,
        decided_via: null,
        device_token_enc: null,
        paired_device_id: null,
        created_at: now,
        expires_at: now + this.expirationMs(),
        decided_at: null,
        collected_at: null,
      };
      const res = await this.db.insertInto('pairings').values(row).onConflict((oc) => oc.column('code_hash').doNothing()).executeTakeFirst();
      if (res.numInsertedOrUpdatedRows === 1n) return { code, row };
      if (attempt >= 5) throw new Error('could not draw an unused pairing code');
    }
  }

  async byCode(code: string): Promise<PairingsTable | undefined> {
    const h = this.codeHash(code);
    if (!h) return undefined;
    return this.db.selectFrom('pairings').selectAll().where('code_hash', '=', h).executeTakeFirst();
  }

  async byId(id: string): Promise<PairingsTable | undefined> {
    return this.db.selectFrom('pairings').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** A pairing that can still be approved or denied (pending, unexpired). */
  isOpen(row: PairingsTable | undefined): row is PairingsTable {
    return !!row && row.status === 'pending' && row.expires_at > this.clock.now();
  }

  /** Pending and recently decided pairings, newest first (the admin's PendingPairs). */
  async list(): Promise<PairingsTable[]> {
    const now = this.clock.now();
    const rows = await this.db.selectFrom('pairings').selectAll().where('status', 'in', ['pending', 'approved']).orderBy('created_at', 'desc').execute();
    return rows.filter((r) => r.expires_at > now);
  }

  /**
   * Approve a pending pairing for `userId`: mint the device token, pair the device (replacing an earlier
   * pairing of the same user and DeviceId), and keep the token sealed until the device collects it within
   * PairingCodeExpiration. One transaction; undefined when the pairing was not pending (any more).
   */
  async approve(id: string, userId: string, by: { userId: string; via: 'admin' | 'phone' }): Promise<PairingsTable | undefined> {
    const now = this.clock.now();
    const token = newDeviceToken();
    return this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('pairings').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row || row.status !== 'pending' || row.expires_at <= now) return undefined;
      const deviceRowId = newId();
      const upd = await trx
        .updateTable('pairings')
        .set({
          status: 'approved',
          user_id: userId,
          decided_by: by.userId,
          decided_via: by.via,
          decided_at: now,
          device_token_enc: seal(this.keys.encryptionKey, id, token),
          paired_device_id: deviceRowId,
          expires_at: now + this.expirationMs(),
        })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .executeTakeFirst();
      if (upd.numUpdatedRows !== 1n) return undefined;
      await trx.deleteFrom('paired_devices').where('user_id', '=', userId).where('device_id', '=', row.device_id).execute();
      await trx
        .insertInto('paired_devices')
        .values({
          id: deviceRowId,
          user_id: userId,
          device_id: row.device_id,
          device_name: row.device_name,
          token_hash: deviceTokenHash(this.keys.hmacKey, token),
          pairing_id: id,
          approved_by: by.userId,
          approved_via: by.via,
          created_at: now,
          last_used_at: null,
          last_ip: null,
        })
        .execute();
      return trx.selectFrom('pairings').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    });
  }

  /** Deny a pending pairing; undefined when it was not pending. */
  async deny(id: string, by: { userId: string; via: 'admin' | 'phone' }): Promise<PairingsTable | undefined> {
    const now = this.clock.now();
    const res = await this.db
      .updateTable('pairings')
      .set({ status: 'denied', decided_by: by.userId, decided_via: by.via, decided_at: now })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return res.numUpdatedRows === 1n ? this.byId(id) : undefined;
  }

  /**
   * The device polls (CheckPairingStatus). At most one answer per code every POLL_INTERVAL_MS. An
   * approved pairing hands its device token over exactly once (conditional UPDATE approved → collected,
   * the sealed token erased in the same statement).
   */
  async poll(code: string): Promise<PollResult> {
    const h = this.codeHash(code);
    if (!h) return { kind: 'unknown' };
    const now = this.clock.now();
    const last = this.lastPoll.get(h);
    if (last !== undefined && now - last < POLL_INTERVAL_MS) return { kind: 'too_fast', retryAfterMs: POLL_INTERVAL_MS - (now - last) };
    const row = await this.db.selectFrom('pairings').selectAll().where('code_hash', '=', h).executeTakeFirst();
    if (!row) return { kind: 'unknown' };
    this.lastPoll.set(h, now);
    if (row.status === 'collected') return { kind: 'collected', row };
    if (row.status === 'expired' || row.expires_at <= now) {
      const justExpired = (row.status === 'pending' || row.status === 'approved') && (await this.expire(row));
      return { kind: 'expired', row, justExpired };
    }
    if (row.status === 'pending') return { kind: 'pending', row };
    if (row.status === 'denied') return { kind: 'denied', row };
    // approved: hand the token over once
    const sealed = row.device_token_enc;
    const res = await this.db
      .updateTable('pairings')
      .set({ status: 'collected', device_token_enc: null, collected_at: now })
      .where('id', '=', row.id)
      .where('status', '=', 'approved')
      .executeTakeFirst();
    if (res.numUpdatedRows !== 1n || !sealed) return { kind: 'collected', row };
    return { kind: 'approved', row, deviceToken: open(this.keys.encryptionKey, row.id, sealed).toString('utf8') };
  }

  /** A pairing ran out: pending → expired; approved but never collected → expired and its device unpaired. */
  private async expire(row: PairingsTable): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable('pairings')
        .set({ status: 'expired', device_token_enc: null })
        .where('id', '=', row.id)
        .where('status', 'in', ['pending', 'approved'])
        .executeTakeFirst();
      if (res.numUpdatedRows !== 1n) return false;
      if (row.status === 'approved' && row.paired_device_id) await trx.deleteFrom('paired_devices').where('id', '=', row.paired_device_id).execute();
      return true;
    });
  }

  /** Expire what is due; returns the pairings that expired now (for the audit). Forget old ones. */
  async sweep(): Promise<PairingsTable[]> {
    const now = this.clock.now();
    const due = await this.db.selectFrom('pairings').selectAll().where('status', 'in', ['pending', 'approved']).where('expires_at', '<=', now).execute();
    const expired: PairingsTable[] = [];
    for (const row of due) if (await this.expire(row)) expired.push(row);
    await this.db.deleteFrom('pairings').where('status', 'in', ['denied', 'expired', 'collected']).where('created_at', '<', now - FINISHED_KEEP_MS).execute();
    return expired;
  }

  // ---- paired devices ----

  async devicesOf(userId: string): Promise<PairedDevicesTable[]> {
    return this.db.selectFrom('paired_devices').selectAll().where('user_id', '=', userId).orderBy('created_at', 'desc').execute();
  }

  async device(id: string): Promise<PairedDevicesTable | undefined> {
    return this.db.selectFrom('paired_devices').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Revoke one of a user's paired devices: its token stops working at once. */
  async revoke(userId: string, id: string): Promise<PairedDevicesTable | undefined> {
    const row = await this.db.selectFrom('paired_devices').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
    if (!row) return undefined;
    const res = await this.db.deleteFrom('paired_devices').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
    return res.numDeletedRows === 1n ? row : undefined;
  }

  /**
   * Whether a device token belongs to this user AND this DeviceId (looked up by its HMAC: the token itself
   * is never compared). A match records when and from where it was used.
   */
  async checkDeviceToken(token: string, userId: string, deviceId: string | undefined, ip: string): Promise<DeviceTokenCheck> {
    const device = await this.db.selectFrom('paired_devices').selectAll().where('token_hash', '=', deviceTokenHash(this.keys.hmacKey, token)).executeTakeFirst();
    if (!device) return { ok: false, reason: 'unknown' };
    if (device.user_id !== userId) return { ok: false, reason: 'other_user', device };
    if (!deviceId || device.device_id !== deviceId) return { ok: false, reason: 'other_device', device };
    await this.db.updateTable('paired_devices').set({ last_used_at: this.clock.now(), last_ip: ip }).where('id', '=', device.id).execute();
    return { ok: true, device };
  }
}
