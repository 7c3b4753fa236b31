import { z } from 'zod';
import { DisplayNameSchema } from './stepup.ts';

/**
 * Second factors and the login challenge: the request and response bodies the gateway and the PWA /
 * login page agree on. Every path is under `{BaseUrl}/JellyfinSecurity/`. Errors are always
 * `{"error": "<code>", "message": "<for humans>"}` (some add fields, named below).
 *
 * THE LOGIN CHALLENGE
 * A password login (`POST /Users/AuthenticateByName` or `/Users/{id}/Authenticate`) whose user needs a
 * second factor answers 401 with `SecondFactorRequired` (JSON). The token Jellyfin issued is held
 * (refused by the gateway for every request) until one of the Verify* endpoints below succeeds; then
 * that endpoint answers 200 with Jellyfin's own AuthenticationResult body, byte for byte as Jellyfin
 * answered the login (PascalCase, or camelCase if the login asked for it), so the login page can
 * store it in `jellyfin_credentials` exactly as jellyfin-web would. The challenge ends (the token is
 * revoked at Jellyfin) after `ChallengeSeconds` or 5 wrong codes.
 *
 * A trusted-browser cookie is bound to the Jellyfin DeviceId of the login: the login page should log
 * in with jellyfin-web's DeviceId (localStorage `_deviceId2`) so jellyfin-web's later logins match.
 *
 * Endpoints (public unless noted; `challengeId` is the bearer of the held login):
 *   GET  Challenge/{challengeId}                 → ChallengeInfo
 *   POST VerifyTOTP          VerifyCodeRequest    → AuthenticationResult
 *   POST VerifyRecoveryCode  VerifyCodeRequest    → AuthenticationResult
 *   POST SendEmailOTP        SendEmailOTPRequest  → 202 SendEmailOTPResponse (always the same)
 *   POST VerifyEmailOTP      VerifyCodeRequest    → AuthenticationResult
 *   POST VerifyPasskey/Options  ChallengeRef      → PublicKeyCredentialRequestOptionsJSON
 *   POST VerifyPasskey       VerifyPasskeyRequest → AuthenticationResult
 *   Enrollment inside a challenge whose methods are ["enroll"]:
 *   POST Challenge/EnrollTOTP          ChallengeRef              → TotpEnrollment
 *   POST Challenge/EnrollTOTP/Confirm  EnrollConfirmRequest      → EnrollDone
 *   POST Challenge/EnrollPasskey/Options ChallengeRef            → PublicKeyCredentialCreationOptionsJSON
 *   POST Challenge/EnrollPasskey       EnrollPasskeyRequest      → EnrollDone
 *   POST Challenge/Complete            CompleteRequest           → AuthenticationResult
 *   GET  LoginOptions                                            → LoginOptions
 * Self-service (a verified Jellyfin token in any credential form; 401 without):
 *   GET  Me                                     → MeResponse
 *   POST Me/TOTP                                → TotpEnrollment (starts an enrollment)
 *   POST Me/TOTP/Confirm  ConfirmCodeRequest    → RecoveryCodesResponse (recoveryCodes may be empty)
 *   DELETE Me/TOTP                              → 204
 *   POST Me/RecoveryCodes                       → RecoveryCodesResponse (the old set stops working)
 *        STEP-UP ACTION "RegenerateRecoveryCodes" (target null; shared/api/pairing.ts "STEP-UP"): needs
 *        `X-Jellyguard-StepUp: <grant from POST StepUp, or a current TOTP code>`; without it 401
 *        StepUpRequired {action, target: null, methods: totp|passkey}, wrong 401 `invalid_code`. A user
 *        with no TOTP and no passkey has nothing to step up with and needs the session alone; a user with
 *        no factor at all gets 409 `no_factor`.
 *   POST Me/Passkeys/Options                    → PublicKeyCredentialCreationOptionsJSON
 *   POST Me/Passkeys      RegisterPasskeyRequest → RegisteredPasskey (201; recoveryCodes when it is the first factor)
 *   PATCH Me/Passkeys/{id} RenamePasskeyRequest → PasskeyInfo
 *   DELETE Me/Passkeys/{id}                     → 204
 *   PUT  Me/Email         SetEmailRequest       → 202 { status: "confirmation_sent" }
 *   POST Me/Email/Confirm ConfirmCodeRequest    → MeEmail
 *   DELETE Me/Email                             → 204
 *   GET  Me/TrustedBrowsers                     → TrustedBrowser[]
 *   DELETE Me/TrustedBrowsers/{id}              → 204
 * Admin (a verified administrator's token; 401 without a token, 403 for a non-admin):
 *   GET  Users                                  → AdminUser[]
 *   GET  Users/{id}                             → AdminUser
 *   PUT  Users/{id}       AdminUserUpdate       → AdminUser
 *   POST Users/{id}/ResetTOTP                   → AdminUser (every second factor reset)
 */

