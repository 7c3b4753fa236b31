import { z } from 'zod';

/**
 * Step-up: actions that need a fresh proof from a factor the account ALREADY has, given by the session
 * that performs them. Every path is under `{BaseUrl}/JellyfinSecurity/`.
 *
 * THE ACTIONS
 *   QuickConnectAuthorize    POST {BaseUrl}/QuickConnect/Authorize?code= (Jellyfin's own route)  target: the code
 *   AddPhone                 POST Me/Phones/Options (then Me/Phones)                           target: null
 *   RemovePhone              DELETE Me/Phones/{phoneId}                                        target: the phone id
 *   AddPasskey               POST Me/Passkeys/Options (then Me/Passkeys)                       target: null
 *   RemovePasskey            DELETE Me/Passkeys/{id}                                           target: the passkey id
 *   AddTOTP                  POST Me/TOTP (then Me/TOTP/Confirm)                               target: null
 *   RemoveTOTP               DELETE Me/TOTP                                                    target: null
 *   SetEmail                 PUT Me/Email (then Me/Email/Confirm)                              target: null
 *   RemoveEmail              DELETE Me/Email                                                   target: null
 *   RegenerateRecoveryCodes  POST Me/RecoveryCodes                                             target: null
 *   A two-step addition asks for the proof at its first step (before the QR code, the passkey prompt or the
 *   e-mail), whose state only the same flow can finish.
 *
 * THE PROOF travels in the header `X-Jellyguard-StepUp`: a grant from POST StepUp for this session, this
 * action and this target (spent once), or a current TOTP code. Without one the action answers 401
 * StepUpRequired (below), listing the methods this account can use:
 *   "totp" — a code from the authenticator app;  "passkey" — an existing passkey (a phone is one too);
 *   "phone" — an approval on an enrolled phone (push; the phone shows the action);
 *   "recovery" — one of the account's recovery codes (it is used up);
 *   "password" — only for an account with no other factor: the Jellyfin password again (checked at
 *   Jellyfin; the session it makes is ended at once; wrong passwords count like any sign-in).
 * A session's own sign-in is the proof for a factor change within a few minutes of it: for an account with
 * no factor, a sign-in with its password; for one with factors, a sign-in in a browser or the
 * Authenticator that passed a second factor (TOTP, passkey, phone, recovery code). Never a session that
 * came from Quick Connect, a paired device's token, approve-then-retry, a trusted browser or the LAN
 * bypass, a TV's held login, nor one adopted from before the gateway.
 * The factor being added never proves anything: it is not there until the proof was spent.
 *
 *   POST StepUp                 StepUpRequest   → StepUpGrant (status "pending" for "phone": poll
 *                                                 GET StepUp/{stepUpId} until "granted", then send the grant)
 *   POST StepUp/Passkey/Options StepUpTarget    → PublicKeyCredentialRequestOptionsJSON
 *   GET  StepUp/{stepUpId}                      → StepUpStatus (the session that asked only)
 * A grant belongs to THIS session token, is spent once, and lives 2 minutes (a phone approval: until the
 * approval expires, then 2 minutes once approved).
 *
 * ADMINISTRATOR ACTIONS (GATEWAY_ADMIN_ACTIONS, JELLYFIN_ADMIN_ACTIONS; which routes and at which
 * StepUpLevel: server/stepup/admin-actions.ts) answer the same 401, with `label` naming the target ("Make
 * bob an administrator") and `target` what the grant must be asked for. Their grants live
 * StepUpWindowSeconds and serve the same session, action and target again within that time, except the
 * single-use ones (MakeAdministrator, CreateApiKey, InstallPlugin, RestoreBackup).
 * Errors: 401 `invalid_code` (a wrong code, password or passkey); 429 `too_many_attempts` (this session or
 * address made too many wrong tries). Every refused proof counts against the session (signed out at
 * MaxFailedAttempts) and its address — never against the user's name everywhere or the user's wrong-code
 * lock (a stolen session must not lock its owner out); a wrong password counts like a sign-in's. 403 `step_up_used` /
 * `step_up_expired` / `step_up_invalid`; 409 `step_up_pending` (the phone has not answered yet).
 *
 * THE OWNER HEARS OF EVERY CHANGE: a notice on the account's phones (an approval of kind "change": "It was
 * me" closes it; "This wasn't me" with a passkey tap revokes the session that made it, removes what it
 * added and bans its address) and an e-mail to the confirmed address.
 */

