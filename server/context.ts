import type { ParameterizedContext, Middleware } from 'koa';
import type { ClientAddress } from './net/client-address.ts';
import type { Credential } from './jellyfin/credentials.ts';
import type { TokenEntry } from './gate/tokens.ts';

/** What the pipeline learns about a request, step by step (DESIGN: the pipeline). */
export interface GatewayState {
  /** Step 1: the real client address. */
  client: ClientAddress;
  /** The path as Jellyfin's router sees it, canonicalised (the one path normalizer). */
  route: string;
  /** Step 4: the Jellyfin credential, if any. */
  credential: Credential;
  /** Set by the token gate: the verified session the request belongs to, if it carried a user token. */
  session?: TokenEntry;
  /** Set by the token gate: the request carried a Jellyfin API key. */
  apiKey?: boolean;
  /**
   * The request body, when a step before the proxy had to read it (an administrator action's policy):
   * every later step reads these bytes, and they are what Jellyfin receives.
   */
  body?: Buffer;
}

export type GatewayContext = ParameterizedContext<GatewayState>;
export type GatewayMiddleware = Middleware<GatewayState>;
