import { lookup } from 'node:dns/promises';
import net from 'node:net';
import maxmind from 'maxmind';
import nodemailer from 'nodemailer';
import type { Config } from '../config/index.ts';
import { CidrList } from '../net/cidr.ts';
import { mediaBrowserHeader } from '../jellyfin/upstream.ts';
import { vapidSubject } from '../push/index.ts';
import { checkDataDir } from '../store/data-dir.ts';

/**
 * The doctor's checks (`jellyguard doctor`): each looks at one thing a deployment gets wrong and says what
 * it found and how to fix it. `fail` means unsafe or broken (the command exits 1), `warn` means worth a
 * look, `skip` means it could not be checked (and why).
 */
export type Status = 'ok' | 'warn' | 'fail' | 'skip';

export interface Finding {
  id: string;
  title: string;
  status: Status;
  detail: string;
  fix?: string;
}

export interface DoctorContext {
  config: Config;
  dataDir: string;
  now: () => number;
  /** Each HTTP call and connection gives up after this long. */
  timeoutMs: number;
}

/** What the first calls learn, for the checks after them. */
interface Facts {
  jellyfin?: { version: string; name: string; dateSkewMs?: number };
  apiKeyWorks?: boolean;
  network?: Record<string, unknown>;
}

interface JellyfinAnswer {
  status: number;
  json: unknown;
  date: string | null;
  sentAt: number;
  receivedAt: number;
}

