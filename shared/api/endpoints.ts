import { z } from 'zod';
import {
  AuthenticationResponseSchema,
  AdminUserSchema,
  AdminUserUpdateSchema,
  ChallengeInfoSchema,
  ChallengeRefSchema,
  CompleteRequestSchema,
  ConfirmCodeRequestSchema,
  EnrollConfirmRequestSchema,
  EnrollDoneSchema,
  EnrollPasskeyRequestSchema,
  FactorsViewSchema,
  LoginOptionsSchema,
  MeResponseSchema,
  PasskeyInfoSchema,
  RecoveryCodesResponseSchema,
  RegisteredPasskeySchema,
  RegisterPasskeyRequestSchema,
  RenamePasskeyRequestSchema,
  SendEmailOTPRequestSchema,
  SendEmailOTPResponseSchema,
  SetEmailRequestSchema,
  TotpEnrollmentSchema,
  TrustedBrowserSchema,
  VerifyCodeRequestSchema,
  VerifyPasskeyRequestSchema,
} from './factors.ts';
import {
  ApprovalsResponseSchema,
  ApprovalViewSchema,
  ApproveRequestSchema,
  DenyRequestSchema,
  EnrolledPhoneSchema,
  EnrollPhoneRequestSchema,
  LoginApprovalPendingSchema,
  LoginApprovalCancelSchema,
  LoginApprovalRequestSchema,
  LoginApprovalStartedSchema,
  LoginApprovalStatusRequestSchema,
  PhoneSignInRequestSchema,
  PhoneSignInStartedSchema,
  PhoneSignInStatusRequestSchema,
  MyDevicesSchema,
  PhoneInfoSchema,
  PushConfigSchema,
  RenamePhoneRequestSchema,
  ReportRequestSchema,
  RevokeSessionResponseSchema,
  SubscriptionRequestSchema,
  TestPushResponseSchema,
} from './approvals.ts';
import {
  AllowedIPsSchema,
  AuditLogResponseSchema,
  AuditQuerySchema,
  AuditVerifyResponseSchema,
  BansResponseSchema,
  LiftAllResponseSchema,
  MyAuditQuerySchema,
  PasswordCheckResponseSchema,
  SetAllowedIPsRequestSchema,
} from './guard.ts';
import {
  ApprovePairBodySchema,
  CodeQuerySchema,
  DenyPairBodySchema,
  PairApprovalStartedSchema,
  PairApprovedSchema,
  PairApproveRequestSchema,
  PairCodeRequestSchema,
  PairDenyRequestSchema,
  PairDeviceBodySchema,
  PairDeviceResponseSchema,
  PairedDeviceSchema,
  PairingStatusResponseSchema,
  PairTargetSchema,
  PendingPairSchema,
  QrQuerySchema,
} from './pairing.ts';
import { ConfigurationSavedSchema, ConfigurationUpdateSchema, ConfigurationViewSchema } from './configuration.ts';
import { StepUpGrantSchema, StepUpRequestSchema, StepUpStatusSchema, StepUpTargetSchema } from './stepup.ts';

/**
 * Every endpoint under `{BaseUrl}/JellyfinSecurity`, declared once: method, path (`:name` for a path
 * parameter), what it takes and what it answers. The server's route table (server/api/routes.ts) mounts
 * exactly these, and the PWA's clients build their URLs and check their answers from them, so a path or a
 * body cannot drift between the two sides. The other files of shared/api describe the bodies in words.
 *
 * `body` is the JSON request body's schema, `query` the query string's; `response` the schema of a JSON
 * answer. `answers` says what else comes back: `json` (parse with `response` when it has one), `auth` (Jellyfin's
 * own AuthenticationResult, byte for byte, which the schemas do not own), `empty` (204), `page` (HTML),
 * `file` (an image, a script, a download or Prometheus text).
 */
export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type Answers = 'json' | 'auth' | 'empty' | 'page' | 'file';

export interface Endpoint<
  P extends string = string,
  B extends z.ZodType | undefined = z.ZodType | undefined,
  Q extends z.ZodType | undefined = z.ZodType | undefined,
  R extends z.ZodType | undefined = z.ZodType | undefined,
> {
  method: Method;
  path: P;
  body: B;
  query: Q;
  response: R;
  answers: Answers;
}

