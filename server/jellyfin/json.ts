/**
 * Jellyfin answers PascalCase, or camelCase when the client asked for profile="CamelCase", and reads
 * request properties case-insensitively (JELLYFIN.md §2). Every interceptor reads fields through here.
 */
export function field(obj: unknown, name: string): unknown {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return undefined;
  const rec = obj as Record<string, unknown>;
  const lower = name.toLowerCase();
  let found: unknown;
  // ASP.NET's System.Text.Json with case-insensitive matching: the last matching property wins — also over
  // an exact-case one before it ({"Username":"decoy","username":"bob"} is bob at Jellyfin).
  for (const k of Object.keys(rec)) if (k.toLowerCase() === lower) found = rec[k];
  return found;
}

export function stringField(obj: unknown, name: string): string | undefined {
  const v = field(obj, name);
  return typeof v === 'string' ? v : undefined;
}

/** Parse JSON text; undefined when it is not JSON. */
export function tryParseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Ids in JSON answers are read like every other id: server/jellyfin/guid.ts. */
export { canonicalGuid } from './guid.ts';
