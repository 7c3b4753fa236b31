import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

/**
 * A real OpenID Connect provider for tests: panva's certified `oidc-provider` on 127.0.0.1, with
 * authorization code + PKCE required, one confidential client, and its own login interaction — a tiny
 * HTML form (`login`, `password`, and a "Cancel" that answers `error=access_denied`) that a browser or an
 * HTTP client can submit. Users carry e-mail, email_verified and groups claims (read from userinfo, as
 * the ID token of a code flow carries only what identifies the sign-in) and the `amr`/`acr` of their
 * sign-in, changeable at run time. Consent is implied (a first-party IdP), as at most self-hosted IdPs.
 */

export interface TestIdpUser {
  /** The stable subject (`sub`). */
  sub: string;
  login: string;
  password: string;
  preferred_username?: string;
  name?: string;
  email?: string;
  email_verified?: boolean;
  groups?: string[];
  /** Authentication methods of this user's sign-in (RFC 8176), e.g. ['pwd', 'otp']. Default ['pwd']. */
  amr?: string[];
  acr?: string;
}

export interface TestIdp {
  /** The issuer: http://127.0.0.1:PORT (no trailing slash). */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Users by `login`; edit them between sign-ins (groups removed, e-mail unverified…). */
  users: Map<string, TestIdpUser>;
  /** Every request the provider received (method and URL). */
  requests: Array<{ method: string; url: string }>;
  provider: Provider;
  close(): Promise<void>;
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginForm(uid: string, clientId: string, error?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test IdP — sign in</title></head>
<body>
<h1>Sign in to continue to ${escape(clientId)}</h1>
${error ? `<p id="error" role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login" autocomplete="off">
  <label>User name <input name="login" id="login" autofocus required></label>
  <label>Password <input name="password" id="password" type="password" required></label>
  <button type="submit" id="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${escape(uid)}/abort"><button type="submit" id="cancel">Cancel</button></form>
</body></html>`;
}

async function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 16_384) throw new Error('form too large');
    chunks.push(c as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export async function startTestIdp(opts: {
  users: TestIdpUser[];
  /** Redirect URIs registered for the client (the gateway's callback). */
  redirectUris: string[];
  clientId?: string;
  clientSecret?: string;
  /** Seconds an authorization code lives (oidc-provider's default: 60). */
  codeTtlSeconds?: number;
  port?: number;
}): Promise<TestIdp> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', () => resolve()));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = opts.clientId ?? 'jellyguard';
  const clientSecret = opts.clientSecret ?? randomBytes(24).toString('base64url');
  const users = new Map(opts.users.map((u) => [u.login, u]));
  const bySub = (sub: string) => [...users.values()].find((u) => u.sub === sub);

  const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: opts.redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [{ ...jwk, kid: 'test-idp', use: 'sig', alg: 'RS256' }] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    pkce: { required: () => true },
    ttl: { AuthorizationCode: opts.codeTtlSeconds ?? 60, Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 3600 },
    claims: {
      // how the user signed in travels with every ID token, as Keycloak and Authentik send it
      openid: ['sub', 'acr', 'amr', 'auth_time', 'sid'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    // A first-party IdP: consent is implied, so the code flow needs no consent screen.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const accountId = ctx.oidc.session?.accountId;
      if (!accountId) return undefined;
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId });
      grant.addOIDCScope('openid email profile groups');
      await grant.save();
      return grant;
    },
    async findAccount(_ctx, sub) {
      const u = bySub(sub);
      if (!u) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            ...(u.preferred_username !== undefined ? { preferred_username: u.preferred_username } : {}),
            ...(u.name !== undefined ? { name: u.name } : {}),
            ...(u.email !== undefined ? { email: u.email, email_verified: u.email_verified ?? false } : {}),
            ...(u.groups !== undefined ? { groups: u.groups } : {}),
          };
        },
      };
    },
  });

  const requests: TestIdp['requests'] = [];
  const callback = provider.callback();
  server.on('request', (req, res) => {
    requests.push({ method: req.method ?? 'GET', url: req.url ?? '/' });
    const m = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|abort))?$/.exec((req.url ?? '').split('?')[0]!);
    if (!m) return void callback(req, res);
    void (async () => {
      try {
        const details = await provider.interactionDetails(req, res);
        if (details.uid !== m[1]) throw new Error('interaction mismatch');
        if (!m[2] && req.method === 'GET') {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
          return void res.end(loginForm(details.uid, String(details.params.client_id)));
        }
        if (req.method !== 'POST') {
          res.writeHead(405);
          return void res.end();
        }
        if (m[2] === 'abort') {
          return void (await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'The user cancelled the sign-in' }, { mergeWithLastSubmission: false }));
        }
        const form = await readForm(req);
        const u = users.get(form.get('login') ?? '');
        if (!u || u.password !== form.get('password')) {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
          return void res.end(loginForm(details.uid, String(details.params.client_id), 'Wrong user name or password'));
        }
        await provider.interactionFinished(
          req,
          res,
          { login: { accountId: u.sub, amr: u.amr ?? ['pwd'], ...(u.acr ? { acr: u.acr } : {}), remember: false } },
          { mergeWithLastSubmission: false },
        );
      } catch (e) {
        res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`interaction failed: ${(e as Error).message}`);
      }
    })();
  });

  return {
    issuer,
    clientId,
    clientSecret,
    users,
    requests,
    provider,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
