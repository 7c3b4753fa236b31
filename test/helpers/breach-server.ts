import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for Have I Been Pwned's range API (GET /range/{5 hex}), answering the way the real
 * one does: `SUFFIX:COUNT` lines (35 upper-case hex, CRLF), and with `Add-Padding: true` some decoy lines
 * with count 0. It records what it was asked, so a test can prove only the prefix left the gateway.
 */
export interface BreachServer {
  url: string;
  /** Every request: path and headers as received. */
  requests: Array<{ path: string; headers: http.IncomingHttpHeaders }>;
  /** Add a breached password with a count. */
  breach(password: string, count: number): void;
  /** Make the next answers slow (ms) or failing (status). */
  behave(b: { delayMs?: number; status?: number }): void;
  close(): Promise<void>;
}

export function sha1Hex(password: string): string {
  return createHash('sha1').update(password, 'utf8').digest('hex').toUpperCase();
}

export async function startBreachServer(): Promise<BreachServer> {
  const breached = new Map<string, number>(); // full SHA-1 → count
  const requests: BreachServer['requests'] = [];
  let behaviour: { delayMs?: number; status?: number } = {};
  const server = http.createServer((req, res) => {
    requests.push({ path: req.url ?? '', headers: req.headers });
    const m = /^\/range\/([0-9A-Fa-f]{5})$/.exec(req.url ?? '');
    const answer = () => {
      if (behaviour.status) {
        res.writeHead(behaviour.status, { 'content-type': 'text/plain' }).end('error');
        return;
      }
      if (!m) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('The hash prefix was not in a valid format');
        return;
      }
      const prefix = m[1]!.toUpperCase();
      const lines: string[] = [];
      for (const [hash, count] of breached) if (hash.startsWith(prefix)) lines.push(`${hash.slice(5)}:${count}`);
      // A few real-looking unrelated entries, as the real range always has hundreds.
      for (let i = 0; i < 5; i++) lines.push(`${randomBytes(18).toString('hex').slice(0, 35).toUpperCase()}:${i + 1}`);
      if (String(req.headers['add-padding']).toLowerCase() === 'true') {
        for (let i = 0; i < 20; i++) lines.push(`${randomBytes(18).toString('hex').slice(0, 35).toUpperCase()}:0`);
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end(lines.join('\r\n'));
    };
    if (behaviour.delayMs) setTimeout(answer, behaviour.delayMs);
    else answer();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    breach(password, count) {
      breached.set(sha1Hex(password), count);
    },
    behave(b) {
      behaviour = b;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
