import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig, ConfigError } from '../../server/config/index.ts';
import { tempDir } from '../helpers/gateway.ts';

describe('configuration', () => {
  it('has safe defaults', () => {
    const c = parseConfig({});
    expect(c.JellyfinUrl).toBe('http://127.0.0.1:8096');
    expect(c.APIKeyBypassEnabled).toBe(true);
    expect(c.TrustedProxyCIDRs).toEqual([]);
    expect(c.AdoptExistingSessionsUntil).toBeUndefined();
  });

  it('reads the YAML file with ${ENV} interpolation, and the environment wins for the essentials', () => {
    const dir = tempDir();
    writeFileSync(
      path.join(dir, 'config.yaml'),
      'JellyfinUrl: http://10.0.0.5:8096\nJellyfinApiKey: ${MY_KEY}\nTrustedProxyCIDRs: [127.0.0.1/32]\nPort: 9000\n',
    );
    const key = 'a'.repeat(32);
    const { config, file } = loadConfig({ JELLYGUARD_DATA_DIR: dir, MY_KEY: key, JELLYGUARD_PORT: '9100' });
    expect(file).toBe(path.join(dir, 'config.yaml'));
    expect(config.JellyfinApiKey).toBe(key);
    expect(config.JellyfinUrl).toBe('http://10.0.0.5:8096');
    expect(config.Port).toBe(9100);
    expect(config.TrustedProxyCIDRs).toEqual(['127.0.0.1/32']);
  });

  it('names the key in every error', () => {
    expect(() => parseConfig({ MaxLoginBodyBytes: 'big' })).toThrow(/MaxLoginBodyBytes/);
    expect(() => parseConfig({ JellyfinUrl: 'ftp://x' })).toThrow(/JellyfinUrl/);
    expect(() => parseConfig({ JellyfinUrl: 'http://x:8096/jellyfin' })).toThrow(/JellyfinUrl.*BaseUrl/s);
    expect(() => parseConfig({ BaseUrl: 'jellyfin/' })).toThrow(/BaseUrl/);
    expect(() => parseConfig({ TypoKey: 1 })).toThrow(/TypoKey/);
    const dir = tempDir();
    writeFileSync(path.join(dir, 'c.yaml'), 'JellyfinApiKey: ${NOT_SET_ANYWHERE}\n');
    expect(() => loadConfig({ JELLYGUARD_CONFIG: path.join(dir, 'c.yaml') })).toThrow(ConfigError);
    expect(() => loadConfig({ JELLYGUARD_CONFIG: path.join(dir, 'c.yaml') })).toThrow(/JellyfinApiKey.*NOT_SET_ANYWHERE/);
  });

  it('stops start-up with a message naming the key', () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'config.yaml'), 'UpstreamTimeoutSeconds: -3\n');
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
      env: { ...process.env, JELLYGUARD_DATA_DIR: dir, JELLYGUARD_PORT: '0' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(78);
    expect(run.stderr).toMatch(/UpstreamTimeoutSeconds/);
  });
});
