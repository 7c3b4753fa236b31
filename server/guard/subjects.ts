import ipaddr from 'ipaddr.js';
import { canonicalIp as canonical, ipv6Prefix64, parseIp } from '../net/cidr.ts';

/**
 * What the regulator counts and bans: addresses (an IPv6 client by its /64, since one household or one
 * cloud host owns a whole /64), user names (case-folded) and the two together. Keys are plain strings
 * so that the hot-path check is one Map lookup. Addresses are parsed by the one strict parser
 * (server/net/cidr.ts); IPv4-mapped IPv6 is the IPv4 address.
 */

const PLAIN_IPV4 = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** The address in canonical text (as given when it is not an address). */
export function canonicalIp(ip: string): string {
  return canonical(ip) ?? ip;
}

/** The regulator's key for an address: IPv4 as is, IPv6 by its /64 ("2001:db8:1:2::/64"). */
export function addressKey(ip: string): string {
  if (PLAIN_IPV4.test(ip)) return ip; // the common case (the client-address step gives canonical text)
  if (parseIp(ip, true) === null) return `?${ip}`; // not an address (should not happen): its own subject, still counted
  return ipv6Prefix64(ip);
}

/** The network a login came from, for "new network" notices: IPv4 /24, IPv6 /64. */
export function networkKey(ip: string): string {
  const a = parseIp(ip, true);
  if (a === null) return `?${ip}`;
  if (a.kind() === 'ipv4') {
    const o = (a as ipaddr.IPv4).octets;
    return `${o[0]}.${o[1]}.${o[2]}.0/24`;
  }
  return ipv6Prefix64(ip);
}

/** Longest user name that goes into a key; the rest cannot make two attempts differ. */
const MAX_NAME = 256;

/**
 * A user name as the regulator counts it: Unicode-normalised and case-folded (Jellyfin matches names
 * case-insensitively, so "Bob" and "BOB" are the same account and must share one counter).
 */
export function foldUserName(name: string): string {
  return name.normalize('NFKC').toUpperCase().toLowerCase().slice(0, MAX_NAME);
}
