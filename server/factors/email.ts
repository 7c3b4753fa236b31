import nodemailer, { type Transporter } from 'nodemailer';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/index.ts';
import type { DB } from '../store/index.ts';
import type { EmailCodesTable } from '../store/schema.ts';
import { keyedHash, randomDigits, safeEqual } from '../crypto.ts';

/**
 * One-time codes by e-mail (nodemailer over the SMTP server of the configuration): 6 digits, valid
 * 5 minutes, single use, stored only as an HMAC under the gateway's key. Sending is limited per user,
 * per recipient address and per requesting IP address; every request is logged for those limits
 * whether or not a message went out, and the caller always gives the same answer, so neither the
 * answer nor the limits reveal whether a user or an address exists.
 */
export const EMAIL_CODE_DIGITS = 6;

/** Whether an entered e-mail code has the form of one (6 digits; spaces and dashes ignored). */
export function isEmailCodeShape(input: string): boolean {
  return new RegExp(`^\\d{${EMAIL_CODE_DIGITS}}$`).test(input.replace(/[\s-]/g, ''));
}
export const EMAIL_CODE_MS = 5 * 60 * 1000;
export const EMAIL_SEND_WINDOW_MS = 15 * 60 * 1000;
/** At most this many codes per user (and per recipient address) per window. */
export const EMAIL_SENDS_PER_USER = 3;
/** At most this many send requests per client IP address per window (for any user or none). */
export const EMAIL_SENDS_PER_IP = 10;
/** How many unused codes of one purpose may be valid at once (older ones stop working). */
const LIVE_CODES = EMAIL_SENDS_PER_USER;

