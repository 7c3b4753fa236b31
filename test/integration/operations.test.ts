import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../jellyfin/emulator.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { jellyfinClient, sdkLogin } from '../helpers/sdk.ts';
import { startPushService } from '../push/push-service.ts';
import { ManualClock } from '../../server/clock.ts';

/**
 * Health (liveness, readiness) and Prometheus metrics through the real gateway, with a real client
 * signing in through it against the Jellyfin emulator.
 */
let jf: Emulator;
let apiKey: string;

beforeAll(async () => {
  jf = await startEmulator({ users: [{ name: 'alice', password: 'alice-secret-pw', isAdministrator: true }, { name: 'bob', password: 'bob-pw' }] });
  apiKey = jf.createApiKey('jellyguard');
});

afterAll(async () => {
  await jf?.close();
});

/** One parsed sample of the Prometheus text exposition format (0.0.4). */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the text format: every line is a `# HELP`, a `# TYPE` or a sample
 * `name{label="value",…} number`; anything else throws. Returns the samples and the declared types.
 * (prom-client writes an empty summary's value as `Nan`; Prometheus parses floats case-insensitively.)
 */
function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?(?:[0-9.]+(?:e[+-]?\d+)?|[Nn]a[Nn]|\+Inf|-Inf))( \d+)?$/;
  const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) continue;
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      expect(['counter', 'gauge', 'histogram', 'summary', 'untyped']).toContain(type);
      types.set(name!, type!);
      continue;
    }
    const m = sampleLine.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[3] ?? '';
    labelPair.lastIndex = 0;
    while (labelPair.lastIndex < body.length) {
      const p = labelPair.exec(body);
      if (!p) throw new Error(`bad labels in: ${line}`);
      labels[p[1]!] = p[2]!;
    }
    samples.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return { samples, types };
}

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);

describe('health', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ upstreamUrl: jf.url, config: { JellyfinApiKey: apiKey } });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('is live, and ready when the database takes writes, Jellyfin answers and the API key is valid', async () => {
    for (const path of ['/JellyfinSecurity/Health', '/JellyfinSecurity/Health/Live']) {
      const res = await fetch(gw.url + path);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'pass' });
    }
    const res = await fetch(`${gw.url}/JellyfinSecurity/Health/Ready`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; checks: Record<string, { status: string }> };
    expect(body.status).toBe('pass');
    expect(Object.fromEntries(Object.entries(body.checks).map(([k, v]) => [k, v.status]))).toEqual({ database: 'pass', jellyfin: 'pass', apiKey: 'pass' });
    expect(JSON.stringify(body)).not.toContain(apiKey);
  });

  it('is not ready when the database refuses writes, and says so', async () => {
    await new Promise((r) => setTimeout(r, 2100)); // past the short result cache
    gw.gateway.store.sqlite.pragma('query_only = ON'); // SQLite itself refuses every write from now on
    try {
      const res = await fetch(`${gw.url}/JellyfinSecurity/Health/Ready`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { status: string; checks: { database: { status: string; message: string } } };
      expect(body.status).toBe('fail');
      expect(body.checks.database.status).toBe('fail');
      expect(body.checks.database.message).toMatch(/SQLITE_READONLY/);
      // Liveness does not depend on it: restarting would not help.
      expect((await fetch(`${gw.url}/JellyfinSecurity/Health/Live`)).status).toBe(200);
    } finally {
      gw.gateway.store.sqlite.pragma('query_only = OFF');
    }
  });

  it('is not ready with an invalid API key, or without Jellyfin', async () => {
    const wrongKey = await startGateway({ upstreamUrl: jf.url, config: { JellyfinApiKey: 'f'.repeat(32) } });
    const noJellyfin = await startGateway({ upstreamUrl: 'http://127.0.0.1:9', config: { JellyfinApiKey: apiKey } });
    try {
      const a = (await (await fetch(`${wrongKey.url}/JellyfinSecurity/Health/Ready`)).json()) as { status: string; checks: Record<string, { status: string }> };
      expect(a.status).toBe('fail');
      expect(a.checks.apiKey!.status).toBe('fail');
      expect(a.checks.jellyfin!.status).toBe('pass');
      const b = await fetch(`${noJellyfin.url}/JellyfinSecurity/Health/Ready`);
      expect(b.status).toBe(503);
      const body = (await b.json()) as { checks: Record<string, { status: string }> };
      expect(body.checks.jellyfin!.status).toBe('fail');
    } finally {
      await wrongKey.close();
      await noJellyfin.close();
    }
  });
});

