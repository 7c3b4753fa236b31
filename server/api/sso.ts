import type { ENDPOINTS } from '../../shared/api/endpoints.ts';
import { isApiErrorCode } from '../../shared/api/errors.ts';
import type { GatewayContext } from '../context.ts';
import { HttpError } from '../errors.ts';
import type { Config } from '../config/index.ts';
import { publicOrigin } from '../pairing/page.ts';
import type { RouteContext } from './route.ts';
import { SingleSignOn, SsoError } from '../sso/index.ts';
import { COMPLETE_SCRIPT, completePage, errorPage } from '../sso/page.ts';
import type { SecondFactorPolicy } from '../login/challenge.ts';
import { respond } from '../login/challenge.ts';
import type { JellyfinClient } from '../jellyfin/upstream.ts';
import { SSO_STATE_SECONDS, SSO_TICKET_SECONDS, STATE_COOKIE, TICKET_COOKIE, cookieHeader, readCookie } from '../sso/transaction.ts';

/**
 * Single sign-on with OpenID Connect providers, under `{BaseUrl}/JellyfinSecurity/OIDC/` (server/sso):
 *
 *   GET  Providers           → the login page's buttons `{providers: [{id, buttonText}]}` (public)
 *   GET  Authorize?providerId=&return=  → 302 to the provider, with the sealed state cookie
 *   GET  Callback            → the provider's answer, checked; a page that collects the session, or says why not
 *   POST Session             → (that page's script, as jellyfin-web) Jellyfin's AuthenticationResult, once
 *   GET  complete.js         → that script
 */
type Ctx<K extends keyof typeof ENDPOINTS> = RouteContext<(typeof ENDPOINTS)[K]>;

export function ssoHandlers({ config, sso, secondFactor, jellyfin }: { config: Config; sso: SingleSignOn; secondFactor: SecondFactorPolicy; jellyfin: JellyfinClient }) {
  const baseUrl = config.BaseUrl;
  const cookiePath = `${baseUrl}/JellyfinSecurity/OIDC/`;
  const secure = (ctx: GatewayContext) => (ctx.state.client.proto ?? ('encrypted' in ctx.req.socket ? 'https' : 'http')) === 'https';
  const home = `${baseUrl}/web/`;
  // Only jellyfin-web or the Authenticator on this origin; anything else opens jellyfin-web's home.
  const allowedReturn = new RegExp(`^${baseUrl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/(web|JellyfinSecurity/app)(/[A-Za-z0-9._~!$&'()*+,;=:@%/?#-]*)?$`, 'i');
  const safeReturn = (raw: string | undefined) =>
    raw && raw.length <= 2048 && !raw.includes('//') && !raw.includes('/..') && allowedReturn.test(raw) ? raw : home;

  function refuse(ctx: GatewayContext, e: unknown): void {
    if (!(e instanceof SsoError)) throw e;
    errorPage(ctx, baseUrl, e.status, e.reason, e.message);
  }

  return {
  providers(ctx: Ctx<'OIDCProviders'>) {
    ctx.set('cache-control', 'no-store');
    ctx.body = { providers: sso.publicList() };
  },

  async authorize(ctx: Ctx<'OIDCAuthorize'>) {
    try {
      const origin = publicOrigin(ctx, config.PublicUrl);
      if (!origin) throw new SsoError(400, 'bad_host', 'This address cannot be used to sign in. Please use the server\'s usual address.');
      const providerId = typeof ctx.query.providerId === 'string' ? ctx.query.providerId : undefined;
      const returnPath = safeReturn(typeof ctx.query.return === 'string' ? ctx.query.return : undefined);
      const started = await sso.begin(providerId, `${origin}${baseUrl}/JellyfinSecurity/OIDC/Callback`, returnPath, ctx.state.client.ip);
      ctx.append('set-cookie', cookieHeader(STATE_COOKIE, started.cookie, { path: cookiePath, maxAgeSeconds: SSO_STATE_SECONDS, secure: secure(ctx) }));
      ctx.set('cache-control', 'no-store');
      ctx.set('referrer-policy', 'no-referrer');
      ctx.redirect(started.location);
    } catch (e) {
      refuse(ctx, e);
    }
  },

  async callback(ctx: Ctx<'OIDCCallback'>) {
    // The state cookie is spent whatever happens: a second callback in this browser finds none.
    ctx.append('set-cookie', cookieHeader(STATE_COOKIE, '', { path: cookiePath, maxAgeSeconds: 0, secure: secure(ctx) }));
    try {
      const url = new URL(ctx.originalUrl, 'http://callback.invalid');
      const outcome = await sso.callback(url, readCookie(ctx.get('cookie') || undefined, STATE_COOKIE), ctx.state.client.ip);
      // Both outcomes collect a session; one that still needs the second factor gets it held behind a challenge.
      ctx.append('set-cookie', cookieHeader(TICKET_COOKIE, outcome.ticket, { path: cookiePath, maxAgeSeconds: SSO_TICKET_SECONDS, secure: secure(ctx) }));
      completePage(ctx, baseUrl, outcome.returnPath, outcome.userName);
    } catch (e) {
      refuse(ctx, e);
    }
  },

  async session(ctx: Ctx<'OIDCSession'>) {
    ctx.set('cache-control', 'no-store');
    ctx.append('set-cookie', cookieHeader(TICKET_COOKIE, '', { path: cookiePath, maxAgeSeconds: 0, secure: secure(ctx) }));
    const c = ctx.state.credential;
    try {
      const done = await sso.collect(
        readCookie(ctx.get('cookie') || undefined, TICKET_COOKIE),
        { client: c.client ?? '', device: c.device ?? '', deviceId: c.deviceId ?? '', version: c.version ?? '' },
        ctx.state.client.ip,
      );
      if (done.held) {
        // The provider proved no second factor this server accepts: the same challenge a password login
        // opens (401 with its id); the page continues on the login page with the user's factor.
        let challenge;
        try {
          challenge = await secondFactor.hold(ctx, done.result, {
            status: 200,
            headers: { 'content-type': 'application/json; charset=utf-8' },
            body: Buffer.from(JSON.stringify(done.body)),
          });
        } catch (e) {
          await jellyfin.logout(done.result.accessToken).catch(() => false); // nobody may keep a token nobody checked
          throw e;
        }
        respond(ctx, challenge);
        if (challenge.status === 401) ctx.body = { ...(JSON.parse(challenge.body.toString('utf8')) as object), returnPath: done.returnPath };
        return;
      }
      ctx.body = { AuthenticationResult: done.body, returnPath: done.returnPath };
    } catch (e) {
      if (e instanceof SsoError) throw new HttpError(e.status, isApiErrorCode(e.reason) ? e.reason : 'sso_failed', e.message, {}, true);
      throw e;
    }
  },

  script(ctx: Ctx<'OIDCCompleteScript'>) {
    ctx.set('cache-control', 'no-cache');
    ctx.set('x-content-type-options', 'nosniff');
    ctx.etag = COMPLETE_SCRIPT.etag;
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.type = 'text/javascript; charset=utf-8';
    ctx.body = COMPLETE_SCRIPT.body;
  },
  };
}
