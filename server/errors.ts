/**
 * Typed errors with a status, a stable code and whether the message may be shown.
 * They become the JSON body `{"error": code, "message": message}` in one place (server/api/errors.ts).
 */
export class HttpError extends Error {
  readonly expose: boolean;
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    expose = status < 500,
  ) {
    super(message);
    this.expose = expose;
  }
}

export const badRequest = (code: string, message: string) => new HttpError(400, code, message);
export const unauthorized = (code: string, message: string) => new HttpError(401, code, message);
export const forbidden = (code: string, message: string) => new HttpError(403, code, message);
export const notFound = (code: string, message: string) => new HttpError(404, code, message);
export const payloadTooLarge = (message: string) => new HttpError(413, 'payload_too_large', message);
