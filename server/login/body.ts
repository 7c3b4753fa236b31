import { HttpError, payloadTooLarge, badRequest } from '../errors.ts';
import type { GatewayContext } from '../context.ts';
import { tryParseJson } from '../jellyfin/json.ts';

/**
 * Read a small request body (a login) into memory, refusing anything over `cap` with 413 before Jellyfin
 * sees it. Compressed request bodies are refused: the gateway must read what Jellyfin would read.
 */
export async function readSmallBody(ctx: GatewayContext, cap: number): Promise<Buffer> {
  const declared = ctx.get('content-length');
  if (declared && (!/^\d+$/.test(declared) || Number(declared) > cap)) {
    if (!/^\d+$/.test(declared)) throw badRequest('bad_content_length', 'Content-Length is not a number');
    throw payloadTooLarge(`login request bodies are limited to ${cap} bytes`);
  }
  const encoding = ctx.get('content-encoding').trim().toLowerCase();
  if (encoding && encoding !== 'identity') {
    throw new HttpError(415, 'unsupported_content_encoding', 'login requests must not be compressed');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > cap) {
      ctx.req.destroy();
      throw payloadTooLarge(`login request bodies are limited to ${cap} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
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
