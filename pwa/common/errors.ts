/**
 * The one error type of both front-ends: a failed call to the gateway (or to Jellyfin through it), with
 * the gateway's stable code from its catalogue (shared/api/errors.ts) and the whole JSON body for the
 * fields some errors add. Each front-end words it for people in one place (app: lib/handle-error.ts,
 * login: messages.ts), falling back to the catalogue's message.
 */
import { ApiErrorBodySchema, type ApiErrorBody } from '../../shared/api/errors.ts';

export class ApiError extends Error {
  constructor(
    /** 0 when the server was not reached at all. */
    readonly status: number,
    /** The gateway's code ("invalid_code", "unauthenticated"…), or one of the page's own: network, offline, bad_response, http_<status>… */
    readonly code: string,
    message: string,
    /** The whole error body, for the fields some errors add (attemptsLeft, challengeId…). */
    readonly body: Record<string, unknown> = {},
    /** From a Retry-After header: how long a ban or rate limit lasts. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** Tries left in a sign-in after a wrong code. */
  get attemptsLeft(): number | undefined {
    return typeof this.body.attemptsLeft === 'number' ? this.body.attemptsLeft : undefined;
  }
}

/** The gateway's error body, when `json` is one (`{"error", "message", …}`). */
export function errorBodyOf(json: unknown): ApiErrorBody | undefined {
  const parsed = ApiErrorBodySchema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

/** Seconds from a Retry-After header (undefined when absent or not a positive number). */
export function retryAfterOf(res: Response): number | undefined {
  const retry = Number(res.headers.get('retry-after'));
  return Number.isFinite(retry) && retry > 0 ? retry : undefined;
}