export const FACTOR_ACTIONS = [
  'AddPhone',
  'RemovePhone',
  'AddPasskey',
  'RemovePasskey',
  'AddTOTP',
  'RemoveTOTP',
  'SetEmail',
  'RemoveEmail',
  'RegenerateRecoveryCodes',
] as const;
export type FactorAction = (typeof FACTOR_ACTIONS)[number];

/**
 * Administrator actions of the gateway itself (their level: server/stepup/admin-actions.ts). The target
 * is the user id, the ban id or the pairing id the request names (null for the others).
 */
export const GATEWAY_ADMIN_ACTIONS = [
  'ChangeGatewaySettings',
  'ChangeUserFactors',
  'ResetUserTOTP',
  'SetUserAllowedIPs',
  'LiftBan',
  'LiftAllBans',
  'ApprovePairing',
  'DenyPairing',
  'ViewPendingPairings',
] as const;

/**
 * Administrator actions through Jellyfin's own API (the routes, levels and targets:
 * server/stepup/admin-actions.ts). The target is what the request names: a user id, a user name, an API
 * key's app name, a plugin id, a package, a backup file, a library name, a configuration key — or null.
 */
export const JELLYFIN_ADMIN_ACTIONS = [
  // users
  'CreateUser',
  'DeleteUser',
  'MakeAdministrator',
  'RemoveAdministrator',
  'DisableUser',
  'ChangeUserPermissions',
  'ChangeUserPassword',
  'ResetUserPassword',
  'EditUserProfile',
  // API keys
  'ViewApiKeys',
  'CreateApiKey',
  'RevokeApiKey',
  // plugins
  'InstallPlugin',
  'CancelPluginInstall',
  'EnablePlugin',
  'DisablePlugin',
  'UninstallPlugin',
  'ChangePluginSettings',
  'ChangePluginRepositories',
  // server
  'ChangeServerSettings',
  'ChangeNetworkSettings',
  'ChangeBranding',
  'ChangeTranscodingSettings',
  'ChangeOtherSettings',
  'RunSetupWizard',
  'RestartServer',
  'ShutdownServer',
  'CreateBackup',
  'RestoreBackup',
  // libraries
  'AddLibrary',
  'RemoveLibrary',
  'RenameLibrary',
  'ChangeLibraryFolders',
  'ChangeLibraryOptions',
  'ScanLibraries',
  // everything else an administrator changes (AllConfigChanges)
  'EditMetadata',
  'ManageTasks',
  'ManageDevices',
  'ManageLiveTv',
  'ManageMediaFiles',
  'ChangeSplashscreen',
] as const;
export type JellyfinAdminAction = (typeof JELLYFIN_ADMIN_ACTIONS)[number];

export const STEP_UP_ACTIONS = ['QuickConnectAuthorize', ...FACTOR_ACTIONS, ...GATEWAY_ADMIN_ACTIONS, ...JELLYFIN_ADMIN_ACTIONS] as const;
export const StepUpActionSchema = z.enum(STEP_UP_ACTIONS);
export type StepUpAction = z.infer<typeof StepUpActionSchema>;

export function isFactorAction(a: string): a is FactorAction {
  return (FACTOR_ACTIONS as readonly string[]).includes(a);
}

