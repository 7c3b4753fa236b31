import { canonicalGuid } from '../jellyfin/json.ts';
import type { UserDirectory } from '../gate/users.ts';
import type { Factors } from '../factors/index.ts';
import type { BeforeCheck, LoginStep } from './hooks.ts';

/**
 * TOTP in the password (opt-in `AllowTOTPInPassword`), for native clients that cannot show a prompt:
 * the user types their password immediately followed by the current 6-digit code.
 *
 * What is forwarded matters, because every wrong password counts towards Jellyfin's own lockout (which
 * disables the account). So the split form is tried ONLY when the user is known to have TOTP and the
 * last 6 characters are a currently valid, unused code for them — then Jellyfin sees the password
 * without the code, once. In every other case this hook does nothing and the login is forwarded as
 * sent. There is never a second try: if Jellyfin refuses the split password, that is the answer (a
 * password that itself ends in a valid current code is a one-in-a-million coincidence).
 *
 * Two checks of the one password login (server/login/policy.ts): `split`, a `before` check, chooses what
 * is forwarded; `spend`, a `decide` step, consumes the code's time step once Jellyfin accepted (atomically;
 * a replay or a race loses) and releases the login as "password+totp". If the step was consumed
 * meanwhile, the login goes on through the later steps (a challenge, usually).
 */
export interface TotpInPasswordDeps {
  factors: Factors;
  users: UserDirectory;
  enabled: () => boolean;
}

const TRAILING_CODE = /^([\s\S]+?)(\d{6})$/;

/** The request with its password replaced: in the JSON body (every `Pw` key, any case) and/or the `pw` query. */
export function rewritePassword(url: string, body: Record<string, unknown> | undefined, from: string, to: string): { url: string; body: Buffer | undefined } {
  let newBody: Buffer | undefined;
  if (body) {
    const copy: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(body)) copy[k] = k.toLowerCase() === 'pw' && v === from ? to : v;
    newBody = Buffer.from(JSON.stringify(copy));
  }
  const q = url.indexOf('?');
  if (q === -1) return { url, body: newBody };
  const params = new URLSearchParams(url.slice(q + 1));
  let changed = false;
  const out = new URLSearchParams();
  for (const [k, v] of params) {
    if (k.toLowerCase() === 'pw' && v === from) {
      out.append(k, to);
      changed = true;
    } else out.append(k, v);
  }
  return { url: changed ? `${url.slice(0, q)}?${out.toString()}` : url, body: newBody };
}

export function totpInPassword(deps: TotpInPasswordDeps): { split: BeforeCheck; spend: LoginStep } {
  const split: BeforeCheck = {
    name: 'totpInPassword',
    async run(ctx, attempt) {
      if (!deps.enabled()) return;
      const m = attempt.password ? TRAILING_CODE.exec(attempt.password) : null;
      if (!m) return;
      const user = attempt.pathUserId
        ? await deps.users.get(canonicalGuid(attempt.pathUserId) ?? '')
        : attempt.username
          ? await deps.users.byName(attempt.username)
          : undefined;
      if (!user) return;
      const check = await deps.factors.totp.check(user.id, m[2]!);
      if (!check.valid) return; // forward as sent
      attempt.forward = rewritePassword(ctx.url, attempt.body, attempt.password!, m[1]!);
      attempt.totp = { userId: user.id, step: check.step };
    },
  };

  const spend: LoginStep = {
    name: 'totpInPassword',
    async run(f) {
      const code = f.attempt.totp;
      // Spent atomically: a replay or a race loses, and that login goes on through the steps after this one.
      if (!code || f.result.userId !== code.userId || !(await deps.factors.totp.consume(code.userId, code.step))) return undefined;
      deps.factors.audit({
        type: 'login.totp_in_password',
        outcome: 'success',
        userId: f.result.userId,
        userName: f.result.userName,
        ip: f.ctx.state.client.ip,
        deviceId: f.result.deviceId,
        deviceName: f.result.deviceName,
        client: f.result.client,
      });
      return { kind: 'release', method: 'password+totp' };
    },
  };
  return { split, spend };
}
