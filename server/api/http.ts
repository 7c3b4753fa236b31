import type { GatewayContext } from '../context.ts';
import { apiError } from '../errors.ts';
import { relyingParty, type RelyingParty } from '../factors/index.ts';
import type { Actor } from '../stepup/index.ts';
import type { Browser, ChallengeAnswer } from '../login/challenges.ts';

/** Small things every route file needs from a request or for an answer. */

export function noStore(ctx: GatewayContext): void {
  ctx.set('cache-control', 'no-store');
}

export function isoOrNull(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

export const iso = (ms: number) => new Date(ms).toISOString();

/** Whether the browser reached us over https (directly, or as a trusted proxy says). */
export function isHttps(ctx: GatewayContext): boolean {
  return (ctx.state.client.proto ?? ('encrypted' in ctx.req.socket ? 'https' : 'http')) === 'https';
}

/** The relying party for a passkey ceremony of this request (see server/factors/passkeys.ts). */
export function rpOf(ctx: GatewayContext, publicUrl: string | undefined): RelyingParty {
  const proto = ctx.state.client.proto ?? ('encrypted' in ctx.req.socket ? 'https' : 'http');
  const rp = relyingParty(publicUrl, { proto, host: ctx.state.client.host ?? ctx.get('host') });
  if (!rp) throw apiError('passkeys_unavailable', 'Passkeys need the gateway to be reached by a domain name over https (or localhost); set PublicUrl.');
  return rp;
}

/** The session's user (behind a session guard). */
export function me(ctx: GatewayContext): string {
  return ctx.state.session!.userId;
}

/** Who does a step-up action: the session and the address it came from. */
export function actorOf(ctx: GatewayContext): Actor {
  return { session: ctx.state.session!, ip: ctx.state.client.ip };
}

export function browserOf(ctx: GatewayContext): Browser {
  return { ip: ctx.state.client.ip, userAgent: ctx.get('user-agent'), cookieHeader: ctx.get('cookie') || undefined, secure: isHttps(ctx) };
}

/** Answer what the login challenge service decided: Jellyfin's AuthenticationResult as it is, or the 401. */
export function sendChallengeAnswer(ctx: GatewayContext, a: ChallengeAnswer): void {
  noStore(ctx);
  if (a.kind === 'refused') {
    ctx.status = a.status;
    ctx.body = a.body;
    return;
  }
  if (a.setCookie) ctx.append('set-cookie', a.setCookie);
  ctx.status = 200;
  ctx.body = a.body;
  ctx.set('content-type', a.contentType);
}
