import { describe, expect, it } from 'vitest';
import { createLogger, loggerOptionsFromEnv, redact, type LogLevel } from '../../server/log.ts';

/** The logger: JSON or lines for people, levels, and no credential ever written. */
function capture(opts: Parameters<typeof createLogger>[0]) {
  const lines: Array<{ level: LogLevel; line: string }> = [];
  const log = createLogger({ ...opts, write: (level, line) => lines.push({ level, line }), now: () => new Date('2026-12-05T10:00:00Z') });
  return { log, lines };
}

describe('logs', () => {
  it('writes one JSON object a line when asked', () => {
    const { log, lines } = capture({ format: 'json', level: 'info' });
    log.info('started');
    log.error('failed', new Error('boom'));
    expect(lines.map((l) => JSON.parse(l.line))).toEqual([
      { time: '2026-12-05T10:00:00.000Z', level: 'info', msg: 'started' },
      { time: '2026-12-05T10:00:00.000Z', level: 'error', msg: 'failed', err: expect.stringContaining('Error: boom') },
    ]);
  });

  it('writes lines for people otherwise, and honours the level', () => {
    const { log, lines } = capture({ format: 'text', level: 'warn' });
    log.debug!('noise');
    log.info('noise');
    log.warn('careful');
    expect(lines).toEqual([{ level: 'warn', line: '2026-12-05T10:00:00.000Z warn  careful' }]);
  });

  it('reads JELLYGUARD_LOG_FORMAT and JELLYGUARD_LOG_LEVEL, falling back to the defaults', () => {
    expect(loggerOptionsFromEnv({ JELLYGUARD_LOG_FORMAT: 'JSON', JELLYGUARD_LOG_LEVEL: 'debug' })).toEqual({ format: 'json', level: 'debug' });
    expect(loggerOptionsFromEnv({ JELLYGUARD_LOG_LEVEL: 'loud' })).toEqual({ format: 'text', level: 'info' });
  });

  it('masks credentials wherever they appear, in messages and errors', () => {
    const token = '0123456789abcdef0123456789abcdef';
    const secret = 'A'.repeat(64);
    const texts = [
      `MediaBrowser Client="x", Token="${token}"`,
      `GET /Videos/1/stream?api_key=${token}&Static=true`,
      `GET /socket?ApiKey=${token}`,
      `Authorization: Bearer ${token}`,
      `X-Emby-Token: ${token}`,
      `{"Username":"alice","Pw":"hunter2"}`,
      `secret ${secret}`,
      `/Users/1/Authenticate?pw=hunter2`,
    ];
    for (const t of texts) {
      const out = redact(t);
      expect(out).not.toContain(token);
      expect(out).not.toContain('hunter2');
      expect(out).not.toContain(secret);
      expect(out).toContain('[redacted]');
    }
    const { log, lines } = capture({ format: 'json' });
    log.error(`upstream refused Token="${token}"`, new Error(`fetch ?api_key=${token} failed`));
    expect(lines[0]!.line).not.toContain(token);
    // Ordinary words and ids stay readable.
    expect(redact('user 4f1c… signed in from 203.0.113.9')).toBe('user 4f1c… signed in from 203.0.113.9');
  });
});
