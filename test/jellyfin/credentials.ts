/**
 * Jellyfin.Server.Implementations/Security/AuthorizationContext.cs: how a request names its client,
 * device and token. Kept separate from any lookup so the parsing can be tested alone.
 */
import {
  equalsIgnoreCase,
  headerString,
  queryString,
  webUtilityUrlDecode,
  type HeaderBag,
  type QueryBag,
} from './kestrel.ts';

export type JellyfinVersion = '10.10' | '10.11' | '12.0';

/** What the server does with the legacy inputs: 10.10 always honours them, 10.11+ per EnableLegacyAuthorization. */
export interface CredentialRules {
  version: JellyfinVersion;
  enableLegacyAuthorization: boolean;
}

export function legacyOn(rules: CredentialRules): boolean {
  return rules.version === '10.10' || rules.enableLegacyAuthorization;
}

/** .NET string.Trim() on whitespace. */
function dotnetTrim(s: string): string {
  return s.replace(/^\s+|\s+$/g, '');
}

/** ReadOnlySpan.Trim('"'): every leading and trailing double quote, nothing else. */
function trimQuotes(s: string): string {
  return s.replace(/^"+|"+$/g, '');
}

/**
 * AuthorizationContext.GetParts, char for char: ',' outside quotes ends a value, '=' outside quotes
 * starts a new key (so `Token=a=b` stores key "a"), keys are trimmed and case-sensitive, values lose
 * their surrounding quotes (but not spaces) and are WebUtility.UrlDecode-d, the last key wins, and
 * an empty value does not reset the pending key.
 */
export function getParts(header: string): Map<string, string> {
  const result = new Map<string, string>();
  let escaped = false;
  let start = 0;
  let key = '';
  let i: number;
  for (i = 0; i < header.length; i++) {
    const token = header[i]!;
    if (token === '"' || token === ',') {
      // XOR: a quote toggles, a comma leaves the state as it is.
      escaped = !escaped === (token === '"');
      if (token === ',' && !escaped) {
        if (start < i) {
          result.set(key, webUtilityUrlDecode(trimQuotes(header.slice(start, i))));
          key = '';
        }
        start = i + 1;
      }
    } else if (!escaped && token === '=') {
      key = dotnetTrim(header.slice(start, i));
      start = i + 1;
    }
  }
  if (start < i) result.set(key, webUtilityUrlDecode(trimQuotes(header.slice(start, i))));
  return result;
}

/** AuthorizationContext.GetAuthorization: scheme before the first space, then GetParts. */
export function parseAuthorizationHeader(value: string, rules: CredentialRules): Map<string, string> | null {
  const firstSpace = value.indexOf(' ');
  if (firstSpace === -1) return null;
  const name = value.slice(0, firstSpace);
  const valid = equalsIgnoreCase(name, 'MediaBrowser') || (legacyOn(rules) && equalsIgnoreCase(name, 'Emby'));
  if (!valid) return null;
  return getParts(value.slice(firstSpace + 1));
}

function isNullOrEmpty(s: string | undefined): boolean {
  return s === undefined || s === '';
}

export function isNullOrWhiteSpace(s: string | undefined): boolean {
  return s === undefined || /^\s*$/.test(s);
}

/**
 * AuthorizationContext.GetAuthorizationDictionary. 10.10 reads X-Emby-Authorization first and falls
 * back to Authorization; 10.11+ reads Authorization and only when it is EMPTY (and legacy is on)
 * X-Emby-Authorization, so `Authorization: Basic …` hides X-Emby-Authorization. Only the first
 * header value is parsed.
 */
export function authorizationDictionary(headers: HeaderBag, rules: CredentialRules): Map<string, string> | null {
  let values: string[] | undefined;
  if (rules.version === '10.10') {
    values = headers.get('x-emby-authorization');
    if (isNullOrEmpty(values?.join(','))) values = headers.get('authorization');
  } else {
    values = headers.get('authorization');
    if (legacyOn(rules) && isNullOrEmpty(values?.join(','))) values = headers.get('x-emby-authorization');
  }
  return values !== undefined && values.length > 0 ? parseAuthorizationHeader(values[0]!, rules) : null;
}

/** The fields AuthorizationContext reads, before the token is looked up. */
export interface RequestCredentials {
  client?: string;
  device?: string;
  deviceId?: string;
  version?: string;
  token?: string;
}

/**
 * AuthorizationContext.GetAuthorizationInfoFromDictionary, the part that needs no database:
 * first non-empty of header Token, X-Emby-Token*, X-MediaBrowser-Token*, query ApiKey, query
 * api_key* (* = legacy). Header and query names are case-insensitive.
 */
export function readCredentials(headers: HeaderBag, query: QueryBag, rules: CredentialRules): RequestCredentials {
  const auth = authorizationDictionary(headers, rules);
  const creds: RequestCredentials = {};
  if (auth) {
    creds.deviceId = auth.get('DeviceId');
    creds.device = auth.get('Device');
    creds.client = auth.get('Client');
    creds.version = auth.get('Version');
    creds.token = auth.get('Token');
  }
  const legacy = legacyOn(rules);
  if (legacy && isNullOrEmpty(creds.token)) creds.token = headerString(headers, 'X-Emby-Token');
  if (legacy && isNullOrEmpty(creds.token)) creds.token = headerString(headers, 'X-MediaBrowser-Token');
  if (isNullOrEmpty(creds.token)) creds.token = queryString(query, 'ApiKey');
  if (legacy && isNullOrEmpty(creds.token)) creds.token = queryString(query, 'api_key');
  return creds;
}
