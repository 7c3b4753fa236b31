import * as oidc from 'openid-client';
import type { AuditSink } from '../audit/index.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/index.ts';
import { randomId } from '../crypto.ts';
import type { Factors } from '../factors/index.ts';
import { revokeSession } from '../gate/index.ts';
import type { TokenRegistry } from '../gate/tokens.ts';
import type { UserDirectory } from '../gate/users.ts';
import type { JellyfinProxy } from '../jellyfin/proxy.ts';
import type { JellyfinClient } from '../jellyfin/upstream.ts';
import type { DeviceFields, MintedSession, SessionMinter } from '../login/mint.ts';
import type { DB } from '../store/index.ts';
import type { Keys } from '../store/keys.ts';
import { JellyfinAccounts, SsoLinks, type JellyfinUser } from './accounts.ts';
import { inAnyGroup, readIdentity, signedInWithMfa, type SsoIdentity } from './identity.ts';
import { OidcProviders, SsoError, type ProviderConfig } from './providers.ts';
import { SSO_STATE_SECONDS, SSO_TICKET_SECONDS, SsoTransactions } from './transaction.ts';

export { SsoError } from './providers.ts';

export interface SsoDeps {
  config: Config;
  db: DB;
  clock: Clock;
  keys: Keys;
  proxy: JellyfinProxy;
  jellyfin: JellyfinClient;
  tokens: TokenRegistry;
  users: UserDirectory;
  factors: Factors;
  minter: SessionMinter;
  audit: AuditSink;
  log: (msg: string) => void;
}

/** The end of a checked callback. */
export type SsoOutcome =
  /** Signed in: the sealed ticket lets this browser collect its Jellyfin session once. */
  | { kind: 'signed_in'; ticket: string; userId: string; userName: string; providerId: string; returnPath: string }
  /**
   * The provider's sign-in does not replace the gateway's own second factor for this user: the ticket
   * collects a session held behind the login challenge the password login opens (server/login/challenge.ts).
   */
  | { kind: 'second_factor'; ticket: string; userId: string; userName: string; providerId: string; returnPath: string };

/** Who the audit rows are about. */
interface Who {
  ip: string;
  providerId?: string;
  userId?: string;
  userName?: string;
}

/**
 * OpenID Connect single sign-on (openid-client v6): authorization code with PKCE S256, state and nonce
 * sealed in a cookie of this browser, the ID token checked by openid-client (issuer, audience, expiry,
 * nonce, signature — none of it is turned off here), userinfo read. The identity is linked to a Jellyfin
 * user by (issuer, subject); groups decide who may sign in and who is an administrator; the session
 * itself is minted through Quick Connect (server/login/mint.ts).
 */
export class SingleSignOn {
  readonly providers: OidcProviders;
  readonly links: SsoLinks;
  private readonly tx: SsoTransactions;
  private readonly accounts: JellyfinAccounts;

  constructor(private readonly deps: SsoDeps) {
    this.providers = new OidcProviders(deps.config.OIDCProviders, () => deps.clock.now());
    this.tx = new SsoTransactions(deps.db, deps.clock, deps.keys.encryptionKey, deps.keys.hmacKey);
    this.links = new SsoLinks(deps.db, deps.clock);
    this.accounts = new JellyfinAccounts(deps.proxy, deps.config.BaseUrl, deps.config.JellyfinApiKey);
  }

  /** The login page's buttons. */
  publicList(): Array<{ id: string; buttonText: string }> {
    return this.providers.all().map((p) => ({ id: p.Id, buttonText: p.ButtonText ?? `Sign in with ${p.Name}` }));
  }

  private provider(id: string | undefined): ProviderConfig {
    const p = this.providers.get(id);
    if (!p) throw new SsoError(404, 'unknown_provider', 'This sign-in option does not exist on this server.');
    return p;
  }

  /** Start: where to send the browser, and the sealed cookie that binds the sign-in to it. */
  async begin(providerId: string | undefined, redirectUri: string, returnPath: string, ip: string): Promise<{ location: string; cookie: string }> {
    const p = this.provider(providerId);
    const config = await this.failAudited({ ip, providerId: p.Id }, () => this.providers.configuration(p));
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: ['openid', ...p.Scopes.filter((s) => s !== 'openid')].join(' '),
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const cookie = this.tx.sealState({
      providerId: p.Id, state, nonce, codeVerifier, redirectUri, returnPath,
      expiresAt: this.deps.clock.now() + SSO_STATE_SECONDS * 1000,
    });
    this.deps.audit.record({ type: 'sso.started', outcome: 'info', ip, detail: { provider: p.Id } });
    return { location: url.href, cookie };
  }

