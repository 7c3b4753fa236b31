/**
 * A small JSON Schema checker for the settings console: the gateway sends each setting's JSON Schema
 * (shared/api/configuration.ts, made from the one config schema), and the console checks a changed value
 * with it before sending, so a mistake is named next to its field in words instead of as a refused save.
 * It covers what that schema uses — type, enum, const, minimum/maximum (and exclusive), minLength/maxLength,
 * pattern, format uri/date-time, required, properties, additionalProperties, items, minItems/maxItems,
 * uniqueItems, anyOf/oneOf — and the server checks again with the real thing.
 */

export type JsonSchema = {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  [more: string]: unknown;
};

/** One thing wrong with a value: where (the path inside it, "" for the value itself) and what, in words. */
export interface Problem {
  path: string;
  message: string;
}

export interface CheckOptions {
  /**
   * Paths (dot-separated, `*` for any array item) where null is allowed because it stands for "keep the
   * current secret" (ConfigKey.secretPaths), as long as `allowNullSecret(path)` agrees.
   */
  secretPaths?: string[];
  allowNullSecret?: (path: string) => boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The schema without a "…or null" wrapper (`anyOf: [X, {type: null}]`), for choosing a control. */
export function unwrapNullable(s: JsonSchema): JsonSchema {
  const alts = s.anyOf ?? s.oneOf;
  if (!alts) return s;
  const real = alts.filter((a) => a.type !== 'null');
  return real.length === 1 ? { ...real[0], description: s.description ?? real[0]!.description, default: s.default ?? real[0]!.default } : s;
}

/** Whether a path ("0.ClientSecret") matches a secret path pattern ("*.ClientSecret"). */
export function pathMatches(pattern: string, path: string): boolean {
  const a = pattern.split('.');
  const b = path.split('.');
  return a.length === b.length && a.every((p, i) => p === '*' || p === b[i]);
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(t: string, v: unknown): boolean {
  const actual = typeOf(v);
  return t === actual || (t === 'number' && actual === 'integer');
}

const TYPE_WORDS: Record<string, string> = {
  string: 'text',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'on or off',
  array: 'a list',
  object: 'a group of fields',
  null: 'empty',
};

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Canonical JSON (object keys sorted): equal values give equal strings. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    isObject(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]])) : x,
  ) ?? 'undefined';
}

function formatProblem(format: string, s: string): string | null {
  if (format === 'uri' || format === 'url') {
    try {
      new URL(s);
      return null;
    } catch {
      return 'must be a full address like https://example.org';
    }
  }
  if (format === 'date-time') {
    return /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(s) && !Number.isNaN(Date.parse(s))
      ? null
      : 'must be a date and time like 2026-12-31T23:00:00Z';
  }
  return null;
}

function patternOk(pattern: string, s: string): boolean {
  let re: RegExp;
  try {
    re = new RegExp(pattern, 'u');
  } catch {
    try {
      re = new RegExp(pattern);
    } catch {
      return true; // a pattern this browser cannot read: the server still checks
    }
  }
  return re.test(s);
}

