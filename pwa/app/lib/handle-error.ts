/**
 * The one error handler of the app (Immich's handle-error.ts): every failure a page catches becomes one
 * sentence a household member understands, shown where the page wants it or as a toast. Codes come from
 * the gateway's `{"error"}` (its catalogue: shared/api/errors.ts); the WebAuthn ones from the browser.
 */
import { errorMessage } from '../../../shared/api/errors.ts';
import { ApiError } from './api.ts';
import { PasskeyError } from '../../common/passkey.ts';
import { toasts } from './toast.svelte.ts';

/** Friendlier words for some codes; the gateway's own `message` (or else the catalogue's) for the rest. */
const MESSAGES: Record<string, string> = {
  offline: 'You are offline. Connect to the internet and try again.',
  network: 'The server could not be reached. Check your connection and try again.',
  unauthenticated: 'You were signed out. Sign in again.',
  forbidden: 'Only an administrator can do this.',
  http_500: 'Something went wrong on the server. Try again in a moment.',
  http_502: 'The server is not answering right now. Try again in a moment.',
  http_503: 'The server is not answering right now. Try again in a moment.',
  internal_error: 'Something went wrong on the server. Try again in a moment.',
  bad_response: 'The server sent an answer this app does not understand. Close the app and open it again.',
};

export function messageOf(err: unknown): string {
  if (err instanceof PasskeyError) return err.message;
  if (err instanceof ApiError) return MESSAGES[err.code] ?? (err.message || errorMessage(err.code, 'Something went wrong. Try again.'));
  if (err instanceof DOMException && err.name === 'NotAllowedError') return 'The request was cancelled or timed out. Try again.';
  return 'Something went wrong. Try again.';
}

/** Show the error as a toast and return its sentence (for pages that also show it inline). */
export function handleError(err: unknown, context?: string): string {
  const text = messageOf(err);
  if (!(err instanceof ApiError) && !(err instanceof PasskeyError)) console.error(context ?? 'error', err);
  toasts.show(text, 'error', 6000);
  return text;
}
