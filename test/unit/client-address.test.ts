import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { IncomingHttpHeaders } from 'node:http';
import { CidrList, canonicalIp, ipv6Prefix64 } from '../../server/net/cidr.ts';
import { MAX_HOPS, resolveClientAddress } from '../../server/net/client-address.ts';

const trusted = new CidrList(['10.0.0.0/8', '192.168.1.1', 'fd00::/8', '::1']);
const xff = (peer: string, headers: IncomingHttpHeaders) => resolveClientAddress(peer, headers, trusted, 'x-forwarded-for');
const fwd = (peer: string, headers: IncomingHttpHeaders) => resolveClientAddress(peer, headers, trusted, 'forwarded');

describe('CidrList', () => {
  it('matches IPv4, IPv6 and IPv4-mapped IPv6', () => {
    const l = new CidrList(['1.2.3.0/24', '2001:db8::/32', '::ffff:172.16.0.0/108']);
    expect(l.contains('1.2.3.4')).toBe(true);
    expect(l.contains('::ffff:1.2.3.4')).toBe(true);
    expect(l.contains('::FFFF:1.2.3.4')).toBe(true);
    expect(l.contains('1.2.4.1')).toBe(false);
    expect(l.contains('2001:db8:ffff::1')).toBe(true);
    expect(l.contains('2001:db9::1')).toBe(false);
    expect(l.contains('172.16.200.1')).toBe(true); // ::ffff:172.16.0.0/108 = 172.16.0.0/12
    expect(l.contains('172.32.0.1')).toBe(false);
    expect(l.contains('not an ip')).toBe(false);
    expect(l.contains('')).toBe(false);
  });
  it('takes bare addresses as /32 and /128', () => {
    expect(trusted.contains('192.168.1.1')).toBe(true);
    expect(trusted.contains('192.168.1.2')).toBe(false);
    expect(trusted.contains('::1')).toBe(true);
    expect(trusted.contains('::2')).toBe(false);
  });
  it('an empty list contains nothing; 0.0.0.0/0 and ::/0 everything of their family', () => {
    expect(new CidrList([]).contains('1.2.3.4')).toBe(false);
    const all = new CidrList(['0.0.0.0/0', '::/0']);
    expect(all.contains('8.8.8.8')).toBe(true);
    expect(all.contains('::ffff:8.8.8.8')).toBe(true);
    expect(all.contains('2001:db8::1')).toBe(true);
  });
  it('refuses loose IPv4 forms that parsers read differently', () => {
    for (const ip of ['127.1', '0x7f.0.0.1', '010.0.0.1', '2130706433', '1.2.3.256', '1.2.3']) expect(trusted.contains(ip), ip).toBe(false);
    expect(new CidrList(['127.0.0.0/8']).contains('127.1')).toBe(false);
  });
  it.each(['10.0.0.0/33', '10.0.0/8', 'fd00::/129', 'banana', '', '10.0.0.0/', '10.0.0.0/-1', '010.0.0.0/8', '::/1a'])(
    'throws naming the bad entry %j',
    (entry) => {
      expect(() => new CidrList(['10.0.0.0/8', entry])).toThrow(new RegExp(`"${entry.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"`));
    },
  );
});

