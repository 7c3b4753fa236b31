import { HttpError, badRequest } from '../errors.ts';
import type { GatewayContext } from '../context.ts';
import { tryParseJson } from '../jellyfin/json.ts';

/** How long the rest of a refused body is read and thrown away before the connection is cut. */
const DISCARD_MS = 5_000;

/**
 * Read a small request body (a login, an API request) into memory, refusing anything over `cap` with 413
 * before Jellyfin sees it — whether the size is declared (Content-Length) or only found while reading
 * (Transfer-Encoding: chunked). `what` names the endpoint in the message ("sign-in requests"). Compressed
 * request bodies are refused: the gateway must read what Jellyfin would read.
 */
export async function readSmallBody(ctx: GatewayContext, cap: number, what = 'requests to this endpoint'): Promise<Buffer> {
  const tooLarge = () => new HttpError(413, 'payload_too_large', `${capitalize(what)} are limited to ${cap} bytes.`, { connection: 'close' });
  const read = ctx.state.body; // an earlier step read it already (the administrator step-up)
  if (read !== undefined) {
    if (read.length > cap) throw tooLarge();
    return read;
  }
  const declared = ctx.get('content-length');
  if (declared && (!/^\d+$/.test(declared) || Number(declared) > cap)) {
    if (!/^\d+$/.test(declared)) throw badRequest('bad_content_length', 'Content-Length is not a number');
    discardRest(ctx);
    throw tooLarge();
  }
  const encoding = ctx.get('content-encoding').trim().toLowerCase();
  if (encoding && encoding !== 'identity') {
    discardRest(ctx);
    throw new HttpError(415, 'unsupported_content_encoding', `${capitalize(what)} must not be compressed.`, { connection: 'close' });
  }
  const req = ctx.req;
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err?: Error) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= cap) return void chunks.push(chunk);
      chunks.length = 0;
      done(tooLarge());
      discardRest(ctx);
    };
    const onEnd = () => done();
    const onError = (e: Error) => done(e);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/**
 * Keep reading what is left of a refused body and throw it away while the 413 is written (the response
 * says `Connection: close`, and Node closes the socket once it is sent): stopping the read instead — or
 * destroying the socket, as breaking out of the request's async iterator does — resets the connection,
 * and a client still sending would see only that. A socket whose answer cannot be written is cut after
 * DISCARD_MS.
 */
function discardRest(ctx: GatewayContext): void {
  const req = ctx.req;
  if (req.readableEnded) return;
  const cut = setTimeout(() => req.socket.destroy(), DISCARD_MS);
  cut.unref();
  req.once('end', () => clearTimeout(cut));
  req.once('close', () => clearTimeout(cut));
  req.on('data', () => {});
  req.resume();
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** A JSON login body must be a JSON object (or absent). */
export function parseLoginJson(body: Buffer): Record<string, unknown> | undefined {
  if (body.length === 0) return undefined;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw badRequest('malformed_body', 'the request body is not valid UTF-8');
  }
  const parsed = tryParseJson(text);
  if (parsed === undefined || parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw badRequest('malformed_body', 'the request body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}