/** What each action is called where a person reads it (the dialog, the phone, the e-mail, the audit log). */
export const STEP_UP_ACTION_LABELS: Record<StepUpAction, string> = {
  QuickConnectAuthorize: 'Sign in a device with Quick Connect',
  AddPhone: 'Set up a phone as a key to your account',
  RemovePhone: 'Remove a phone from your account',
  AddPasskey: 'Add a passkey to your account',
  RemovePasskey: 'Remove a passkey from your account',
  AddTOTP: 'Set up an authenticator app',
  RemoveTOTP: 'Remove your authenticator app',
  SetEmail: 'Change your e-mail address',
  RemoveEmail: 'Remove your e-mail address',
  RegenerateRecoveryCodes: 'Make new recovery codes (the old ones stop working)',
  ChangeGatewaySettings: 'Change Jellyguard settings: {target}',
  ChangeUserFactors: 'Change {user}’s sign-in factors',
  ResetUserTOTP: 'Reset all of {user}’s second factors',
  SetUserAllowedIPs: 'Change the addresses {user} may sign in from',
  LiftBan: 'Lift a ban',
  LiftAllBans: 'Lift every ban',
  ApprovePairing: 'Approve a device pairing as {user}',
  DenyPairing: 'Deny a device pairing',
  ViewPendingPairings: 'See the devices waiting to be paired',
  CreateUser: 'Create user {target}',
  DeleteUser: 'Delete user {user}',
  MakeAdministrator: 'Make {user} an administrator',
  RemoveAdministrator: 'Remove {user}’s administrator rights',
  DisableUser: 'Disable user {user}',
  ChangeUserPermissions: 'Change {user}’s permissions',
  ChangeUserPassword: 'Change {user}’s password',
  ResetUserPassword: 'Reset {user}’s password',
  EditUserProfile: 'Change {user}’s profile',
  ViewApiKeys: 'See the API keys (each one works like an administrator’s password)',
  CreateApiKey: 'Create an API key “{target}”',
  RevokeApiKey: 'Revoke the API key {apiKey}',
  InstallPlugin: 'Install plugin {target}',
  CancelPluginInstall: 'Cancel a plugin installation',
  EnablePlugin: 'Enable plugin {plugin}',
  DisablePlugin: 'Disable plugin {plugin}',
  UninstallPlugin: 'Uninstall plugin {plugin}',
  ChangePluginSettings: 'Change the settings of plugin {plugin}',
  ChangePluginRepositories: 'Change where plugins are downloaded from',
  ChangeServerSettings: 'Change server settings',
  ChangeNetworkSettings: 'Change network settings',
  ChangeBranding: 'Change branding (login message, custom CSS)',
  ChangeTranscodingSettings: 'Change transcoding settings',
  ChangeOtherSettings: 'Change the “{target}” settings',
  RunSetupWizard: 'Change the setup wizard’s settings',
  RestartServer: 'Restart the server',
  ShutdownServer: 'Shut down the server',
  CreateBackup: 'Create a backup',
  RestoreBackup: 'Restore backup {target} and restart the server',
  AddLibrary: 'Add library {target}',
  RemoveLibrary: 'Remove library {target}',
  RenameLibrary: 'Rename library {target}',
  ChangeLibraryFolders: 'Change a library’s folders',
  ChangeLibraryOptions: 'Change a library’s options',
  ScanLibraries: 'Scan all libraries',
  EditMetadata: 'Edit an item’s metadata or images',
  ManageTasks: 'Run, stop or schedule a server task',
  ManageDevices: 'Rename or remove a device',
  ManageLiveTv: 'Change Live TV tuners or guide providers',
  ManageMediaFiles: 'Delete subtitles or merge or split video versions',
  ChangeSplashscreen: 'Change the splash screen',
};

/**
 * The label with its target filled in: `{user}`, `{plugin}` and `{apiKey}` take the name the gateway found
 * for the target (`subject`), `{target}` the target itself; "a user" / "a plugin" when nothing is known.
 */
export function stepUpLabel(action: StepUpAction, target: string | null, subject?: string | null): string {
  const shown = (s: string | null | undefined) => (s ? [...s.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+/gu, ' ').trim()].slice(0, 64).join('') : '');
  return STEP_UP_ACTION_LABELS[action]
    .replace('{user}', shown(subject) || 'a user')
    .replace('{plugin}', shown(subject) || 'a plugin')
    .replace('{apiKey}', shown(subject) ? `“${shown(subject)}”` : '')
    .replace('{target}', shown(target) || '…')
    .replace(/\s+/g, ' ')
    .trim();
}