  /** The provider sent the browser back: check everything, find the user, decide about the second factor. */
  async callback(url: URL, stateCookie: string | undefined, ip: string): Promise<SsoOutcome> {
    const who: Who = { ip };
    return this.failAudited(who, async () => {
      const params = url.searchParams;
      const st = this.tx.openState(stateCookie);
      if (!st) {
        throw new SsoError(400, 'state_foreign', 'This sign-in was started in another browser, or too long ago. Please start again from the sign-in page.');
      }
      who.providerId = st.providerId;
      if (params.get('state') !== st.state) {
        throw new SsoError(400, 'state_foreign', 'This sign-in answer does not belong to the sign-in this browser started. Please start again from the sign-in page.');
      }
      const p = this.provider(st.providerId);
      if (!(await this.tx.spend('state', st.state, st.expiresAt))) {
        throw new SsoError(400, 'state_replayed', 'This sign-in answer was already used. Please start again from the sign-in page.');
      }
      const idpError = params.get('error');
      if (idpError) {
        const description = params.get('error_description');
        throw new SsoError(
          idpError === 'access_denied' ? 403 : 502,
          `idp_${idpError.replace(/[^a-z_]/gi, '').slice(0, 40)}`,
          idpError === 'access_denied'
            ? `The sign-in at ${p.Name} was cancelled or refused${description ? ` (“${description.slice(0, 200)}”)` : ''}. You can try again or sign in with your password.`
            : `${p.Name} could not sign you in (${idpError}). Please try again later, or sign in with your password.`,
        );
      }
      const config = await this.providers.configuration(p);
      const current = new URL(st.redirectUri);
      current.search = url.search;
      const tokens = await this.oidcCall(p, () =>
        oidc.authorizationCodeGrant(config, current, {
          pkceCodeVerifier: st.codeVerifier,
          expectedState: st.state,
          expectedNonce: st.nonce,
          idTokenExpected: true,
        }),
      );
      const claims = tokens.claims();
      if (!claims) throw new SsoError(502, 'idp_response_invalid', `${p.Name} gave no ID token. Please tell the server's administrator.`);
      const userinfo = await this.oidcCall(p, () => oidc.fetchUserInfo(config, tokens.access_token, claims.sub));
      const identity = readIdentity(p, config.serverMetadata().issuer, claims as Record<string, unknown>, userinfo as Record<string, unknown>);
      const user = await this.account(p, identity, who);
      who.userId = user.id;
      who.userName = user.name;
      await this.deps.users.upsert({ id: user.id, name: user.name, isAdmin: user.isAdmin });

      const requirement = await this.deps.factors.requirement(user.id, user.isAdmin);
      const providerMfa = p.OIDCSatisfiesSecondFactor && signedInWithMfa(identity);
      const secondFactor = !requirement.required ? 'not_required' : providerMfa ? 'provider' : 'required';
      this.deps.audit.record({
        type: 'sso.success', outcome: 'success', userId: user.id, userName: user.name, ip,
        detail: { provider: p.Id, secondFactor, amr: identity.amr },
      });
      const held = secondFactor === 'required';
      const ticket = this.tx.sealTicket({
        id: randomId(), providerId: p.Id, userId: user.id, returnPath: st.returnPath,
        expiresAt: this.deps.clock.now() + SSO_TICKET_SECONDS * 1000,
        ...(held ? { secondFactor: true } : {}),
      });
      return { kind: held ? 'second_factor' : 'signed_in', ticket, userId: user.id, userName: user.name, providerId: p.Id, returnPath: st.returnPath };
    });
  }

  /** The browser collects its session once, under its own device fields (see SessionMinter). */
  async collect(ticketCookie: string | undefined, device: DeviceFields, ip: string): Promise<MintedSession & { returnPath: string; held: boolean }> {
    const t = this.tx.openTicket(ticketCookie);
    if (!t || !(await this.tx.spend('ticket', t.id, t.expiresAt))) {
      this.deps.audit.record({ type: 'sso.failure', outcome: 'failure', ip, userId: t?.userId ?? null, detail: { provider: t?.providerId ?? null, reason: 'ticket_invalid' } });
      throw new SsoError(400, 'ticket_invalid', 'This sign-in has already been completed or has expired. Please start again from the sign-in page.');
    }
    // A ticket that still needs the gateway's second factor mints a session nobody can use yet (held).
    const held = t.secondFactor === true;
    const minted = await this.deps.minter.mint({ userId: t.userId, device, ip, method: 'oidc', hold: held });
    return { ...minted, returnPath: t.returnPath, held };
  }

