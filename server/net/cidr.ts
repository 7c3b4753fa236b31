/**
 * IP addresses and CIDR ranges, parsed by ipaddr.js behind a strict syntax check: IPv4 only as four
 * decimal parts without leading zeros (ipaddr.js alone also takes "127.1", "0x7f.1" and octal "010.0.0.1",
 * which mean different things to different parsers), IPv6 only from hex digits, ':' and an embedded
 * four-part IPv4 tail. IPv4-mapped IPv6 (::ffff:a.b.c.d) is always treated as the IPv4 address.
 */
import ipaddr from 'ipaddr.js';

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

const IPV4 = /^(?:0|[1-9]\d{0,2})(?:\.(?:0|[1-9]\d{0,2})){3}$/;
const IPV6_CHARS = /^[0-9A-Fa-f:.]+$/;
const ZONE = /%[0-9A-Za-z._~-]+$/;

function strictIpv4(s: string): ipaddr.IPv4 | null {
  if (s.length > 15 || !IPV4.test(s)) return null;
  // Each part ≤ 255 is checked by ipaddr.js (it throws otherwise).
  try {
    return ipaddr.IPv4.parse(s);
  } catch {
    return null;
  }
}

/** A parsed address and its canonical text. */
export interface ParsedIp {
  addr: IpAddress;
  /** IPv4 dotted, or IPv6 RFC 5952 (compressed, lower-case). */
  text: string;
}

function parseUncached(s: string): ParsedIp | null {
  let addr: IpAddress | null;
  if (s.includes(':')) {
    if (!IPV6_CHARS.test(s)) return null;
    if (s.includes('.') && !IPV4.test(s.slice(s.lastIndexOf(':') + 1))) return null;
    try {
      const v6 = ipaddr.IPv6.parse(s);
      addr = v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
    } catch {
      return null;
    }
  } else {
    addr = strictIpv4(s);
  }
  return addr === null ? null : { addr, text: addr.toString() };
}

// ipaddr.js parses with regular expressions (1–6 µs an address); addresses repeat (keep-alive, the same
// proxies, the same clients), so parses are memoised in two bounded generations (an approximate LRU).
const GENERATION = 4096;
let young = new Map<string, ParsedIp | null>();
let old = new Map<string, ParsedIp | null>();

/**
 * Parse an address strictly, memoised; IPv4-mapped IPv6 comes back as IPv4. A zone id ("fe80::1%eth0")
 * is accepted only with `allowZone` (socket addresses) and dropped.
 */
export function parseIpText(input: string, allowZone = false): ParsedIp | null {
  if (typeof input !== 'string' || input.length === 0 || input.length > 64) return null;
  let s = input;
  if (allowZone && s.includes('%')) {
    const z = ZONE.exec(s);
    if (z === null || !s.includes(':')) return null;
    s = s.slice(0, z.index);
  }
  let hit = young.get(s);
  if (hit !== undefined) return hit;
  hit = old.get(s);
  if (hit === undefined) hit = parseUncached(s);
  if (young.size >= GENERATION) {
    old = young;
    young = new Map();
  }
  young.set(s, hit);
  return hit;
}

/** As parseIpText, the address only. */
export function parseIp(input: string, allowZone = false): IpAddress | null {
  return parseIpText(input, allowZone)?.addr ?? null;
}

/** '::ffff:127.0.0.1' → '127.0.0.1', IPv6 compressed lower-case (RFC 5952); null if invalid. */
export function canonicalIp(ip: string): string | null {
  return parseIpText(ip, true)?.text ?? null;
}

/** The /64 an IPv6 address belongs to ('2001:db8:1:2::/64'), for grouping; IPv4 stays as it is. */
export function ipv6Prefix64(ip: string): string {
  const a = parseIp(ip, true);
  if (a === null) return ip;
  if (a.kind() === 'ipv4') return a.toString();
  const p = (a as ipaddr.IPv6).parts;
  return new ipaddr.IPv6([p[0]!, p[1]!, p[2]!, p[3]!, 0, 0, 0, 0]).toString() + '/64';
}

/** A list of CIDR ranges (or bare addresses) to test addresses against. */
export class CidrList {
  readonly #v4: [ipaddr.IPv4, number][] = [];
  readonly #v6: [ipaddr.IPv6, number][] = [];
  readonly entries: readonly string[];

  /** Throws an Error naming the first bad entry. */
  constructor(cidrs: readonly string[]) {
    if (!Array.isArray(cidrs)) throw new Error('CIDR list must be an array of strings');
    const entries: string[] = [];
    for (const raw of cidrs) {
      if (typeof raw !== 'string') throw new Error(`Invalid CIDR entry ${JSON.stringify(raw)}: not a string`);
      const entry = raw.trim();
      const slash = entry.indexOf('/');
      const addrText = slash === -1 ? entry : entry.slice(0, slash);
      const bitsText = slash === -1 ? null : entry.slice(slash + 1);
      const parsed = addrText.includes(':') ? parseV6Range(addrText) : strictIpv4(addrText);
      if (parsed === null) {
        throw new Error(`Invalid CIDR entry "${raw}": "${addrText}" is not an IPv4 or IPv6 address`);
      }
      const isV6Text = addrText.includes(':');
      const max = isV6Text ? 128 : 32;
      let bits = max;
      if (bitsText !== null) {
        if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > max) {
          throw new Error(`Invalid CIDR entry "${raw}": prefix length must be 0–${max}`);
        }
        bits = Number(bitsText);
      }
      if (parsed.kind() === 'ipv6') {
        const v6 = parsed as ipaddr.IPv6;
        if (v6.isIPv4MappedAddress() && bits >= 96) this.#v4.push([v6.toIPv4Address(), bits - 96]);
        else this.#v6.push([v6, bits]);
      } else {
        this.#v4.push([parsed as ipaddr.IPv4, bits]);
      }
      entries.push(entry);
    }
    this.entries = entries;
  }

  get size(): number {
    return this.#v4.length + this.#v6.length;
  }

  /** True when ip (any text form, IPv4-mapped IPv6 included) lies in one of the ranges; false if invalid. */
  contains(ip: string): boolean {
    if (this.#v4.length === 0 && this.#v6.length === 0) return false;
    const a = parseIp(ip, true);
    return a !== null && this.containsAddress(a);
  }

  /** As contains, for an address parsed by parseIp. */
  containsAddress(a: IpAddress): boolean {
    if (a.kind() === 'ipv4') {
      for (const [range, bits] of this.#v4) if ((a as ipaddr.IPv4).match(range, bits)) return true;
    } else {
      for (const [range, bits] of this.#v6) if ((a as ipaddr.IPv6).match(range, bits)) return true;
    }
    return false;
  }
}

/** An IPv6 range base, kept as IPv6 even when it is IPv4-mapped (the prefix length decides). */
function parseV6Range(s: string): ipaddr.IPv6 | null {
  if (!IPV6_CHARS.test(s)) return null;
  if (s.includes('.') && !IPV4.test(s.slice(s.lastIndexOf(':') + 1))) return null;
  try {
    return ipaddr.IPv6.parse(s);
  } catch {
    return null;
  }
}
