import type { Selectable } from 'kysely';
import type { Clock } from '../clock.ts';
import type { DB } from '../store/index.ts';
import type { PhonesTable } from '../store/schema.ts';
import { keyedHash, open, randomId, seal } from '../crypto.ts';
import { pushServiceOf, type PushSubscription } from '../push/subscription.ts';
import type { SubscriptionSource } from '../push/index.ts';

export type PhoneRow = Selectable<PhonesTable>;

export const PHONE_NAME_MAX = 64;

/**
 * Enrolled phones: one record per phone holding the passkey it approves with (a credential of the user
 * in factor_passkeys) and its push subscription. The subscription (endpoint and RFC 8291 keys) is sealed
 * with AES-256-GCM, the phone's owner ("phone:<user>:<phone>") as associated data; an HMAC of the endpoint
 * makes it unique: a browser profile's endpoint belongs to the phone that enrolled or re-subscribed with
 * it last (two users sharing one browser profile do not receive each other's approvals).
 */
export class Phones implements SubscriptionSource {
  constructor(
    private readonly db: DB,
    private readonly clock: Clock,
    private readonly encryptionKey: Buffer,
    private readonly hmacKey: Buffer,
  ) {}

  private owner(userId: string, phoneId: string): string {
    return `phone:${userId}:${phoneId}`;
  }

  endpointHash(endpoint: string): string {
    return keyedHash(this.hmacKey, 'push-endpoint', endpoint);
  }

  list(userId: string): Promise<PhoneRow[]> {
    return this.db.selectFrom('phones').selectAll().where('user_id', '=', userId).orderBy('created_at').execute();
  }

  get(userId: string, phoneId: string): Promise<PhoneRow | undefined> {
    return this.db.selectFrom('phones').selectAll().where('id', '=', phoneId).where('user_id', '=', userId).executeTakeFirst();
  }

  /** Phones that can approve: their passkey still exists (a removed passkey leaves the phone mute). */
  async usable(userId: string): Promise<PhoneRow[]> {
    return this.db
      .selectFrom('phones')
      .innerJoin('factor_passkeys', 'factor_passkeys.credential_id', 'phones.credential_id')
      .selectAll('phones')
      .where('phones.user_id', '=', userId)
      .where('factor_passkeys.user_id', '=', userId)
      .execute();
  }

  async hasUsable(userId: string): Promise<boolean> {
    return (await this.usable(userId)).length > 0;
  }

  /** A new phone, with its (already registered) passkey and, if given, its subscription. */
  async create(userId: string, input: { name: string; credentialId: string; subscription: PushSubscription | null; deviceId: string | null }): Promise<PhoneRow> {
    const id = randomId();
    const now = this.clock.now();
    const name = input.name.trim().slice(0, PHONE_NAME_MAX) || 'Phone';
    await this.db.transaction().execute(async (trx) => {
      const sub = input.subscription ? this.sealed(userId, id, input.subscription) : undefined;
      if (sub) {
        await trx
          .updateTable('phones')
          .set({ subscription_enc: null, endpoint_hash: null, push_service: null })
          .where('endpoint_hash', '=', sub.endpoint_hash)
          .execute();
      }
      await trx
        .insertInto('phones')
        .values({
          id,
          user_id: userId,
          name,
          credential_id: input.credentialId,
          subscription_enc: sub?.subscription_enc ?? null,
          endpoint_hash: sub?.endpoint_hash ?? null,
          push_service: sub?.push_service ?? null,
          created_at: now,
          last_seen_at: now,
          subscribed_at: sub ? now : null,
          device_id: input.deviceId,
        })
        .execute();
    });
    return (await this.get(userId, id))!;
  }

  private sealed(userId: string, phoneId: string, s: PushSubscription) {
    const plain: PushSubscription = { endpoint: s.endpoint, keys: { p256dh: s.keys.p256dh, auth: s.keys.auth } };
    return {
      subscription_enc: seal(this.encryptionKey, this.owner(userId, phoneId), JSON.stringify(plain)),
      endpoint_hash: this.endpointHash(s.endpoint),
      push_service: pushServiceOf(s.endpoint),
    };
  }