/** Everything wrong with `value` under `schema` (an empty list: it is valid). */
export function check(schema: JsonSchema, value: unknown, opts: CheckOptions = {}, path = ''): Problem[] {
  const out: Problem[] = [];
  const add = (message: string, at = path) => out.push({ path: at, message });
  const join = (k: string | number) => (path ? `${path}.${k}` : String(k));

  if (value === null && opts.secretPaths?.some((p) => pathMatches(p, path)) && (opts.allowNullSecret?.(path) ?? true)) return out;

  const alts = schema.anyOf ?? schema.oneOf;
  if (alts) {
    const results = alts.map((a) => check(a, value, opts, path));
    if (results.some((r) => r.length === 0)) return out;
    // Name the problems of the alternative that has the value's type (the usual "X or null" case).
    const fitting = alts.findIndex((a) => !a.type || [a.type].flat().some((t) => typeMatches(t, value)));
    return fitting >= 0 ? results[fitting]! : [{ path, message: 'is not one of the allowed kinds of value' }];
  }

  if (schema.const !== undefined && canonical(schema.const) !== canonical(value)) add(`must be ${JSON.stringify(schema.const)}`);
  if (schema.enum && !schema.enum.some((e) => canonical(e) === canonical(value))) {
    add(`must be one of: ${schema.enum.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).join(', ')}`);
    return out;
  }

  const types = schema.type === undefined ? [] : [schema.type].flat();
  if (types.length && !types.some((t) => typeMatches(t, value))) {
    if (value === undefined || value === null || value === '') add('is required');
    else add(`must be ${types.map((t) => TYPE_WORDS[t] ?? t).join(' or ')}`);
    return out;
  }

  if (typeof value === 'number') {
    if (!Number.isFinite(value)) add('must be a number');
    if (schema.minimum !== undefined && value < schema.minimum) add(`must be at least ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) add(`must be at most ${schema.maximum}`);
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) add(`must be more than ${schema.exclusiveMinimum}`);
    if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) add(`must be less than ${schema.exclusiveMaximum}`);
  }

  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) {
      add(schema.minLength === 1 ? 'must not be empty' : `must be at least ${plural(schema.minLength, 'character')}`);
    }
    if (schema.maxLength !== undefined && value.length > schema.maxLength) add(`must be at most ${plural(schema.maxLength, 'character')}`);
    if (schema.pattern !== undefined && value.length >= (schema.minLength ?? 0) && !patternOk(schema.pattern, value)) {
      add(value === '' ? 'must not be empty' : 'is not in the expected form');
    }
    if (schema.format) {
      const f = formatProblem(schema.format, value);
      if (f) add(f);
    }
  }

  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) add(`needs at least ${plural(schema.minItems, 'entry', 'entries')}`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) add(`has room for at most ${plural(schema.maxItems, 'entry', 'entries')}`);
    if (schema.uniqueItems && new Set(value.map(canonical)).size !== value.length) add('has the same entry twice');
    if (schema.items) value.forEach((item, i) => out.push(...check(schema.items!, item, opts, join(i))));
  }

  if (isObject(value)) {
    const props = schema.properties ?? {};
    for (const r of schema.required ?? []) {
      if (value[r] === undefined && !(opts.secretPaths?.some((p) => pathMatches(p, join(r))) && (opts.allowNullSecret?.(join(r)) ?? true))) {
        add('is required', join(r));
      }
    }
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      const sub = props[k] ?? (isObject(schema.additionalProperties) ? schema.additionalProperties : undefined);
      if (sub) out.push(...check(sub, v, opts, join(k)));
      else if (schema.additionalProperties === false) add(`${k} is not a known field`);
    }
  }
  return out;
}

/** "must be at least 1" → "Must be at least 1." (a sentence next to a field). */
export function sentence(message: string): string {
  const m = message.trim();
  return m.charAt(0).toUpperCase() + m.slice(1) + (/[.!?]$/.test(m) ? '' : '.');
}

/** Which control edits a value of this schema. */
export type Kind = 'boolean' | 'enum' | 'integer' | 'number' | 'string' | 'strings' | 'object' | 'objects' | 'json';

export function kindOf(schema: JsonSchema): Kind {
  const s = unwrapNullable(schema);
  if (s.enum) return 'enum';
  const t = [s.type ?? []].flat().find((x) => x !== 'null');
  switch (t) {
    case 'boolean':
    case 'integer':
    case 'number':
    case 'string':
      return t;
    case 'array': {
      const items = s.items ? unwrapNullable(s.items) : undefined;
      if (items?.type === 'string' || (items?.enum && items.enum.every((e) => typeof e === 'string'))) return 'strings';
      if (items?.type === 'object' && items.properties) return 'objects';
      return 'json';
    }
    case 'object':
      return s.properties ? 'object' : 'json';
    default:
      return 'json';
  }
}

/** A new, empty value of a schema (a new list item's sub-form): its required fields, each empty. */
export function emptyValue(schema: JsonSchema): unknown {
  const s = unwrapNullable(schema);
  if (s.default !== undefined) return structuredClone(s.default);
  switch (kindOf(s)) {
    case 'boolean':
      return false;
    case 'string':
      return '';
    case 'enum':
      return s.enum![0];
    case 'strings':
    case 'objects':
      return [];
    case 'object':
      return Object.fromEntries((s.required ?? []).map((k) => [k, emptyValue(s.properties![k] ?? {})]));
    default:
      return null;
  }
}

/**
 * The number typed in a text field: a number when it reads as one, undefined when empty, else the text
 * itself (so the checker says "must be a number" instead of the field silently keeping its old value).
 */
export function numberFromText(text: string): number | string | undefined {
  const t = text.trim().replace(/^\+/, '');
  if (t === '') return undefined;
  const n = Number(t);
  return /^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t) && Number.isFinite(n) ? n : text;
}

/** A list typed one entry per line: trimmed, empty lines dropped. */
export function linesOf(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
}
