import { z } from 'zod';
import { DisplayNameSchema } from './stepup.ts';
import {
  AuthenticationResponseSchema,
  ChallengeIdSchema,
  PasskeyInfoSchema,
  RegistrationResponseSchema,
  TrustedBrowserSchema,
} from './factors.ts';
import type { AuditItem } from './guard.ts';

/**
 * Push approvals, the enrolled phones that answer them, "my devices" and sign-in activity: the bodies the
 * gateway, the login page and the Authenticator PWA (pages and service worker) agree on. Every path is
 * under `{BaseUrl}/JellyfinSecurity/`. Errors are always `{"error": "<code>", "message": "<for humans>"}`.
 *
 * APPROVALS
 * An approval (kind login | pairing | stepup | newdevice) asks one user to confirm one thing on a phone.
 * Its id (128 random bits) reaches only that user's phones (inside the encrypted push, PushPayload
 * below) and that user's own sessions (Me/Approvals); the requester never learns it. Its WebAuthn
 * challenge is SHA-256(nonce ‖ id ‖ canonical JSON of what is asking), so a passkey signature approves
 * exactly what the page showed (ApprovalView.commitment lets the page check that with WebCrypto).
 * Approve needs a passkey assertion over that challenge (user verification required; one of THAT user's
 * passkeys) and, when `choices` is set, the number the login screen shows. Each approval changes state
 * once: pending → approved | denied | reported | expired. A wrong number ends it (denied); 3 refused
 * assertions end it too. "This wasn't me" (Report) denies, bans the requesting address (ReportBansAddress;
 * never the reporter's own address), alerts the user and the admins; after ReportsBeforeHold reports
 * within 24 h every password login of the account is held until the user approves one from the phone.
 *
 * Public (the approval id is the bearer):
 *   GET  Approvals/{approvalId}                                  → ApprovalView
 *   POST Approvals/{approvalId}/Options                          → PublicKeyCredentialRequestOptionsJSON
 *                                                                  (challenge = the approval's, UV required)
 *   POST Approvals/{approvalId}/Approve   ApproveRequest         → ApprovalView (status "approved")
 *   POST Approvals/{approvalId}/Deny      DenyRequest            → ApprovalView (status "denied")
 *   POST Approvals/{approvalId}/Report    ReportRequest          → ApprovalView (status "reported")
 *     Approve/Report errors: 400 invalid_request | number_required; 401 invalid_assertion (+attemptsLeft);
 *     409 wrong_number (the approval ended) | approval_over (already decided: replays land here);
 *     410 approval_expired; 404 unknown_approval.
 *   GET  Push/Config                                             → PushConfig (the VAPID public key)
 *
 * The login page (a held web login; the challengeId of shared/api/factors.ts is the bearer). A login
 * whose challenge `methods` include "phone":
 *   POST Approvals/Login         LoginApprovalRequest            → LoginApprovalStarted (the 2 digits to show)
 *        Calling it again returns the same pending approval (no new push).
 *        400 method_unavailable when the account has no enrolled phone.
 *   POST Approvals/Login/Status  LoginApprovalStatusRequest      → 200 Jellyfin's AuthenticationResult, byte for
 *        byte (as the Verify* endpoints of factors.ts answer) once approved — store it like jellyfin-web;
 *        202 LoginApprovalPending while pending (waitSeconds > 0 long-polls up to that long);
 *        410 approval_denied | approval_reported (the sign-in is over) | approval_expired (start another
 *        approval, or use another method); 404 no_approval.
 *
 * Native clients (TV, Kodi, mobile apps: any client that is not jellyfin-web, the login page or this app)
 * need nothing from this file: their password login is held open up to HoldSeconds while the phone is
 * asked, and answered 200 the moment it approves; otherwise 401, and the next login of the same user
 * and DeviceId from the same address within ApprovalSeconds of the approval succeeds (approve-then-retry).
 *
 * Self-service (a verified Jellyfin token in any credential form; 401 without):
 *   GET    Me/Approvals                                          → ApprovalsResponse (pending ones)
 *   POST   Me/Phones/Options                                     → PublicKeyCredentialCreationOptionsJSON
 *                                                                  (platform authenticator, UV required)
 *   POST   Me/Phones              EnrollPhoneRequest             → 201 EnrolledPhone (passkey + subscription)
 *   GET    Me/Phones                                             → PhoneInfo[]
 *   PATCH  Me/Phones/{phoneId}    RenamePhoneRequest             → PhoneInfo
 *   PUT    Me/Phones/{phoneId}/Subscription SubscriptionRequest  → PhoneInfo (re-subscribe: at every app
 *                                                                  start and on `pushsubscriptionchange`;
 *                                                                  the new endpoint replaces the old one)
 *   POST   Me/Phones/{phoneId}/Test                              → 202 TestPushResponse (a test notification)
 *   DELETE Me/Phones/{phoneId}                                   → 204 (the phone, its subscription AND its
 *                                                                  passkey; 409 factor_required / account_held)
 *   GET    Me/Devices                                            → MyDevices
 *   DELETE Me/Sessions/{sessionId}                               → RevokeSessionResponse (revoked at Jellyfin
 *                                                                  and in the gateway)
 *   Passkeys and trusted browsers are revoked with DELETE Me/Passkeys/{id} and DELETE Me/TrustedBrowsers/{id}
 *   (shared/api/factors.ts); paired devices with DELETE Me/PairedDevices/{id} once TV pairing lands.
 *   Activity: GET Me/AuditLog?type=login.*,approval.* (shared/api/guard.ts), each item shown with
 *   `signInActivity(item)` below.
 */