function endpoint<
  P extends string,
  const O extends { body?: z.ZodType; query?: z.ZodType; response?: z.ZodType; answers?: Answers } = object,
>(
  method: Method,
  path: P,
  opts?: O,
): Endpoint<
  P,
  O extends { body: infer B extends z.ZodType } ? B : undefined,
  O extends { query: infer Q extends z.ZodType } ? Q : undefined,
  O extends { response: infer R extends z.ZodType } ? R : undefined
> {
  return {
    method,
    path,
    body: opts?.body,
    query: opts?.query,
    response: opts?.response,
    answers: opts?.answers ?? (opts?.response ? 'json' : 'empty'),
  } as never;
}

/** WebAuthn options as @simplewebauthn makes them; the browser hands them to navigator.credentials as they are. */
const WebAuthnOptionsSchema = z.record(z.string(), z.unknown());
/** The login page's single sign-on buttons. */
export const SsoProvidersSchema = z.object({ providers: z.array(z.object({ id: z.string(), buttonText: z.string() })) });
/** A passkey sign-in with no user name: the assertion alone (the authenticator names the user). */
export const PasskeySignInRequestSchema = z.object({ response: AuthenticationResponseSchema });
const HealthSchema = z.object({ status: z.enum(['pass', 'warn', 'fail']) }).loose();
const EmailAddressSchema = FactorsViewSchema.shape.email.unwrap();
const ConfirmationSentSchema = z.object({ status: z.literal('confirmation_sent'), message: z.string() });

