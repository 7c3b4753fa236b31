import type { GatewayMiddleware } from '../context.ts';
import { HttpError } from '../errors.ts';
import type { AuditSink } from '../audit/index.ts';
import type { Guard } from '../guard/index.ts';
import { isTicket } from '../guard/regulator.ts';
import { canonicalGuid } from '../jellyfin/json.ts';
import { matchRoute } from '../jellyfin/paths.ts';
import type { JellyfinClient } from '../jellyfin/upstream.ts';
import { revokeSession } from '../gate/index.ts';
import type { StepUp } from '../stepup/index.ts';
import { readSmallBody, parseLoginJson } from './body.ts';
import { forwardBuffered, type LoginDeps } from './password.ts';
import { queryParam } from './query.ts';
import { relay } from './relay.ts';

export interface PasswordChangeDeps extends LoginDeps {
  guard: Guard;
  stepUp: StepUp;
  jellyfin: Pick<JellyfinClient, 'deleteDevice'>;
  audit: AuditSink;
}

/**
 * `POST /Users/Password?userId=` and `/Users/{id}/Password` (a verified session; the gate ran first).
 * Jellyfin checks `CurrentPw` when a user changes their own password, so a session could use the route
 * to guess it: the guess is counted like a sign-in's (the address, the name at that address, and the
 * session, which is signed out at MaxFailedAttempts). A changed password signs every other session of
 * that user out, at Jellyfin (which does so itself) and at the gateway's gate, and the owner is told.
 */
export function passwordChange(deps: PasswordChangeDeps): GatewayMiddleware {
  return async (ctx) => {
    const session = ctx.state.session;
    const raw = await readSmallBody(ctx, deps.maxBodyBytes, 'password changes');
    parseLoginJson(raw); // malformed JSON never reaches Jellyfin
    if (!session) return relay(ctx, await forwardBuffered(ctx, deps, raw)); // an API key: Jellyfin decides
    const m = matchRoute(ctx.state.route, '/users/{id}/password');
    const target = canonicalGuid(m ? m.id : queryParam(ctx.querystring, 'userId')) ?? session.userId;
    const own = target === session.userId;
    const actor = { session, ip: ctx.state.client.ip };
    const user = await deps.users.get(session.userId);
    const who = { ip: actor.ip, userId: session.userId, username: user?.name };
    let release = () => {};
    if (own) {
      deps.stepUp.assertSessionMayTry(actor);
      const verdict = deps.guard.beginAttempt('password', who, { knownDevice: true });
      if (!isTicket(verdict)) {
        if (verdict.refused === 'banned') throw deps.guard.banError(verdict.ban);
        throw new HttpError(429, 'too_many_attempts', 'Too many wrong passwords. Wait a few minutes, then try again.', { 'retry-after': '60' });
      }
      release = () => verdict.release();
    }
    const people = { userId: session.userId, userName: user?.name ?? null, ip: actor.ip, deviceId: session.deviceId, deviceName: session.deviceName, client: session.client };
    try {
      const res = await forwardBuffered(ctx, deps, raw);
      if (own && res.status === 403) {
        deps.guard.recordFailure('password', who, ['address', 'user_address']);
        deps.audit.record({ ...people, type: 'password.change.failure', outcome: 'failure' });
        await deps.stepUp.countSessionFailure(actor);
      } else if (res.status === 204 || res.status === 200) {
        const others = deps.tokens.forUser(target).filter((e) => e.tokenHash !== session.tokenHash);
        for (const e of others) await revokeSession(deps.tokens, deps.jellyfin, e.tokenHash);
        deps.audit.record({ ...people, type: 'password.changed', outcome: 'success', detail: { target, own, sessionsSignedOut: others.length } });
        const from = [session.client, session.deviceName ? `(${session.deviceName})` : ''].filter(Boolean).join(' ') || 'a device';
        deps.guard.notifyUser(target, {
          kind: 'factor_change',
          title: 'Jellyfin: your password was changed',
          text: `Your Jellyfin password was changed from ${from} at ${actor.ip}; your other devices were signed out. If this was not you, tell your administrator at once.\n`,
        });
      }
      relay(ctx, res);
    } finally {
      release();
    }
  };
}