/**
 * Jellyfin `Client` names (compared case-insensitively) whose password logins get the interactive
 * challenge (401 SecondFactorRequired, with "phone" among its methods). Every other client is native:
 * its login is held while the phone is asked.
 */
export const CHALLENGE_CLIENTS = ['Jellyfin Web', 'Jellyguard Authenticator', 'Jellyguard Login'] as const;

// ── Approvals ─────────────────────────────────────────────────────────────────────────────────────────

export const ApprovalIdSchema = z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'must be an approval id');
export const APPROVAL_KINDS = ['login', 'pairing', 'stepup', 'newdevice', 'change', 'signin'] as const;
export const ApprovalKindSchema = z.enum(APPROVAL_KINDS);
export type ApprovalKind = z.infer<typeof ApprovalKindSchema>;
export const APPROVAL_STATUSES = ['pending', 'approved', 'denied', 'reported', 'expired'] as const;
export const ApprovalStatusSchema = z.enum(APPROVAL_STATUSES);
export type ApprovalStatus = z.infer<typeof ApprovalStatusSchema>;

/** A 2-digit number of number matching ("07" … "99"; always two characters). */
export const MatchNumberSchema = z.string().regex(/^\d{2}$/, 'must be two digits');

/** What is asking: exactly what the challenge commits to (besides kind and user). */
export const AskingSchema = z.object({
  /** Jellyfin client name ("Jellyfin Roku", "Jellyfin Web"…), as the request said. */
  client: z.string().nullable(),
  deviceName: z.string().nullable(),
  deviceId: z.string().nullable(),
  /** The requesting address as the gateway saw it. */
  ip: z.string(),
  /** Approximate place from the offline GeoIP database, when it knows the address. */
  place: z.object({ city: z.string().nullable(), country: z.string().nullable() }).nullable(),
  /** When it asked (ISO 8601). */
  time: z.iso.datetime(),
  /** For step-up / pairing: what will happen ("Delete the user bob", "Pair code 123456"); null for logins. */
  action: z.string().nullable(),
});
export type Asking = z.infer<typeof AskingSchema>;

export const ApprovalViewSchema = z.object({
  id: ApprovalIdSchema,
  kind: ApprovalKindSchema,
  status: ApprovalStatusSchema,
  userId: z.string(),
  userName: z.string(),
  asking: AskingSchema,
  /** Number matching: three 2-digit numbers, one of them shown on the login screen; null = no matching. */
  choices: z.array(MatchNumberSchema).length(3).nullable(),
  createdAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  decidedAt: z.iso.datetime().nullable(),
  /** Why it ended, when it did: "user", "wrong_number", "too_many_failures", "expired", "superseded"… */
  reason: z.string().nullable(),
  /**
   * challenge = base64url(SHA-256(base64url-decoded nonce ‖ UTF-8 id ‖ UTF-8 canonical)); `canonical` is
   * `{"asking":…,"kind":…,"userId":…,"userName":…,"v":1}` with keys sorted, no spaces.
   */
  commitment: z.object({ nonce: z.string(), canonical: z.string(), challenge: z.string() }),
  /**
   * Only in the answer to Approve of a login: the device had stopped waiting (its client gave up, or the
   * hold was over), so it must sign in again before this time to be let in (approve-then-retry).
   */
  retryUntil: z.iso.datetime().nullable().optional(),
});
export type ApprovalView = z.infer<typeof ApprovalViewSchema>;