export const ChallengeIdSchema = z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'must be a challenge id');
/** "phone": approve on an enrolled phone (shared/api/approvals.ts, Approvals/Login). */
export const LoginMethodSchema = z.enum(['totp', 'passkey', 'email', 'recovery', 'enroll', 'phone']);
export type LoginMethod = z.infer<typeof LoginMethodSchema>;
export const EnrollMethodSchema = z.enum(['totp', 'passkey']);

/** The 401 body of a login that needs a second factor. */
export const SecondFactorRequiredSchema = z.object({
  error: z.literal('second_factor_required'),
  message: z.string(),
  challengeId: ChallengeIdSchema,
  methods: z.array(LoginMethodSchema),
  /** When methods is ["enroll"]: what may be enrolled. */
  enrollMethods: z.array(EnrollMethodSchema),
  expiresAt: z.iso.datetime(),
});
export type SecondFactorRequired = z.infer<typeof SecondFactorRequiredSchema>;

export const ChallengeInfoSchema = z.object({
  challengeId: ChallengeIdSchema,
  userName: z.string(),
  state: z.enum(['pending', 'satisfied']),
  methods: z.array(LoginMethodSchema),
  enrollMethods: z.array(EnrollMethodSchema),
  expiresAt: z.iso.datetime(),
  attemptsLeft: z.number().int(),
  /** The browser may be trusted (pass trustBrowser: true) for this many days; 0 = not offered. */
  trustedDeviceDays: z.number().int(),
  /** An e-mail code was sent and is still valid. */
  emailCodeSent: z.boolean(),
  /** The address codes go to, masked ("j***@example.org"), when e-mail is a method. */
  emailHint: z.string().nullable(),
});
export type ChallengeInfo = z.infer<typeof ChallengeInfoSchema>;

export const ChallengeRefSchema = z.object({ challengeId: ChallengeIdSchema });

const code = z.string().trim().min(1, 'is required').max(64, 'is too long');

export const VerifyCodeRequestSchema = z.object({
  challengeId: ChallengeIdSchema,
  code,
  /** Set the trusted-browser cookie with the answer. */
  trustBrowser: z.boolean().optional(),
});
export type VerifyCodeRequest = z.infer<typeof VerifyCodeRequestSchema>;

/** A wrong code (401): how many tries the challenge has left (0 = it ended). */
export const InvalidCodeSchema = z.object({
  error: z.enum(['invalid_code', 'challenge_failed']),
  message: z.string(),
  attemptsLeft: z.number().int(),
});

/** SendEmailOTP: inside a challenge (preferred) or by user name; the answer never says whether anything was sent. */
export const SendEmailOTPRequestSchema = z
  .object({ challengeId: ChallengeIdSchema.optional(), username: z.string().min(1).max(256).optional() })
  .refine((v) => v.challengeId !== undefined || v.username !== undefined, 'challengeId or username is required');
export const SendEmailOTPResponseSchema = z.object({ status: z.literal('accepted'), message: z.string() });