export const STEP_UP_METHODS = ['totp', 'passkey', 'phone', 'recovery', 'password'] as const;
export const StepUpMethodSchema = z.enum(STEP_UP_METHODS);
export type StepUpMethod = z.infer<typeof StepUpMethodSchema>;

/** The header name a step-up proof travels in. */
export const STEP_UP_HEADER_NAME = 'X-Jellyguard-StepUp';

/** The 401 of an action that needs a fresh proof. */
export const StepUpRequiredSchema = z.object({
  error: z.literal('step_up_required'),
  message: z.string(),
  action: StepUpActionSchema,
  /** What a person reads, target included ("Make bob an administrator", "Sign in a device with Quick Connect"). */
  label: z.string(),
  /** What the action is for (a code, a phone or passkey id; null when the action names it alone); a grant must be asked for this target. */
  target: z.string().nullable(),
  /** What this user can give: empty when nothing (the action cannot be done from this session). */
  methods: z.array(StepUpMethodSchema),
});
export type StepUpRequired = z.infer<typeof StepUpRequiredSchema>;

/**
 * A name a person gives a phone or passkey. It is shown in notices and e-mails about changes, so control
 * and formatting characters (new lines, right-to-left overrides, zero-width marks) are taken out: a name
 * must not be able to make a notice say something else. At most 64 characters, cut between characters.
 */
export const DisplayNameSchema = z
  .string()
  .max(1024)
  .transform((s) => [...s.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+/gu, ' ').replace(/\s+/g, ' ').trim()].slice(0, 64).join('').trim())
  .pipe(z.string().min(1, 'must not be empty'));

/** Passkey ids are base64url of up to 1023 bytes. */
const target = z.string().trim().min(1).max(1400).nullable().optional();

export const StepUpTargetSchema = z.object({ action: StepUpActionSchema, target });

export const b64url = z.string().regex(/^[A-Za-z0-9_-]*={0,2}$/, 'must be base64url').max(65_536);
/** A WebAuthn assertion as @simplewebauthn/browser returns it. */
export const AssertionSchema = z.looseObject({
  id: b64url.min(1),
  rawId: b64url.min(1),
  type: z.literal('public-key'),
  response: z.looseObject({ clientDataJSON: b64url, authenticatorData: b64url, signature: b64url, userHandle: b64url.optional() }),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.string().optional(),
});

export const StepUpRequestSchema = z.discriminatedUnion('method', [
  z.object({ method: z.literal('totp'), action: StepUpActionSchema, target, code: z.string().trim().min(1).max(16) }),
  z.object({ method: z.literal('passkey'), action: StepUpActionSchema, target, response: AssertionSchema }),
  z.object({ method: z.literal('phone'), action: StepUpActionSchema, target }),
  z.object({ method: z.literal('recovery'), action: StepUpActionSchema, target, code: z.string().trim().min(1).max(64) }),
  z.object({ method: z.literal('password'), action: StepUpActionSchema, target, password: z.string().max(1024) }),
]);
export type StepUpRequest = z.infer<typeof StepUpRequestSchema>;

export const StepUpGrantSchema = z.object({
  /** Poll GET StepUp/{stepUpId} while "pending". */
  stepUpId: z.string(),
  /** Send as X-Jellyguard-StepUp once granted. Shown once. */
  grant: z.string(),
  status: z.enum(['granted', 'pending']),
  action: StepUpActionSchema,
  target: z.string().nullable(),
  expiresAt: z.iso.datetime(),
  /** For "phone": the approval the Authenticator shows. */
  approvalId: z.string().optional(),
});
export type StepUpGrant = z.infer<typeof StepUpGrantSchema>;

export const StepUpStatusSchema = z.object({
  stepUpId: z.string(),
  status: z.enum(['pending', 'granted', 'used', 'denied', 'expired']),
  expiresAt: z.iso.datetime(),
});
export type StepUpStatus = z.infer<typeof StepUpStatusSchema>;
