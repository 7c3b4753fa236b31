import { z } from 'zod';

/**
 * Every error the gateway answers under `/JellyfinSecurity` (and on the Jellyfin routes it guards), in one
 * catalogue: the stable code, its HTTP status and a message a person understands. The body is always
 * `{"error": code, "message": text}`, a few with more fields (attemptsLeft, challengeId…; see
 * ApiErrorBodySchema). The server throws these codes (server/errors.ts) and may say more specifically
 * what went wrong in its message; the PWA shows the server's message, or the catalogue's when there is
 * none (a code from an older server, an answer cut short).
 *
 * `status` is the status a code answers with; `also` lists the other statuses the same code is sent with
 * where one code names one thing across endpoints with different contracts (a wrong code is 401 in a
 * sign-in, 400 when confirming a new factor, for example). A code's status never changes silently: the
 * server can only use the ones listed here.
 */
export interface ErrorEntry {
  status: number;
  message: string;
  also?: readonly number[];
}

export const API_ERRORS = {
  // ── 400: the request itself is wrong; nothing changed ──
  ticket_invalid: { status: 400, message: 'This sign-in has already been completed or has expired. Start again from the sign-in page.' },
  sso_failed: { status: 400, also: [403, 404, 409, 500, 502, 503], message: 'Single sign-on could not sign you in. Start again from the sign-in page.' },
  bad_request: { status: 400, message: 'The request could not be understood.' },
  invalid_request: { status: 400, message: 'Something in the request is missing or not valid.' },
  invalid_configuration: { status: 400, message: 'A setting is not valid: nothing was changed.' },
  malformed_body: { status: 400, message: 'The request body is not valid JSON.' },
  malformed_path: { status: 400, message: 'The request path cannot be read.' },
  bad_content_length: { status: 400, message: 'The request’s Content-Length is not a number.' },
  invalid_code: { status: 400, also: [401], message: 'That code is not right.' },
  incomplete_code: { status: 400, message: 'That is not a whole code. Enter every digit of it; an incomplete code does not count as a try.' },
  invalid_format: { status: 400, message: 'That image format is not offered (use png or svg).' },
  invalid_cidr: { status: 400, message: 'One of the addresses or ranges is not valid.' },
  invalid_user_id: { status: 400, message: 'A user id is 32 hexadecimal characters (dashes allowed).' },
  invalid_ban_id: { status: 400, message: 'A ban id is a positive whole number.' },
  invalid_step_up: { status: 400, message: 'The confirmation sent with this request is not in a form the server knows.' },
  invalid_passkey: { status: 400, message: 'The passkey could not be registered. Try again.' },
  unknown_ceremony: { status: 400, message: 'The passkey prompt was too old or already used. Try again.' },
  method_unavailable: { status: 400, message: 'This way of confirming is not available here.' },
  passkeys_unavailable: { status: 400, message: 'Passkeys need the server to be reached by a domain name over https.' },
  passkey_required: { status: 400, message: 'Set up this phone (a passkey) in the Authenticator first.' },
  number_required: { status: 400, message: 'Pick the number shown on the screen that is signing in.' },

  // ── 401: who is asking is not established (or a proof was refused) ──
  unauthenticated: { status: 401, message: 'Sign in with a Jellyfin account through Jellyguard first.' },
  unauthorized: { status: 401, message: 'Not allowed without the right token.' },
  unknown_token: { status: 401, message: 'This token was not issued through Jellyguard. Sign in again.' },
  pending_token: { status: 401, message: 'This sign-in is waiting for a second factor.' },
  api_key_refused: { status: 401, message: 'API keys are not allowed through this gateway.' },
  second_factor_required: { status: 401, message: 'A second factor is needed to finish signing in.' },
  step_up_required: { status: 401, message: 'Confirm it is you first.' },
  invalid_assertion: { status: 401, message: 'The passkey was not accepted.' },
  challenge_failed: { status: 401, also: [410], message: 'Too many wrong codes for this sign-in. Sign in again to get new tries.' },
  approval_pending: { status: 401, message: 'Approve this sign-in on your phone, then sign in again.' },

  // ── 403: known, but not allowed ──
  password_login_disabled: { status: 403, message: 'This account signs in with single sign-on: use its button on the sign-in page.' },
  user_unknown: { status: 403, message: 'This Jellyfin user does not exist (any more).' },
  user_disabled: { status: 403, message: 'This Jellyfin account is disabled. Ask the server’s administrator.' },
  forbidden: { status: 403, message: 'This needs a Jellyfin administrator.' },
  not_this_phone: { status: 403, message: 'Only the Jellyguard app on that phone can change where its notifications go.' },
  address_banned: { status: 403, also: [429], message: 'Too many failed sign-in attempts from your network. Devices that are already signed in keep working. Try again later, use another network, or ask an administrator to lift the ban (Admin → Bans).' },
  address_not_allowed: { status: 403, message: 'This account may not sign in from your network. Ask an administrator.' },
  impossible_travel: { status: 403, message: 'This sign-in was blocked: it came too far, too fast from your previous one.' },
  password_breached: { status: 403, message: 'This password appears in known data breaches. Ask an administrator to set a new one.' },
  second_factor_unavailable: { status: 403, message: 'A second factor is required, but no method is available for this account. Ask the administrator.' },
  account_held: { status: 403, also: [409], message: 'Sign-ins to this account wait for a phone.' },
  quick_connect_not_approved: { status: 403, message: 'This Quick Connect request was not approved through Jellyguard.' },
  step_up_unavailable: { status: 403, message: 'A Jellyfin API key cannot confirm this: use the Jellyguard Authenticator.' },
  step_up_used: { status: 403, message: 'This confirmation was already used. Confirm again.' },
  step_up_expired: { status: 403, message: 'This confirmation expired. Confirm again.' },
  step_up_denied: { status: 403, message: 'This was denied on your phone.' },
  step_up_invalid: { status: 403, message: 'This confirmation is not valid for this. Confirm again.' },

  // ── 404: nothing by that name (for this caller) ──
  not_found: { status: 404, message: 'No such page or file.' },
  unknown_challenge: { status: 404, message: 'This sign-in is unknown or over. Sign in again.' },
  unknown_approval: { status: 404, message: 'This approval is unknown.' },
  no_approval: { status: 404, message: 'No phone approval was started for this sign-in.' },
  unknown_code: { status: 404, message: 'Nothing is waiting with this code. Check the code on the screen; it may have expired.' },
  unknown_pairing: { status: 404, message: 'No pairing with this id or code is waiting.' },
  unknown_device: { status: 404, message: 'No such paired device.' },
  unknown_session: { status: 404, message: 'No such session.' },
  unknown_phone: { status: 404, message: 'No such phone.' },
  unknown_passkey: { status: 404, message: 'No such passkey.' },
  unknown_trusted_browser: { status: 404, message: 'No such trusted browser.' },
  unknown_step_up: { status: 404, message: 'No such confirmation for this session.' },
  unknown_user: { status: 404, also: [409], message: 'No such user.' },
  not_enrolled: { status: 404, message: 'That is not set up.' },
  ban_not_found: { status: 404, message: 'No such ban (it may have been lifted already).' },
  pairing_disabled: { status: 404, message: 'TV pairing is turned off on this server.' },

  // ── 409: it conflicts with how things are now ──
  challenge_state: { status: 409, message: 'This sign-in is at another step. Reload the page.' },
  read_only_setting: { status: 409, message: 'This setting comes from an environment variable: change it there.' },
  already_enrolled: { status: 409, message: 'This is already set up.' },
  duplicate_credential: { status: 409, message: 'This passkey is already registered.' },
  factor_required: { status: 409, message: 'This is your last second factor and one is required: add another first.' },
  no_factor: { status: 409, message: 'Set up a second factor first.' },
  no_enrollment: { status: 409, message: 'Start the set-up first.' },
  no_pending: { status: 409, message: 'No confirmation code is waiting.' },
  no_subscription: { status: 409, message: 'This phone has no push subscription: open the app on it.' },
  push_disabled: { status: 409, message: 'Push notifications are turned off on this server.' },
  approval_over: { status: 409, also: [401], message: 'This request was already decided.' },
  answer_with_passkey: { status: 409, message: 'Answer this with "It was me" or "This wasn’t me".' },
  wrong_number: { status: 409, message: 'That is not the number on the screen: this request was denied.' },
  pairing_failed: { status: 409, message: 'The device stopped waiting before it could be approved. Start again on the device.' },
  step_up_pending: { status: 409, message: 'The approval on your phone is still waiting.' },

  // ── 410: it was there, and is over ──
  challenge_expired: { status: 410, message: 'This sign-in took too long. Sign in again.' },
  challenge_over: { status: 410, message: 'This sign-in is already over. Sign in again.' },
  approval_expired: { status: 410, also: [401], message: 'Nobody approved on the phone in time.' },
  approval_denied: { status: 410, also: [401], message: 'This sign-in was denied on the phone.' },
  approval_reported: { status: 410, message: 'This sign-in was reported on the phone.' },
  pairing_expired: { status: 410, message: 'This pairing code expired. Ask for a new one.' },

  // ── 413, 415: the body cannot be taken ──
  payload_too_large: { status: 413, message: 'The request is too large.' },
  unsupported_content_encoding: { status: 415, message: 'Requests must not be compressed.' },

  // ── 429: too many, wait ──
  too_many_attempts: { status: 429, message: 'Too many attempts. Wait a few minutes, then try again.' },
  too_many_requests: { status: 429, message: 'Asked too often. Wait a moment, then try again.' },
  too_many_emails: { status: 429, message: 'Too many codes were sent. Try again later.' },
  too_many_pairings: { status: 429, message: 'Too many devices are waiting to be paired. Approve or deny them, or wait a few minutes.' },
  polling_too_fast: { status: 429, message: 'Asked too often. Wait a moment, then try again.' },

  // ── 5xx: the server or Jellyfin cannot do it right now ──
  mint_failed: { status: 502, message: 'Jellyfin did not start a session. Try again, or sign in with your password.' },
  quick_connect_disabled: { status: 503, message: 'Quick Connect is turned off in Jellyfin, so the gateway cannot sign you in this way. Sign in with your password, or ask the administrator to turn Quick Connect on.' },
  sso_needs_api_key: { status: 503, message: 'The gateway has no Jellyfin API key, so it cannot sign you in this way. Sign in with your password.' },
  internal_error: { status: 500, message: 'Something went wrong on the server.' },
  upstream_error: { status: 502, message: 'Jellyfin could not answer right now. Try again in a moment.' },
  unreadable_login_response: { status: 502, message: 'Jellyfin answered the sign-in in a form the gateway cannot read.' },
  upstream_unavailable: { status: 502, message: 'Jellyfin could not be reached.' },
  upstream_timeout: { status: 504, message: 'Jellyfin did not answer in time.' },
  approvals_unavailable: { status: 503, message: 'Phone approval is not available on this server.' },
  storage_unavailable: { status: 503, message: 'The server cannot save changes right now. Try again later.' },
  cannot_save_signin: { status: 503, message: 'The server cannot save sign-ins right now. Try again later.' },
} as const satisfies Record<string, ErrorEntry>;

export type ApiErrorCode = keyof typeof API_ERRORS;

/** The statuses a code may answer with (its own and the `also` ones). */
export type StatusOf<C extends ApiErrorCode> =
  | (typeof API_ERRORS)[C]['status']
  | ((typeof API_ERRORS)[C] extends { also: readonly (infer S)[] } ? S : never);

/** Every error body: the code, a message, and for some errors more fields (attemptsLeft, challengeId…). */
export const ApiErrorBodySchema = z.looseObject({ error: z.string(), message: z.string() });
export type ApiErrorBody = z.infer<typeof ApiErrorBodySchema>;

export function isApiErrorCode(code: string): code is ApiErrorCode {
  return Object.hasOwn(API_ERRORS, code);
}

/** What to tell a person about a code: the catalogue's words, or `fallback` for a code it does not know. */
export function errorMessage(code: string, fallback = 'Something went wrong. Try again.'): string {
  return isApiErrorCode(code) ? API_ERRORS[code].message : fallback;
}
