import * as oidc from 'openid-client';
import ipaddr from 'ipaddr.js';
import type { Config } from '../config/index.ts';

export type ProviderConfig = Config['OIDCProviders'][number];

/** Why a sign-in at a provider did not go through; `reason` is audited, `message` is shown to the person. */
export class SsoError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly providerId?: string,
  ) {
    super(message);
  }
}

/**
 * Plain http is allowed only for an Authority the admin marked AllowPrivateEndpoints AND whose host is a
 * loopback or private address literal (a test, or an IdP on the LAN): a name could resolve anywhere.
 */
export function insecureAllowed(p: ProviderConfig): boolean {
  const u = new URL(p.Authority);
  if (u.protocol !== 'http:') return false;
  if (!p.AllowPrivateEndpoints) return false;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (!ipaddr.isValid(host)) return false;
  const range = ipaddr.process(host).range();
  return range === 'loopback' || range === 'private' || range === 'uniqueLocal' || range === 'linkLocal';
}

/**
 * The configured providers and their discovered metadata (openid-client v6). Discovery is done on first
 * use and remembered; a failure is not remembered, so a provider that was down works once it is back.
 */
export class OidcProviders {
  private readonly discovered = new Map<string, Promise<oidc.Configuration>>();

  /** `now` is the gateway's clock: the ID token's times are judged by it, as everything else is. */
  constructor(
    private readonly list: readonly ProviderConfig[],
    private readonly now: () => number = Date.now,
  ) {}

  all(): readonly ProviderConfig[] {
    return this.list;
  }

  get(id: string | undefined): ProviderConfig | undefined {
    if (!id) return undefined;
    return this.list.find((p) => p.Id.toLowerCase() === id.toLowerCase());
  }

  /**
   * The provider's metadata and client, for one sign-in; throws SsoError `idp_unreachable` when discovery
   * fails. Discovery is remembered; the client is made afresh so it judges time by the gateway's clock now.
   */
  async configuration(p: ProviderConfig): Promise<oidc.Configuration> {
    const discovered = await this.discover(p);
    const metadata: Partial<oidc.ClientMetadata> = { [oidc.clockSkew]: Math.round((this.now() - Date.now()) / 1000) };
    const c = new oidc.Configuration(discovered.serverMetadata(), p.ClientID, metadata, oidc.ClientSecretBasic(p.ClientSecret));
    if (insecureAllowed(p)) oidc.allowInsecureRequests(c);
    return c;
  }

  private async discover(p: ProviderConfig): Promise<oidc.Configuration> {
    let c = this.discovered.get(p.Id);
    if (!c) {
      c = oidc.discovery(new URL(p.Authority), p.ClientID, undefined, oidc.ClientSecretBasic(p.ClientSecret), {
        execute: insecureAllowed(p) ? [oidc.allowInsecureRequests] : [],
        timeout: 10,
      });
      this.discovered.set(p.Id, c);
      c.catch(() => this.discovered.delete(p.Id));
    }
    try {
      return await c;
    } catch (e) {
      throw new SsoError(502, 'idp_unreachable', `${p.Name} cannot be reached right now, so signing in with it is not possible. Please try again later, or sign in with your password.`, p.Id);
    }
  }
}