export const ApproveRequestSchema = z.object({
  /** The number picked among `choices`; required when `choices` is not null. */
  number: MatchNumberSchema.optional(),
  /** navigator.credentials.get() over the Options of this approval (@simplewebauthn/browser's JSON). */
  response: AuthenticationResponseSchema,
});
export type ApproveRequest = z.infer<typeof ApproveRequestSchema>;

export const DenyRequestSchema = z.object({}).strict();
export type DenyRequest = z.infer<typeof DenyRequestSchema>;

/** "This wasn't me" has consequences (a ban, an alert, a hold on the account): it needs a passkey tap. */
export const ReportRequestSchema = z.object({ response: AuthenticationResponseSchema });
export type ReportRequest = z.infer<typeof ReportRequestSchema>;

/** 401 of Approve/Report with a refused assertion. */
export const InvalidAssertionSchema = z.object({
  error: z.literal('invalid_assertion'),
  message: z.string(),
  /** Assertions this approval still accepts (0: it ended, denied). */
  attemptsLeft: z.number().int(),
});

export const ApprovalsResponseSchema = z.object({
  /** Pending approvals of the caller, newest first. */
  items: z.array(ApprovalViewSchema),
  /** Password logins of this account are held until one is approved here (after repeated reports). */
  accountHeld: z.boolean(),
});
export type ApprovalsResponse = z.infer<typeof ApprovalsResponseSchema>;

// ── The login page ────────────────────────────────────────────────────────────────────────────────────

export const LoginApprovalRequestSchema = z.object({ challengeId: ChallengeIdSchema });
export type LoginApprovalRequest = z.infer<typeof LoginApprovalRequestSchema>;

/** Approvals/Login/Cancel: "Cancel and start over", or (`leaving`) the page closing or reloading. */
export const LoginApprovalCancelSchema = z.object({ challengeId: ChallengeIdSchema, leaving: z.boolean().default(false) });

/** Why no push went out (the approval exists all the same: the app's approvals page shows it). */
export const PushSkippedSchema = z.enum(['disabled', 'no_subscription', 'rate_limited', 'backoff', 'banned_address']);
export type PushSkipped = z.infer<typeof PushSkippedSchema>;

export const LoginApprovalStartedSchema = z.object({
  status: z.literal('pending'),
  /** Show these 2 digits: the phone offers 3 numbers, the user picks this one. */
  number: MatchNumberSchema,
  expiresAt: z.iso.datetime(),
  /** A notification went out to at least one phone (now or when the approval was first started). */
  pushed: z.boolean(),
  pushSkipped: PushSkippedSchema.nullable(),
  /** How many phones the account has enrolled. */
  phones: z.number().int(),
});
export type LoginApprovalStarted = z.infer<typeof LoginApprovalStartedSchema>;

/** Long-polling longer than this is cut to it. */
export const MAX_WAIT_SECONDS = 25;

export const LoginApprovalStatusRequestSchema = z.object({
  challengeId: ChallengeIdSchema,
  /** Wait up to this long for the phone (long poll); 0 answers at once. */
  waitSeconds: z.number().int().min(0).max(MAX_WAIT_SECONDS).default(0),
  /** Once approved: also set the trusted-browser cookie (as the Verify* endpoints of factors.ts do). */
  trustBrowser: z.boolean().optional(),
});
export type LoginApprovalStatusRequest = z.input<typeof LoginApprovalStatusRequestSchema>;

export const LoginApprovalPendingSchema = z.object({
  status: z.literal('pending'),
  number: MatchNumberSchema,
  expiresAt: z.iso.datetime(),
});
export type LoginApprovalPending = z.infer<typeof LoginApprovalPendingSchema>;

// ── Sign in with the phone alone (a user name, no password) ──────────────────────────────────────────
//
//   POST Approvals/SignIn         PhoneSignInRequest        → PhoneSignInStarted (the 2 digits to show, and the
//        request's id: the page's bearer). The browser's Authorization header names its Client, Device,
//        DeviceId and Version (the session is opened for them). The answer is the same for every user name:
//        an unknown user, or one without a phone, gets a request that never completes and expires.
//        429 too_many_requests: too many requests from this address or for this user name.
//   POST Approvals/SignIn/Status  PhoneSignInStatusRequest  → 200 Jellyfin's AuthenticationResult once approved
//        (store it like jellyfin-web); 202 LoginApprovalPending while pending (waitSeconds long-polls);
//        410 approval_denied | approval_reported | approval_expired | challenge_over (already used);
//        404 no_approval (not a request of this browser).

export const PhoneSignInRequestSchema = z.object({ userName: z.string().trim().min(1, 'enter your user name').max(256, 'That user name is too long.') });
export type PhoneSignInRequest = z.infer<typeof PhoneSignInRequestSchema>;

