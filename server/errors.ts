import { API_ERRORS, type ApiErrorCode, type StatusOf } from '../shared/api/errors.ts';

/**
 * Typed errors with a status, a stable code and whether the message may be shown.
 * They become the JSON body `{"error": code, "message": message}` in one place (server/api/errors.ts).
 * Codes come from the one catalogue, shared/api/errors.ts, so the PWA knows each of them.
 */
export class HttpError extends Error {
  readonly expose: boolean;
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
    expose = status < 500,
    /** More for the client, sent as the body's `detail` (which setting was refused, say). */
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
    this.expose = expose;
  }
}

export interface ApiErrorOptions<C extends ApiErrorCode> {
  /** Say more precisely what went wrong than the catalogue's sentence. */
  message?: string;
  /** One of the other statuses the catalogue lists for this code. */
  status?: StatusOf<C>;
  headers?: Record<string, string>;
  /** Sent as the body's `detail`: what a client needs to point at the problem (never a secret). */
  detail?: Record<string, unknown>;
}

/** An error of the catalogue: its status and, unless a more precise one is given, its message. */
export function apiError<C extends ApiErrorCode>(code: C, opts: ApiErrorOptions<C> | string = {}): HttpError {
  const o: ApiErrorOptions<C> = typeof opts === 'string' ? { message: opts } : opts;
  const entry = API_ERRORS[code];
  const status = (o.status ?? entry.status) as number;
  return new HttpError(status, code, o.message ?? entry.message, o.headers, status < 500, o.detail);
}

/** The body of an error answered without throwing (a 401 that carries attemptsLeft, say). */
export function errorBody<C extends ApiErrorCode>(code: C, message?: string): { error: C; message: string } {
  return { error: code, message: message ?? API_ERRORS[code].message };
}

export const badRequest = (code: ApiErrorCode, message: string) => new HttpError(400, code, message);
