/**
 * The web login page signs in AS jellyfin-web and hands the session to it (JELLYFIN.md §6):
 * - the login request carries jellyfin-web's identity: Client "Jellyfin Web", its device name, and its
 *   DeviceId from localStorage `_deviceId2` (created the way jellyfin-web creates it when absent), so
 *   the session Jellyfin opens is the one jellyfin-web continues, and a trusted-browser cookie (bound to
 *   the DeviceId) matches jellyfin-web's later logins;
 * - the answer is saved where jellyfin-web looks: `jellyfin_credentials` (merged with what is there),
 *   `user-{UserId}-{ServerId}` (the cached UserDto) and `enableAutoLogin`.
 */

import type { PublicServerInfo } from './api.ts';

export type { PublicServerInfo };

export const CLIENT_NAME = 'Jellyfin Web';
export const DEVICE_ID_KEY = '_deviceId2';
export const CREDENTIALS_KEY = 'jellyfin_credentials';
/** jellyfin-web's ConnectionMode.Manual: the address the browser reached the server by. */
export const CONNECTION_MODE_MANUAL = 2;

/** The subset of Storage used here (localStorage in the page, a Map in unit tests). */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** jellyfin-web's generateDeviceId: base64 of "UserAgent|milliseconds", '=' replaced by '1'. */
export function generateDeviceId(userAgent: string, now: number): string {
  const text = `${userAgent}|${now}`;
  // btoa takes Latin-1 only; a user agent never has more, but never throw for one.
  const latin1 = Array.from(new TextEncoder().encode(text), (b) => String.fromCharCode(b)).join('');
  return btoa(latin1).replace(/=/g, '1');
}

/** jellyfin-web's DeviceId for this browser, created and stored as jellyfin-web would if absent. */
export function browserDeviceId(storage: KeyValueStore, userAgent: string, now: number): string {
  const stored = storage.getItem(DEVICE_ID_KEY);
  if (stored && stored.trim()) return stored;
  const id = generateDeviceId(userAgent, now);
  storage.setItem(DEVICE_ID_KEY, id);
  return id;
}

/**
 * A TV's browser, named as the TV: its Chrome-based engine would otherwise make it "Chrome Android",
 * which nobody recognises in a list of devices or on the phone that approves it.
 */
const TV_BROWSERS: Array<[RegExp, string]> = [
  [/Android TV|GoogleTV|Google TV/i, 'Android TV'],
  [/\bAFT[A-Z]/, 'Fire TV'],
  [/CrKey/, 'Chromecast'],
  [/BRAVIA/i, 'Sony TV'],
  [/SMART-TV|SmartTV|HbbTV/i, 'Smart TV'],
];

/**
 * jellyfin-web's getDeviceName: the browser (or TV) family, plus " iPad" / " iPhone" / " Android";
 * other TVs by their platform (TV_BROWSERS).
 */
