import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { configSchema, type Config, type ConfigKeyName } from './schema.ts';

export { configSchema, type Config } from './schema.ts';

export class ConfigError extends Error {}

/** `${NAME}` in any string value is replaced by the environment variable; a missing one is an error. */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, at = ''): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const v = env[name];
      if (v === undefined) throw new ConfigError(`${at || 'config'}: environment variable ${name} is not set`);
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, `${at}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, interpolateEnv(v, env, at ? `${at}.${k}` : k)]),
    );
  }
  return value;
}

/** The essentials come from the environment and win over the file (DESIGN: Configuration). */
export const ENVIRONMENT_KEYS = {
  JellyfinUrl: 'JELLYFIN_URL',
  JellyfinApiKey: 'JELLYFIN_API_KEY',
  Port: 'JELLYGUARD_PORT',
  Host: 'JELLYGUARD_HOST',
  PublicUrl: 'JELLYGUARD_PUBLIC_URL',
} as const satisfies Partial<Record<ConfigKeyName, string>>;

/** The keys the environment sets, each with the variable that sets it. */
export function environmentKeys(env: NodeJS.ProcessEnv): Partial<Record<ConfigKeyName, string>> {
  return Object.fromEntries(Object.entries(ENVIRONMENT_KEYS).filter(([, name]) => env[name]));
}

function fromEnvironment(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(environmentKeys(env))) out[key] = key === 'Port' ? Number(env[name]) : env[name];
  return out;
}

/** One thing wrong with a configuration: the top-level key, where inside it, and what. */
export interface ConfigProblem {
  key: string;
  path: string;
  message: string;
}

/** Validate a plain object: the configuration, or every problem naming its key. */
export function checkConfig(input: unknown): { ok: true; config: Config } | { ok: false; problems: ConfigProblem[] } {
  const result = configSchema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.flatMap((i): ConfigProblem[] => {
      if (i.code === 'unrecognized_keys' && i.path.length === 0) {
        return i.keys.map((k) => ({ key: k, path: k, message: 'is not a setting' }));
      }
      const path = i.path.length ? i.path.join('.') : '(top level)';
      const extra = i.code === 'unrecognized_keys' ? `: ${i.keys.join(', ')}` : '';
      return [{ key: String(i.path[0] ?? '(top level)'), path, message: `${i.message}${extra}` }];
    });
    return { ok: false, problems };
  }
  const config = result.data;
  // Normalise the upstream to its origin: paths on JELLYFIN_URL are a misconfiguration.
  const u = new URL(config.JellyfinUrl);
  if (u.pathname !== '/' || u.search) {
    return {
      ok: false,
      problems: [{ key: 'JellyfinUrl', path: 'JellyfinUrl', message: "must be an origin like http://127.0.0.1:8096 (set Jellyfin's BaseUrl with BaseUrl)" }],
    };
  }
  config.JellyfinUrl = u.origin;
  return { ok: true, config };
}

/**
 * Rules between keys that the parts of the gateway check when they start (server/approvals,
 * server/login/challenge-setup.ts, server/guard): a saved configuration must pass them too, or the next
 * start would fail.
 */
export function combinationProblems(c: Config): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const add = (key: string, message: string) => out.push({ key, path: key, message });
  if (c.HoldSeconds >= c.ApprovalSeconds) add('HoldSeconds', `must be shorter than ApprovalSeconds (${c.ApprovalSeconds})`);
  if (c.HoldSeconds >= c.ChallengeSeconds) add('HoldSeconds', `must be shorter than ChallengeSeconds (${c.ChallengeSeconds})`);
  if (c.EmailOTPEnabled && !c.SMTP) add('EmailOTPEnabled', 'e-mail codes need SMTP (Host and From at least)');
  if (c.ImpossibleTravelEnabled && !c.GeoIPDatabasePath) add('ImpossibleTravelEnabled', 'needs GeoIPDatabasePath (a GeoLite2-City .mmdb file)');
  return out;
}

/** Validate a plain object; the message names every bad key and what is wrong with it. */
export function parseConfig(input: unknown): Config {
  const checked = checkConfig(input);
  if (!checked.ok) throw new ConfigError(`invalid configuration:\n${checked.problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`);
  return checked.config;
}

export interface LoadedConfig {
  config: Config;
  dataDir: string;
  file: string | undefined;
  /** Where each value came from, for GET/POST Configuration. */
  origin: ConfigOrigin;
}

/** What the settings endpoint needs to know about where the configuration came from. */
export interface ConfigOrigin {
  /** The YAML file read at start; undefined when there was none. */
  file: string | undefined;
  /** The file changes are written to: that one, or $JELLYGUARD_DATA_DIR/config.yaml (made on the first change). */
  writeTo: string;
  /** The file's mapping as written (before `${NAME}` is replaced); {} without a file. */
  fileValues: Record<string, unknown>;
  /** The environment the configuration was read with (`${NAME}` and the variables of ENVIRONMENT_KEYS). */
  env: NodeJS.ProcessEnv;
}

/** The configuration file's mapping as written, `${NAME}` not yet replaced. A missing file is an error. */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read configuration file ${file}: ${(e as Error).message}`);
  }
  let values: unknown;
  try {
    values = parseYaml(text) ?? {};
  } catch (e) {
    throw new ConfigError(`configuration file ${file} is not valid YAML: ${(e as Error).message}`);
  }
  if (typeof values !== 'object' || Array.isArray(values)) {
    throw new ConfigError(`configuration file ${file} must be a mapping of keys to values`);
  }
  return values as Record<string, unknown>;
}

/** The values the gateway runs with: the file (with `${NAME}` replaced), then the environment over it. */
export function effectiveInput(fileValues: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  return { ...(interpolateEnv(fileValues, env) as object), ...fromEnvironment(env) };
}

/** Read JELLYGUARD_CONFIG (or $JELLYGUARD_DATA_DIR/config.yaml if present), interpolate, overlay env, validate. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const dataDir = path.resolve(env.JELLYGUARD_DATA_DIR || './data');
  const defaultFile = path.join(dataDir, 'config.yaml');
  const file = env.JELLYGUARD_CONFIG ? path.resolve(env.JELLYGUARD_CONFIG) : existsSync(defaultFile) ? defaultFile : undefined;
  const fileValues = file ? readConfigFile(file) : {};
  const config = parseConfig(effectiveInput(fileValues, env));
  return { config, dataDir, file, origin: { file, writeTo: file ?? defaultFile, fileValues, env } };
}