/** WebAuthn JSON as @simplewebauthn/browser produces it (checked in depth by the server library). */
const b64url = z.string().regex(/^[A-Za-z0-9_-]*={0,2}$/, 'must be base64url').max(65_536);
export const AuthenticationResponseSchema = z.looseObject({
  id: b64url.min(1),
  rawId: b64url.min(1),
  type: z.literal('public-key'),
  response: z.looseObject({
    clientDataJSON: b64url,
    authenticatorData: b64url,
    signature: b64url,
    userHandle: b64url.optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.string().optional(),
});
export const RegistrationResponseSchema = z.looseObject({
  id: b64url.min(1),
  rawId: b64url.min(1),
  type: z.literal('public-key'),
  response: z.looseObject({
    clientDataJSON: b64url,
    attestationObject: b64url,
    transports: z.array(z.string().max(32)).max(16).optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.string().optional(),
});

export const VerifyPasskeyRequestSchema = z.object({
  challengeId: ChallengeIdSchema,
  response: AuthenticationResponseSchema,
  trustBrowser: z.boolean().optional(),
});

export const TotpEnrollmentSchema = z.object({
  /** Base32, for typing into an app by hand. */
  secret: z.string(),
  otpauthUri: z.string(),
  /** A PNG data: URL of the otpauth URI's QR code. */
  qrCodeDataUrl: z.string(),
});
export type TotpEnrollment = z.infer<typeof TotpEnrollmentSchema>;

export const EnrollConfirmRequestSchema = z.object({ challengeId: ChallengeIdSchema, code });
export const EnrollPasskeyRequestSchema = z.object({
  challengeId: ChallengeIdSchema,
  response: RegistrationResponseSchema,
  name: DisplayNameSchema.optional(),
});
/** The factor is enrolled; show the recovery codes (once), then call Challenge/Complete. */
export const EnrollDoneSchema = z.object({ status: z.literal('enrolled'), recoveryCodes: z.array(z.string()) });
export const CompleteRequestSchema = z.object({ challengeId: ChallengeIdSchema, trustBrowser: z.boolean().optional() });

export const LoginOptionsSchema = z.object({
  totp: z.boolean(),
  passkeys: z.boolean(),
  email: z.boolean(),
  recoveryCodes: z.boolean(),
  totpInPassword: z.boolean(),
  trustedDeviceDays: z.number().int(),
  showBuiltIn2FAButton: z.boolean(),
  showBuiltInPasskeyButton: z.boolean(),
});
export type LoginOptions = z.infer<typeof LoginOptionsSchema>;

// ── Self-service ────────────────────────────────────────────────────────────────────────────────────

export const ConfirmCodeRequestSchema = z.object({ code });
export const RecoveryCodesResponseSchema = z.object({ recoveryCodes: z.array(z.string()) });
export const RegisterPasskeyRequestSchema = z.object({ response: RegistrationResponseSchema, name: DisplayNameSchema.optional() });
export const RenamePasskeyRequestSchema = z.object({ name: DisplayNameSchema });
export const SetEmailRequestSchema = z.object({
  email: z
    .string()
    .trim()
    .max(254)
    .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'must be an e-mail address'),
});

export const PasskeyInfoSchema = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.iso.datetime(),
  lastUsedAt: z.iso.datetime().nullable(),
  backedUp: z.boolean(),
});
export type PasskeyInfo = z.infer<typeof PasskeyInfoSchema>;
export const RegisteredPasskeySchema = PasskeyInfoSchema.extend({ recoveryCodes: z.array(z.string()) });

export const TrustedBrowserSchema = z.object({
  id: z.string(),
  label: z.string(),
  ipPrefix: z.string(),
  createdAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  lastUsedAt: z.iso.datetime().nullable(),
});
export type TrustedBrowser = z.infer<typeof TrustedBrowserSchema>;

export const FactorsViewSchema = z.object({
  totp: z.object({ enrolled: z.boolean(), confirmedAt: z.iso.datetime().nullable(), pending: z.boolean() }),
  passkeys: z.array(PasskeyInfoSchema),
  email: z.object({ address: z.string(), setBy: z.enum(['self', 'admin']), confirmedAt: z.iso.datetime() }).nullable(),
  recoveryCodesRemaining: z.number().int(),
});

export const MeResponseSchema = z.object({
  userId: z.string(),
  userName: z.string(),
  isAdmin: z.boolean(),
  /** Logins need a second factor (the user has one, or policy requires one). */
  secondFactorRequired: z.boolean(),
  factors: FactorsViewSchema,
  trustedBrowsers: z.array(TrustedBrowserSchema),
  options: LoginOptionsSchema,
});
export type MeResponse = z.infer<typeof MeResponseSchema>;

// ── Admin ──────────────────────────────────────────────────────────────────────────────────────────

export const AdminUserSchema = z.object({
  id: z.string(),
  name: z.string(),
  isAdmin: z.boolean(),
  /** The admin's setting: true = required, false = exempt from EnforcementScope, null = follow it. */
  requireSecondFactor: z.boolean().nullable(),
  /** Whether this user's logins currently need a second factor. */
  secondFactorRequired: z.boolean(),
  factors: z.object({
    totp: z.boolean(),
    passkeys: z.number().int(),
    email: z.string().nullable(),
    recoveryCodesRemaining: z.number().int(),
  }),
  trustedBrowsers: z.number().int(),
});
export type AdminUser = z.infer<typeof AdminUserSchema>;

export const AdminUserUpdateSchema = z
  .object({
    requireSecondFactor: z.boolean().nullable().optional(),
    /** An address the admin vouches for (confirmed at once); null removes it. */
    email: z
      .string()
      .trim()
      .max(254)
      .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'must be an e-mail address')
      .nullable()
      .optional(),
  })
  .strict();