/** The request's id: sealed by the server, opaque to the page. */
export const PhoneSignInIdSchema = z.string().min(1).max(4096);

export const PhoneSignInStartedSchema = z.object({
  status: z.literal('pending'),
  requestId: PhoneSignInIdSchema,
  /** Show these 2 digits: the phone offers 3 numbers, the user picks this one. */
  number: MatchNumberSchema,
  expiresAt: z.iso.datetime(),
});
export type PhoneSignInStarted = z.infer<typeof PhoneSignInStartedSchema>;

export const PhoneSignInStatusRequestSchema = z.object({
  requestId: PhoneSignInIdSchema,
  waitSeconds: z.number().int().min(0).max(MAX_WAIT_SECONDS).default(0),
});
export type PhoneSignInStatusRequest = z.input<typeof PhoneSignInStatusRequestSchema>;

// ── Push ──────────────────────────────────────────────────────────────────────────────────────────────

export const PushConfigSchema = z.object({
  enabled: z.boolean(),
  /** The VAPID public key (base64url, uncompressed P-256 point): `applicationServerKey` of pushManager.subscribe. */
  publicKey: z.string(),
});
export type PushConfig = z.infer<typeof PushConfigSchema>;

const b64url = (min: number, max: number) => z.string().regex(/^[A-Za-z0-9_-]+={0,2}$/, 'must be base64url').min(min).max(max);

/** PushSubscription.toJSON() as browsers give it. */
export const PushSubscriptionSchema = z.object({
  /** https (a push service); plain http is refused unless the admin allowed it for loopback tests. */
  endpoint: z.url({ protocol: /^https?$/ }).max(2048),
  expirationTime: z.number().nullable().optional(),
  keys: z.object({
    /** The browser's P-256 ECDH public key, uncompressed (65 bytes → 87 characters). */
    p256dh: b64url(86, 90),
    /** The 16-byte authentication secret (22 characters). */
    auth: b64url(21, 25),
  }),
});
export type PushSubscriptionInput = z.infer<typeof PushSubscriptionSchema>;

/**
 * What the service worker receives (decrypted JSON, at most a few hundred bytes; never a secret).
 * Show `title`/`body`; use `tag` as the notification tag (a newer push for the same approval replaces
 * it); a click opens the approval page of `approvalId` (`#/approve/{approvalId}`), which works the same
 * on every platform (iOS shows no action buttons). Unknown `type`s must be ignored (shown plainly).
 */
export const PushPayloadSchema = z.discriminatedUnion('type', [
  z.object({
    v: z.literal(1),
    type: z.literal('approval'),
    approvalId: ApprovalIdSchema,
    kind: ApprovalKindSchema,
    title: z.string(),
    body: z.string(),
    tag: z.string(),
    /** Epoch milliseconds; after it the approval page will say "expired". */
    expiresAt: z.number(),
  }),
  z.object({
    v: z.literal(1),
    /** Something the user should know (a new device, a ban, a test); no action. */
    type: z.literal('notice'),
    kind: z.string(),
    title: z.string(),
    body: z.string(),
    tag: z.string(),
  }),
]);
export type PushPayload = z.infer<typeof PushPayloadSchema>;

// ── Phones ────────────────────────────────────────────────────────────────────────────────────────────

export const PhoneIdSchema = z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'must be a phone id');
const phoneName = DisplayNameSchema;

export const PhoneInfoSchema = z.object({
  id: PhoneIdSchema,
  name: z.string(),
  /** The passkey this phone approves with (PasskeyInfo.id in shared/api/factors.ts). */
  passkeyId: z.string(),
  /** The phone has a live push subscription. */
  push: z.boolean(),
  /** The push service's origin ("https://fcm.googleapis.com"), for display. */
  pushService: z.string().nullable(),
  createdAt: z.iso.datetime(),
  lastSeenAt: z.iso.datetime().nullable(),
  subscribedAt: z.iso.datetime().nullable(),
});
export type PhoneInfo = z.infer<typeof PhoneInfoSchema>;

export const EnrollPhoneRequestSchema = z.object({
  name: phoneName.optional(),
  /** navigator.credentials.create() over Me/Phones/Options. */
  response: RegistrationResponseSchema,
  /** pushManager.subscribe() with PushConfig.publicKey; null (or absent) when this browser cannot receive pushes (yet). */
  subscription: PushSubscriptionSchema.nullable().optional(),
});
export type EnrollPhoneRequest = z.infer<typeof EnrollPhoneRequestSchema>;

