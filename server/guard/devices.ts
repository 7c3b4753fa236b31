import type { Clock } from '../clock.ts';
import type { DB } from '../store/index.ts';
import { foldUserName, networkKey } from './subjects.ts';
import { keyedHash } from '../crypto.ts';

export interface SeenLogin {
  userId: string;
  userName: string;
  deviceId: string | undefined;
  deviceName: string | undefined;
  client: string | undefined;
  ip: string;
}

export interface Novelty {
  /** The user had signed in through the gateway before (so "new" means something). */
  returning: boolean;
  newDevice: boolean;
  newNetwork: boolean;
}

/**
 * Devices (user + DeviceId) and networks each user signed in from successfully, fed by released
 * logins. A locked user name still admits its known devices, so an attacker cannot lock the household
 * out; a device or network never seen before notifies the user. DeviceIds are kept as HMACs under the
 * gateway's key. Everything is held in memory (it grows only with real logins) and written through.
 */
export class KnownDevices {
  private readonly devices = new Set<string>();
  private readonly networks = new Set<string>();
  private readonly users = new Set<string>();
  /** Folded user name → user id, from the users the gateway has seen. */
  private readonly idByName = new Map<string, string>();
  /** When each known device / network row was last written (last-seen is refreshed at most hourly). */
  private readonly written = new Map<string, number>();

  constructor(
    private readonly db: DB,
    private readonly clock: Clock,
    private readonly hmacKey: Buffer,
  ) {}

  async load(): Promise<void> {
    const [devices, networks, users] = await Promise.all([
      this.db.selectFrom('known_devices').select(['user_id', 'device_hash']).execute(),
      this.db.selectFrom('known_networks').select(['user_id', 'network']).execute(),
      this.db.selectFrom('users').select(['id', 'name']).execute(),
    ]);
    for (const d of devices) {
      this.devices.add(`${d.user_id}\0${d.device_hash}`);
      this.users.add(d.user_id);
    }
    for (const n of networks) {
      this.networks.add(`${n.user_id}\0${n.network}`);
      this.users.add(n.user_id);
    }
    for (const u of users) this.idByName.set(foldUserName(u.name), u.id);
  }

  /** The id of a user the gateway has seen, by (folded) name. */
  userIdByName(folded: string): string | undefined {
    return this.idByName.get(folded);
  }

  learnUser(userId: string, name: string): void {
    this.idByName.set(foldUserName(name), userId);
  }

  private deviceHash(userId: string, deviceId: string): string {
    return keyedHash(this.hmacKey, 'known-device', userId, deviceId);
  }

  /** Whether this user (by id, or by name when the gateway knows it) signed in from this DeviceId before. */
  isKnown(user: { userId?: string | undefined; username?: string | undefined }, deviceId: string | undefined): boolean {
    if (!deviceId) return false;
    const id = user.userId ?? (user.username !== undefined ? this.idByName.get(foldUserName(user.username)) : undefined);
    if (!id) return false;
    return this.devices.has(`${id}\0${this.deviceHash(id, deviceId)}`);
  }

  /** Remember a successful login; says what was new about it. */
  async remember(l: SeenLogin): Promise<Novelty> {
    const now = this.clock.now();
    const returning = this.users.has(l.userId);
    this.learnUser(l.userId, l.userName);
    this.users.add(l.userId);
    let newDevice = false;
    if (l.deviceId) {
      const hash = this.deviceHash(l.userId, l.deviceId);
      const key = `${l.userId}\0${hash}`;
      newDevice = !this.devices.has(key);
      this.devices.add(key);
      if (this.due(key, now)) {
        const row = {
          user_id: l.userId,
          device_hash: hash,
          user_name: foldUserName(l.userName),
          device_name: l.deviceName?.slice(0, 256) ?? null,
          client: l.client?.slice(0, 256) ?? null,
          first_seen_at: now,
          last_seen_at: now,
          last_ip: l.ip,
        };
        await this.db
          .insertInto('known_devices')
          .values(row)
          .onConflict((oc) =>
            oc.columns(['user_id', 'device_hash']).doUpdateSet({ user_name: row.user_name, device_name: row.device_name, client: row.client, last_seen_at: now, last_ip: l.ip }),
          )
          .execute();
      }
    }
    const network = networkKey(l.ip);
    const nkey = `${l.userId}\0${network}`;
    const newNetwork = !this.networks.has(nkey);
    this.networks.add(nkey);
    if (this.due(`net\0${nkey}`, now)) {
      await this.db
        .insertInto('known_networks')
        .values({ user_id: l.userId, network, first_seen_at: now, last_seen_at: now })
        .onConflict((oc) => oc.columns(['user_id', 'network']).doUpdateSet({ last_seen_at: now }))
        .execute();
    }
    return { returning, newDevice, newNetwork };
  }

  /** Whether a row should be written now (new, or last written over an hour ago); marks it written. */
  private due(key: string, now: number): boolean {
    const last = this.written.get(key);
    if (last !== undefined && now - last < 3600_000) return false;
    this.written.set(key, now);
    return true;
  }
}
