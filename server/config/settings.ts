import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { ConfigKey, ConfigSource, ConfigurationSaved, ConfigurationView } from '../../shared/api/configuration.ts';
import type { AuditSink } from '../audit/event.ts';
import { apiError } from '../errors.ts';
import {
  ConfigError,
  checkConfig,
  combinationProblems,
  effectiveInput,
  environmentKeys,
  type ConfigOrigin,
  type ConfigProblem,
} from './index.ts';
import { CONFIG_KEYS, configSchema, settingMeta, type Config, type ConfigKeyName } from './schema.ts';
import { changeYaml, writeFileAtomic } from './yaml-file.ts';

/**
 * The gateway's own settings as an administrator sees and changes them (GET/POST Configuration,
 * shared/api/configuration.ts).
 *
 * A change is validated whole with the one schema, on what the next start will read (the file as it is
 * now, the change, the environment over both), and refused whole when one value is wrong: nothing is
 * written then. Otherwise the file is rewritten atomically, keeping the admin's comments and order
 * (yaml-file.ts). Keys marked `live` in the schema are read where they are used, so they are applied to
 * the running configuration object at once; the others wait for a restart (`pendingRestart`).
 * Secrets never leave: a secret's value is null in the view, a secret field inside a value too.
 * One change at a time: a second POST waits for the first to be written.
 */

export interface SettingsDeps {
  /** The running configuration: live keys are changed on this very object. */
  config: Config;
  /** Where the configuration came from (loadConfig); a gateway built in code has none. */
  origin?: ConfigOrigin;
  dataDir: string;
  audit: AuditSink;
}

/** Who changes the settings (for the audit log). */
export interface SettingsActor {
  userId: string;
  userName?: string | null;
  ip?: string | null;
}

const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

type Segment = string | number;

/** Every string inside a value with its path. */
function* strings(value: unknown, at: Segment[] = []): Generator<[Segment[], string]> {
  if (typeof value === 'string') yield [at, value];
  else if (Array.isArray(value)) for (const [i, v] of value.entries()) yield* strings(v, [...at, i]);
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) yield* strings(v, [...at, k]);
}

