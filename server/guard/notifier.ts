import nodemailer, { type Transporter } from 'nodemailer';
import type { Config } from '../config/index.ts';
import type { DB } from '../store/index.ts';

/** Something a person should know about: a new device, impossible travel, a breached password, a ban. */
export interface Notice {
  kind: 'new_device' | 'new_network' | 'impossible_travel' | 'breached_password' | 'permanent_ban' | 'factor_change';
  /** Where it goes; every channel when absent. */
  channels?: Array<'email' | 'push'>;
  /** E-mail this address instead of the user's current one (a changed address: the old one is told). */
  to?: string;
  /** One line (an e-mail subject, a notification title). */
  title: string;
  /** A few lines for people. Never a secret. */
  text: string;
}

/**
 * The narrow way the guard tells people things. "Notify the user" reaches the user's own devices
 * (their phone, once push lands, and their confirmed e-mail address); "alert the admins" reaches every
 * administrator. Implementations never block nor fail the request that caused the notice.
 */
export interface Notifier {
  notifyUser(userId: string, notice: Notice): void;
  alertAdmins(notice: Notice): void;
}

/** Several notifiers as one (e-mail now; the Authenticator's push joins later). */
export class Notifiers implements Notifier {
  private readonly list: Notifier[] = [];

  add(n: Notifier): void {
    this.list.push(n);
  }

  notifyUser(userId: string, notice: Notice): void {
    for (const n of this.list) {
      try {
        n.notifyUser(userId, notice);
      } catch {
        /* a notifier never fails the request */
      }
    }
  }

  alertAdmins(notice: Notice): void {
    for (const n of this.list) {
      try {
        n.alertAdmins(notice);
      } catch {
        /* a notifier never fails the request */
      }
    }
  }
}

/**
 * E-mail through the configured SMTP server (nodemailer), to the addresses users confirmed for e-mail
 * codes (`factor_email`). Admin alerts go to every administrator with a confirmed address, only when
 * AdminEmailAlerts is on.
 */
export class EmailNotifier implements Notifier {
  private transport: Transporter | undefined;
  private inFlight = new Set<Promise<void>>();

  constructor(
    private readonly db: DB,
    private readonly smtp: NonNullable<Config['SMTP']>,
    private readonly opts: { adminAlerts: boolean },
    private readonly log: (msg: string, err?: unknown) => void,
  ) {}

  notifyUser(userId: string, notice: Notice): void {
    if (notice.channels && !notice.channels.includes('email')) return;
    this.track(async () => {
      if (notice.to) return this.send([notice.to], notice);
      const r = await this.db.selectFrom('factor_email').select('email').where('user_id', '=', userId).executeTakeFirst();
      if (r) await this.send([r.email], notice);
    });
  }

  alertAdmins(notice: Notice): void {
    if (!this.opts.adminAlerts) return;
    if (notice.channels && !notice.channels.includes('email')) return;
    this.track(async () => {
      const rows = await this.db
        .selectFrom('factor_email')
        .innerJoin('users', 'users.id', 'factor_email.user_id')
        .select('factor_email.email')
        .where('users.is_admin', '=', 1)
        .execute();
      if (rows.length) await this.send([...new Set(rows.map((r) => r.email))], notice);
      else this.log('an admin alert could not be e-mailed: no administrator has a confirmed e-mail address');
    });
  }

  /** Resolves when every message handed over so far was accepted or failed (tests wait on it). */
  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
  }

  close(): void {
    this.transport?.close();
  }

  private track(job: () => Promise<void>): void {
    const p: Promise<void> = job()
      .catch((e) => this.log('an e-mail notice could not be sent', e))
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  private async send(to: string[], notice: Notice): Promise<void> {
    this.transport ??= nodemailer.createTransport({
      host: this.smtp.Host,
      port: this.smtp.Port,
      secure: this.smtp.Secure,
      auth: this.smtp.Username ? { user: this.smtp.Username, pass: this.smtp.Password ?? '' } : undefined,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
    });
    // One message per recipient: administrators do not see each other's addresses.
    for (const addr of to) {
      await this.transport.sendMail({ from: this.smtp.From, to: addr, subject: notice.title, text: notice.text });
    }
  }
}