describe('metrics', () => {
  it('are off unless enabled', async () => {
    const gw = await startGateway({ upstreamUrl: jf.url });
    try {
      expect((await fetch(`${gw.url}/JellyfinSecurity/Metrics`)).status).toBe(404);
      expect(gw.gateway.services.metrics).toBeUndefined();
    } finally {
      await gw.close();
    }
  });

  it('count what happened, parse as Prometheus text, and carry no user name or token', async () => {
    const gw = await startGateway({ upstreamUrl: jf.url, config: { JellyfinApiKey: apiKey, MetricsEnabled: true } });
    try {
      // Two good sign-ins, one wrong password, a request with each token, one unknown token.
      const tokens: string[] = [];
      for (const [user, pw] of [['alice', 'alice-secret-pw'], ['bob', 'bob-pw']] as const) {
        const login = await sdkLogin(jellyfinClient(gw.url), user, pw);
        expect(login.status).toBe(200);
        tokens.push(login.token!);
      }
      expect((await sdkLogin(jellyfinClient(gw.url), 'alice', 'wrong-password')).status).toBe(401);
      for (const t of tokens) expect((await fetch(`${gw.url}/System/Info?api_key=${t}`)).status).toBe(200);
      expect((await fetch(`${gw.url}/System/Info?api_key=${'0'.repeat(32)}`)).status).toBe(401);
      await gw.gateway.services.audit.flush();

      const res = await fetch(`${gw.url}/JellyfinSecurity/Metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      const { samples, types } = parsePrometheus(text);

      expect(types.get('jellyguard_http_requests_total')).toBe('counter');
      expect(value(samples, 'jellyguard_signins_total', { method: 'password', outcome: 'success' })).toBe(2);
      expect(value(samples, 'jellyguard_signins_total', { method: 'password', outcome: 'failure' })).toBe(1);
      expect(value(samples, 'jellyguard_http_requests_total', { route_class: 'login', status: '200' })).toBe(2);
      expect(value(samples, 'jellyguard_http_requests_total', { route_class: 'login', status: '401' })).toBe(1);
      expect(value(samples, 'jellyguard_http_requests_total', { route_class: 'api', status: '200' })).toBe(2);
      expect(value(samples, 'jellyguard_http_requests_total', { route_class: 'api', status: '401' })).toBe(1);
      expect(value(samples, 'jellyguard_audit_events_total', { type: 'gate.refused' })).toBe(1);
      // Upstream latency: the three logins and two proxied requests (at least) were timed.
      expect(value(samples, 'jellyguard_upstream_response_seconds_count')).toBeGreaterThanOrEqual(5);
      expect(types.get('jellyguard_upstream_response_seconds')).toBe('histogram');
      expect(samples.some((s) => s.name.startsWith('nodejs_eventloop_lag'))).toBe(true);
      expect(types.get('jellyguard_active_bans')).toBe('gauge');

      // Nothing personal or secret in any series.
      for (const secret of [...tokens, apiKey, 'alice', 'bob', 'alice-secret-pw', '127.0.0.1']) expect(text).not.toContain(secret);
      const labelNames = new Set(samples.flatMap((s) => Object.keys(s.labels)));
      for (const n of labelNames) expect(['status', 'route_class', 'method', 'outcome', 'type', 'kind', 'scope', 'result', 'le', 'quantile', 'version', 'major', 'minor', 'patch', 'space']).toContain(n);
    } finally {
      await gw.close();
    }
  });

  it('count bans in force and the results of sign-in attempts refused by them', async () => {
    // The guesser comes through a trusted proxy from another address, so this machine can still scrape.
    const gw = await startGateway({ upstreamUrl: jf.url, config: { MetricsEnabled: true, MetricsToken: 'scrape-token-0123456789', MaxFailedAttempts: 2, TrustedProxyCIDRs: ['127.0.0.1/32'] } });
    try {
      for (let i = 0; i < 3; i++) {
        await fetch(`${gw.url}/Users/AuthenticateByName`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-forwarded-for': '198.51.100.7',
            authorization: 'MediaBrowser Client="t", Device="t", DeviceId="guesser", Version="1"',
          },
          body: JSON.stringify({ Username: 'bob', Pw: `guess-${i}` }),
        });
      }
      // This machine is a trusted proxy here, so it scrapes with the token.
      expect((await fetch(`${gw.url}/JellyfinSecurity/Metrics`)).status).toBe(401);
      const scrape = await fetch(`${gw.url}/JellyfinSecurity/Metrics`, { headers: { authorization: 'Bearer scrape-token-0123456789' } });
      const { samples } = parsePrometheus(await scrape.text());
      expect(value(samples, 'jellyguard_active_bans')).toBeGreaterThanOrEqual(1);
      expect(value(samples, 'jellyguard_audit_events_total', { type: 'guard.ban.imposed' })).toBeGreaterThanOrEqual(1);
    } finally {
      await gw.close();
    }
  });

  it('count second-factor challenges', async () => {
    // Everyone must have a second factor: a correct password gets a challenge, not a token.
    const gw = await startGateway({ upstreamUrl: jf.url, config: { MetricsEnabled: true, EnforcementScope: 'All' } });
    try {
      const login = await sdkLogin(jellyfinClient(gw.url), 'bob', 'bob-pw');
      expect(login.status).toBe(401);
      await gw.gateway.services.audit.flush();
      const { samples } = parsePrometheus(await (await fetch(`${gw.url}/JellyfinSecurity/Metrics`)).text());
      expect(value(samples, 'jellyguard_challenges_total', { outcome: 'issued' })).toBe(1);
      expect(value(samples, 'jellyguard_signins_total', { outcome: 'success' })).toBe(0);
    } finally {
      await gw.close();
    }
  });

  it('count approvals by kind and outcome', async () => {
    const clock = new ManualClock(Date.now());
    const gw = await startGateway({ upstreamUrl: jf.url, clock, config: { MetricsEnabled: true } });
    try {
      const { approvals, audit } = gw.gateway.services;
      const asking = { client: 'Android TV', deviceName: 'Living room', deviceId: 'tv-1', ip: '192.0.2.10', action: null };
      const a = await approvals.request({ kind: 'pairing', userId: 'd'.repeat(32), userName: 'alice', asking, push: false });
      const b = await approvals.request({ kind: 'login', userId: 'd'.repeat(32), userName: 'alice', asking, push: false });
      await approvals.deny(b.row.id, { ip: '192.0.2.20' });
      clock.advance(3600_000);
      await approvals.sweep();
      await audit.flush();
      const text = await (await fetch(`${gw.url}/JellyfinSecurity/Metrics`)).text();
      const { samples } = parsePrometheus(text);
      expect(value(samples, 'jellyguard_approvals_total', { kind: 'pairing', outcome: 'requested' })).toBe(1);
      expect(value(samples, 'jellyguard_approvals_total', { kind: 'login', outcome: 'requested' })).toBe(1);
      expect(value(samples, 'jellyguard_approvals_total', { kind: 'login', outcome: 'denied' })).toBe(1);
      expect(value(samples, 'jellyguard_approvals_total', { outcome: 'expired' })).toBe(1);
      expect(a.row.id).toBeTruthy();
      for (const personal of ['alice', 'Living room', 'tv-1', '192.0.2.10', a.row.id]) expect(text).not.toContain(personal);
    } finally {
      await gw.close();
    }
  });

  it('count push sends by result (the local push service answers 201, 410 and 500)', async () => {
    const pushService = await startPushService();
    const gw = await startGateway({ upstreamUrl: jf.url, config: { MetricsEnabled: true, PushAllowHttpLoopback: true } });
    try {
      const { phones, push } = gw.gateway.services.approvals;
      const user = 'c'.repeat(32);
      for (const [i, answer] of ([201, 410, 500] as const).entries()) {
        const s = pushService.subscribe();
        pushService.answer(s.id, answer);
        await phones.create(user, { name: `Phone ${i}`, credentialId: `cred-${i}`, subscription: s.subscription, deviceId: null });
      }
      expect(await push.sendToUser(user, { v: 1, type: 'notice', kind: 'test', title: 't', body: 'b', tag: 'x' }, { ttlSeconds: 60, urgency: 'normal' })).toBe(3);
      await push.idle();
      const { samples } = parsePrometheus(await (await fetch(`${gw.url}/JellyfinSecurity/Metrics`)).text());
      expect(value(samples, 'jellyguard_push_sends_total', { result: 'sent' })).toBe(1);
      expect(value(samples, 'jellyguard_push_sends_total', { result: 'gone' })).toBe(1);
      expect(value(samples, 'jellyguard_push_sends_total', { result: 'failed' })).toBe(1);
    } finally {
      await gw.close();
      await pushService.close();
    }
  });

  it('answer only this machine without a token, never a request that came through a proxy, and anyone with the token', async () => {
    const token = 'scrape-token-0123456789';
    const open = await startGateway({ upstreamUrl: jf.url, config: { MetricsEnabled: true } });
    const withToken = await startGateway({ upstreamUrl: jf.url, config: { MetricsEnabled: true, MetricsToken: token, MetricsAllowedCIDRs: [] } });
    try {
      expect((await fetch(`${open.url}/JellyfinSecurity/Metrics`)).status).toBe(200);
      expect((await fetch(`${open.url}/JellyfinSecurity/Metrics`, { headers: { 'x-forwarded-for': '203.0.113.9' } })).status).toBe(403);
      const noToken = await fetch(`${withToken.url}/JellyfinSecurity/Metrics`);
      expect(noToken.status).toBe(401);
      expect(noToken.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await fetch(`${withToken.url}/JellyfinSecurity/Metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
      const ok = await fetch(`${withToken.url}/JellyfinSecurity/Metrics`, { headers: { authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('jellyguard_http_requests_total');
    } finally {
      await open.close();
      await withToken.close();
    }
  });
});