export function browserDeviceName(ua: string): string {
  let name = 'Web Browser';
  const tv = /Tizen|Web0S|webOS/i.test(ua) ? undefined : TV_BROWSERS.find(([re]) => re.test(ua));
  if (tv) return tv[1];
  if (/Tizen/i.test(ua)) name = 'Samsung Smart TV';
  else if (/Web0S|webOS/i.test(ua)) name = 'LG Smart TV';
  else if (/OPR\/|Opera/i.test(ua) && /TV/i.test(ua)) name = 'Opera TV';
  else if (/Xbox/i.test(ua)) name = 'Xbox One';
  else if (/PlayStation/i.test(ua)) name = 'Sony PS4';
  else if (/Edg\//.test(ua)) name = 'Edge Chromium';
  else if (/OPR\//.test(ua)) name = 'Opera';
  else if (/Chrome\/|CriOS\//.test(ua)) name = 'Chrome';
  else if (/Firefox\/|FxiOS\//.test(ua)) name = 'Firefox';
  else if (/Safari\//.test(ua)) name = 'Safari';
  if (/iPad/.test(ua)) name += ' iPad';
  else if (/iPhone/.test(ua)) name += ' iPhone';
  else if (/Android/.test(ua)) name += ' Android';
  return name;
}

/** A value that cannot break the header's grammar (quotes, commas and "=" delimit its fields). */
function fieldValue(s: string): string {
  return s.replace(/["\\,=\r\n]/g, ' ').trim();
}

/**
 * The `Authorization: MediaBrowser …` header jellyfin-web's login request carries (values as
 * jellyfin-web sends them: not URL-encoded, JELLYFIN.md §6).
 */
export function authorizationHeader(p: { deviceName: string; deviceId: string; version: string; token?: string }): string {
  const fields = [
    `Client="${CLIENT_NAME}"`,
    `Device="${fieldValue(p.deviceName)}"`,
    `DeviceId="${fieldValue(p.deviceId)}"`,
    `Version="${fieldValue(p.version) || '10.11.0'}"`,
  ];
  if (p.token) fields.push(`Token="${fieldValue(p.token)}"`);
  return `MediaBrowser ${fields.join(', ')}`;
}

/** A property read as Jellyfin writes it (PascalCase) or camelCase (a client that asked for it). */
function prop(obj: unknown, name: string): unknown {
  if (!obj || typeof obj !== 'object') return undefined;
  const rec = obj as Record<string, unknown>;
  if (name in rec) return rec[name];
  const camel = name[0]!.toLowerCase() + name.slice(1);
  return rec[camel];
}

function str(obj: unknown, name: string): string | undefined {
  const v = prop(obj, name);
  return typeof v === 'string' && v ? v : undefined;
}

/** What the login page needs from Jellyfin's AuthenticationResult. */
export interface SignedIn {
  accessToken: string;
  userId: string;
  serverId: string;
  userName: string;
  /** The UserDto as Jellyfin sent it (cached for jellyfin-web). */
  user: Record<string, unknown>;
}

/** Read an AuthenticationResult; undefined when it is not one (never store half a session). */
export function readAuthenticationResult(json: unknown): SignedIn | undefined {
  const accessToken = str(json, 'AccessToken');
  const user = prop(json, 'User');
  const userId = str(user, 'Id');
  const serverId = str(json, 'ServerId') ?? str(user, 'ServerId');
  if (!accessToken || !userId || !serverId || !user || typeof user !== 'object') return undefined;
  return { accessToken, userId, serverId, userName: str(user, 'Name') ?? '', user: user as Record<string, unknown> };
}

export interface SavedServer {
  Id: string;
  Name?: string;
  ManualAddress?: string;
  LocalAddress?: string;
  RemoteAddress?: string;
  LastConnectionMode?: number;
  DateLastAccessed?: number;
  UserId?: string | null;
  AccessToken?: string | null;
  [k: string]: unknown;
}

function sameText(a: unknown, b: string): boolean {
  return typeof a === 'string' && a.toLowerCase() === b.toLowerCase();
}

/** The saved credentials, or an empty set when there are none or they cannot be read. */
export function readCredentials(storage: KeyValueStore): { Servers: SavedServer[]; [k: string]: unknown } {
  try {
    const parsed = JSON.parse(storage.getItem(CREDENTIALS_KEY) || '{}') as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const rec = parsed as Record<string, unknown>;
      const servers = Array.isArray(rec.Servers) ? rec.Servers.filter((s): s is SavedServer => !!s && typeof s === 'object') : [];
      return { ...rec, Servers: servers };
    }
  } catch {
    /* unreadable: start over */
  }
  return { Servers: [] };
}

/**
 * Save a signed-in session where jellyfin-web finds it. `address` is the address jellyfin-web uses for
 * this server (its page URL before "/web"): jellyfin-web matches saved servers by address, so an
 * older entry for the same address under another server id would hide this one and is dropped.
 */
export function saveJellyfinSession(
  storage: KeyValueStore,
  p: { session: SignedIn; server: PublicServerInfo; address: string; now: number },
): SavedServer {
  const { session, server, address, now } = p;
  const credentials = readCredentials(storage);
  const others = credentials.Servers.filter(
    (s) =>
      !sameText(s.Id, session.serverId) &&
      !sameText(s.ManualAddress, address) &&
      !sameText(s.LocalAddress, address) &&
      !sameText(s.RemoteAddress, address),
  );
  const existing = credentials.Servers.find((s) => sameText(s.Id, session.serverId));
  const entry: SavedServer = {
    ...(existing ?? {}),
    Id: session.serverId,
    Name: server.ServerName ?? existing?.Name,
    ManualAddress: address,
    LocalAddress: server.LocalAddress ?? existing?.LocalAddress,
    LastConnectionMode: CONNECTION_MODE_MANUAL,
    DateLastAccessed: now,
    UserId: session.userId,
    AccessToken: session.accessToken,
  };
  if (entry.Name === undefined) delete entry.Name;
  if (entry.LocalAddress === undefined) delete entry.LocalAddress;
  storage.setItem(CREDENTIALS_KEY, JSON.stringify({ ...credentials, Servers: [...others, entry] }));
  storage.setItem(`user-${session.userId}-${session.serverId}`, JSON.stringify(session.user));
  storage.setItem('enableAutoLogin', 'true');
  return entry;
}
