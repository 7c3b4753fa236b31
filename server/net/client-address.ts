/**
 * The real client address (DESIGN pipeline step 1).
 *
 * Walk of the forwarding list, right to left, starting at the TCP peer:
 *   current = peer; while current is a trusted proxy, current = the entry to its left (the address that
 *   proxy says it received the request from). The first address that is not a trusted proxy is the client.
 *
 * - An untrusted peer's forwarding headers are ignored entirely: the peer is the client.
 * - Only the configured header is read ('x-forwarded-for' or 'forwarded'), never the other one, so a forged
 *   `Forwarded` passed through by a proxy that sets X-Forwarded-For is never seen.
 * - Repeated header lines form one list, in order (Node joins them with ', ').
 * - The leftmost entry is never trusted blindly: it is reached only when every hop to its right is a
 *   trusted proxy (and so it was written by one).
 * - Fail closed on garbage: an entry that is not an address ('unknown', an obfuscated '_id', junk, an
 *   empty element) stops the walk. The client is then the last address the walk reached — a trusted proxy
 *   (the peer itself if the first entry is garbage). Same when the header is missing or empty, when every
 *   entry is a trusted proxy (the leftmost one is a proxy that forwarded nothing), or after MAX_HOPS.
 *   In all those cases the result lies inside a trusted-proxy range and `proxyWithoutForwarding` is set:
 *   such an address is a proxy whose client is unknown, never a LAN client (SEC-H3). It is the address the
 *   walk can vouch for; a ban on it hits only traffic through that misbehaving proxy.
 * - Invariant: `proxyWithoutForwarding === trusted.contains(ip)`. The result is always the peer or an
 *   address that appears in the header (canonicalised).
 * - X-Forwarded-Proto / X-Forwarded-Host (or Forwarded's proto= / host=) are read only from a trusted peer.
 *   X-Forwarded-*: the RIGHTMOST value (the one the peer itself set or appended; values to its left may
 *   come from the client). Forwarded: from the leftmost element the walk examined (written by the outermost
 *   trusted proxy, the one that saw the client's request). Invalid values are ignored.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { type CidrList, type ParsedIp, parseIpText } from './cidr.ts';

export { CidrList, canonicalIp, ipv6Prefix64 } from './cidr.ts';

export interface ClientAddress {
  /** The client's address, canonical (IPv4-mapped IPv6 as IPv4, IPv6 compressed lower-case). */
  ip: string;
  /** The TCP peer, canonical (as given when it cannot be parsed). */
  peer: string;
  /** The peer is a trusted proxy, so its forwarding header was read. */
  viaTrustedProxy: boolean;
  /** SEC-H3: `ip` is a trusted proxy with no (usable) forwarding information: a proxy, never a LAN client. */
  proxyWithoutForwarding: boolean;
  proto?: 'http' | 'https';
  host?: string;
}

/** At most this many entries are walked; a longer chain stops there (fail closed). */
export const MAX_HOPS = 32;

interface Hop {
  /** null: not an address (unknown, obfuscated, garbage). */
  addr: ParsedIp | null;
  proto?: string | undefined;
  host?: string | undefined;
}

const PORT = /^(?:\d{1,5}|_[A-Za-z0-9._-]+)$/;

/** A port (0–65535) or an RFC 7239 obfuscated port ('_abc'). */
function isPort(s: string): boolean {
  return PORT.test(s) && (s.charCodeAt(0) === 0x5f || Number(s) <= 65535);
}
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::\d{1,5})?$/;

/** A node identifier: IPv4, IPv4:port, [IPv6], [IPv6]:port or bare IPv6. */
function parseNode(text: string): ParsedIp | null {
  const s = text.trim();
  if (s.length === 0 || s.length > 64) return null;
  const c0 = s.charCodeAt(0);
  if (c0 === 0x5b /* [ */) {
    const close = s.indexOf(']');
    if (close === -1) return null;
    const rest = s.slice(close + 1);
    if (rest.length > 0 && (rest.charCodeAt(0) !== 0x3a || !isPort(rest.slice(1)))) return null;
    const inner = s.slice(1, close);
    return inner.includes(':') ? parseIpText(inner) : null;
  }
  const firstColon = s.indexOf(':');
  if (firstColon === -1) return parseIpText(s);
  if (s.indexOf(':', firstColon + 1) === -1) {
    // exactly one ':' → IPv4:port
    if (!isPort(s.slice(firstColon + 1))) return null;
    const v4 = parseIpText(s.slice(0, firstColon));
    return v4 !== null && v4.addr.kind() === 'ipv4' ? v4 : null;
  }
  return parseIpText(s);
}

function splitList(value: unknown): string[] {
  const joined = typeof value === 'string' ? value : Array.isArray(value) ? value.join(',') : '';
  if (joined.trim() === '') return [];
  return joined.split(',');
}