describe('canonicalIp and ipv6Prefix64', () => {
  it('canonicalises', () => {
    expect(canonicalIp('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(canonicalIp('::ffff:7f00:1')).toBe('127.0.0.1');
    expect(canonicalIp('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(canonicalIp('2001:0db8:0000:0000:0001:0000:0000:0001')).toBe('2001:db8::1:0:0:1');
    expect(canonicalIp('fe80::1%eth0')).toBe('fe80::1');
    expect(canonicalIp('1.2.3.4')).toBe('1.2.3.4');
    expect(canonicalIp('127.1')).toBeNull();
    expect(canonicalIp('1.2.3.4:80')).toBeNull();
    expect(canonicalIp('')).toBeNull();
  });
  it('groups IPv6 by /64 and leaves IPv4 as it is', () => {
    expect(ipv6Prefix64('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(ipv6Prefix64('2001:DB8:1:2::9')).toBe('2001:db8:1:2::/64');
    expect(ipv6Prefix64('::ffff:1.2.3.4')).toBe('1.2.3.4');
    expect(ipv6Prefix64('1.2.3.4')).toBe('1.2.3.4');
  });
});

describe('resolveClientAddress: X-Forwarded-For', () => {
  it('untrusted peer: the header is ignored entirely (forged XFF)', () => {
    const r = xff('198.51.100.7', { 'x-forwarded-for': '10.0.0.5', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' });
    expect(r).toEqual({ ip: '198.51.100.7', peer: '198.51.100.7', viaTrustedProxy: false, proxyWithoutForwarding: false });
  });
  it('one trusted proxy', () => {
    expect(xff('10.0.0.1', { 'x-forwarded-for': '203.0.113.5' })).toEqual({
      ip: '203.0.113.5', peer: '10.0.0.1', viaTrustedProxy: true, proxyWithoutForwarding: false,
    });
  });
  it('a chain of trusted proxies is walked right to left', () => {
    expect(xff('10.0.0.1', { 'x-forwarded-for': '203.0.113.5, 10.0.0.3, 10.0.0.2' }).ip).toBe('203.0.113.5');
  });
  it('the leftmost hop is not trusted blindly (client-supplied spoof)', () => {
    expect(xff('10.0.0.1', { 'x-forwarded-for': '1.1.1.1, 127.0.0.1, 203.0.113.5' }).ip).toBe('203.0.113.5');
    expect(xff('10.0.0.1', { 'x-forwarded-for': '10.0.0.99, 203.0.113.5' }).ip).toBe('203.0.113.5');
  });
  it('IPv4-mapped peer and entries', () => {
    const r = xff('::ffff:10.0.0.1', { 'x-forwarded-for': '::ffff:203.0.113.5' });
    expect(r).toMatchObject({ ip: '203.0.113.5', peer: '10.0.0.1', viaTrustedProxy: true });
  });
  it('IPv6 peer and entries, with brackets and ports', () => {
    expect(xff('::1', { 'x-forwarded-for': '2001:DB8::5' }).ip).toBe('2001:db8::5');
    expect(xff('fd00::1', { 'x-forwarded-for': '[2001:db8::5]:4711' }).ip).toBe('2001:db8::5');
    expect(xff('10.0.0.1', { 'x-forwarded-for': '203.0.113.5:4444' }).ip).toBe('203.0.113.5');
    expect(xff('fe80::1%eth0', { 'x-forwarded-for': '203.0.113.5' }).ip).toBe('fe80::1'); // not trusted
  });
  it('multiple header lines are one list, in order', () => {
    // Node joins repeated X-Forwarded-For lines with ", ".
    expect(xff('10.0.0.1', { 'x-forwarded-for': '203.0.113.5, 10.0.0.2' }).ip).toBe('203.0.113.5');
    expect(xff('10.0.0.1', { 'x-forwarded-for': ['203.0.113.5', '10.0.0.2'] as unknown as string }).ip).toBe('203.0.113.5');
  });
  it('SEC-H3: a trusted peer without X-Forwarded-For is a proxy, never a LAN client', () => {
    expect(xff('10.0.0.1', {})).toEqual({ ip: '10.0.0.1', peer: '10.0.0.1', viaTrustedProxy: true, proxyWithoutForwarding: true });
    expect(xff('10.0.0.1', { 'x-forwarded-for': '' }).proxyWithoutForwarding).toBe(true);
    expect(xff('10.0.0.1', { 'x-forwarded-for': '  ' }).proxyWithoutForwarding).toBe(true);
    // an untrusted LAN peer without XFF is just a client
    expect(xff('192.168.1.50', {})).toMatchObject({ ip: '192.168.1.50', proxyWithoutForwarding: false });
  });
  it('every hop trusted: the leftmost (a proxy that forwarded nothing) is flagged', () => {
    expect(xff('10.0.0.1', { 'x-forwarded-for': '10.0.0.7, 10.0.0.2' })).toMatchObject({ ip: '10.0.0.7', proxyWithoutForwarding: true });
  });
  it('garbage stops the walk at the last trusted hop, flagged', () => {
    expect(xff('10.0.0.1', { 'x-forwarded-for': '203.0.113.5, garbage' })).toMatchObject({ ip: '10.0.0.1', proxyWithoutForwarding: true });
    expect(xff('10.0.0.1', { 'x-forwarded-for': '203.0.113.5, garbage, 10.0.0.2' })).toMatchObject({ ip: '10.0.0.2', proxyWithoutForwarding: true });
    expect(xff('10.0.0.1', { 'x-forwarded-for': '203.0.113.5, , 10.0.0.2' })).toMatchObject({ ip: '10.0.0.2', proxyWithoutForwarding: true });
    for (const junk of ['127.1', '0x7f.0.0.1', '010.0.0.1', 'unknown', '_hidden', '1.2.3.4:99999', '[::1', 'fe80::1%eth0', '1.2.3.4 5.6.7.8']) {
      expect(xff('10.0.0.1', { 'x-forwarded-for': junk }), junk).toMatchObject({ ip: '10.0.0.1', proxyWithoutForwarding: true });
    }
    // garbage LEFT of the client does not matter
    expect(xff('10.0.0.1', { 'x-forwarded-for': 'garbage, 203.0.113.5' })).toMatchObject({ ip: '203.0.113.5', proxyWithoutForwarding: false });
  });
  it(`walks at most ${MAX_HOPS} hops`, () => {
    const chain = ['203.0.113.5', ...Array.from({ length: MAX_HOPS + 5 }, (_, i) => `10.0.${i}.1`)].join(', ');
    expect(xff('10.0.0.1', { 'x-forwarded-for': chain }).proxyWithoutForwarding).toBe(true);
  });
  it('X-Forwarded-Proto / X-Forwarded-Host only from a trusted peer, rightmost value, validated', () => {
    expect(xff('10.0.0.1', { 'x-forwarded-for': '203.0.113.5', 'x-forwarded-proto': 'HTTPS', 'x-forwarded-host': 'media.example.com:8443' })).toMatchObject({
      proto: 'https', host: 'media.example.com:8443',
    });
    expect(xff('10.0.0.1', { 'x-forwarded-for': '203.0.113.5', 'x-forwarded-proto': 'http, https', 'x-forwarded-host': 'evil.example, media.example.com' })).toMatchObject({
      proto: 'https', host: 'media.example.com',
    });
    const bad = xff('10.0.0.1', { 'x-forwarded-for': '203.0.113.5', 'x-forwarded-proto': 'gopher', 'x-forwarded-host': 'a b/c@d' });
    expect(bad.proto).toBeUndefined();
    expect(bad.host).toBeUndefined();
  });
  it('a Forwarded header is never read in X-Forwarded-For mode', () => {
    expect(xff('10.0.0.1', { forwarded: 'for=6.6.6.6', 'x-forwarded-for': '203.0.113.5' }).ip).toBe('203.0.113.5');
    expect(xff('10.0.0.1', { forwarded: 'for=6.6.6.6' })).toMatchObject({ ip: '10.0.0.1', proxyWithoutForwarding: true });
  });
});

describe('resolveClientAddress: RFC 7239 Forwarded', () => {
  it('the RFC examples', () => {
    expect(fwd('10.0.0.1', { forwarded: 'for="_gazonk"' })).toMatchObject({ ip: '10.0.0.1', proxyWithoutForwarding: true });
    expect(fwd('10.0.0.1', { forwarded: 'For="[2001:db8:cafe::17]:4711"' }).ip).toBe('2001:db8:cafe::17');
    expect(fwd('10.0.0.1', { forwarded: 'for=192.0.2.60;proto=http;by=203.0.113.43' })).toMatchObject({ ip: '192.0.2.60', proto: 'http' });
    expect(fwd('10.0.0.1', { forwarded: 'for=192.0.2.43, for=198.51.100.17' }).ip).toBe('198.51.100.17');
  });
  it('walks trusted hops, reads proto/host from the outermost trusted proxy element', () => {
    const r = fwd('10.0.0.1', { forwarded: 'for=6.6.6.6;proto=http, for="203.0.113.5:1234";proto=https;host="media.example.com", for=10.0.0.2;proto=http' });
    expect(r).toMatchObject({ ip: '203.0.113.5', proto: 'https', host: 'media.example.com', proxyWithoutForwarding: false });
  });
  it('unknown, obfuscated and missing for= stop the walk', () => {
    expect(fwd('10.0.0.1', { forwarded: 'for=203.0.113.5, for=unknown' })).toMatchObject({ ip: '10.0.0.1', proxyWithoutForwarding: true });
    expect(fwd('10.0.0.1', { forwarded: 'for=203.0.113.5, for=_obf, for=10.0.0.2' })).toMatchObject({ ip: '10.0.0.2', proxyWithoutForwarding: true });
    expect(fwd('10.0.0.1', { forwarded: 'proto=https' })).toMatchObject({ ip: '10.0.0.1', proxyWithoutForwarding: true });
    expect(fwd('10.0.0.1', { forwarded: 'for=1.2.3.4;for=5.6.7.8' })).toMatchObject({ ip: '10.0.0.1', proxyWithoutForwarding: true });
    expect(fwd('10.0.0.1', { forwarded: 'for="1.2.3.4' })).toMatchObject({ ip: '10.0.0.1', proxyWithoutForwarding: true });
  });
  it('quoted strings may hold commas and semicolons; IPv4 with port', () => {
    expect(fwd('10.0.0.1', { forwarded: 'for="203.0.113.5:80";x="a,b;c"' }).ip).toBe('203.0.113.5');
  });
  it('untrusted peer: Forwarded ignored; X-Forwarded-For never read in Forwarded mode', () => {
    expect(fwd('198.51.100.7', { forwarded: 'for=203.0.113.5' }).ip).toBe('198.51.100.7');
    expect(fwd('10.0.0.1', { 'x-forwarded-for': '203.0.113.5' })).toMatchObject({ ip: '10.0.0.1', proxyWithoutForwarding: true });
    expect(fwd('10.0.0.1', { 'x-forwarded-for': '203.0.113.5', 'x-forwarded-proto': 'https' }).proto).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------------------
// Properties

const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const trustedV4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => `10.${p.join('.')}`);
const v6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((p) => p.map((x) => x.toString(16)).join(':'));
const addr = fc.oneof(v4, trustedV4, v6, fc.constant('::1'), fc.constant('192.168.1.1'), v4.map((a) => `::ffff:${a}`));
const garbage = fc.oneof(
  fc.constantFrom('unknown', '_x', '', ' ', 'banana', '127.1', '[', ']', '::g', '1.2.3.4:x', '"', ';', '='),
  fc.string({ maxLength: 12 }),
).filter((g) => canonicalIp(g.trim()) === null && canonicalIp(g.split(':')[0]!.trim()) === null && !g.includes('['));
const entry = fc.oneof(
  { weight: 4, arbitrary: addr.map((a) => ({ a, text: a })) },
  { weight: 1, arbitrary: addr.map((a) => ({ a, text: a.includes(':') ? `[${a}]:443` : `${a}:80` })) },
  { weight: 1, arbitrary: garbage.map((g) => ({ a: null as string | null, text: g })) },
);

describe('properties', () => {
  it('never throws on arbitrary peers and headers', () => {
    fc.assert(
      fc.property(fc.oneof(addr, fc.string()), fc.string(), fc.string(), fc.string(), (peer, x, f, p) => {
        for (const mode of ['x-forwarded-for', 'forwarded'] as const) {
          const r = resolveClientAddress(peer, { 'x-forwarded-for': x, forwarded: f, 'x-forwarded-proto': p, 'x-forwarded-host': p }, trusted, mode);
          expect(typeof r.ip).toBe('string');
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('the result is the peer or an address that appears in the header; the SEC-H3 invariant holds', () => {
    fc.assert(
      fc.property(addr, fc.array(entry, { maxLength: 8 }), fc.boolean(), (peer, entries, useForwarded) => {
        const header: IncomingHttpHeaders = useForwarded
          ? { forwarded: entries.map((e) => `for="${e.text.replace(/["\\]/g, '')}"`).join(', ') }
          : { 'x-forwarded-for': entries.map((e) => e.text).join(', ') };
        const r = resolveClientAddress(peer, header, trusted, useForwarded ? 'forwarded' : 'x-forwarded-for');
        const allowed = new Set([canonicalIp(peer), ...entries.filter((e) => e.a !== null).map((e) => canonicalIp(e.a!))]);
        expect(allowed.has(r.ip)).toBe(true);
        expect(r.peer).toBe(canonicalIp(peer));
        expect(r.proxyWithoutForwarding).toBe(r.viaTrustedProxy && trusted.contains(r.ip));
        if (!trusted.contains(peer)) expect(r.ip).toBe(canonicalIp(peer));
      }),
      { numRuns: 5000 },
    );
  });
});