async function callJellyfin(ctx: DoctorContext, path: string, token?: string): Promise<JellyfinAnswer> {
  const sentAt = ctx.now();
  const res = await fetch(`${ctx.config.JellyfinUrl}${ctx.config.BaseUrl}${path}`, {
    headers: { authorization: mediaBrowserHeader(token), accept: 'application/json' },
    signal: AbortSignal.timeout(ctx.timeoutMs),
    redirect: 'manual',
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, date: res.headers.get('date'), sentAt, receivedAt: ctx.now() };
}

const field = (o: unknown, name: string): unknown =>
  o && typeof o === 'object' ? (o as Record<string, unknown>)[name] ?? (o as Record<string, unknown>)[name[0]!.toLowerCase() + name.slice(1)] : undefined;

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

const isLoopbackHost = (host: string): boolean => {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || h.startsWith('127.');
};

const unmapped = (ip: string): string => (ip.toLowerCase().startsWith('::ffff:') ? ip.slice(7) : ip);

// ---------------------------------------------------------------------------------------------------

function dataDirectory(ctx: DoctorContext): Finding {
  const title = 'Data directory';
  try {
    checkDataDir(ctx.dataDir);
    return { id: 'data-dir', title, status: 'ok', detail: `${ctx.dataDir} is writable` };
  } catch (e) {
    return { id: 'data-dir', title, status: 'fail', detail: (e as Error).message, fix: 'Give JELLYGUARD_DATA_DIR a writable directory owned by the gateway\'s user.' };
  }
}

async function jellyfinReachable(ctx: DoctorContext, facts: Facts): Promise<Finding> {
  const title = 'Jellyfin reachable';
  const where = `${ctx.config.JellyfinUrl}${ctx.config.BaseUrl}`;
  let res: JellyfinAnswer;
  try {
    res = await callJellyfin(ctx, '/System/Info/Public');
  } catch (e) {
    return {
      id: 'jellyfin', title, status: 'fail',
      detail: `no answer from ${where}: ${(e as Error).message}`,
      fix: 'Set JELLYFIN_URL to the address the gateway reaches Jellyfin at (e.g. http://127.0.0.1:8096 or http://jellyfin:8096 in Docker), and BaseUrl if Jellyfin has one.',
    };
  }
  const product = field(res.json, 'ProductName');
  const version = field(res.json, 'Version');
  if (res.status !== 200 || typeof version !== 'string') {
    return {
      id: 'jellyfin', title, status: 'fail',
      detail: `${where}/System/Info/Public answered ${res.status}${product ? '' : ', not as Jellyfin does'}`,
      fix: 'Check JELLYFIN_URL and BaseUrl (Dashboard → Networking → Base URL).',
    };
  }
  const dateMs = res.date ? Date.parse(res.date) : NaN;
  facts.jellyfin = {
    version,
    name: typeof field(res.json, 'ServerName') === 'string' ? (field(res.json, 'ServerName') as string) : '',
    ...(Number.isFinite(dateMs) ? { dateSkewMs: dateMs - (res.sentAt + res.receivedAt) / 2 } : {}),
  };
  const [major = 0, minor = 0] = version.split('.').map((n) => Number.parseInt(n, 10));
  if (major < 10 || (major === 10 && minor < 10)) {
    return {
      id: 'jellyfin', title, status: 'warn',
      detail: `Jellyfin ${version} answers at ${where}; the gateway is built for 10.10, 10.11 and 12.0`,
      fix: 'Upgrade Jellyfin to 10.10 or newer.',
    };
  }
  return { id: 'jellyfin', title, status: 'ok', detail: `Jellyfin ${version}${facts.jellyfin.name ? ` ("${facts.jellyfin.name}")` : ''} answers at ${where}` };
}

async function apiKey(ctx: DoctorContext, facts: Facts): Promise<Finding> {
  const title = 'API key';
  const key = ctx.config.JellyfinApiKey;
  if (!key) {
    return {
      id: 'api-key', title, status: 'warn',
      detail: 'JELLYFIN_API_KEY is not set: other apps\' API keys (Sonarr, Radarr…) are refused, TV pairing and sign-in by phone cannot work, and most checks below are skipped',
      fix: 'Create a key in Jellyfin (Dashboard → API Keys → +, e.g. "Jellyguard") and set JELLYFIN_API_KEY.',
    };
  }
  if (!facts.jellyfin) return { id: 'api-key', title, status: 'skip', detail: 'Jellyfin cannot be reached' };
  const me = await callJellyfin(ctx, '/Users/Me', key);
  if (me.status === 200) {
    return {
      id: 'api-key', title, status: 'fail',
      detail: 'JELLYFIN_API_KEY is a user\'s session token, not an API key: it dies when that session signs out, and it carries that user\'s rights',
      fix: 'Create an API key (Dashboard → API Keys) and use it instead.',
    };
  }
  if (me.status === 401 || me.status === 403) {
    return { id: 'api-key', title, status: 'fail', detail: `Jellyfin refuses JELLYFIN_API_KEY (${me.status})`, fix: 'The key was deleted or mistyped: create a new one (Dashboard → API Keys).' };
  }
  const keys = await callJellyfin(ctx, '/Auth/Keys', key);
  if (keys.status !== 200) {
    return {
      id: 'api-key', title, status: 'fail',
      detail: `the key is valid but may not list API keys (GET /Auth/Keys answered ${keys.status}): it is not an administrator's`,
      fix: 'Use an API key from Dashboard → API Keys (those have administrator rights).',
    };
  }
  facts.apiKeyWorks = true;
  return { id: 'api-key', title, status: 'ok', detail: 'JELLYFIN_API_KEY is a valid API key with administrator rights' };
}

async function quickConnect(ctx: DoctorContext, facts: Facts): Promise<Finding> {
  const title = 'Quick Connect';
  if (!facts.jellyfin) return { id: 'quick-connect', title, status: 'skip', detail: 'Jellyfin cannot be reached' };
  const res = await callJellyfin(ctx, '/QuickConnect/Enabled');
  if (res.status === 200 && res.json === true) return { id: 'quick-connect', title, status: 'ok', detail: 'Quick Connect is enabled' };
  return {
    id: 'quick-connect', title, status: 'warn',
    detail: 'Quick Connect is off in Jellyfin: TV pairing from the phone, passkey and phone sign-in and SSO cannot open Jellyfin sessions',
    fix: 'Jellyfin Dashboard → General → Quick Connect: enable it.',
  };
}

/** The address Jellyfin sees the gateway's connections come from: the local end of a connection to it. */
async function gatewayAddressSeenByJellyfin(ctx: DoctorContext): Promise<string> {
  const u = new URL(ctx.config.JellyfinUrl);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('connection timed out'));
    }, ctx.timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      const address = socket.localAddress ?? '';
      socket.destroy();
      resolve(unmapped(address));
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

async function networkConfiguration(ctx: DoctorContext, facts: Facts): Promise<Record<string, unknown> | undefined> {
  if (facts.network) return facts.network;
  if (!facts.apiKeyWorks) return undefined;
  const res = await callJellyfin(ctx, '/System/Configuration/network', ctx.config.JellyfinApiKey);
  if (res.status === 200 && res.json && typeof res.json === 'object') facts.network = res.json as Record<string, unknown>;
  return facts.network;
}

