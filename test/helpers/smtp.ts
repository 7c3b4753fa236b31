import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** One message as the SMTP server received it. */
export interface ReceivedMail {
  from: string | undefined;
  to: string[];
  subject: string;
  /** The text body, transfer-decoded. */
  text: string;
  raw: string;
}

export interface TestSmtp {
  host: string;
  port: number;
  messages: ReceivedMail[];
  /** The next message (already received or still to come) matching `filter`, in arrival order. */
  nextMessage(filter?: (m: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  /** The SMTP configuration block for the gateway. */
  config(from?: string): { Host: string; Port: number; Secure: false; From: string };
  close(): Promise<void>;
}

function decodeQuotedPrintable(s: string): string {
  const bytes = s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** A single-part text/plain message as nodemailer writes it: headers, a blank line, the body. */
export function parseMail(raw: string, envelopeTo: string[], envelopeFrom: string | undefined): ReceivedMail {
  const split = raw.search(/\r?\n\r?\n/);
  const head = split === -1 ? raw : raw.slice(0, split);
  const body = split === -1 ? '' : raw.slice(split).replace(/^\r?\n\r?\n/, '');
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const c = line.indexOf(':');
    if (c > 0) headers.set(line.slice(0, c).trim().toLowerCase(), line.slice(c + 1).trim());
  }
  const cte = (headers.get('content-transfer-encoding') ?? '').toLowerCase();
  const text = cte === 'quoted-printable' ? decodeQuotedPrintable(body) : cte === 'base64' ? Buffer.from(body, 'base64').toString('utf8') : body;
  return { from: envelopeFrom, to: envelopeTo, subject: headers.get('subject') ?? '', text: text.replace(/\r\n/g, '\n'), raw };
}

/** The 6-digit code in a message (subject first, then body). */
export function codeIn(m: ReceivedMail): string {
  const hit = /\b(\d{6})\b/.exec(m.subject) ?? /\b(\d{6})\b/.exec(m.text);
  if (!hit) throw new Error(`no 6-digit code in the message "${m.subject}"`);
  return hit[1]!;
}

/**
 * A real SMTP server (smtp-server) on 127.0.0.1, collecting every message. No TLS and no
 * authentication: it stands in for the household's mail relay.
 */
export async function startSmtp(): Promise<TestSmtp> {
  const messages: ReceivedMail[] = [];
  const waiters: Array<{ filter: (m: ReceivedMail) => boolean; resolve: (m: ReceivedMail) => void; seen: number }> = [];
  const consumed = new Set<ReceivedMail>();

  const deliver = (m: ReceivedMail) => {
    messages.push(m);
    for (const w of [...waiters]) {
      if (!consumed.has(m) && w.filter(m)) {
        consumed.add(m);
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };

  const server = new SMTPServer({
    secure: false,
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined;
        deliver(parseMail(raw, session.envelope.rcptTo.map((r) => r.address), from));
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;

  return {
    host: '127.0.0.1',
    port,
    messages,
    nextMessage(filter = () => true, timeoutMs = 10_000) {
      const ready = messages.find((m) => !consumed.has(m) && filter(m));
      if (ready) {
        consumed.add(ready);
        return Promise.resolve(ready);
      }
      return new Promise((resolve, reject) => {
        const w = { filter, resolve, seen: messages.length };
        waiters.push(w);
        const t = setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i !== -1) waiters.splice(i, 1);
          reject(new Error('no e-mail arrived'));
        }, timeoutMs);
        t.unref();
      });
    },
    config(from = 'Jellyfin <jellyfin@example.test>') {
      return { Host: '127.0.0.1', Port: port, Secure: false, From: from };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