const EMAIL = /^[^\s@<>()[\]\\,;:"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

export function isEmailAddress(s: string): boolean {
  return s.length <= 254 && EMAIL.test(s);
}

export type EmailPurpose = EmailCodesTable['purpose'];

export interface SendOutcome {
  /** A message was handed to the transport (never shown to the requester). */
  sent: boolean;
  reason?: 'disabled' | 'no_address' | 'rate_limited';
  /** Resolves once the SMTP server took the message (tests wait on it); never rejects. */
  delivered: Promise<void>;
}

export class EmailCodes {
  private transport: Transporter | undefined;

  constructor(
    private readonly db: DB,
    private readonly clock: Clock,
    private readonly hmacKey: Buffer,
    private readonly config: Pick<Config, 'EmailOTPEnabled' | 'SMTP'>,
    private readonly log: (msg: string) => void,
  ) {}

  get enabled(): boolean {
    return this.config.EmailOTPEnabled && !!this.config.SMTP;
  }

  private mailer(): Transporter {
    const smtp = this.config.SMTP!;
    this.transport ??= nodemailer.createTransport({
      host: smtp.Host,
      port: smtp.Port,
      secure: smtp.Secure,
      auth: smtp.Username ? { user: smtp.Username, pass: smtp.Password ?? '' } : undefined,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
    });
    return this.transport;
  }

  close(): void {
    this.transport?.close();
  }

  private hash(userId: string, purpose: EmailPurpose, code: string): string {
    return keyedHash(this.hmacKey, 'email-otp', userId, purpose, code);
  }

  async address(userId: string): Promise<{ email: string; setBy: 'self' | 'admin'; confirmedAt: number } | undefined> {
    const r = await this.db.selectFrom('factor_email').selectAll().where('user_id', '=', userId).executeTakeFirst();
    return r && { email: r.email, setBy: r.set_by, confirmedAt: r.confirmed_at };
  }

  async setAddress(userId: string, email: string, setBy: 'self' | 'admin'): Promise<void> {
    const now = this.clock.now();
    await this.db
      .insertInto('factor_email')
      .values({ user_id: userId, email, set_by: setBy, confirmed_at: now })
      .onConflict((oc) => oc.column('user_id').doUpdateSet({ email, set_by: setBy, confirmed_at: now }))
      .execute();
  }

  async removeAddress(userId: string): Promise<boolean> {
    const res = await this.db.deleteFrom('factor_email').where('user_id', '=', userId).executeTakeFirst();
    await this.db.deleteFrom('email_codes').where('user_id', '=', userId).execute();
    return res.numDeletedRows > 0n;
  }

  /** Log a send request and say whether the limits allow it (one transaction). */
  private async admit(userId: string | null, email: string | null, ip: string): Promise<boolean> {
    const now = this.clock.now();
    const since = now - EMAIL_SEND_WINDOW_MS;
    return this.db.transaction().execute(async (trx) => {
      const count = async (col: 'user_id' | 'email' | 'ip', value: string) => {
        const r = await trx
          .selectFrom('email_sends')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where(col, '=', value)
          .where('at', '>', since)
          .executeTakeFirst();
        return Number(r?.n ?? 0);
      };
      const byIp = await count('ip', ip);
      const byUser = userId ? await count('user_id', userId) : 0;
      const byEmail = email ? await count('email', email.toLowerCase()) : 0;
      await trx.insertInto('email_sends').values({ user_id: userId, email: email?.toLowerCase() ?? null, ip, at: now }).execute();
      return byIp < EMAIL_SENDS_PER_IP && byUser < EMAIL_SENDS_PER_USER && byEmail < EMAIL_SENDS_PER_USER;
    });
  }

  /**
   * Send a login code to the user's confirmed address, if the user exists, has one and the limits allow.
   * The caller answers the same whatever the outcome.
   */
  async sendLoginCode(userId: string | undefined, ip: string, userName?: string, afterPassword = false): Promise<SendOutcome> {
    const done = Promise.resolve();
    if (!this.enabled) return { sent: false, reason: 'disabled', delivered: done };
    const addr = userId ? await this.address(userId) : undefined;
    if (!(await this.admit(userId ?? null, addr?.email ?? null, ip))) return { sent: false, reason: 'rate_limited', delivered: done };
    if (!userId || !addr) return { sent: false, reason: 'no_address', delivered: done };
    const { delivered } = await this.issueAndSend(userId, 'login', addr.email, userName, afterPassword);
    return { sent: true, delivered };
  }

  /** Send a confirmation code to an address a user wants to use (it becomes theirs once confirmed). */
  async sendConfirmation(userId: string, email: string, ip: string, userName?: string): Promise<SendOutcome> {
    const done = Promise.resolve();
    if (!this.enabled) return { sent: false, reason: 'disabled', delivered: done };
    if (!(await this.admit(userId, email, ip))) return { sent: false, reason: 'rate_limited', delivered: done };
    const { delivered } = await this.issueAndSend(userId, 'confirm', email, userName, false);
    return { sent: true, delivered };
  }

  private async issueAndSend(
    userId: string,
    purpose: EmailPurpose,
    email: string,
    userName: string | undefined,
    afterPassword: boolean,
  ): Promise<{ delivered: Promise<void> }> {
    const code = randomDigits(EMAIL_CODE_DIGITS);
    const now = this.clock.now();
    await this.db.transaction().execute(async (trx) => {
      // Keep only the most recent few unused codes of this purpose alive.
      const live = await trx
        .selectFrom('email_codes')
        .select('id')
        .where('user_id', '=', userId)
        .where('purpose', '=', purpose)
        .where('used_at', 'is', null)
        .orderBy('id', 'desc')
        .execute();
      const stale = live.slice(LIVE_CODES - 1).map((r) => r.id);
      if (stale.length) await trx.updateTable('email_codes').set({ used_at: now }).where('id', 'in', stale).execute();
      // A confirmation code is for one address: codes sent to other addresses stop working.
      if (purpose === 'confirm') {
        await trx
          .updateTable('email_codes')
          .set({ used_at: now })
          .where('user_id', '=', userId)
          .where('purpose', '=', 'confirm')
          .where('email', '!=', email)
          .where('used_at', 'is', null)
          .execute();
      }
      await trx
        .insertInto('email_codes')
        .values({
          user_id: userId,
          purpose,
          code_hash: this.hash(userId, purpose, code),
          email,
          created_at: now,
          expires_at: now + EMAIL_CODE_MS,
          used_at: null,
        })
        .execute();
    });
    const subject = purpose === 'login' ? `Your Jellyfin sign-in code: ${code}` : `Confirm your e-mail address for Jellyfin: ${code}`;
    const who = userName ? `Hello ${userName.replace(/[\r\n]/g, ' ')},\n\n` : '';
    const text =
      purpose === 'login'
        ? `${who}Your one-time sign-in code is ${code}.\nIt works once, for 5 minutes.\n\n` +
          (afterPassword
            ? 'If you did not just sign in to Jellyfin, someone knows your password: change it.'
            : 'If you did not ask for this code, ignore this message.')
        : `${who}Your confirmation code is ${code}.\nIt works once, for 5 minutes.\n\nEnter it in Jellyfin to receive sign-in codes at this address. If you did not ask for this, ignore this message.`;
    // Sent in the background: the requester's answer never waits on (or reveals) the SMTP exchange.
    const delivered = this.mailer()
      .sendMail({ from: this.config.SMTP!.From, to: email, subject, text })
      .then(() => undefined)
      .catch((e: unknown) => this.log(`sending an e-mail code failed: ${(e as Error).message}`));
    return { delivered };
  }

  /**
   * Check a code: true exactly once for a live code of this user and purpose. For a confirmation, the
   * address it was sent to is returned.
   */
  async verify(userId: string, purpose: EmailPurpose, input: string): Promise<{ ok: true; email: string } | { ok: false }> {
    const code = input.replace(/[\s-]/g, '');
    const now = this.clock.now();
    const rows = await this.db
      .selectFrom('email_codes')
      .select(['id', 'code_hash', 'email'])
      .where('user_id', '=', userId)
      .where('purpose', '=', purpose)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .execute();
    if (!/^\d{6}$/.test(code)) return { ok: false };
    const h = this.hash(userId, purpose, code);
    let hit: (typeof rows)[number] | undefined;
    for (const r of rows) if (safeEqual(r.code_hash, h) && !hit) hit = r;
    if (!hit) return { ok: false };
    const res = await this.db
      .updateTable('email_codes')
      .set({ used_at: now })
      .where('id', '=', hit.id)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return res.numUpdatedRows === 1n ? { ok: true, email: hit.email } : { ok: false };
  }

  async hasLiveLoginCode(userId: string): Promise<boolean> {
    return this.hasLive(userId, 'login');
  }

  /** A confirmation code is waiting (PUT Me/Email was called and its code not yet used). */
  async hasPendingConfirmation(userId: string): Promise<boolean> {
    return this.hasLive(userId, 'confirm');
  }

  private async hasLive(userId: string, purpose: EmailPurpose): Promise<boolean> {
    const r = await this.db
      .selectFrom('email_codes')
      .select('id')
      .where('user_id', '=', userId)
      .where('purpose', '=', purpose)
      .where('used_at', 'is', null)
      .where('expires_at', '>', this.clock.now())
      .executeTakeFirst();
    return !!r;
  }

  async sweep(): Promise<void> {
    const now = this.clock.now();
    await this.db.deleteFrom('email_codes').where('expires_at', '<', now - EMAIL_SEND_WINDOW_MS).execute();
    await this.db.deleteFrom('email_sends').where('at', '<', now - EMAIL_SEND_WINDOW_MS).execute();
  }
}
