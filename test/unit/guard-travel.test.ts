import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MaxMindLocator, haversineKm, travelBetween } from '../../server/guard/travel.ts';
import { TEST_PLACES, buildMmdb, writeMmdb, writeTestGeoDb, cityRecord } from '../helpers/mmdb.ts';

describe('GeoIP and travel speed', () => {
  let dir: string;
  let geo: MaxMindLocator;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'jellyguard-geo-'));
    geo = await MaxMindLocator.open(writeTestGeoDb(path.join(dir, 'city.mmdb')));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads places from a MaxMind DB file (IPv4 and IPv6), and nothing for unknown or private addresses', () => {
    expect(geo.locate(TEST_PLACES.london.ip)).toEqual({ latitude: 51.5142, longitude: -0.0931, accuracyKm: 10, city: 'London', country: 'GB' });
    expect(geo.locate(TEST_PLACES.tokyo.ip)).toMatchObject({ city: 'Tokyo', country: 'JP' });
    expect(geo.locate('81.2.70.1')).toBeUndefined();
    expect(geo.locate('192.168.1.10')).toBeUndefined();
    expect(geo.locate('not an address')).toBeUndefined();
  });

  it('nested networks: the more specific one wins', async () => {
    const f = writeMmdb(path.join(dir, 'nested.mmdb'), [
      { cidr: '203.0.113.0/24', data: cityRecord('Wide', 'AA', 10, 10) },
      { cidr: '203.0.113.128/25', data: cityRecord('Narrow', 'BB', -10.5, -20.25) },
    ]);
    const g = await MaxMindLocator.open(f);
    expect(g.locate('203.0.113.1')?.city).toBe('Wide');
    expect(g.locate('203.0.113.200')).toMatchObject({ city: 'Narrow', latitude: -10.5, longitude: -20.25 });
  });

  it('refuses a file that is not a MaxMind DB, naming the setting', async () => {
    const bad = path.join(dir, 'bad.mmdb');
    writeFileSync(bad, 'not a database');
    await expect(MaxMindLocator.open(bad)).rejects.toThrow(/GeoIPDatabasePath/);
    expect(buildMmdb([]).length).toBeGreaterThan(16);
  });

  it('haversine distances match known ones', () => {
    const london = geo.locate(TEST_PLACES.london.ip)!;
    const paris = geo.locate(TEST_PLACES.paris.ip)!;
    const sydney = geo.locate(TEST_PLACES.sydney.ip)!;
    expect(haversineKm(london, paris)).toBeGreaterThan(335);
    expect(haversineKm(london, paris)).toBeLessThan(350);
    expect(haversineKm(london, sydney)).toBeGreaterThan(16_900);
    expect(haversineKm(london, sydney)).toBeLessThan(17_100);
    expect(haversineKm(london, london)).toBe(0);
  });

  it('speed takes the accuracy radii off the distance; the same place is never travel', () => {
    const london = geo.locate(TEST_PLACES.london.ip)!;
    const sydney = geo.locate(TEST_PLACES.sydney.ip)!;
    const t = travelBetween({ place: london, at: 0 }, { place: sydney, at: 2 * 3600_000 });
    expect(t.hours).toBe(2);
    expect(t.distanceKm).toBeCloseTo(haversineKm(london, sydney) - 30, 6);
    expect(t.speedKmh).toBeCloseTo(t.distanceKm / 2, 6);
    expect(travelBetween({ place: london, at: 0 }, { place: sydney, at: 0 }).speedKmh).toBe(Infinity);
    expect(travelBetween({ place: london, at: 0 }, { place: { ...london, latitude: 51.6 }, at: 0 }).speedKmh).toBe(0);
  });
});
