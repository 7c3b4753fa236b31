import { writeFileSync } from 'node:fs';
import ipaddr from 'ipaddr.js';

/**
 * A tiny MaxMind DB writer for tests, from the public format spec
 * (https://maxmind.github.io/MaxMind-DB/): a binary search tree over the address bits (IPv6 tree, IPv4
 * networks under ::/96), 32-bit records, a 16-byte zero separator, the data section, and the metadata
 * map after the "\xAB\xCD\xEFMaxMind.com" marker. There is no writer package on npm; the `maxmind`
 * reader the product uses reads what this writes.
 */

export type MmdbValue = string | number | boolean | bigint | MmdbValue[] | { [k: string]: MmdbValue };

export interface MmdbNetwork {
  /** "81.2.69.0/24" or "2001:db8::/32". */
  cidr: string;
  data: { [k: string]: MmdbValue };
}

type RecordRef = { t: 'empty' } | { t: 'node'; i: number } | { t: 'data'; d: number };

// ---- the data section encoding ----

function control(type: number, size: number): number[] {
  const out: number[] = [];
  let sizeBits: number;
  const extra: number[] = [];
  if (size < 29) sizeBits = size;
  else if (size < 29 + 256) {
    sizeBits = 29;
    extra.push(size - 29);
  } else if (size < 285 + 65536) {
    sizeBits = 30;
    const v = size - 285;
    extra.push(v >> 8, v & 0xff);
  } else {
    sizeBits = 31;
    const v = size - 65821;
    extra.push((v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
  }
  out.push(((type <= 7 ? type : 0) << 5) | sizeBits);
  if (type > 7) out.push(type - 7);
  out.push(...extra);
  return out;
}

function uintBytes(v: bigint): number[] {
  const bytes: number[] = [];
  while (v > 0n) {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  }
  return bytes;
}

export function encodeValue(v: MmdbValue): Buffer {
  if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    return Buffer.concat([Buffer.from(control(2, b.length)), b]);
  }
  if (typeof v === 'boolean') return Buffer.from(control(14, v ? 1 : 0));
  if (typeof v === 'bigint') {
    const bytes = uintBytes(v);
    return Buffer.from([...control(9, bytes.length), ...bytes]); // uint64
  }
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 0 && v < 2 ** 32) {
      const bytes = uintBytes(BigInt(v));
      return Buffer.from([...control(v < 65536 ? 5 : 6, bytes.length), ...bytes]); // uint16 / uint32
    }
    if (Number.isInteger(v) && v < 0 && v >= -(2 ** 31)) {
      const b = Buffer.alloc(4);
      b.writeInt32BE(v);
      return Buffer.concat([Buffer.from(control(8, 4)), b]); // int32
    }
    const b = Buffer.alloc(8);
    b.writeDoubleBE(v);
    return Buffer.concat([Buffer.from(control(3, 8)), b]); // double
  }
  if (Array.isArray(v)) return Buffer.concat([Buffer.from(control(11, v.length)), ...v.map(encodeValue)]);
  const entries = Object.entries(v);
  return Buffer.concat([Buffer.from(control(7, entries.length)), ...entries.flatMap(([k, x]) => [encodeValue(k), encodeValue(x)])]);
}

// ---- the search tree ----

function bitsOf(cidr: string): { bytes: number[]; prefix: number } {
  const [addr, len] = ipaddr.parseCIDR(cidr);
  if (addr.kind() === 'ipv4') {
    return { bytes: [...new Array<number>(12).fill(0), ...(addr as ipaddr.IPv4).octets], prefix: 96 + len };
  }
  return { bytes: (addr as ipaddr.IPv6).toByteArray(), prefix: len };
}

/** Build the database bytes. Later (more specific) networks may sit inside earlier ones. */
export function buildMmdb(networks: MmdbNetwork[], meta: { databaseType?: string; buildEpoch?: Date } = {}): Buffer {
  const nodes: Array<[RecordRef, RecordRef]> = [[{ t: 'empty' }, { t: 'empty' }]];
  const data: Buffer[] = [];
  const dataOffsets: number[] = [];
  let dataSize = 0;
  for (const n of networks) {
    const { bytes, prefix } = bitsOf(n.cidr);
    if (prefix === 0) throw new Error('a /0 network is not supported by this test writer');
    const enc = encodeValue(n.data);
    const d = data.length;
    data.push(enc);
    dataOffsets.push(dataSize);
    dataSize += enc.length;
    let node = 0;
    for (let depth = 0; depth < prefix; depth++) {
      const bit = (bytes[depth >> 3]! >> (7 - (depth & 7))) & 1;
      const rec = nodes[node]![bit]!;
      if (depth === prefix - 1) {
        nodes[node]![bit] = { t: 'data', d };
        break;
      }
      if (rec.t === 'node') {
        node = rec.i;
        continue;
      }
      // Descend, pushing a less specific network (or nothing) down both sides.
      const i = nodes.length;
      nodes.push([rec, rec]);
      nodes[node]![bit] = { t: 'node', i };
      node = i;
    }
  }
  const nodeCount = nodes.length;
  const value = (r: RecordRef): number => (r.t === 'empty' ? nodeCount : r.t === 'node' ? r.i : nodeCount + 16 + dataOffsets[r.d]!);
  const tree = Buffer.alloc(nodeCount * 8);
  nodes.forEach(([l, r], i) => {
    tree.writeUInt32BE(value(l), i * 8);
    tree.writeUInt32BE(value(r), i * 8 + 4);
  });
  const metadata = encodeValue({
    node_count: nodeCount,
    record_size: 32,
    ip_version: 6,
    database_type: meta.databaseType ?? 'GeoLite2-City',
    languages: ['en'],
    binary_format_major_version: 2,
    binary_format_minor_version: 0,
    build_epoch: BigInt(Math.floor((meta.buildEpoch?.getTime() ?? Date.UTC(2026, 0, 1)) / 1000)),
    description: { en: 'Jellyguard test GeoIP database' },
  });
  return Buffer.concat([tree, Buffer.alloc(16), ...data, Buffer.from('ABCDEF4D61784D696E642E636F6D', 'hex'), metadata]);
}

export function writeMmdb(file: string, networks: MmdbNetwork[]): string {
  writeFileSync(file, buildMmdb(networks));
  return file;
}

/** A GeoLite2-City-shaped record. */
export function cityRecord(city: string, country: string, latitude: number, longitude: number, accuracyKm = 20): MmdbNetwork['data'] {
  return {
    city: { names: { en: city } },
    country: { iso_code: country, names: { en: country } },
    location: { latitude, longitude, accuracy_radius: accuracyKm, time_zone: 'UTC' },
  };
}

/** Places used across the tests (documentation and test ranges, with real cities' coordinates). */
export const TEST_PLACES = {
  london: { cidr: '81.2.69.0/24', ip: '81.2.69.142', record: cityRecord('London', 'GB', 51.5142, -0.0931, 10) },
  paris: { cidr: '2.125.160.0/24', ip: '2.125.160.216', record: cityRecord('Paris', 'FR', 48.8566, 2.3522, 10) },
  sydney: { cidr: '1.128.0.0/16', ip: '1.128.0.7', record: cityRecord('Sydney', 'AU', -33.8688, 151.2093, 20) },
  tokyo: { cidr: '2001:db8:7000::/40', ip: '2001:db8:7000::1', record: cityRecord('Tokyo', 'JP', 35.6762, 139.6503, 20) },
} as const;

export function writeTestGeoDb(file: string): string {
  return writeMmdb(
    file,
    Object.values(TEST_PLACES).map((p) => ({ cidr: p.cidr, data: p.record })),
  );
}