/** Whether a path inside a value is one of its secret fields ("Password", "*.ClientSecret"). */
function isSecretPath(at: Segment[], secretPaths: readonly string[]): boolean {
  return secretPaths.some((p) => {
    const parts = p.split('.');
    return parts.length === at.length && parts.every((s, i) => (s === '*' ? typeof at[i] === 'number' : s === at[i]));
  });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A copy with every secret field (secretPaths) set to null where it has a value. */
export function redactSecrets(value: unknown, secretPaths: readonly string[]): unknown {
  const copy = structuredClone(value);
  for (const p of secretPaths) {
    const walk = (node: unknown, parts: string[]): void => {
      const [head, ...rest] = parts;
      if (head === '*') {
        if (Array.isArray(node)) for (const item of node) walk(item, rest);
      } else if (isObject(node) && head !== undefined && head in node) {
        if (rest.length === 0) node[head] = null;
        else walk(node[head], rest);
      }
    };
    walk(copy, p.split('.'));
  }
  return copy;
}

/**
 * The fields that say where a secret is sent (an identity provider's Authority, a mail server's Host and
 * TLS). A kept secret stays with its destination: otherwise an administrator's session — or a thief
 * holding one proof — could point the provider or the mail server elsewhere and receive the secret it
 * never saw.
 */
const SECRET_DESTINATION = ['Authority', 'Host', 'Secure'] as const;

/**
 * The posted value with each secret field the console left null (or out) taken from the current value, so
 * sending back what GET showed changes nothing secret. List items are matched by `Id` when they have one
 * (a new provider never inherits another's secret), otherwise by position. A secret is kept only while
 * its destination (SECRET_DESTINATION) is unchanged; otherwise the 400 asks for it again, naming `key`.
 */
export function keepSecrets(posted: unknown, current: unknown, secretPaths: readonly string[], key = 'value'): unknown {
  const out = structuredClone(posted);
  for (const p of secretPaths) {
    const walk = (mine: unknown, theirs: unknown, parts: string[]): void => {
      const [head, ...rest] = parts;
      if (head === '*') {
        if (!Array.isArray(mine)) return;
        const old = Array.isArray(theirs) ? theirs : [];
        mine.forEach((item, i) => {
          const id = isObject(item) && typeof item.Id === 'string' ? item.Id : undefined;
          const match = id !== undefined ? old.find((o) => isObject(o) && o.Id === id) : old[i];
          walk(item, match, rest);
        });
      } else if (isObject(mine) && head !== undefined) {
        if (rest.length > 0) return walk(mine[head], isObject(theirs) ? theirs[head] : undefined, rest);
        if (mine[head] !== null && mine[head] !== undefined) return;
        const kept = isObject(theirs) ? theirs[head] : undefined;
        if (kept === undefined || kept === null) return void delete mine[head];
        const moved = SECRET_DESTINATION.find((f) => (f in mine || f in (theirs as object)) && !same(mine[f], (theirs as Record<string, unknown>)[f]));
        if (moved) {
          throw apiError('invalid_configuration', {
            message: `${key}: ${moved} changed, so enter ${head} again (a kept secret never goes to a new ${moved === 'Authority' ? 'provider' : 'server'}). Nothing was changed.`,
            detail: { key, path: head, problems: [{ key, path: head, message: `${moved} changed: enter ${head} again` }] },
          });
        }
        mine[head] = kept;
      }
    };
    walk(out, current, p.split('.'));
  }
  return out;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** A key's JSON Schema for the console's checks before submit: the schema's own, without our flags. */
function jsonSchemaOf(key: ConfigKeyName): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema.shape[key], { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  for (const flag of ['$schema', 'group', 'live', 'secret', 'secretPaths']) delete schema[flag];
  return schema;
}

export class Settings {
  private readonly origin: ConfigOrigin;
  private readonly env: Partial<Record<ConfigKeyName, string>>;
  /** The file's mapping as last read or written (before `${NAME}`). */
  private fileValues: Record<string, unknown>;
  /** What the next start will run with: the running values, then every saved change. */
  private readonly configured: Config;
  /** The values the gateway started with, to tell which saved changes still wait for a restart. */
  private readonly started: Config;
  private readonly schemas = new Map<ConfigKeyName, Record<string, unknown>>();
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: SettingsDeps) {
    this.origin = deps.origin ?? { file: undefined, writeTo: path.join(deps.dataDir, 'config.yaml'), fileValues: {}, env: {} };
    this.env = environmentKeys(this.origin.env);
    this.fileValues = structuredClone(this.origin.fileValues);
    this.configured = structuredClone(deps.config);
    this.started = structuredClone(deps.config);
  }

  /** The file changes are written to. */
  get file(): string {
    return this.origin.writeTo;
  }

  /** Why a key cannot be changed here, or null. */
  readOnlyReason(key: ConfigKeyName): string | null {
    const variable = this.env[key];
    if (variable) return `Set by the environment variable ${variable}: change it there and restart the gateway.`;
    const { secretPaths = [] } = settingMeta(key);
    const names = new Set<string>();
    for (const [at, s] of strings(this.fileValues[key])) {
      if (isSecretPath(at, secretPaths)) continue; // kept as written when the console leaves it null
      for (const m of s.matchAll(ENV_REFERENCE)) names.add(m[1]!);
    }
    if (names.size === 0) return null;
    const list = [...names].join(', ');
    return `The configuration file takes it from the environment (\${${list}}): change it in the file or the environment.`;
  }

  private sourceOf(key: ConfigKeyName): ConfigSource {
    if (this.env[key]) return 'environment';
    return Object.hasOwn(this.fileValues, key) ? 'file' : 'default';
  }

  private schemaOf(key: ConfigKeyName): Record<string, unknown> {
    let s = this.schemas.get(key);
    if (!s) this.schemas.set(key, (s = jsonSchemaOf(key)));
    return s;
  }

  private pendingRestart(): ConfigKeyName[] {
    return CONFIG_KEYS.filter((k) => !settingMeta(k).live && !same(this.configured[k], this.started[k]));
  }

  /** Every key with its value (secrets redacted), where it came from, and whether it can be changed here. */
  view(): ConfigurationView {
    const keys = CONFIG_KEYS.map((key): ConfigKey => {
      const meta = settingMeta(key);
      const value = this.configured[key];
      const reason = this.readOnlyReason(key);
      const secretPaths = meta.secretPaths ?? [];
      return {
        key,
        group: meta.group,
        description: meta.description,
        value: meta.secret || value === undefined ? null : secretPaths.length ? redactSecrets(value, secretPaths) : value,
        source: this.sourceOf(key),
        secret: meta.secret === true,
        secretPaths,
        isSet: value !== undefined,
        readOnly: reason !== null,
        readOnlyReason: reason,
        restartRequired: !meta.live,
        schema: this.schemaOf(key),
      };
    });
    return { file: this.origin.file ?? (existsSync(this.origin.writeTo) ? this.origin.writeTo : null), keys, pendingRestart: this.pendingRestart() };
  }

  /**
   * What a change changes, for its proof (the step-up target, and so the label the phone shows): the posted
   * keys whose value differs from what GET shows (a secret named at all counts), sorted. A proof for one set
   * of keys cannot change another (lower StepUpLevel, add a LAN bypass…). Null when nothing changes.
   */
  changedKeys(values: Record<string, unknown>): string | null {
    const shown = new Map(this.view().keys.map((k) => [k.key as string, k.value]));
    const changed = Object.keys(values)
      .filter((k) => (CONFIG_KEYS as string[]).includes(k))
      .filter((k) => settingMeta(k as ConfigKeyName).secret || !same(values[k] ?? null, shown.get(k) ?? null))
      .sort();
    return changed.length ? changed.join(', ') : null;
  }

  /** The checks of `update`, nothing written: the route answers a bad request before asking for a proof. */
  async check(values: Record<string, unknown>): Promise<void> {
    await this.serial(async () => void this.prepare(values));
  }

  /** Validate, write, apply. Throws the catalogue's 400/409 naming the key; nothing is written then. */
  async update(values: Record<string, unknown>, who: SettingsActor): Promise<ConfigurationSaved> {
    return this.serial(async () => {
      const { text, fileValues, changes, config } = this.prepare(values);
      writeFileAtomic(this.origin.writeTo, changeYaml(text, changes));
      this.fileValues = fileValues;

      const applied: string[] = [];
      const restartRequired: string[] = [];
      for (const key of Object.keys(changes) as ConfigKeyName[]) {
        if (same(config[key], this.configured[key])) continue;
        (this.configured as Record<string, unknown>)[key] = structuredClone(config[key]);
        if (settingMeta(key).live) {
          (this.deps.config as Record<string, unknown>)[key] = structuredClone(config[key]);
          applied.push(key);
        } else restartRequired.push(key);
      }
      this.deps.audit.record({
        type: 'config.changed',
        outcome: 'success',
        userId: who.userId,
        userName: who.userName ?? null,
        ip: who.ip ?? null,
        // Key names only: a value may be a secret.
        detail: { keys: Object.keys(changes), applied, restartRequired },
      });
      return { applied, restartRequired, view: this.view() };
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Everything an update needs, checked: the file's text now, its new mapping, the YAML changes and the resulting configuration. */
  private prepare(values: Record<string, unknown>) {
    const unknown = Object.keys(values).filter((k) => !(CONFIG_KEYS as string[]).includes(k));
    if (unknown.length) {
      throw apiError('invalid_configuration', {
        message: `${unknown.map((k) => JSON.stringify(k.slice(0, 100))).join(', ')} ${unknown.length === 1 ? 'is not a setting' : 'are not settings'}: nothing was changed.`,
        detail: { key: unknown[0], keys: unknown },
      });
    }
    const named = Object.keys(values) as ConfigKeyName[];
    for (const key of named) {
      const reason = this.readOnlyReason(key);
      if (reason) throw apiError('read_only_setting', { message: `${key} cannot be changed here. ${reason}`, detail: { key } });
    }

    // Validate against what the next start reads: the file as it is now (an admin may have edited it).
    const file = this.origin.writeTo;
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    let current: unknown;
    try {
      current = parseYaml(text) ?? {};
    } catch (e) {
      throw apiError('invalid_configuration', { message: `The configuration file ${file} is not valid YAML (${(e as Error).message.split('\n')[0]}): fix it first.` });
    }
    if (!isObject(current)) throw apiError('invalid_configuration', { message: `The configuration file ${file} is not a mapping of keys to values: fix it first.` });

    const fileValues: Record<string, unknown> = { ...current };
    const changes: Record<string, unknown> = {};
    for (const key of named) {
      const posted = values[key];
      if (posted === null || posted === undefined) {
        const meta = settingMeta(key);
        if (!meta.secret && !configSchema.shape[key].safeParse(undefined).success) {
          // A key with no default cannot go back to one (none today; kept for safety).
          throw refused([{ key, path: key, message: 'cannot be removed' }], key);
        }
        delete fileValues[key];
        changes[key] = null;
        continue;
      }
      const { secretPaths = [] } = settingMeta(key);
      const value = secretPaths.length ? keepSecrets(posted, current[key] ?? this.configured[key], secretPaths, key) : posted;
      fileValues[key] = value;
      changes[key] = value;
    }

    let input: Record<string, unknown>;
    try {
      input = effectiveInput(fileValues, this.origin.env);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      // "OIDCProviders[0].ClientSecret: environment variable X is not set"
      const [where = '', ...rest] = e.message.split(': ');
      const key = where.split(/[.[]/)[0]!;
      throw refused([{ key, path: where, message: rest.join(': ') }], key);
    }
    const checked = checkConfig(input);
    if (!checked.ok) throw refused(checked.problems, named);
    const combined = combinationProblems(checked.config);
    // The one file a setting names: the start-up opens it, so it must be there.
    const geo = checked.config.GeoIPDatabasePath;
    if (named.includes('GeoIPDatabasePath') && geo && !existsSync(geo)) {
      combined.push({ key: 'GeoIPDatabasePath', path: 'GeoIPDatabasePath', message: `there is no file ${geo} on the server` });
    }
    if (combined.length) throw refused(combined, named);
    return { text, fileValues, changes, config: checked.config };
  }
}

/** The 400 of a refused update: the first problem of a key the admin changed (else the first), named. */
function refused(problems: ConfigProblem[], named: string | string[]) {
  const mine = problems.find((p) => (Array.isArray(named) ? named : [named]).includes(p.key)) ?? problems[0]!;
  const inFile = Array.isArray(named) && !named.includes(mine.key) ? ' (in the configuration file)' : '';
  return apiError('invalid_configuration', {
    message: `${mine.path}${inFile}: ${mine.message}. Nothing was changed.`,
    detail: { key: mine.key, path: mine.path, problems: problems.map((p) => ({ key: p.key, path: p.path, message: p.message })) },
  });
}
