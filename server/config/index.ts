import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { configSchema, type Config } from './schema.ts';

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
function fromEnvironment(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (env.JELLYFIN_URL) out.JellyfinUrl = env.JELLYFIN_URL;
  if (env.JELLYFIN_API_KEY) out.JellyfinApiKey = env.JELLYFIN_API_KEY;
  if (env.JELLYGUARD_PORT) out.Port = Number(env.JELLYGUARD_PORT);
  if (env.JELLYGUARD_HOST) out.Host = env.JELLYGUARD_HOST;
  if (env.JELLYGUARD_PUBLIC_URL) out.PublicUrl = env.JELLYGUARD_PUBLIC_URL;
  return out;
}

/** Validate a plain object; the message names every bad key and what is wrong with it. */
export function parseConfig(input: unknown): Config {
  const result = configSchema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map((i) => {
      const key = i.path.length ? i.path.join('.') : '(top level)';
      const extra = i.code === 'unrecognized_keys' ? `: ${i.keys.join(', ')}` : '';
      return `  ${key}: ${i.message}${extra}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const config = result.data;
  // Normalise the upstream to its origin: paths on JELLYFIN_URL are a misconfiguration.
  const u = new URL(config.JellyfinUrl);
  if (u.pathname !== '/' || u.search) {
    throw new ConfigError(`invalid configuration:\n  JellyfinUrl: must be an origin like http://127.0.0.1:8096 (set Jellyfin's BaseUrl with BaseUrl)`);
  }
  config.JellyfinUrl = u.origin;
  return config;
}

export interface LoadedConfig {
  config: Config;
  dataDir: string;
  file: string | undefined;
}

/** Read JELLYGUARD_CONFIG (or $JELLYGUARD_DATA_DIR/config.yaml if present), interpolate, overlay env, validate. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const dataDir = path.resolve(env.JELLYGUARD_DATA_DIR || './data');
  const defaultFile = path.join(dataDir, 'config.yaml');
  const file = env.JELLYGUARD_CONFIG ? path.resolve(env.JELLYGUARD_CONFIG) : existsSync(defaultFile) ? defaultFile : undefined;
  let fromFile: unknown = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read configuration file ${file}: ${(e as Error).message}`);
    }
    try {
      fromFile = parseYaml(text) ?? {};
    } catch (e) {
      throw new ConfigError(`configuration file ${file} is not valid YAML: ${(e as Error).message}`);
    }
    if (typeof fromFile !== 'object' || Array.isArray(fromFile)) {
      throw new ConfigError(`configuration file ${file} must be a mapping of keys to values`);
    }
    fromFile = interpolateEnv(fromFile, env);
  }
  const config = parseConfig({ ...(fromFile as object), ...fromEnvironment(env) });
  return { config, dataDir, file };
}