  /** The Jellyfin user of an identity: linked before, linked now (admin opt-in, verified e-mail), or created. */
  private async account(p: ProviderConfig, id: SsoIdentity, who: Who): Promise<JellyfinUser> {
    if (!this.deps.config.JellyfinApiKey) {
      this.deps.log('single sign-on needs JELLYFIN_API_KEY');
      throw new SsoError(503, 'sso_needs_api_key', "Single sign-on needs the gateway's Jellyfin API key. Please tell the server's administrator; signing in with your password still works.");
    }
    const link = await this.links.find(id.issuer, id.subject);
    let user = link ? await this.accounts.get(link.user_id) : undefined;
    if (link && !user) await this.links.unlink(id.issuer, id.subject); // the Jellyfin user was deleted
    if (user) {
      who.userId = user.id;
      who.userName = user.name;
    }

    if (p.AllowedGroups.length > 0 && !inAnyGroup(id.groups, p.AllowedGroups)) {
      const revoked = user ? await this.revokeAll(user.id) : 0;
      this.deps.audit.record({
        type: 'sso.refused', outcome: 'refused', userId: user?.id ?? null, userName: user?.name ?? id.username ?? null, ip: who.ip,
        detail: { provider: p.Id, reason: 'not_in_allowed_groups', sessionsRevoked: revoked },
      });
      throw new SsoError(403, 'not_in_allowed_groups', `Your account at ${p.Name} is not in a group that may use this server. If you think it should be, ask the server's administrator.`);
    }

    if (!user) user = await this.firstSignIn(p, id, who);
    if (user.isDisabled) {
      throw new SsoError(403, 'user_disabled', "Your Jellyfin account is disabled. Please ask the server's administrator.");
    }
    if (p.SyncGroupsEnabled && p.AdminGroups.length > 0) {
      const admin = inAnyGroup(id.groups, p.AdminGroups);
      if (admin !== user.isAdmin && (await this.accounts.setAdmin(user, admin))) user = { ...user, isAdmin: admin };
    }
    await this.links.touch(id.issuer, id.subject);
    return user;
  }

  private async firstSignIn(p: ProviderConfig, id: SsoIdentity, who: Who): Promise<JellyfinUser> {
    if (p.LinkExistingUsers) {
      const all = await this.accounts.list();
      const byName = id.username ? all.find((u) => u.name.toLowerCase() === id.username!.toLowerCase()) : undefined;
      const emailUserId = id.email ? await this.links.userByConfirmedEmail(id.email) : undefined;
      const byEmail = emailUserId ? all.find((u) => u.id === emailUserId) : undefined;
      if (byName && byEmail && byName.id !== byEmail.id) {
        throw new SsoError(409, 'link_ambiguous', `Your name and your e-mail address at ${p.Name} belong to two different Jellyfin users. Please ask the server's administrator to link your account.`);
      }
      const existing = byName ?? byEmail;
      if (existing) {
        if (!id.emailVerified) {
          this.deps.audit.record({
            type: 'sso.refused', outcome: 'refused', userId: existing.id, userName: existing.name, ip: who.ip,
            detail: { provider: p.Id, reason: 'email_unverified' },
          });
          throw new SsoError(403, 'email_unverified', `${p.Name} has not verified your e-mail address, so your account cannot be linked to the Jellyfin user "${existing.name}". Verify your e-mail address at ${p.Name}, or ask the server's administrator.`);
        }
        // A name is whatever the person typed at the provider: it never takes over an administrator.
        if (!byEmail && existing.isAdmin) {
          this.deps.audit.record({
            type: 'sso.refused', outcome: 'refused', userId: existing.id, userName: existing.name, ip: who.ip,
            detail: { provider: p.Id, reason: 'link_admin_by_name' },
          });
          throw new SsoError(403, 'link_admin_by_name', `"${existing.name}" is an administrator's account: it is linked to ${p.Name} only by a confirmed e-mail address (set the same address for e-mail codes in Jellyguard first), never by name.`);
        }
        await this.links.link({ issuer: id.issuer, subject: id.subject, user_id: existing.id, provider_id: p.Id, linked_by: byName ? 'name' : 'email' });
        this.deps.audit.record({
          type: 'sso.linked', outcome: 'success', userId: existing.id, userName: existing.name, ip: who.ip,
          detail: { provider: p.Id, by: byName ? 'name' : 'email' },
        });
        return existing;
      }
    }
    if (!p.AutoCreateUsers) {
      throw new SsoError(403, 'not_linked', `Your account at ${p.Name} is not linked to a Jellyfin user on this server. Please ask the server's administrator.`);
    }
    if (!id.username) {
      throw new SsoError(502, 'no_username', `${p.Name} did not send a user name (claim "${p.UsernameClaim}"). Please tell the server's administrator.`);
    }
    const created = await this.accounts.create(id.username);
    if (!created.ok) {
      throw new SsoError(409, 'name_taken', `A Jellyfin user named "${id.username}" cannot be created (it may exist already). Please ask the server's administrator to link your account.`);
    }
    let user = created.user;
    const admin = inAnyGroup(id.groups, p.AdminGroups);
    if (admin && (await this.accounts.setAdmin(user, true))) user = { ...user, isAdmin: true };
    await this.links.link({ issuer: id.issuer, subject: id.subject, user_id: user.id, provider_id: p.Id, linked_by: 'created' });
    this.deps.audit.record({ type: 'sso.user.created', outcome: 'success', userId: user.id, userName: user.name, ip: who.ip, detail: { provider: p.Id, admin } });
    this.deps.audit.record({ type: 'sso.linked', outcome: 'success', userId: user.id, userName: user.name, ip: who.ip, detail: { provider: p.Id, by: 'created' } });
    return user;
  }

