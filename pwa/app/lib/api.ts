/**
 * The one way the pages talk to the gateway: JSON in, JSON out, the session's token in the MediaBrowser
 * header, errors as `ApiError` carrying the gateway's `{"error", "message"}` (shared/: DESIGN "The
 * gateway's own API"; the codes are shared/api/errors.ts). Response bodies are parsed with the shared schemas where the server publishes
 * one, so a contract change fails loudly here instead of as `undefined` on a page.
 */
import type { z } from 'zod';
import type { Endpoint, PathParams } from '../../../shared/api/endpoints.ts';
import { authorizationHeader } from '../../common/device.ts';
import { ApiError, errorBodyOf } from '../../common/errors.ts';
import { online } from './online.svelte.ts';
import { session } from './session.svelte.ts';
import { gatewayUrl, jellyfinUrl } from './urls.ts';

export interface RequestOptions<S extends z.ZodType | undefined = undefined> {
  body?: unknown;
  /** Parse the answer with this schema (a mismatch is an error, not a surprise on the page). */
  schema?: S;
  /** Send the session's token (default true). */
  auth?: boolean;
  /** The API of Jellyfin (through the gateway) instead of the gateway's own. */
  jellyfin?: boolean;
  query?: Record<string, string | number | undefined>;
  /** Statuses that are answers, not errors (their body is returned as JSON). */
  accept?: number[];
  /** Extra request headers (a step-up proof). */
  headers?: Record<string, string>;
}

export type Answer<S> = S extends z.ZodType ? z.infer<S> : unknown;

/** Turn an error response into an ApiError with the gateway's code and message, or a plain one for Jellyfin's text bodies. */
async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    /* Jellyfin's errors are text/plain "Error processing request." */
  }
  const body = errorBodyOf(json);
  if (body) return new ApiError(res.status, body.error, body.message, body);
  return new ApiError(res.status, `http_${res.status}`, text.slice(0, 200) || res.statusText);
}

/** Send a request; an error status (unless accepted) throws ApiError. Returns the status and the parsed JSON. */
export async function send(method: string, path: string, opts: RequestOptions<z.ZodType | undefined> = {}): Promise<{ status: number; json: unknown }> {
  const url = new URL(opts.jellyfin ? jellyfinUrl(path) : gatewayUrl(path));
  for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
  const headers: Record<string, string> = {
    accept: 'application/json',
    authorization: authorizationHeader(opts.auth === false ? null : session.token),
    ...opts.headers,
  };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    online.reachable = false;
    throw new ApiError(0, navigator.onLine === false ? 'offline' : 'network', 'The server could not be reached.');
  }
  online.reachable = true;
  if (!res.ok && !opts.accept?.includes(res.status)) {
    const err = await errorOf(res);
    // The token was revoked (signed out elsewhere, revoked from another device): sign this app out.
    if (res.status === 401 && opts.auth !== false && err.code === 'unauthenticated') session.clear();
    throw err;
  }
  if (res.status === 204) return { status: 204, json: undefined };
  const text = await res.text();
  let json: unknown = undefined;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      throw new ApiError(res.status, 'bad_response', 'The server sent an answer this app does not understand.');
    }
  }
  return { status: res.status, json };
}

export async function request<S extends z.ZodType | undefined = undefined>(
  method: string,
  path: string,
  opts: RequestOptions<S> = {},
): Promise<Answer<S>> {
  const { status, json } = await send(method, path, opts);
  if (opts.schema) {
    const parsed = opts.schema.safeParse(json);
    if (!parsed.success) {
      console.warn(`${method} ${path}: unexpected answer`, parsed.error.issues);
      throw new ApiError(status, 'bad_response', 'The server sent an answer this app does not understand. Update the app.');
    }
    return parsed.data as Answer<S>;
  }
  return json as Answer<S>;
}

export const get = <S extends z.ZodType | undefined = undefined>(path: string, opts?: RequestOptions<S>) => request<S>('GET', path, opts);
export const post = <S extends z.ZodType | undefined = undefined>(path: string, body?: unknown, opts?: RequestOptions<S>) =>
  request<S>('POST', path, { ...opts, body: body ?? {} });
export const put = <S extends z.ZodType | undefined = undefined>(path: string, body: unknown, opts?: RequestOptions<S>) => request<S>('PUT', path, { ...opts, body });
export const patch = <S extends z.ZodType | undefined = undefined>(path: string, body: unknown, opts?: RequestOptions<S>) => request<S>('PATCH', path, { ...opts, body });
export const del = (path: string, opts?: RequestOptions) => request('DELETE', path, opts);

export { ApiError };

/** What `call` takes besides the endpoint: its `:params` when its path has some, the body and the options of `request`. */
export type CallOptions<E extends Endpoint> = Omit<RequestOptions, 'schema' | 'jellyfin'> &
  (PathParams<E['path']> extends never ? { params?: undefined } : { params: Record<PathParams<E['path']>, string> });

/**
 * Call an endpoint declared in shared/api/endpoints.ts: its method, its path (the `:params` filled in,
 * each URI-encoded) and its answer checked with its response schema. No path is typed by hand.
 */
export function call<E extends Endpoint>(e: E, ...[opts]: PathParams<E['path']> extends never ? [opts?: CallOptions<E>] : [opts: CallOptions<E>]): Promise<Answer<E['response']>> {
  const params: Record<string, string> = opts?.params ?? {};
  const path = e.path.replace(/:([A-Za-z]+)/g, (_, name: string) => {
    const v = params[name];
    if (v === undefined) throw new Error(`${e.path}: ${name} is missing`);
    return encodeURIComponent(v);
  });
  const body = opts?.body ?? (e.method === 'GET' || e.method === 'DELETE' ? undefined : {});
  return request<E['response']>(e.method, path, { ...opts, body, schema: e.response });
}
