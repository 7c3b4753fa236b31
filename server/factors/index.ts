import type { Clock } from '../clock.ts';
import type { Config } from '../config/index.ts';
import type { Logger } from '../log.ts';
import type { DB } from '../store/index.ts';
import type { Keys } from '../store/keys.ts';
import type { BanScope } from '../store/schema.ts';
import type { AuditEvent } from '../audit/index.ts';
import { UserAttempts } from './attempts.ts';
import { EmailCodes } from './email.ts';
import { Passkeys } from './passkeys.ts';
import { RecoveryCodes } from './recovery.ts';
import { TotpFactor } from './totp.ts';
import { TrustedBrowsers } from './trusted-browser.ts';

export { TotpFactor } from './totp.ts';
export { RecoveryCodes } from './recovery.ts';
export { Passkeys, relyingParty, type RelyingParty } from './passkeys.ts';
export { EmailCodes } from './email.ts';
export { TrustedBrowsers, TRUSTED_DEVICE_COOKIE } from './trusted-browser.ts';
export { UserAttempts, CHALLENGE_MAX_ATTEMPTS } from './attempts.ts';

/** The kinds of code a brute-force guard counts separately (DESIGN: brute force). */
export type FactorKind = 'totp' | 'recovery' | 'email' | 'passkey';

/**
 * The narrow interface the brute-force guard (server/guard) implements: every wrong second-factor code
 * or failed assertion is reported here, with who tried. Never blocks, never throws.
 */
export interface FailureRecorder {
  /** `scopes`: which of address, user and both it counts against (all three when not given). */
  recordFailure(kind: FactorKind, who: { ip: string; username?: string; userId?: string }, scopes?: readonly BanScope[]): void;
}

export const noFailureRecorder: FailureRecorder = { recordFailure: () => {} };

/** The ways a login challenge can be satisfied. "enroll": the user has none yet and must enroll one; "phone": approve on an enrolled phone (server/approvals). */
export type LoginMethod = 'totp' | 'passkey' | 'email' | 'recovery' | 'enroll' | 'phone';

/**
 * The factors a user has. The per-method fields count only what the configuration enables (what can be
 * used now); `enrolled` is true when the user has a TOTP secret or a passkey, enabled or not — a method
 * the admin turned off still makes the login need a second factor (fail closed: turning a method off
 * never silently turns a user's protection off; such a user is refused until re-enabled or reset).
 * An e-mail address counts only while e-mail codes are on: it doubles as the user's contact address.
 */
export interface FactorSummary {
  userId: string;
  totp: boolean;
  passkeys: number;
  email: string | null;
  recoveryCodes: number;
  enrolled: boolean;
}

export interface Requirement {
  /** The login must pass a second factor. */
  required: boolean;
  /** The user has at least one usable factor. */
  hasFactor: boolean;
  /** The admin's per-user setting: true = required, false = exempt from EnforcementScope, null = follow it. */
  setting: boolean | null;
}

export interface FactorDeps {
  db: DB;
  clock: Clock;
  keys: Keys;
  config: Config;
  log: Logger;
  audit: { record(e: AuditEvent): void };
  /** Where wrong codes are counted (the guard); read at call time, as tests replace it on Services. */
  failures: () => FailureRecorder;
}

/** Everything about second factors, one object built in server/app.ts. */
export class Factors {
  readonly totp: TotpFactor;
  readonly recovery: RecoveryCodes;
  readonly passkeys: Passkeys;
  readonly email: EmailCodes;
  readonly trustedBrowsers: TrustedBrowsers;
  readonly attempts: UserAttempts;

  constructor(readonly deps: FactorDeps) {
    const { db, clock, keys, config, log } = deps;
    const issuer = config.PublicUrl ? `Jellyfin (${new URL(config.PublicUrl).hostname})` : 'Jellyfin';
    this.totp = new TotpFactor(db, clock, keys.encryptionKey, { skew: config.TOTPTimeSkew, issuer });
    this.recovery = new RecoveryCodes(db, clock);
    this.passkeys = new Passkeys(db, clock, keys.hmacKey);
    this.email = new EmailCodes(db, clock, keys.hmacKey, config, (m) => log.warn(m));
    this.trustedBrowsers = new TrustedBrowsers(db, clock, keys.hmacKey, {
      days: config.TrustedDeviceDays,
      v4Prefix: config.TrustedDeviceIPv4Prefix,
      v6Prefix: config.TrustedDeviceIPv6Prefix,
    });
    this.attempts = new UserAttempts(db, clock);
  }

  get config(): Config {
    return this.deps.config;
  }

  audit(e: AuditEvent): void {
    try {
      this.deps.audit.record(e);
    } catch {
      /* auditing never fails a request */
    }
  }

  recordFailure(kind: FactorKind, who: { ip: string; username?: string; userId?: string }, scopes?: readonly BanScope[]): void {
    try {
      this.deps.failures().recordFailure(kind, who, scopes);
    } catch {
      /* the guard never fails a request */
    }
  }

