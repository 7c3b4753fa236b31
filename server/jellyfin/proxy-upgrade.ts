/**
 * HTTP upgrades (Jellyfin's WebSocket on /socket, or any path) proxied as raw bytes: replay the request
 * head on a fresh connection to the upstream, wait for its answer, and on `101` splice the two sockets
 * together. No WebSocket parsing: after the handshake the gateway is a pipe with backpressure both ways.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { requestHeaders, type ForwardInfo } from './proxy-headers.ts';

export interface UpgradeTarget {
  hostname: string;
  port: number;
  /** The Host header to send (the upstream's own). */
  host: string;
  tls: boolean;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
}

/** The longest response head accepted from the upstream before giving up on it (Kestrel's limit is 32 KiB). */
const MAX_HEAD_BYTES = 64 * 1024;
/** After one side closed, how long the other may take to flush what it still holds. */
const CLOSE_GRACE_MS = 5_000;

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

/**
 * Refuse an upgrade before anything is forwarded, the way Jellyfin does (its ExceptionMiddleware: status,
 * `Content-Type: text/plain`, the body; Jellyfin refuses with 403 and `Error processing request.`), then close.
 */
export function refuseUpgrade(socket: Duplex, status: number, body: string): void {
  const payload = Buffer.from(body, 'utf8');
  writeAndClose(
    socket,
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n` +
      'Content-Type: text/plain\r\n' +
      `Date: ${new Date().toUTCString()}\r\n` +
      `Content-Length: ${payload.length}\r\n` +
      'Connection: close\r\n\r\n',
    payload,
  );
}

function gatewayError(socket: Duplex, status: 502 | 504): void {
  const body = status === 504
    ? '{"error":"upstream_timeout","message":"Jellyfin did not answer in time."}'
    : '{"error":"upstream_unavailable","message":"Jellyfin could not be reached."}';
  writeAndClose(
    socket,
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Cache-Control: no-store\r\n' +
      'Connection: close\r\n\r\n',
    Buffer.from(body, 'utf8'),
  );
}

function writeAndClose(socket: Duplex, head: string, body: Buffer): void {
  socket.on('error', noop);
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  socket.write(head, 'latin1');
  socket.end(body);
  closeSoon(socket);
}

function noop(): void {}

/** End a socket and destroy it once flushed, or after a grace period if the peer never reads. */
function closeSoon(socket: Duplex): void {
  if (socket.destroyed) return;
  if (socket.writableFinished) {
    socket.destroy();
    return;
  }
  socket.end();
  const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
  timer.unref();
  socket.once('finish', () => {
    clearTimeout(timer);
    socket.destroy();
  });
  socket.once('close', () => clearTimeout(timer));
}

/** The live WebSockets' "going away" handles, by client socket. */
const spliced = new WeakMap<Duplex, (code: number, reason: string) => void>();

/**
 * End a proxied WebSocket from the gateway's side: a close frame with `code` to the client at the next frame
 * boundary, then both sockets closed. An upgrade still in its handshake is simply cut.
 */
export function closeWebSocket(client: Duplex, code: number, reason: string): void {
  const goAway = spliced.get(client);
  if (goAway) goAway(code, reason);
  else client.destroy();
}

/** A server-to-client close frame (RFC 6455 §5.5.1: unmasked, status code, a short UTF-8 reason). */
export function closeFrame(code: number, reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8').subarray(0, 123);
  const frame = Buffer.alloc(4 + text.length);
  frame[0] = 0x88; // FIN + opcode 8 (close)
  frame[1] = 2 + text.length;
  frame.writeUInt16BE(code, 2);
  text.copy(frame, 4);
  return frame;
}

/**
 * Follows the frame boundaries of one direction of a WebSocket (RFC 6455 §5.2) without looking at
 * payloads: only the 2–14 header bytes of each frame are read.
 */
export class FrameBoundary {
  private payloadLeft = 0;
  private head: number[] = [];
  /** The peer sent a close frame. */
  sawClose = false;

  get atBoundary(): boolean {
    return this.payloadLeft === 0 && this.head.length === 0;
  }

  /**
   * Account for `chunk`; returns how many of its bytes to pass on: all of them, or with `stopAtBoundary`
   * only those up to the first frame boundary.
   */
  feed(chunk: Buffer, stopAtBoundary = false): number {
    let i = 0;
    while (i < chunk.length) {
      if (stopAtBoundary && this.atBoundary) return i;
      if (this.payloadLeft > 0) {
        const take = Math.min(this.payloadLeft, chunk.length - i);
        this.payloadLeft -= take;
        i += take;
        continue;
      }
      this.head.push(chunk[i++] as number);
      const h = this.head;
      if (h.length < 2) continue;
      const len7 = (h[1] as number) & 0x7f;
      const ext = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
      const headerLength = 2 + ext + ((h[1] as number) & 0x80 ? 4 : 0);
      if (h.length < headerLength) continue;
      let length = len7;
      if (ext === 2) length = ((h[2] as number) << 8) | (h[3] as number);
      else if (ext === 8) length = Number(Buffer.from(h.slice(2, 10)).readBigUInt64BE());
      if (((h[0] as number) & 0x0f) === 0x8) this.sawClose = true;
      this.payloadLeft = length;
      this.head = [];
    }
    return i;
  }
}

/**
 * Proxy one upgrade. `open` tracks live socket pairs so that the proxy's `close()` can end them.
 */
export function proxyUpgrade(
  target: UpgradeTarget,
  req: IncomingMessage,
  client: Duplex,
  head: Buffer,
  info: ForwardInfo,
  open: Set<Duplex>,
): void {
  client.on('error', noop);
  // Hold what the client sends until the upstream accepted the upgrade (pipe() resumes it).
  client.pause();
  const url = req.url ?? '/';
  if (url.charCodeAt(0) !== 47 /* '/' */) {
    refuseUpgrade(client, 400, 'Bad Request');
    return;
  }

  let text = `${req.method ?? 'GET'} ${url} HTTP/1.1\r\nhost: ${target.host}\r\n`;
  const headers = requestHeaders(req.headers, info, undefined, true);
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    const value = headers[i + 1] as string | string[];
    if (typeof value === 'string') text += `${name}: ${value}\r\n`;
    else for (const v of value) text += `${name}: ${v}\r\n`;
  }
  text += '\r\n';

  const upstream: net.Socket = target.tls
    ? tls.connect({ host: target.hostname, port: target.port, servername: net.isIP(target.hostname) ? undefined : target.hostname })
    : net.connect({ host: target.hostname, port: target.port });
  upstream.setNoDelay(true);
  open.add(upstream);
  open.add(client);

  let phase: 'connecting' | 'handshake' | 'spliced' | 'relaying' | 'done' = 'connecting';
  let timer: NodeJS.Timeout | undefined = setTimeout(onTimeout, target.connectTimeoutMs);
  let pending: Buffer[] = [];
  let pendingBytes = 0;

  function clearTimer(): void {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  }

  function onTimeout(): void {
    timer = undefined;
    if (phase === 'connecting' || phase === 'handshake') {
      fail(504);
    } else if (phase === 'relaying') {
      finish();
    }
  }

  function fail(status: 502 | 504): void {
    if (phase === 'done') return;
    phase = 'done';
    clearTimer();
    upstream.destroy();
    gatewayError(client, status);
    forget();
  }

  function finish(): void {
    if (phase === 'done') return;
    phase = 'done';
    clearTimer();
    upstream.destroy();
    closeSoon(client);
    forget();
  }

  function forget(): void {
    upstream.once('close', () => open.delete(upstream));
    client.once('close', () => open.delete(client));
    if (upstream.destroyed) open.delete(upstream);
    if (client.destroyed) open.delete(client);
  }

  upstream.once(target.tls ? 'secureConnect' : 'connect', () => {
    if (phase !== 'connecting') return;
    phase = 'handshake';
    clearTimer();
    timer = setTimeout(onTimeout, target.headersTimeoutMs);
    upstream.write(text, 'latin1');
    if (head.length > 0) upstream.write(head);
  });

  upstream.on('error', () => {
    if (phase === 'connecting' || phase === 'handshake') fail(502);
  });

  // The client going away before the handshake is over ends the attempt.
  const onClientGone = (): void => {
    if (phase === 'connecting' || phase === 'handshake' || phase === 'relaying') {
      phase = 'done';
      clearTimer();
      upstream.destroy();
      client.destroy();
      forget();
    }
  };
  client.once('close', onClientGone);

  upstream.on('data', onHandshakeData);
  upstream.once('end', () => {
    if (phase === 'handshake') fail(502);
  });

  function onHandshakeData(chunk: Buffer): void {
    if (phase !== 'handshake') return;
    pending.push(chunk);
    pendingBytes += chunk.length;
    const all = pending.length === 1 ? chunk : Buffer.concat(pending, pendingBytes);
    pending = [all];
    const end = all.indexOf(CRLFCRLF);
    if (end === -1) {
      if (pendingBytes > MAX_HEAD_BYTES) fail(502);
      return;
    }
    upstream.off('data', onHandshakeData);
    clearTimer();
    const headText = all.toString('latin1', 0, end);
    const rest = all.subarray(end + 4);
    const status = parseStatus(headText);
    if (status === 0) {
      fail(502);
      return;
    }
    if (status === 101) splice(headText, rest);
    else relay(status, headText, rest);
  }

  function splice(headText: string, rest: Buffer): void {
    phase = 'spliced';
    client.off('close', onClientGone);
    if (client.destroyed) {
      upstream.destroy();
      forget();
      return;
    }
    client.write(`${headText}\r\n\r\n`, 'latin1');
    // Jellyfin → client is relayed by hand, counting WebSocket frames, so that the gateway can end the
    // client's side with a close frame of its own at a frame boundary (RFC 6455 §5.5.1) when Jellyfin
    // goes away or the gateway shuts down: browsers then see 1001/1011, not an abnormal 1006.
    const frames = new FrameBoundary();
    let goingAway: { code: number; reason: string; timer: NodeJS.Timeout } | undefined;
    let ended = false;
    const sendCloseAndEnd = (code: number, reason: string): void => {
      if (ended) return;
      ended = true;
      upstream.off('data', relay);
      if (!client.destroyed && client.writable && frames.atBoundary && !frames.sawClose) client.write(closeFrame(code, reason));
      closeSoon(client);
    };
    const relay = (chunk: Buffer): void => {
      const n = frames.feed(chunk, goingAway !== undefined);
      if (n > 0 && !client.write(n === chunk.length ? chunk : chunk.subarray(0, n))) upstream.pause();
      if (goingAway && frames.atBoundary) {
        clearTimeout(goingAway.timer);
        sendCloseAndEnd(goingAway.code, goingAway.reason);
        upstream.destroy();
      }
    };
    upstream.on('data', relay);
    client.on('drain', () => upstream.resume());
    if (rest.length > 0) relay(rest);
    client.pipe(upstream);
    upstream.on('error', noop);
    client.on('error', () => upstream.destroy());
    // Jellyfin closed or lost the connection: tell the client (1001 going away, 1011 after an error),
    // unless Jellyfin's own close frame already went through.
    upstream.once('close', (hadError: boolean) => {
      open.delete(upstream);
      if (goingAway) clearTimeout(goingAway.timer);
      sendCloseAndEnd(hadError ? 1011 : 1001, 'Jellyfin went away');
    });
    client.once('close', () => {
      open.delete(client);
      spliced.delete(client);
      closeSoon(upstream);
    });
    // The gateway is shutting down: close at the next frame boundary (waiting at most a second for it).
    spliced.set(client, (code, reason) => {
      if (goingAway || client.destroyed) return;
      goingAway = { code, reason, timer: setTimeout(() => { upstream.destroy(); client.destroy(); }, 1000) };
      goingAway.timer.unref();
      if (frames.atBoundary) relay(Buffer.alloc(0));
    });
  }

  /**
   * A refusal (or any answer but 101): relay it to the client as it came, with `Connection: close`, and
   * close both. The body is delimited by Content-Length, the end of a chunked body, or the upstream closing.
   */
  function relay(status: number, headText: string, rest: Buffer): void {
    phase = 'relaying';
    const lines = headText.split('\r\n');
    let out = '';
    let length = -1;
    let chunked = false;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(':');
      const name = i === 0 || colon === -1 ? '' : line.slice(0, colon).trim().toLowerCase();
      if (name === 'connection' || name === 'keep-alive') continue;
      if (name === 'content-length') length = Number.parseInt(line.slice(colon + 1).trim(), 10);
      if (name === 'transfer-encoding' && line.toLowerCase().includes('chunked')) chunked = true;
      out += `${line}\r\n`;
    }
    out += 'Connection: close\r\n\r\n';
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) length = 0;
    client.write(out, 'latin1');
    // Bound the relay: a body that never ends must not keep both sockets.
    timer = setTimeout(onTimeout, target.headersTimeoutMs);
    let tail = Buffer.alloc(0);
    const take = (chunk: Buffer): void => {
      if (phase !== 'relaying') return;
      if (length >= 0) {
        const part = chunk.length > length ? chunk.subarray(0, length) : chunk;
        length -= part.length;
        if (part.length > 0) client.write(part);
        if (length === 0) finish();
        return;
      }
      client.write(chunk);
      if (chunked) {
        tail = Buffer.concat([tail, chunk]).subarray(-5);
        if (tail.toString('latin1') === '0\r\n\r\n') finish();
      }
    };
    upstream.on('data', take);
    upstream.once('end', finish);
    upstream.once('close', finish);
    if (rest.length > 0 || length === 0) take(rest);
  }
}

/** The status code of `HTTP/1.x NNN …`, or 0 when the line is not an HTTP status line. */
function parseStatus(headText: string): number {
  if (!headText.startsWith('HTTP/1.')) return 0;
  const code = Number.parseInt(headText.slice(9, 12), 10);
  return Number.isInteger(code) && code >= 100 && code <= 999 ? code : 0;
}
