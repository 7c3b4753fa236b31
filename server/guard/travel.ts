import maxmind, { type CityResponse, type Reader } from 'maxmind';

/** Where a login came from, as an offline GeoIP database places its address. */
export interface Place {
  latitude: number;
  longitude: number;
  /** The database's uncertainty around the point, in km (GeoIP2 location.accuracy_radius). */
  accuracyKm: number;
  city: string | null;
  /** ISO 3166-1 alpha-2. */
  country: string | null;
}

export interface GeoLocator {
  /** The place of an address, or undefined when the database does not know it (private ranges, gaps). */
  locate(ip: string): Place | undefined;
}

/** GeoIP2 / GeoLite2 City databases give an accuracy radius; this is assumed when one does not. */
const DEFAULT_ACCURACY_KM = 50;

/** An offline MaxMind DB (GeoLite2-City or compatible) read with the `maxmind` reader. */
export class MaxMindLocator implements GeoLocator {
  private constructor(private readonly reader: Reader<CityResponse>) {}

  /** Open the database; throws with a message naming the file when it cannot be read. */
  static async open(file: string): Promise<MaxMindLocator> {
    try {
      return new MaxMindLocator(await maxmind.open<CityResponse>(file, { cache: { max: 10_000 } }));
    } catch (e) {
      throw new Error(`GeoIPDatabasePath: cannot read the MaxMind database ${file}: ${(e as Error).message}`);
    }
  }

  locate(ip: string): Place | undefined {
    if (!maxmind.validate(ip)) return undefined;
    let r: CityResponse | null;
    try {
      r = this.reader.get(ip);
    } catch {
      return undefined;
    }
    const loc = r?.location;
    if (!r || !loc || typeof loc.latitude !== 'number' || typeof loc.longitude !== 'number') return undefined;
    return {
      latitude: loc.latitude,
      longitude: loc.longitude,
      accuracyKm: typeof loc.accuracy_radius === 'number' ? loc.accuracy_radius : DEFAULT_ACCURACY_KM,
      city: r.city?.names?.en ?? null,
      country: r.country?.iso_code ?? null,
    };
  }
}

/** Mean Earth radius (IUGG), km. */
const EARTH_RADIUS_KM = 6371.0088;

/** Great-circle distance by the haversine formula, in km. */
export function haversineKm(a: Pick<Place, 'latitude' | 'longitude'>, b: Pick<Place, 'latitude' | 'longitude'>): number {
  const rad = Math.PI / 180;
  const dLat = (b.latitude - a.latitude) * rad;
  const dLon = (b.longitude - a.longitude) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.latitude * rad) * Math.cos(b.latitude * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

export interface Travel {
  /** Distance between the two places less both accuracy radii (never below 0), km. */
  distanceKm: number;
  hours: number;
  /** km/h; Infinity for a distance covered in no time. */
  speedKmh: number;
}

/**
 * How fast someone would have had to travel between two logins. The places' accuracy radii are taken
 * off the distance first, so two logins in one metropolitan area are never "travel".
 */
export function travelBetween(from: { place: Place; at: number }, to: { place: Place; at: number }): Travel {
  const distanceKm = Math.max(0, haversineKm(from.place, to.place) - from.place.accuracyKm - to.place.accuracyKm);
  const hours = Math.max(0, to.at - from.at) / 3_600_000;
  const speedKmh = distanceKm === 0 ? 0 : hours === 0 ? Number.POSITIVE_INFINITY : distanceKm / hours;
  return { distanceKm, hours, speedKmh };
}