export const EnrolledPhoneSchema = PhoneInfoSchema.extend({
  /** Recovery codes, shown once, when this phone's passkey is the account's first second factor. */
  recoveryCodes: z.array(z.string()),
});
export type EnrolledPhone = z.infer<typeof EnrolledPhoneSchema>;

export const RenamePhoneRequestSchema = z.object({ name: phoneName });
export const SubscriptionRequestSchema = z.object({ subscription: PushSubscriptionSchema });
export type SubscriptionRequest = z.infer<typeof SubscriptionRequestSchema>;

/**
 * What the push service answered to the test notification: `sent` (it accepted the message: the phone
 * shows it when it is online), `gone` (the subscription ended: turn notifications on again), `unreachable`
 * (the server could not reach the push service), `refused` (it answered with an error). `message` says
 * it to a person.
 */
export const TestPushResponseSchema = z.object({ status: z.enum(['sent', 'gone', 'unreachable', 'refused']), message: z.string() });
export type TestPushResponse = z.infer<typeof TestPushResponseSchema>;

// ── My devices ────────────────────────────────────────────────────────────────────────────────────────

export const SessionIdSchema = z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'must be a session id');

/** A Jellyfin session (token) opened through the gateway. */
export const SessionInfoSchema = z.object({
  id: SessionIdSchema,
  client: z.string().nullable(),
  deviceName: z.string().nullable(),
  deviceId: z.string().nullable(),
  appVersion: z.string().nullable(),
  /** The address it signed in from. */
  ip: z.string().nullable(),
  /** How the sign-in was completed: password, passkey, totp, phone, phone_retry, trusted_browser… */
  method: z.string(),
  /** pending: still waiting for its second factor (the gate refuses it). */
  state: z.enum(['verified', 'pending']),
  createdAt: z.iso.datetime(),
  lastSeenAt: z.iso.datetime(),
  /** The session this request came from. */
  current: z.boolean(),
});
export type SessionInfo = z.infer<typeof SessionInfoSchema>;

/** Extension point: TV pairing (a later issue) fills this; until then it is always empty. */
export const PairedDeviceInfoSchema = z.object({
  id: z.string(),
  deviceName: z.string().nullable(),
  deviceId: z.string().nullable(),
  client: z.string().nullable(),
  createdAt: z.iso.datetime(),
  lastSeenAt: z.iso.datetime().nullable(),
});
export type PairedDeviceInfo = z.infer<typeof PairedDeviceInfoSchema>;

export const MyDevicesSchema = z.object({
  phones: z.array(PhoneInfoSchema),
  passkeys: z.array(PasskeyInfoSchema),
  trustedBrowsers: z.array(TrustedBrowserSchema),
  pairedDevices: z.array(PairedDeviceInfoSchema),
  /** Newest activity first. */
  sessions: z.array(SessionInfoSchema),
});
export type MyDevices = z.infer<typeof MyDevicesSchema>;

export const RevokeSessionResponseSchema = z.object({
  /** Jellyfin confirmed the token is gone (with the gateway's API key); false: the gate refuses it anyway. */
  revokedAtJellyfin: z.boolean(),
});
export type RevokeSessionResponse = z.infer<typeof RevokeSessionResponseSchema>;

// ── Activity ──────────────────────────────────────────────────────────────────────────────────────────

/** The `type` filter of `GET Me/AuditLog` that selects sign-in events. */
export const SIGN_IN_EVENT_TYPES = ['login.*', 'approval.*'] as const;

export interface SignInActivity {
  id: number;
  time: string;
  type: string;
  client: string | null;
  deviceName: string | null;
  ip: string | null;
  /** password, passkey, totp, email, recovery, phone, phone_retry, trusted_browser, quick_connect… or null. */
  method: string | null;
  outcome: string;
}

const METHOD_BY_TYPE: Record<string, string> = {
  'login.trusted_browser': 'trusted_browser',
  'login.totp_in_password': 'totp_in_password',
  'login.quickconnect.success': 'quick_connect',
  'login.quickconnect.refused': 'quick_connect',
  'login.password.failure': 'password',
};

/** One audit row of `Me/AuditLog` as a line of the activity page. */
export function signInActivity(item: AuditItem): SignInActivity {
  const detailMethod = item.detail && typeof item.detail.method === 'string' ? item.detail.method : null;
  const method = detailMethod ?? METHOD_BY_TYPE[item.type] ?? (item.type.startsWith('approval.') ? 'phone' : null);
  return {
    id: item.id,
    time: item.time,
    type: item.type,
    client: item.client,
    deviceName: item.deviceName,
    ip: item.ip,
    method,
    outcome: item.outcome,
  };
}