function xffHops(headers: IncomingHttpHeaders): Hop[] {
  return splitList(headers['x-forwarded-for']).map((e) => ({ addr: parseNode(e) }));
}

/** RFC 7239: elements split on ',' and pairs on ';' outside quoted strings; names case-insensitive. */
function forwardedHops(headers: IncomingHttpHeaders): Hop[] {
  const raw: unknown = headers['forwarded'];
  const value = typeof raw === 'string' ? raw : Array.isArray(raw) ? raw.join(',') : '';
  if (value.trim() === '') return [];
  const hops: Hop[] = [];
  let pairs: [string, string | null][] = [];
  let name = '';
  let val = '';
  let inName = true;
  let quoted = false;
  let wasQuoted = false;
  let bad = false;
  const endPair = (): void => {
    const n = name.trim().toLowerCase();
    if (n === '' && !wasQuoted && val.trim() === '' && inName) {
      // empty pair (e.g. "for=a;" or ";;"): ignore
    } else if (inName || n === '') {
      bad = true;
    } else {
      pairs.push([n, wasQuoted ? val : val.trim()]);
    }
    name = '';
    val = '';
    inName = true;
    wasQuoted = false;
  };
  const endElement = (): void => {
    endPair();
    let forValue: string | null = null;
    let forCount = 0;
    let proto: string | undefined;
    let host: string | undefined;
    for (const [n, v] of pairs) {
      if (n === 'for') (forValue = v), forCount++;
      else if (n === 'proto') proto = v ?? undefined;
      else if (n === 'host') host = v ?? undefined;
    }
    const addr = !bad && forCount === 1 && forValue !== null ? parseNode(forValue) : null;
    hops.push({ addr, proto, host });
    pairs = [];
    bad = false;
  };
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (quoted) {
      if (ch === '\\' && i + 1 < value.length) val += value[++i];
      else if (ch === '"') quoted = false;
      else val += ch;
      continue;
    }
    if (ch === ',') endElement();
    else if (ch === ';') endPair();
    else if (ch === '=' && inName) inName = false;
    else if (ch === '"' && !inName && val.trim() === '' && !wasQuoted) (quoted = true), (wasQuoted = true), (val = '');
    else if (inName) name += ch;
    else if (wasQuoted) {
      if (ch !== ' ' && ch !== '\t') bad = true; // junk after a quoted string
    } else val += ch;
  }
  if (quoted) bad = true;
  endElement();
  return hops;
}

function lastListValue(v: unknown): string | undefined {
  const list = splitList(v);
  const last = list[list.length - 1];
  return last === undefined ? undefined : last.trim();
}

function validProto(v: string | undefined): 'http' | 'https' | undefined {
  if (v === undefined) return undefined;
  const l = v.trim().toLowerCase();
  return l === 'http' || l === 'https' ? l : undefined;
}

function validHost(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const h = v.trim();
  return h.length > 0 && h.length <= 255 && HOST.test(h) ? h : undefined;
}

/**
 * Resolve the real client of a request. `peer` is the socket's remote address; `trusted` the trusted
 * proxy ranges; `header` the one forwarding header the deployment's proxies set. Never throws.
 */
export function resolveClientAddress(
  peer: string,
  headers: IncomingHttpHeaders,
  trusted: CidrList,
  header: 'x-forwarded-for' | 'forwarded',
): ClientAddress {
  const peerAddr = parseIpText(typeof peer === 'string' ? peer : '', true);
  const peerText = peerAddr === null ? String(peer ?? '') : peerAddr.text;
  if (peerAddr === null || !trusted.containsAddress(peerAddr.addr)) {
    return { ip: peerText, peer: peerText, viaTrustedProxy: false, proxyWithoutForwarding: false };
  }

  let hops: Hop[];
  try {
    hops = header === 'forwarded' ? forwardedHops(headers) : xffHops(headers);
  } catch {
    hops = [];
  }

  let current: ParsedIp = peerAddr;
  let examined: Hop | undefined;
  let walked = 0;
  for (let i = hops.length - 1; i >= 0 && walked < MAX_HOPS; i--, walked++) {
    const hop = hops[i]!;
    examined = hop;
    if (hop.addr === null) break; // garbage: stop at the last trusted hop
    current = hop.addr;
    if (!trusted.containsAddress(current.addr)) break; // the client
  }

  const result: ClientAddress = {
    ip: current.text,
    peer: peerText,
    viaTrustedProxy: true,
    proxyWithoutForwarding: trusted.containsAddress(current.addr),
  };
  let proto: 'http' | 'https' | undefined;
  let host: string | undefined;
  if (header === 'forwarded') {
    proto = validProto(examined?.proto);
    host = validHost(examined?.host);
  } else {
    proto = validProto(lastListValue(headers['x-forwarded-proto']));
    host = validHost(lastListValue(headers['x-forwarded-host']));
  }
  if (proto !== undefined) result.proto = proto;
  if (host !== undefined) result.host = host;
  return result;
}
