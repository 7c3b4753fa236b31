import type { IncomingHttpHeaders } from 'node:http';
import type { ClientAddress } from '../net/client-address.ts';
import type { ForwardInfo } from './proxy.ts';
import { withoutOwnCookies } from './proxy-headers.ts';

/** Headers that describe one connection, never forwarded (RFC 9110 §7.6.1), plus those we set ourselves. */
const DROP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'host', 'content-length', 'accept-encoding', 'forwarded', 'x-real-ip',
  'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port',
]);

export function forwardInfo(client: ClientAddress, encrypted: boolean, hostHeader: string | undefined): ForwardInfo {
  return {
    clientIp: client.ip,
    proto: client.proto ?? (encrypted ? 'https' : 'http'),
    host: client.host ?? hostHeader,
  };
}

/**
 * The client's headers for a request the gateway sends itself with a buffered body (login
 * interception): end-to-end headers kept, connection headers dropped, X-Forwarded-* set for Jellyfin.
 */
export function headersForUpstream(headers: IncomingHttpHeaders, info: ForwardInfo): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || DROP.has(k) || named.has(k)) continue;
    if (k === 'cookie' && typeof v === 'string') {
      const kept = withoutOwnCookies(v);
      if (kept) out[k] = kept;
      continue;
    }
    out[k] = v;
  }
  out['x-forwarded-for'] = info.clientIp;
  out['x-forwarded-proto'] = info.proto;
  if (info.host) out['x-forwarded-host'] = info.host;
  return out;
}

/** Response headers worth relaying from a buffered upstream answer. */
export function relayableResponseHeaders(headers: Record<string, string | string[]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    const key = k.toLowerCase();
    if (DROP.has(key) || key === 'content-encoding' || key === 'date') continue;
    out[key] = v;
  }
  return out;
}