  /**
   * Re-subscribe (every app start, `pushsubscriptionchange`): the new subscription replaces the old one.
   * Returns the row and whether the endpoint changed; undefined for a phone that is not this user's.
   */
  /** The app on this DeviceId is the phone's own (a phone enrolled before that was remembered: its first app claims it). */
  async claimDevice(userId: string, phoneId: string, deviceId: string): Promise<void> {
    await this.db.updateTable('phones').set({ device_id: deviceId }).where('id', '=', phoneId).where('user_id', '=', userId).where('device_id', 'is', null).execute();
  }

  async setSubscription(userId: string, phoneId: string, s: PushSubscription): Promise<{ row: PhoneRow; changed: boolean } | undefined> {
    const now = this.clock.now();
    const before = await this.get(userId, phoneId);
    if (!before) return undefined;
    const sub = this.sealed(userId, phoneId, s);
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('phones')
        .set({ subscription_enc: null, endpoint_hash: null, push_service: null })
        .where('endpoint_hash', '=', sub.endpoint_hash)
        .where('id', '!=', phoneId)
        .execute();
      await trx
        .updateTable('phones')
        .set({ ...sub, subscribed_at: now, last_seen_at: now })
        .where('id', '=', phoneId)
        .where('user_id', '=', userId)
        .execute();
    });
    return { row: (await this.get(userId, phoneId))!, changed: before.endpoint_hash !== sub.endpoint_hash };
  }

  async rename(userId: string, phoneId: string, name: string): Promise<PhoneRow | undefined> {
    const clean = name.trim().slice(0, PHONE_NAME_MAX);
    if (!clean) return undefined;
    const r = await this.db.updateTable('phones').set({ name: clean }).where('id', '=', phoneId).where('user_id', '=', userId).executeTakeFirst();
    return r.numUpdatedRows === 1n ? this.get(userId, phoneId) : undefined;
  }

  async remove(userId: string, phoneId: string): Promise<PhoneRow | undefined> {
    const row = await this.get(userId, phoneId);
    if (!row) return undefined;
    const r = await this.db.deleteFrom('phones').where('id', '=', phoneId).where('user_id', '=', userId).executeTakeFirst();
    return r.numDeletedRows === 1n ? row : undefined;
  }

  /** The phone whose passkey was just used (approve, report) was seen now. */
  async touchByCredential(credentialId: string): Promise<void> {
    await this.db.updateTable('phones').set({ last_seen_at: this.clock.now() }).where('credential_id', '=', credentialId).execute();
  }

  async subscriptionsOf(userId: string): Promise<Array<{ phoneId: string; endpointHash: string; subscription: PushSubscription }>> {
    const rows = await this.db
      .selectFrom('phones')
      .select(['id', 'subscription_enc', 'endpoint_hash'])
      .where('user_id', '=', userId)
      .where('subscription_enc', 'is not', null)
      .execute();
    const out: Array<{ phoneId: string; endpointHash: string; subscription: PushSubscription }> = [];
    for (const r of rows) {
      try {
        const subscription = JSON.parse(open(this.encryptionKey, this.owner(userId, r.id), r.subscription_enc!).toString('utf8')) as PushSubscription;
        out.push({ phoneId: r.id, endpointHash: r.endpoint_hash!, subscription });
      } catch {
        // Unreadable (another key, a row copied onto another owner): never sent to.
      }
    }
    return out;
  }

  async forget(phoneId: string, endpointHash: string): Promise<boolean> {
    const r = await this.db
      .updateTable('phones')
      .set({ subscription_enc: null, endpoint_hash: null, push_service: null })
      .where('id', '=', phoneId)
      .where('endpoint_hash', '=', endpointHash)
      .executeTakeFirst();
    return r.numUpdatedRows === 1n;
  }

  /** Users (of `userIds`) who have at least one phone with a subscription. */
  async withSubscription(userIds: string[]): Promise<string[]> {
    if (userIds.length === 0) return [];
    const rows = await this.db
      .selectFrom('phones')
      .select('user_id')
      .distinct()
      .where('user_id', 'in', userIds)
      .where('subscription_enc', 'is not', null)
      .execute();
    return rows.map((r) => r.user_id);
  }
}
