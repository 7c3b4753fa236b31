/**
 * The logger. Never pass it a secret: tokens, passwords, codes and keys are not logged (principle 6). As a
 * second line of defence, anything that looks like a credential in a message or an error is masked
 * before it is written (`redact`).
 *
 * Format and level come from the environment: JELLYGUARD_LOG_FORMAT=json writes one JSON object a line
 * (for Loki, journald's JSON tooling, Docker log drivers), anything else a line for people;
 * JELLYGUARD_LOG_LEVEL = debug | info (default) | warn | error.
 */
export interface Logger {
  debug?(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string, err?: unknown): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'text' | 'json';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * Credentials in the forms Jellyfin and the gateway see them: `Token="…"` in a MediaBrowser header,
 * `api_key=` / `ApiKey=` / `token=` / `pw=` / `secret=` / `code=` query parameters, `Bearer …`, `X-Emby-Token: …`,
 * a JSON "Pw"/"Password"/"AccessToken" field, and 64-hex Quick Connect secrets.
 */
const PATTERNS: Array<[RegExp, string]> = [
  [/(Token\s*=\s*"?)[^",\s]+/gi, '$1[redacted]'],
  [/([?&](?:api_?key|token|pw|password|secret|code)=)[^&\s#"']+/gi, '$1[redacted]'],
  [/(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi, '$1[redacted]'],
  [/(x-(?:emby|mediabrowser)-token["']?\s*[:=]\s*["']?)[^"',\s]+/gi, '$1[redacted]'],
  [/("(?:pw|password|accesstoken|access_token|secret|totp|code)"\s*:\s*")[^"]*/gi, '$1[redacted]'],
  [/\b[0-9A-Fa-f]{64}\b/g, '[redacted]'],
];

export function redact(text: string): string {
  let out = text;
  for (const [re, to] of PATTERNS) out = out.replace(re, to);
  return out;
}

function errorText(e: unknown): string | undefined {
  if (e === undefined || e === null || e === '') return undefined;
  if (e instanceof Error) return e.stack ?? `${e.name}: ${e.message}`;
  return String(e);
}

export interface LoggerOptions {
  format?: LogFormat;
  level?: LogLevel;
  /** Where lines go (default: stdout for debug/info, stderr for warn/error). */
  write?: (level: LogLevel, line: string) => void;
  now?: () => Date;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const format = opts.format ?? 'text';
  const min = RANK[opts.level ?? 'info'];
  const now = opts.now ?? (() => new Date());
  const write =
    opts.write ?? ((level: LogLevel, line: string) => (RANK[level] >= RANK.warn ? process.stderr : process.stdout).write(line + '\n'));
  const emit = (level: LogLevel, msg: string, err?: unknown): void => {
    if (RANK[level] < min) return;
    const message = redact(msg);
    const detail = errorText(err);
    const e = detail === undefined ? undefined : redact(detail);
    if (format === 'json') {
      write(level, JSON.stringify({ time: now().toISOString(), level, msg: message, ...(e ? { err: e } : {}) }));
    } else {
      write(level, `${now().toISOString()} ${level.padEnd(5)} ${message}${e ? `\n${e}` : ''}`);
    }
  };
  return {
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m, e) => emit('error', m, e),
  };
}

/** JELLYGUARD_LOG_FORMAT and JELLYGUARD_LOG_LEVEL; an unknown value falls back to the default (and is not an error). */
export function loggerOptionsFromEnv(env: NodeJS.ProcessEnv): Pick<LoggerOptions, 'format' | 'level'> {
  const format = (env.JELLYGUARD_LOG_FORMAT ?? '').toLowerCase() === 'json' ? 'json' : 'text';
  const raw = (env.JELLYGUARD_LOG_LEVEL ?? '').toLowerCase();
  const level = (raw in RANK ? raw : 'info') as LogLevel;
  return { format, level };
}

export const consoleLogger: Logger = createLogger(loggerOptionsFromEnv(process.env));

export const silentLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} };