async function knownProxies(ctx: DoctorContext, facts: Facts): Promise<Finding> {
  const title = 'Gateway in Known proxies';
  const networkCfg = await networkConfiguration(ctx, facts);
  if (!networkCfg) return { id: 'known-proxies', title, status: 'skip', detail: 'needs a working API key to read Jellyfin\'s network configuration' };
  const me = await gatewayAddressSeenByJellyfin(ctx);
  const entries = strings(field(networkCfg, 'KnownProxies')).map((s) => s.trim()).filter(Boolean);
  for (const entry of entries) {
    if (unmapped(entry) === me) return { id: 'known-proxies', title, status: 'ok', detail: `Jellyfin's Known proxies list the gateway's address ${me}` };
    if (entry.includes('/')) {
      try {
        if (new CidrList([entry]).contains(me)) return { id: 'known-proxies', title, status: 'ok', detail: `Jellyfin's Known proxies include ${entry}, which holds the gateway's address ${me}` };
      } catch {
        // not a network: maybe a host name
      }
      continue;
    }
    if (net.isIP(entry) === 0) {
      const addresses = await lookup(entry, { all: true }).catch(() => []);
      if (addresses.some((a) => unmapped(a.address) === me)) {
        return { id: 'known-proxies', title, status: 'ok', detail: `Jellyfin's Known proxies include ${entry} (${me})` };
      }
    }
  }
  return {
    id: 'known-proxies', title, status: 'fail',
    detail: `Jellyfin's Known proxies (${entries.length ? entries.join(', ') : 'none'}) do not include the gateway's address ${me}: Jellyfin ignores the X-Forwarded-For the gateway sends and sees every client as ${me}, so its own local-network rules (remote access, local passwords) treat the internet as the gateway's network`,
    fix: `Jellyfin Dashboard → Networking → Known proxies: add ${me}, save, restart Jellyfin.`,
  };
}

async function lockout(ctx: DoctorContext, facts: Facts): Promise<Finding> {
  const title = 'Jellyfin\'s own lockout';
  const { config } = ctx;
  if (!config.BruteForceEnabled) {
    return {
      id: 'lockout', title, status: 'warn',
      detail: 'BruteForceEnabled is off: the gateway counts no failures, so password guessing reaches Jellyfin, whose lockout disables accounts until an admin acts',
      fix: 'Turn BruteForceEnabled back on.',
    };
  }
  if (!facts.apiKeyWorks) return { id: 'lockout', title, status: 'skip', detail: 'needs a working API key to read users\' policies' };
  const res = await callJellyfin(ctx, '/Users', config.JellyfinApiKey);
  if (res.status !== 200 || !Array.isArray(res.json)) return { id: 'lockout', title, status: 'skip', detail: `GET /Users answered ${res.status}` };
  const tooLow: string[] = [];
  const reachable: string[] = [];
  for (const user of res.json as unknown[]) {
    const name = String(field(user, 'Name') ?? '?');
    const limit = Number(field(field(user, 'Policy'), 'LoginAttemptsBeforeLockout'));
    // -1 (or unset): Jellyfin never disables the account for failures.
    if (!Number.isFinite(limit) || limit <= 0) continue;
    if (limit <= config.MaxFailedAttempts) tooLow.push(`${name} (${limit})`);
    else if (config.PermanentBanThreshold === 0 || limit <= config.PermanentBanThreshold) reachable.push(`${name} (${limit})`);
  }
  if (tooLow.length) {
    return {
      id: 'lockout', title, status: 'fail',
      detail: `Jellyfin disables these accounts after no more failed sign-ins than MaxFailedAttempts (${config.MaxFailedAttempts}) lets through: ${tooLow.join(', ')}. A stranger guessing passwords disables them before the gateway bans him`,
      fix: `For each, Dashboard → Users → the user → "Maximum number of failed login attempts before user is locked out": -1 (never; the gateway's bans protect the account) or more than ${config.PermanentBanThreshold || config.MaxFailedAttempts}.`,
    };
  }
  if (reachable.length) {
    return {
      id: 'lockout', title, status: 'warn',
      detail: `these accounts lock out after fewer failures than a patient guesser gets across several bans (PermanentBanThreshold ${config.PermanentBanThreshold || 'off'}): ${reachable.join(', ')}`,
      fix: `Set their "Maximum number of failed login attempts" to -1 or above PermanentBanThreshold.`,
    };
  }
  return { id: 'lockout', title, status: 'ok', detail: `no account locks out at Jellyfin before the gateway's bans (MaxFailedAttempts ${config.MaxFailedAttempts})` };
}