  /** Every user who holds a factor or an admin's setting (the admin list shows them even when Jellyfin does not). */
  async usersWithFactors(): Promise<string[]> {
    const db = this.deps.db;
    const ids = new Set<string>();
    for (const r of await db.selectFrom('factor_totp').select('user_id').execute()) ids.add(r.user_id);
    for (const r of await db.selectFrom('factor_passkeys').select('user_id').execute()) ids.add(r.user_id);
    for (const r of await db.selectFrom('factor_email').select('user_id').execute()) ids.add(r.user_id);
    for (const r of await db.selectFrom('factor_user_settings').select('user_id').execute()) ids.add(r.user_id);
    return [...ids];
  }

  /** What a user has enrolled, counting only the methods the configuration enables. */
  async summary(userId: string): Promise<FactorSummary> {
    const c = this.deps.config;
    const [totp, passkeys, email, recoveryCodes] = await Promise.all([
      this.totp.isEnrolled(userId),
      this.passkeys.count(userId),
      this.email.address(userId).then((a) => a?.email ?? null),
      this.recovery.remaining(userId),
    ]);
    return {
      userId,
      totp: c.TOTPEnabled && totp,
      passkeys: c.PasskeysEnabled ? passkeys : 0,
      email: this.email.enabled ? email : null,
      recoveryCodes: c.RecoveryCodesEnabled ? recoveryCodes : 0,
      // An e-mail address is also the user's contact address (notices): it is a factor only while e-mail codes are on.
      enrolled: totp || passkeys > 0 || (this.email.enabled && email !== null),
    };
  }

  /** The user has a primary factor (enabled or not). */
  static hasPrimary(s: FactorSummary): boolean {
    return s.enrolled;
  }

  /** The methods that can satisfy a challenge for this user right now. Recovery codes back up a primary factor (even a disabled one). */
  static methods(s: FactorSummary): LoginMethod[] {
    const m: LoginMethod[] = [];
    if (s.passkeys > 0) m.push('passkey');
    if (s.totp) m.push('totp');
    if (s.email) m.push('email');
    if ((m.length || s.enrolled) && s.recoveryCodes > 0) m.push('recovery');
    return m;
  }

  /** The methods a user without a factor may enroll inside a login challenge. */
  enrollMethods(): Array<'totp' | 'passkey'> {
    const out: Array<'totp' | 'passkey'> = [];
    if (this.deps.config.TOTPEnabled) out.push('totp');
    if (this.deps.config.PasskeysEnabled) out.push('passkey');
    return out;
  }

  async setting(userId: string): Promise<boolean | null> {
    const r = await this.deps.db.selectFrom('factor_user_settings').select('require_second_factor').where('user_id', '=', userId).executeTakeFirst();
    return r?.require_second_factor === null || r?.require_second_factor === undefined ? null : r.require_second_factor === 1;
  }

  async setSetting(userId: string, require: boolean | null): Promise<void> {
    const row = { user_id: userId, require_second_factor: require === null ? null : require ? 1 : 0, updated_at: this.deps.clock.now() };
    await this.deps.db
      .insertInto('factor_user_settings')
      .values(row)
      .onConflict((oc) => oc.column('user_id').doUpdateSet({ require_second_factor: row.require_second_factor, updated_at: row.updated_at }))
      .execute();
  }

  /**
   * Whether a login of this user needs a second factor: always when the user has one; otherwise when the
   * admin requires it for this user, or EnforcementScope covers them (Admins: Jellyfin administrators;
   * All: everyone) and the admin did not exempt them.
   */
  async requirement(userId: string, isAdmin: boolean, summary?: FactorSummary): Promise<Requirement> {
    const s = summary ?? (await this.summary(userId));
    const setting = await this.setting(userId);
    const hasFactor = Factors.hasPrimary(s);
    const scope = this.deps.config.EnforcementScope;
    const byScope = scope === 'All' || (scope === 'Admins' && isAdmin);
    const required = hasFactor || setting === true || (setting === null && byScope);
    return { required, hasFactor, setting };
  }

  /** After a primary factor was removed: recovery codes alone are not a factor, so they go too. */
  async afterPrimaryRemoved(userId: string): Promise<void> {
    const s = await this.summary(userId);
    if (!Factors.hasPrimary(s)) await this.recovery.removeAll(userId);
  }

  /** An admin's reset: every second factor and trusted browser of the user is gone. */
  async resetAll(userId: string): Promise<void> {
    await this.deps.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('factor_totp').where('user_id', '=', userId).execute();
      await trx.deleteFrom('factor_recovery_codes').where('user_id', '=', userId).execute();
      await trx.deleteFrom('factor_passkeys').where('user_id', '=', userId).execute();
      await trx.deleteFrom('webauthn_ceremonies').where('user_id', '=', userId).execute();
      await trx.deleteFrom('factor_email').where('user_id', '=', userId).execute();
      await trx.deleteFrom('email_codes').where('user_id', '=', userId).execute();
      await trx.deleteFrom('trusted_browsers').where('user_id', '=', userId).execute();
      await trx.deleteFrom('factor_user_failures').where('user_id', '=', userId).execute();
    });
  }

  async sweep(): Promise<void> {
    await this.totp.sweep();
    await this.passkeys.sweep();
    await this.email.sweep();
    await this.trustedBrowsers.sweep();
  }

  close(): void {
    this.email.close();
  }
}
