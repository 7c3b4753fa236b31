import type { ENDPOINTS } from '../../shared/api/endpoints.ts';
import type { LoginApprovalPending } from '../../shared/api/approvals.ts';
import { clientGone, type Approvals } from '../approvals/index.ts';
import type { PhoneSignIn } from '../approvals/signin.ts';
import { noStore } from './http.ts';
import type { RouteContext } from './route.ts';

/**
 * "Approve on my phone" with a user name alone (server/approvals/signin.ts), for the login page:
 *
 *   POST Approvals/SignIn          {userName}               → the 2 digits to show and the sealed request id
 *   POST Approvals/SignIn/Status   {requestId, waitSeconds} → 202 pending, 410 over, or 200 Jellyfin's
 *                                                             AuthenticationResult (a session just minted)
 * Public: the sealed request id is the bearer; the phone's passkey tap on its approval is the proof.
 */
type Ctx<K extends keyof typeof ENDPOINTS> = RouteContext<(typeof ENDPOINTS)[K]>;

export function phoneSignInHandlers({ signIn, approvals }: { signIn: PhoneSignIn; approvals: Approvals }) {
  return {
    async start(ctx: Ctx<'PhoneSignIn'>) {
      noStore(ctx);
      const c = ctx.state.credential;
      ctx.body = await signIn.start(
        ctx.input.userName,
        { client: c.client ?? '', device: c.device ?? '', deviceId: c.deviceId ?? '', version: c.version ?? '' },
        ctx.state.client.ip,
      );
    },

    async status(ctx: Ctx<'PhoneSignInStatus'>) {
      const input = ctx.input;
      if (input.waitSeconds > 0) approvals.login.track(ctx); // a shutdown answers the long poll first
      const gone = clientGone(ctx);
      let r;
      try {
        r = await signIn.status(input.requestId, ctx.state.credential.deviceId, ctx.state.client.ip, input.waitSeconds, gone.signal);
      } finally {
        gone.done();
      }
      noStore(ctx);
      if (r.kind === 'pending') {
        const body: LoginApprovalPending = { status: 'pending', number: r.number, expiresAt: r.expiresAt };
        ctx.status = 202;
        ctx.body = body;
        return;
      }
      ctx.status = 200;
      ctx.body = r.session.body;
    },
  };
}