async function bypass(ctx: DoctorContext, facts: Facts): Promise<Finding> {
  const title = 'Ways around the gateway';
  const networkCfg = await networkConfiguration(ctx, facts);
  if (!networkCfg) return { id: 'bypass', title, status: 'skip', detail: 'needs a working API key to read Jellyfin\'s network configuration' };
  const upstream = new URL(ctx.config.JellyfinUrl);
  const upstreamPort = upstream.port || (upstream.protocol === 'https:' ? '443' : '80');
  const publicOrigin = ctx.config.PublicUrl ? new URL(ctx.config.PublicUrl).origin : undefined;
  const unsafe: string[] = [];
  const fixes: string[] = [];
  const notes: string[] = [];

  const binds = strings(field(networkCfg, 'LocalNetworkAddresses')).map((s) => s.trim()).filter(Boolean);
  const everywhere = binds.length === 0 || binds.some((b) => b === '0.0.0.0' || b === '::' || b === '[::]');
  if (everywhere) {
    if (isLoopbackHost(upstream.hostname)) {
      unsafe.push(`Jellyfin listens on every network interface (no bind address), so anyone on the network reaches it on port ${upstreamPort} without the gateway`);
      fixes.push('Dashboard → Networking → "Bind to local network address": 127.0.0.1, then restart Jellyfin (or block its port in the firewall).');
    } else {
      notes.push(`Jellyfin listens on every interface of its host: make sure only the gateway can reach port ${upstreamPort} (Docker: no "ports:" on the jellyfin service, an internal network; otherwise a firewall)`);
    }
  }

  for (const entry of strings(field(networkCfg, 'PublishedServerUriBySubnet'))) {
    const eq = entry.indexOf('=');
    const subnet = eq === -1 ? 'all' : entry.slice(0, eq).trim();
    const uri = (eq === -1 ? entry : entry.slice(eq + 1)).trim();
    let u: URL;
    try {
      u = new URL(/^[a-z]+:\/\//i.test(uri) ? uri : `http://${uri}`);
    } catch {
      notes.push(`the published server URL "${entry}" cannot be read`);
      continue;
    }
    if (publicOrigin && u.origin === publicOrigin) continue;
    const port = u.port || (u.protocol === 'https:' ? '443' : '80');
    if (port === upstreamPort || port === String(field(networkCfg, 'InternalHttpPort')) || port === String(field(networkCfg, 'PublicHttpPort'))) {
      unsafe.push(`Jellyfin tells clients in "${subnet}" to connect to ${uri}, which is Jellyfin itself, not the gateway`);
      fixes.push(`Dashboard → Networking → "Published server URIs": publish the gateway's address (${publicOrigin ?? 'its public URL'}) instead.`);
    } else if (port !== String(ctx.config.Port)) {
      notes.push(`Jellyfin publishes ${uri} for "${subnet}": make sure it leads to the gateway`);
    }
  }

  if (field(networkCfg, 'AutoDiscovery') === true) {
    const publishesGateway = strings(field(networkCfg, 'PublishedServerUriBySubnet')).some((e) => publicOrigin !== undefined && e.includes(publicOrigin));
    if (!publishesGateway) {
      notes.push('Jellyfin answers LAN auto-discovery (UDP 7359) with its own address, so apps on the LAN may find Jellyfin rather than the gateway');
      fixes.push('Dashboard → Networking: turn off "Enable Auto Discovery", or publish the gateway\'s URL for all subnets.');
    }
  }

  if (unsafe.length) return { id: 'bypass', title, status: 'fail', detail: [...unsafe, ...notes].join('; '), fix: fixes.join(' ') };
  if (notes.length) return { id: 'bypass', title, status: 'warn', detail: notes.join('; '), ...(fixes.length ? { fix: fixes.join(' ') } : {}) };
  return { id: 'bypass', title, status: 'ok', detail: `Jellyfin is bound to ${binds.join(', ')} and publishes no address of its own` };
}

function publicUrl(ctx: DoctorContext): Finding {
  const title = 'Public URL (passkeys, push)';
  const value = ctx.config.PublicUrl;
  if (!value) {
    return {
      id: 'public-url', title, status: 'warn',
      detail: 'JELLYGUARD_PUBLIC_URL is not set: passkeys are bound to whatever host name each request names, and pushes and e-mails carry no link you chose',
      fix: 'Set JELLYGUARD_PUBLIC_URL to the https address people use, e.g. https://jellyfin.example.org.',
    };
  }
  const u = new URL(value);
  if (u.protocol !== 'https:' && !isLoopbackHost(u.hostname)) {
    return {
      id: 'public-url', title, status: 'fail',
      detail: `${value} is not https: browsers allow passkeys, the Authenticator app and push notifications only on https (or localhost)`,
      fix: 'Put a TLS terminator in front (deploy/compose.yaml has Caddy) and set JELLYGUARD_PUBLIC_URL to its https address.',
    };
  }
  return { id: 'public-url', title, status: 'ok', detail: `${u.origin}` };
}

function vapid(ctx: DoctorContext): Finding {
  const title = 'Push (VAPID subject)';
  if (!ctx.config.PushEnabled) return { id: 'vapid', title, status: 'skip', detail: 'PushEnabled is off' };
  const { subject, fallback } = vapidSubject(ctx.config.VapidSubject, ctx.config.PublicUrl);
  if (fallback) {
    return {
      id: 'vapid', title, status: 'warn',
      detail: `no VapidSubject and no https PublicUrl: pushes are signed with the placeholder ${subject}, which Apple's push service refuses (iPhones get no approvals)`,
      fix: 'Set VapidSubject: "mailto:you@example.org" (a real address of yours) or an https PublicUrl.',
    };
  }
  if (/@(localhost|example\.(com|org|net))$/i.test(subject) || /^https:\/\/(localhost|127\.)/i.test(subject)) {
    return { id: 'vapid', title, status: 'warn', detail: `the VAPID subject ${subject} is not a real contact; Apple's push service refuses such subjects`, fix: 'Set VapidSubject to a mailto: address or https URL of yours.' };
  }
  return { id: 'vapid', title, status: 'ok', detail: `pushes are signed with subject ${subject}` };
}

async function smtp(ctx: DoctorContext): Promise<Finding> {
  const title = 'E-mail (SMTP)';
  const { config } = ctx;
  const needed = config.EmailOTPEnabled || config.AdminEmailAlerts;
  if (!config.SMTP) {
    if (!needed) return { id: 'smtp', title, status: 'skip', detail: 'no SMTP server configured and no e-mail feature on' };
    return {
      id: 'smtp', title, status: 'fail',
      detail: `${config.EmailOTPEnabled ? 'EmailOTPEnabled' : 'AdminEmailAlerts'} is on but no SMTP server is configured: no e-mail can be sent`,
      fix: 'Add SMTP: {Host, Port, Username, Password, From} to the configuration.',
    };
  }
  const s = config.SMTP;
  const transport = nodemailer.createTransport({
    host: s.Host,
    port: s.Port,
    secure: s.Secure,
    auth: s.Username ? { user: s.Username, pass: s.Password ?? '' } : undefined,
    connectionTimeout: ctx.timeoutMs,
    greetingTimeout: ctx.timeoutMs,
    socketTimeout: ctx.timeoutMs,
  });
  try {
    await transport.verify();
    return { id: 'smtp', title, status: 'ok', detail: `${s.Host}:${s.Port} accepts ${s.Username ? `the login of ${s.Username}` : 'connections'}` };
  } catch (e) {
    const err = e as { code?: string; message?: string };
    return {
      id: 'smtp', title, status: needed ? 'fail' : 'warn',
      detail: `${s.Host}:${s.Port}: ${err.code ? `${err.code}: ` : ''}${(err.message ?? '').split('\n')[0]}`,
      fix: err.code === 'EAUTH' ? 'Check SMTP.Username and SMTP.Password (many providers want an app password).' : 'Check SMTP.Host, SMTP.Port and SMTP.Secure (465 wants Secure: true).',
    };
  } finally {
    transport.close();
  }
}

async function geoip(ctx: DoctorContext): Promise<Finding> {
  const title = 'GeoIP database';
  const file = ctx.config.GeoIPDatabasePath;
  if (!file) {
    if (ctx.config.ImpossibleTravelEnabled) {
      return { id: 'geoip', title, status: 'fail', detail: 'ImpossibleTravelEnabled is on but GeoIPDatabasePath is not set', fix: 'Download GeoLite2-City.mmdb (free MaxMind account) and set GeoIPDatabasePath.' };
    }
    return { id: 'geoip', title, status: 'skip', detail: 'no GeoIP database configured (impossible travel is off)' };
  }
  try {
    const reader = await maxmind.open(file);
    const built = reader.metadata.buildEpoch.getTime();
    const days = Math.floor((ctx.now() - built) / 86_400_000);
    if (days > 60) {
      return {
        id: 'geoip', title, status: 'warn',
        detail: `${file} was built ${days} days ago: addresses move between networks, and places shown in approvals drift`,
        fix: 'Update it monthly (MaxMind\'s geoipupdate, or a fresh download).',
      };
    }
    return { id: 'geoip', title, status: 'ok', detail: `${file} (${reader.metadata.databaseType}, built ${days} days ago)` };
  } catch (e) {
    return { id: 'geoip', title, status: ctx.config.ImpossibleTravelEnabled ? 'fail' : 'warn', detail: `${file} cannot be read: ${(e as Error).message}`, fix: 'Point GeoIPDatabasePath at a GeoLite2-City.mmdb file.' };
  }
}

function clock(ctx: DoctorContext, facts: Facts): Finding {
  const title = 'Clock (TOTP)';
  const skewMs = facts.jellyfin?.dateSkewMs;
  if (skewMs === undefined) return { id: 'clock', title, status: 'skip', detail: 'Jellyfin sent no Date header to compare with' };
  const seconds = Math.round(Math.abs(skewMs) / 1000);
  const allowed = ctx.config.TOTPTimeSkew * 30;
  // The Date header has whole seconds: a couple of seconds apart is the same time.
  if (seconds <= 2) return { id: 'clock', title, status: 'ok', detail: 'this machine\'s clock agrees with Jellyfin\'s' };
  const which = skewMs > 0 ? 'behind' : 'ahead of';
  const detail = `this machine's clock is about ${seconds} s ${which} Jellyfin's: one of them is wrong, and authenticator codes are checked against this one (±${allowed} s accepted)`;
  const fix = 'Run NTP on both machines (systemd-timesyncd or chrony), or fix the host clock the containers share.';
  return { id: 'clock', title, status: seconds > allowed ? 'fail' : 'warn', detail, fix };
}

/** Every check, in the order they are printed. */
export async function runChecks(ctx: DoctorContext): Promise<Finding[]> {
  const facts: Facts = {};
  const guard = async (id: string, title: string, check: () => Promise<Finding> | Finding): Promise<Finding> => {
    try {
      return await check();
    } catch (e) {
      return { id, title, status: 'fail', detail: `the check itself failed: ${(e as Error).message}` };
    }
  };
  const out: Finding[] = [];
  out.push(await guard('data-dir', 'Data directory', () => dataDirectory(ctx)));
  out.push(await guard('jellyfin', 'Jellyfin reachable', () => jellyfinReachable(ctx, facts)));
  out.push(await guard('api-key', 'API key', () => apiKey(ctx, facts)));
  out.push(await guard('quick-connect', 'Quick Connect', () => quickConnect(ctx, facts)));
  out.push(await guard('known-proxies', 'Gateway in Known proxies', () => knownProxies(ctx, facts)));
  out.push(await guard('lockout', "Jellyfin's own lockout", () => lockout(ctx, facts)));
  out.push(await guard('bypass', 'Ways around the gateway', () => bypass(ctx, facts)));
  out.push(await guard('public-url', 'Public URL (passkeys, push)', () => publicUrl(ctx)));
  out.push(await guard('vapid', 'Push (VAPID subject)', () => vapid(ctx)));
  out.push(await guard('smtp', 'E-mail (SMTP)', () => smtp(ctx)));
  out.push(await guard('geoip', 'GeoIP database', () => geoip(ctx)));
  out.push(await guard('clock', 'Clock (TOTP)', () => clock(ctx, facts)));
  return out;
}