export const ENDPOINTS = {
  // ── Operations (monitors) ──
  Health: endpoint('GET', '/Health', { response: HealthSchema }),
  HealthLive: endpoint('GET', '/Health/Live', { response: HealthSchema }),
  HealthReady: endpoint('GET', '/Health/Ready', { response: HealthSchema }),
  Metrics: endpoint('GET', '/Metrics', { answers: 'file' }),

  // ── The login challenge (public: the challenge id is the bearer) ──
  LoginOptions: endpoint('GET', '/LoginOptions', { response: LoginOptionsSchema }),
  Challenge: endpoint('GET', '/Challenge/:challengeId', { response: ChallengeInfoSchema }),
  VerifyTOTP: endpoint('POST', '/VerifyTOTP', { body: VerifyCodeRequestSchema, answers: 'auth' }),
  VerifyRecoveryCode: endpoint('POST', '/VerifyRecoveryCode', { body: VerifyCodeRequestSchema, answers: 'auth' }),
  VerifyEmailOTP: endpoint('POST', '/VerifyEmailOTP', { body: VerifyCodeRequestSchema, answers: 'auth' }),
  SendEmailOTP: endpoint('POST', '/SendEmailOTP', { body: SendEmailOTPRequestSchema, response: SendEmailOTPResponseSchema }),
  VerifyPasskeyOptions: endpoint('POST', '/VerifyPasskey/Options', { body: ChallengeRefSchema, response: WebAuthnOptionsSchema }),
  VerifyPasskey: endpoint('POST', '/VerifyPasskey', { body: VerifyPasskeyRequestSchema, answers: 'auth' }),
  ChallengeEnrollTOTP: endpoint('POST', '/Challenge/EnrollTOTP', { body: ChallengeRefSchema, response: TotpEnrollmentSchema }),
  ChallengeEnrollTOTPConfirm: endpoint('POST', '/Challenge/EnrollTOTP/Confirm', { body: EnrollConfirmRequestSchema, response: EnrollDoneSchema }),
  ChallengeEnrollPasskeyOptions: endpoint('POST', '/Challenge/EnrollPasskey/Options', { body: ChallengeRefSchema, response: WebAuthnOptionsSchema }),
  ChallengeEnrollPasskey: endpoint('POST', '/Challenge/EnrollPasskey', { body: EnrollPasskeyRequestSchema, response: EnrollDoneSchema }),
  ChallengeComplete: endpoint('POST', '/Challenge/Complete', { body: CompleteRequestSchema, answers: 'auth' }),

  // ── Sign in with a passkey alone (public: the assertion is the proof) ──
  PasskeySignInOptions: endpoint('POST', '/Passkey/SignIn/Options', { response: WebAuthnOptionsSchema }),
  PasskeySignIn: endpoint('POST', '/Passkey/SignIn', { body: PasskeySignInRequestSchema, answers: 'auth' }),

  // ── Self-service second factors (a verified session) ──
  Me: endpoint('GET', '/Me', { response: MeResponseSchema }),
  MeTOTP: endpoint('POST', '/Me/TOTP', { response: TotpEnrollmentSchema }),
  MeTOTPConfirm: endpoint('POST', '/Me/TOTP/Confirm', { body: ConfirmCodeRequestSchema, response: RecoveryCodesResponseSchema }),
  MeTOTPRemove: endpoint('DELETE', '/Me/TOTP'),
  MeRecoveryCodes: endpoint('POST', '/Me/RecoveryCodes', { response: RecoveryCodesResponseSchema }),
  MePasskeysOptions: endpoint('POST', '/Me/Passkeys/Options', { response: WebAuthnOptionsSchema }),
  MePasskeysRegister: endpoint('POST', '/Me/Passkeys', { body: RegisterPasskeyRequestSchema, response: RegisteredPasskeySchema }),
  MePasskeyRename: endpoint('PATCH', '/Me/Passkeys/:id', { body: RenamePasskeyRequestSchema, response: PasskeyInfoSchema }),
  MePasskeyRemove: endpoint('DELETE', '/Me/Passkeys/:id'),
  MeEmailSet: endpoint('PUT', '/Me/Email', { body: SetEmailRequestSchema, response: ConfirmationSentSchema }),
  MeEmailConfirm: endpoint('POST', '/Me/Email/Confirm', { body: ConfirmCodeRequestSchema, response: EmailAddressSchema }),
  MeEmailRemove: endpoint('DELETE', '/Me/Email'),
  MeTrustedBrowsers: endpoint('GET', '/Me/TrustedBrowsers', { response: z.array(TrustedBrowserSchema) }),
  MeTrustedBrowserRevoke: endpoint('DELETE', '/Me/TrustedBrowsers/:id'),

  // ── Admin: second factors of every user ──
  Users: endpoint('GET', '/Users', { response: z.array(AdminUserSchema) }),
  User: endpoint('GET', '/Users/:id', { response: AdminUserSchema }),
  UserUpdate: endpoint('PUT', '/Users/:id', { body: AdminUserUpdateSchema, response: AdminUserSchema }),
  UserResetTOTP: endpoint('POST', '/Users/:id/ResetTOTP', { response: AdminUserSchema }),

  // ── Admin: the gateway's own settings (shared/api/configuration.ts) ──
  Configuration: endpoint('GET', '/Configuration', { response: ConfigurationViewSchema }),
  ConfigurationUpdate: endpoint('POST', '/Configuration', { body: ConfigurationUpdateSchema, response: ConfigurationSavedSchema }),

  // ── The guard and the audit log ──
  Bans: endpoint('GET', '/Bans', { response: BansResponseSchema }),
  BanLift: endpoint('DELETE', '/Bans/:id'),
  BansLiftAll: endpoint('DELETE', '/Bans', { response: LiftAllResponseSchema }),
  UserAllowedIPs: endpoint('GET', '/Users/:id/AllowedIPs', { response: AllowedIPsSchema }),
  UserAllowedIPsSet: endpoint('PUT', '/Users/:id/AllowedIPs', { body: SetAllowedIPsRequestSchema, response: AllowedIPsSchema }),
  MeAllowedIPs: endpoint('GET', '/Me/AllowedIPs', { response: AllowedIPsSchema }),
  AuditLog: endpoint('GET', '/AuditLog', { query: AuditQuerySchema, response: AuditLogResponseSchema }),
  AuditLogExport: endpoint('GET', '/AuditLog/Export', { query: AuditQuerySchema, answers: 'file' }),
  AuditLogVerify: endpoint('GET', '/AuditLog/Verify', { response: AuditVerifyResponseSchema }),
  MeAuditLog: endpoint('GET', '/Me/AuditLog', { query: MyAuditQuerySchema, response: AuditLogResponseSchema }),
  MePasswordCheck: endpoint('GET', '/Me/PasswordCheck', { response: PasswordCheckResponseSchema }),

  // ── TV pairing: the big-screen page and PairDevice (devices that do not speak Quick Connect) ──
  PairPage: endpoint('GET', '/pair', { answers: 'page' }),
  PairPageShort: endpoint('GET', '/p', { answers: 'page' }),
  PairScript: endpoint('GET', '/pair.js', { answers: 'file' }),
  PairStyles: endpoint('GET', '/pair.css', { answers: 'file' }),
  PairQrSvg: endpoint('GET', '/pair/qr.svg', { query: CodeQuerySchema, answers: 'file' }),
  PairDevice: endpoint('POST', '/PairDevice', { body: PairDeviceBodySchema, response: PairDeviceResponseSchema }),
  PairDeviceQR: endpoint('GET', '/PairDeviceQR', { query: QrQuerySchema, answers: 'file' }),
  CheckPairingStatus: endpoint('GET', '/CheckPairingStatus', { query: CodeQuerySchema, response: PairingStatusResponseSchema }),
  PendingPairs: endpoint('GET', '/PendingPairs', { response: z.array(PendingPairSchema) }),
  ApprovePair: endpoint('POST', '/ApprovePair', { body: ApprovePairBodySchema, response: PendingPairSchema }),
  DenyPair: endpoint('POST', '/DenyPair', { body: DenyPairBodySchema }),
  MePairedDevices: endpoint('GET', '/Me/PairedDevices', { response: z.array(PairedDeviceSchema) }),
  MePairedDeviceRevoke: endpoint('DELETE', '/Me/PairedDevices/:id'),
  // The phone approves what waits behind a code.
  PairLookup: endpoint('GET', '/Pair/Lookup', { query: CodeQuerySchema, response: PairTargetSchema }),
  PairApproval: endpoint('POST', '/Pair/Approval', { body: PairCodeRequestSchema, response: PairApprovalStartedSchema }),
  PairApprove: endpoint('POST', '/Pair/Approve', { body: PairApproveRequestSchema, response: PairApprovedSchema }),
  PairDeny: endpoint('POST', '/Pair/Deny', { body: PairDenyRequestSchema }),

  // ── Step-up: a fresh proof as a single-use grant of one session ──
  StepUpPasskeyOptions: endpoint('POST', '/StepUp/Passkey/Options', { body: StepUpTargetSchema, response: WebAuthnOptionsSchema }),
  StepUp: endpoint('POST', '/StepUp', { body: StepUpRequestSchema, response: StepUpGrantSchema }),
  StepUpStatus: endpoint('GET', '/StepUp/:id', { response: StepUpStatusSchema }),

  // ── Push approvals: the phone's approval page, the login page's "approve on my phone" ──
  PushConfig: endpoint('GET', '/Push/Config', { response: PushConfigSchema }),
  ApprovalsLogin: endpoint('POST', '/Approvals/Login', { body: LoginApprovalRequestSchema, response: LoginApprovalStartedSchema }),
  // 202 LoginApprovalPending while waiting; 200 Jellyfin's AuthenticationResult once approved.
  // 204: the page gave up its phone approval (see server/approvals/login.ts cancelWeb).
  ApprovalsLoginCancel: endpoint('POST', '/Approvals/Login/Cancel', { body: LoginApprovalCancelSchema }),
  ApprovalsLoginStatus: endpoint('POST', '/Approvals/Login/Status', { body: LoginApprovalStatusRequestSchema, response: LoginApprovalPendingSchema, answers: 'auth' }),
  // Sign in with the phone alone: the same answer for every user name; 200 AuthenticationResult once approved.
  PhoneSignIn: endpoint('POST', '/Approvals/SignIn', { body: PhoneSignInRequestSchema, response: PhoneSignInStartedSchema }),
  PhoneSignInStatus: endpoint('POST', '/Approvals/SignIn/Status', { body: PhoneSignInStatusRequestSchema, response: LoginApprovalPendingSchema, answers: 'auth' }),
  Approval: endpoint('GET', '/Approvals/:approvalId', { response: ApprovalViewSchema }),
  ApprovalOptions: endpoint('POST', '/Approvals/:approvalId/Options', { response: WebAuthnOptionsSchema }),
  ApprovalApprove: endpoint('POST', '/Approvals/:approvalId/Approve', { body: ApproveRequestSchema, response: ApprovalViewSchema }),
  ApprovalDeny: endpoint('POST', '/Approvals/:approvalId/Deny', { body: DenyRequestSchema, response: ApprovalViewSchema }),
  ApprovalReport: endpoint('POST', '/Approvals/:approvalId/Report', { body: ReportRequestSchema, response: ApprovalViewSchema }),

  // ── Self-service phones and devices ──
  MeApprovals: endpoint('GET', '/Me/Approvals', { response: ApprovalsResponseSchema }),
  MePhonesOptions: endpoint('POST', '/Me/Phones/Options', { response: WebAuthnOptionsSchema }),
  MePhonesEnroll: endpoint('POST', '/Me/Phones', { body: EnrollPhoneRequestSchema, response: EnrolledPhoneSchema }),
  MePhones: endpoint('GET', '/Me/Phones', { response: z.array(PhoneInfoSchema) }),
  MePhoneRename: endpoint('PATCH', '/Me/Phones/:phoneId', { body: RenamePhoneRequestSchema, response: PhoneInfoSchema }),
  MePhoneSubscription: endpoint('PUT', '/Me/Phones/:phoneId/Subscription', { body: SubscriptionRequestSchema, response: PhoneInfoSchema }),
  MePhoneTest: endpoint('POST', '/Me/Phones/:phoneId/Test', { response: TestPushResponseSchema }),
  MePhoneRemove: endpoint('DELETE', '/Me/Phones/:phoneId'),
  MeDevices: endpoint('GET', '/Me/Devices', { response: MyDevicesSchema }),
  MeSessionRevoke: endpoint('DELETE', '/Me/Sessions/:sessionId', { response: RevokeSessionResponseSchema }),

  // ── Pages and their files ──
  // ── Single sign-on (OpenID Connect): pages for a person, and the session the callback page collects ──
  OIDCProviders: endpoint('GET', '/OIDC/Providers', { response: SsoProvidersSchema }),
  OIDCAuthorize: endpoint('GET', '/OIDC/Authorize', { answers: 'page' }),
  OIDCCallback: endpoint('GET', '/OIDC/Callback', { answers: 'page' }),
  OIDCSession: endpoint('POST', '/OIDC/Session', { answers: 'auth' }),
  OIDCCompleteScript: endpoint('GET', '/OIDC/complete.js', { answers: 'file' }),

  InjectScript: endpoint('GET', '/inject.js', { answers: 'file' }),
  StepUpDialogScript: endpoint('GET', '/stepup.js', { answers: 'file' }),
  LoginPage: endpoint('GET', '/login', { answers: 'page' }),
  LoginPageFiles: endpoint('GET', '/login/*rest', { answers: 'file' }),
  App: endpoint('GET', '/app', { answers: 'page' }),
  AppFiles: endpoint('GET', '/app/*rest', { answers: 'file' }),
} as const;