  /** Every gateway session of the user: out of the gate at once, and deleted at Jellyfin. */
  private async revokeAll(userId: string): Promise<number> {
    let n = 0;
    for (const t of this.deps.tokens.forUser(userId)) {
      if (await revokeSession(this.deps.tokens, this.deps.jellyfin, t.tokenHash)) n++;
    }
    return n;
  }

  /** Turn openid-client's refusals into reasons and sentences a person understands. */
  private async oidcCall<T>(p: ProviderConfig, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw explain(p, e);
    }
  }

  /** Run `fn`; any refusal is audited (`sso.failure`) with its reason before it is passed on. */
  private async failAudited<T>(who: Who, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      const err = e instanceof SsoError ? e : new SsoError(500, 'internal_error', 'Something went wrong while signing you in. Please try again.');
      if (!(e instanceof SsoError)) this.deps.log(`single sign-on failed: ${(e as Error).message}`);
      if (!['not_in_allowed_groups', 'email_unverified', 'link_admin_by_name'].includes(err.reason)) {
        this.deps.audit.record({
          type: 'sso.failure', outcome: 'failure', ip: who.ip, userId: who.userId ?? null, userName: who.userName ?? null,
          detail: { provider: who.providerId ?? err.providerId ?? null, reason: err.reason },
        });
      }
      throw err;
    }
  }
}

function explain(p: ProviderConfig, e: unknown): SsoError {
  if (e instanceof SsoError) return e;
  const again = 'Please start again from the sign-in page.';
  if (e instanceof oidc.ResponseBodyError) {
    if (e.error === 'invalid_grant') return new SsoError(400, 'code_invalid', `The answer from ${p.Name} had expired or was already used. ${again}`);
    return new SsoError(502, 'token_error', `${p.Name} refused to complete the sign-in (${e.error}). ${again}`);
  }
  if (e instanceof oidc.AuthorizationResponseError) {
    return new SsoError(502, `idp_${e.error}`, `${p.Name} could not sign you in (${e.error}). ${again}`);
  }
  const code = (e as { code?: string }).code ?? '';
  // openid-client wraps oauth4webapi's error, whose message names the claim or parameter.
  const cause = (e as { cause?: { message?: unknown } }).cause;
  const msg = `${(e as Error).message ?? ''} ${typeof cause?.message === 'string' ? cause.message : ''}`;
  if (code === 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED') {
    return new SsoError(400, 'clock_skew', `The clocks of this server and ${p.Name} disagree, so the sign-in cannot be trusted. Please tell the server's administrator.`);
  }
  if (/"iss"|issuer/i.test(msg)) return new SsoError(400, 'wrong_issuer', `The sign-in answer did not come from ${p.Name} (wrong issuer). ${again}`);
  if (/nonce/i.test(msg)) return new SsoError(400, 'nonce_mismatch', `The sign-in answer from ${p.Name} does not match the sign-in this browser started. ${again}`);
  if (/"aud"|audience|"azp"/i.test(msg)) return new SsoError(400, 'wrong_audience', `The sign-in answer from ${p.Name} was meant for another application. ${again}`);
  if (e instanceof TypeError || code === 'OAUTH_RESPONSE_IS_NOT_JSON' || /fetch failed|ECONNREFUSED|timeout|aborted/i.test(msg)) {
    return new SsoError(502, 'idp_unreachable', `${p.Name} cannot be reached right now. Please try again later, or sign in with your password.`);
  }
  return new SsoError(502, 'idp_response_invalid', `${p.Name} answered in a way that cannot be trusted (${code || 'invalid response'}). ${again}`);
}