export type EndpointName = keyof typeof ENDPOINTS;

/** The names of a path's `:params` (`'/Me/Phones/:phoneId'` → `'phoneId'`). */
export type PathParams<P extends string> = P extends `${string}:${infer Name}/${infer Rest}`
  ? Name | PathParams<`/${Rest}`>
  : P extends `${string}:${infer Name}`
    ? Name
    : never;

/** Request body / answer types of an endpoint. */
export type BodyOf<E extends Endpoint> = E['body'] extends z.ZodType ? z.input<E['body']> : undefined;
export type ResponseOf<E extends Endpoint> = E['response'] extends z.ZodType ? z.infer<E['response']> : undefined;

/**
 * The path of an endpoint below `/JellyfinSecurity`, its `:params` filled in (each URI-encoded):
 * `pathOf(ENDPOINTS.MePhoneRename, { phoneId })` → `/Me/Phones/abc…`.
 */
export function pathOf<P extends string>(e: Endpoint<P>, ...params: PathParams<P> extends never ? [] : [Record<PathParams<P>, string>]): string {
  const values = (params[0] ?? {}) as Record<string, string>;
  return e.path.replace(/:([A-Za-z]+)/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`${e.path}: ${name} is missing`);
    return encodeURIComponent(v);
  });
}

/** The full path of an endpoint on a gateway: `{BaseUrl}/JellyfinSecurity{path}`. */
export function gatewayPath(baseUrl: string, path: string): string {
  return `${baseUrl}/JellyfinSecurity${path}`;
}
