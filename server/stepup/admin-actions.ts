import type { RouteParams } from '../jellyfin/paths.ts';
import { matchRoute } from '../jellyfin/paths.ts';
import { canonicalGuid, field } from '../jellyfin/json.ts';
import {
  FACTOR_ACTIONS,
  type JellyfinAdminAction,
  type StepUpAction,
  GATEWAY_ADMIN_ACTIONS,
} from '../../shared/api/stepup.ts';
import type { Config } from '../config/index.ts';

/**
 * Administrator actions that need a fresh proof (DESIGN: Step-up), and at which `StepUpLevel`:
 *
 *   None              only the account's own factors and Quick Connect Authorize (always asked)
 *   AdminActions      + users, API keys, plugins, server and network settings, restart and shutdown,
 *                       backups, library folders, the setup wizard, and every change of the gateway's own
 *   AllConfigChanges  + every other change an administrator makes (metadata, tasks, devices, Live TV…)
 *
 * Jellyfin's routes were read from jellyfin/jellyfin at v10.10.7 and v10.11.11 (the controllers'
 * `RequiresElevation` / `FirstTimeSetupOrElevated` policies and the methods that change state). Patterns
 * are on the normalized path (server/jellyfin/paths.ts: lower-case, no BaseUrl or /emby, `{x}` = one
 * segment, GUIDs in N form), and every row names its method, so reading stays on the short path and
 * nothing is buffered for it. One read is asked for: GET /Auth/Keys, which hands out every API key (and a
 * key acts as an administrator that cannot be asked to confirm). No other GET — GET /System/Info in
 * particular: a failed one signs jellyfin-web out.
 */

export type StepUpLevel = Config['StepUpLevel'];
export type AdminLevel = Exclude<StepUpLevel, 'None'>;

const RANK: Record<StepUpLevel, number> = { None: 0, AdminActions: 1, AllConfigChanges: 2 };

export interface ActionRule {
  level: AdminLevel;
  /**
   * A grant is spent by its first use (the most dangerous actions). Otherwise it serves the same session,
   * action and target again until StepUpWindowSeconds run out.
   */
  singleUse?: boolean;
  /** What the target names, for the label a person reads ("Delete user bob"). */
  subject?: 'user' | 'plugin' | 'apiKey';
}

type AdminAction = JellyfinAdminAction | (typeof GATEWAY_ADMIN_ACTIONS)[number];
const AA: AdminLevel = 'AdminActions';
const ACC: AdminLevel = 'AllConfigChanges';

/** Every administrator action: its level, whether a grant is single use, what its target names. */
export const ADMIN_ACTION_RULES: Record<AdminAction, ActionRule> = {
  // the gateway's own
  ChangeGatewaySettings: { level: AA },
  ChangeUserFactors: { level: AA, subject: 'user' },
  ResetUserTOTP: { level: AA, subject: 'user' },
  SetUserAllowedIPs: { level: AA, subject: 'user' },
  LiftBan: { level: AA },
  LiftAllBans: { level: AA },
  ApprovePairing: { level: AA, singleUse: true, subject: 'user' },
  DenyPairing: { level: AA },
  // A read, but of the codes and devices waiting to be paired: the step before approving one. Only the
  // strictest level asks for it (the approval itself is asked for at AdminActions).
  ViewPendingPairings: { level: ACC },
  // Jellyfin: users
  CreateUser: { level: AA },
  DeleteUser: { level: AA, subject: 'user' },
  MakeAdministrator: { level: AA, singleUse: true, subject: 'user' },
  RemoveAdministrator: { level: AA, subject: 'user' },
  DisableUser: { level: AA, subject: 'user' },
  ChangeUserPermissions: { level: AA, subject: 'user' },
  ChangeUserPassword: { level: AA, subject: 'user' },
  ResetUserPassword: { level: AA, subject: 'user' },
  EditUserProfile: { level: ACC, subject: 'user' },
  // API keys. Reading them is asked for too: Jellyfin lists every key in clear text, and a key passes the
  // gate as an administrator would (automation cannot confirm) — a stolen session must not pick one up.
  ViewApiKeys: { level: AA },
  CreateApiKey: { level: AA, singleUse: true },
  RevokeApiKey: { level: AA, subject: 'apiKey' },
  // plugins
  InstallPlugin: { level: AA, singleUse: true },
  CancelPluginInstall: { level: AA },
  EnablePlugin: { level: AA, subject: 'plugin' },
  DisablePlugin: { level: AA, subject: 'plugin' },
  UninstallPlugin: { level: AA, subject: 'plugin' },
  ChangePluginSettings: { level: AA, subject: 'plugin' },
  ChangePluginRepositories: { level: AA },
  // server
  ChangeServerSettings: { level: AA },
  ChangeNetworkSettings: { level: AA },
  ChangeBranding: { level: AA },
  ChangeTranscodingSettings: { level: AA },
  ChangeOtherSettings: { level: ACC },
  RunSetupWizard: { level: AA },
  RestartServer: { level: AA },
  ShutdownServer: { level: AA },
  CreateBackup: { level: AA },
  RestoreBackup: { level: AA, singleUse: true },
  // libraries
  AddLibrary: { level: AA },
  RemoveLibrary: { level: AA },
  RenameLibrary: { level: AA },
  ChangeLibraryFolders: { level: AA },
  // 10.11 also adds the folders of new PathInfos here
  ChangeLibraryOptions: { level: AA },
  ScanLibraries: { level: ACC },
  // every other change
  EditMetadata: { level: ACC },
  ManageTasks: { level: ACC },
  ManageDevices: { level: ACC },
  ManageLiveTv: { level: ACC },
  ManageMediaFiles: { level: ACC },
  ChangeSplashscreen: { level: ACC },
};

export function isAdminAction(a: string): a is AdminAction {
  return Object.hasOwn(ADMIN_ACTION_RULES, a);
}

/**
 * Whether `action` needs a proof at this StepUpLevel. The account's own factors and Quick Connect
 * Authorize are not administrator actions: asked at every level.
 */
export function stepUpApplies(action: StepUpAction, level: StepUpLevel): boolean {
  if (!isAdminAction(action)) return true;
  return RANK[ADMIN_ACTION_RULES[action].level] <= RANK[level];
}

/** Whether a grant for this action is spent by its first use. */
export function isSingleUse(action: StepUpAction): boolean {
  if (!isAdminAction(action)) return true; // factor changes and Quick Connect: always
  return ADMIN_ACTION_RULES[action].singleUse === true;
}

/** Factor changes and Quick Connect keep their short life; administrator grants live StepUpWindowSeconds. */
export function isShortLived(action: string): boolean {
  return action === 'QuickConnectAuthorize' || (FACTOR_ACTIONS as readonly string[]).includes(action);
}

// ─────────────────────────────────────────────────────────────────────────────────────────────────────
// Jellyfin's routes

/** What a row sees of a request. */
export interface AdminRequest {
  params: RouteParams;
  /** Every value of a query parameter as Jellyfin reads it (case-insensitive name, decoded twice). */
  query(name: string): string[];
  /** The JSON body (rows with `body: true`), its properties read case-insensitively, last one winning. */
  body: Record<string, unknown> | undefined;
  /** The user the session belongs to (32 hex). */
  callerId: string;
  /**
   * The path's last segment as the client wrote it (decoded, case kept) when it is the normalized one
   * in another case — for a name a person reads ("Playback Reporting", not "playback reporting").
   */
  lastSegment?: string;
  /** The target user's current policy at Jellyfin; undefined when it cannot be read. */
  userState(userId: string): Promise<{ isAdministrator: boolean; isDisabled: boolean } | undefined>;
}

/** The action a request is (and its target), or null when it is none (a user's own password). */
export type Resolved = { action: JellyfinAdminAction; target: string | null } | null;

export interface AdminRoute {
  method: 'GET' | 'POST' | 'DELETE';
  /** On the normalized path. */
  pattern: string;
  /** Jellyfin's own template, for the README table. */
  route: string;
  versions: 'both' | '10.10' | '10.11';
  /** Where the target comes from (for the README table). */
  target: string;
  /** The row needs the request body (buffered, at most MAX_ADMIN_BODY_BYTES, then forwarded as is). */
  body?: true;
  /** The actions the row can be (for the README table and the unit test); the first is the usual one. */
  actions: readonly JellyfinAdminAction[];
  resolve(r: AdminRequest): Resolved | Promise<Resolved>;
}

/** Bodies the gate reads before forwarding (a user policy is a few KiB). */
export const MAX_ADMIN_BODY_BYTES = 1024 * 1024;

/** A property of a JSON body as ASP.NET binds it (names case-insensitive, the last one wins). */
const prop = (body: Record<string, unknown> | undefined, name: string): unknown => field(body, name);

/** A boolean of the body, failing closed: anything but an explicit false/absent counts as true. */
function flag(body: Record<string, unknown> | undefined, name: string): boolean {
  const v = prop(body, name);
  if (v === undefined || v === null || v === false) return false;
  if (typeof v === 'string' && v.trim().toLowerCase() === 'false') return false;
  if (v === 0 || v === '0') return false;
  return true;
}

function text(v: unknown): string | null {
  return typeof v === 'string' && v.trim() !== '' ? v.trim().slice(0, 256) : null;
}

/** A user id in a path or query: Jellyfin binds it as a Guid (anything else is its 400). */
function userIdOf(raw: string | undefined): string | null {
  return raw === undefined ? null : (canonicalGuid(raw) ?? null);
}

const fixed =
  (action: JellyfinAdminAction, target: (r: AdminRequest) => string | null = () => null) =>
  (r: AdminRequest): Resolved => ({ action, target: target(r) });

/**
 * Another user's id (a path param or `userId` in the query); null when the request is about the caller's
 * own account. Fails closed: any query value that is not the caller's own id (a second value, one that is
 * not a GUID) makes it about someone else.
 */
function otherUser(r: AdminRequest, fromPath: boolean): string | null {
  const values = fromPath ? [r.params['id'] ?? ''] : r.query('userId').filter((v) => v.trim() !== '');
  for (const raw of values) {
    const id = userIdOf(raw);
    if (id !== r.callerId) return id ?? raw.slice(0, 64);
  }
  return null;
}

function password(fromPath: boolean) {
  return (r: AdminRequest): Resolved => {
    const user = otherUser(r, fromPath);
    if (user === null) return null; // one's own password: the password-change interceptor counts guesses
    return { action: flag(r.body, 'ResetPassword') ? 'ResetUserPassword' : 'ChangeUserPassword', target: user };
  };
}

function profile(fromPath: boolean) {
  return (r: AdminRequest): Resolved => {
    // POST /Users/{x} with x not a GUID is another route (ForgotPassword…) or Jellyfin's 400.
    if (fromPath && userIdOf(r.params['id']) === null) return null;
    const user = otherUser(r, fromPath);
    return user === null ? null : { action: 'EditUserProfile', target: user };
  };
}

/**
 * `POST Users/{id}/Policy` replaces the whole policy (the dashboard always sends all of it), so what it
 * does is read by comparing with the user's policy now: becoming an administrator, losing it, being
 * disabled, or anything else. When the current policy cannot be read, a body that makes an administrator
 * is taken as making one (fail closed: the single-use proof).
 */
async function policy(r: AdminRequest): Promise<Resolved> {
  const user = userIdOf(r.params['id']) ?? r.params['id'] ?? null;
  const admin = flag(r.body, 'IsAdministrator');
  const disabled = flag(r.body, 'IsDisabled');
  const now = user ? await r.userState(user) : undefined;
  if (admin && !now?.isAdministrator) return { action: 'MakeAdministrator', target: user };
  if (!admin && now?.isAdministrator) return { action: 'RemoveAdministrator', target: user };
  if (disabled && !now?.isDisabled) return { action: 'DisableUser', target: user };
  return { action: 'ChangeUserPermissions', target: user };
}

/** `POST System/Configuration/{key}`: the key says which settings (the store keys of both versions). */
function namedConfiguration(r: AdminRequest): Resolved {
  const key = (r.params['key'] ?? '').toLowerCase();
  if (key === 'network') return { action: 'ChangeNetworkSettings', target: null };
  if (key === 'branding') return { action: 'ChangeBranding', target: null };
  if (key === 'encoding') return { action: 'ChangeTranscodingSettings', target: null };
  if (key === 'metadata' || key === 'xbmcmetadata' || key === 'livetv') return { action: 'ChangeOtherSettings', target: key };
  // A store a plugin registered, or none: the strict level (fail closed).
  return { action: 'ChangeServerSettings', target: null };
}

const q = (name: string) => (r: AdminRequest) => text(r.query(name)[0]);
const p = (name: string) => (r: AdminRequest) => text(r.params[name]);
const b = (name: string) => (r: AdminRequest) => text(prop(r.body, name));

/**
 * The table. Read a row as: method, Jellyfin route, versions, where the target comes from, the action(s).
 * Order matters where patterns overlap: the first matching row wins (`/users/new` before `/users/{id}`).
 */
export const ADMIN_ROUTES: readonly AdminRoute[] = [
  // ── users (UserController, class [Route("Users")]) ──
  { method: 'POST', pattern: '/users/new', route: 'POST /Users/New', versions: 'both', target: 'body Name', body: true, actions: ['CreateUser'], resolve: fixed('CreateUser', b('Name')) },
  { method: 'POST', pattern: '/users/password', route: 'POST /Users/Password?userId=', versions: 'both', target: 'query userId (another user only)', body: true, actions: ['ChangeUserPassword', 'ResetUserPassword'], resolve: password(false) },
  { method: 'POST', pattern: '/users/configuration', route: 'POST /Users/Configuration?userId=', versions: 'both', target: 'query userId (another user only)', actions: ['EditUserProfile'], resolve: profile(false) },
  { method: 'POST', pattern: '/users', route: 'POST /Users?userId=', versions: 'both', target: 'query userId (another user only)', actions: ['EditUserProfile'], resolve: profile(false) },
  { method: 'DELETE', pattern: '/users/{id}', route: 'DELETE /Users/{userId}', versions: 'both', target: 'path userId', actions: ['DeleteUser'], resolve: fixed('DeleteUser', (r) => userIdOf(r.params['id']) ?? p('id')(r)) },
  { method: 'POST', pattern: '/users/{id}/policy', route: 'POST /Users/{userId}/Policy', versions: 'both', target: 'path userId; body IsAdministrator, IsDisabled against the user now', body: true, actions: ['MakeAdministrator', 'RemoveAdministrator', 'DisableUser', 'ChangeUserPermissions'], resolve: policy },
  { method: 'POST', pattern: '/users/{id}/password', route: 'POST /Users/{userId}/Password', versions: 'both', target: 'path userId (another user only); body ResetPassword', body: true, actions: ['ChangeUserPassword', 'ResetUserPassword'], resolve: password(true) },
  { method: 'POST', pattern: '/users/{id}/configuration', route: 'POST /Users/{userId}/Configuration', versions: 'both', target: 'path userId (another user only)', actions: ['EditUserProfile'], resolve: profile(true) },
  { method: 'POST', pattern: '/users/{id}', route: 'POST /Users/{userId}', versions: 'both', target: 'path userId (another user only)', actions: ['EditUserProfile'], resolve: profile(true) },
  { method: 'POST', pattern: '/userimage', route: 'POST /UserImage?userId=', versions: 'both', target: 'query userId (another user only)', actions: ['EditUserProfile'], resolve: profile(false) },
  { method: 'DELETE', pattern: '/userimage', route: 'DELETE /UserImage?userId=', versions: 'both', target: 'query userId (another user only)', actions: ['EditUserProfile'], resolve: profile(false) },
  { method: 'POST', pattern: '/users/{id}/images/{type}', route: 'POST /Users/{userId}/Images/{imageType}', versions: 'both', target: 'path userId (another user only)', actions: ['EditUserProfile'], resolve: profile(true) },
  { method: 'DELETE', pattern: '/users/{id}/images/{type}', route: 'DELETE /Users/{userId}/Images/{imageType}', versions: 'both', target: 'path userId (another user only)', actions: ['EditUserProfile'], resolve: profile(true) },
  { method: 'POST', pattern: '/users/{id}/images/{type}/{index}', route: 'POST /Users/{userId}/Images/{imageType}/{index}', versions: 'both', target: 'path userId (another user only)', actions: ['EditUserProfile'], resolve: profile(true) },
  { method: 'DELETE', pattern: '/users/{id}/images/{type}/{index}', route: 'DELETE /Users/{userId}/Images/{imageType}/{index}', versions: 'both', target: 'path userId (another user only)', actions: ['EditUserProfile'], resolve: profile(true) },

  // ── API keys (ApiKeyController, [Route("Auth")]) ──
  { method: 'GET', pattern: '/auth/keys', route: 'GET /Auth/Keys', versions: 'both', target: '—', actions: ['ViewApiKeys'], resolve: fixed('ViewApiKeys') },
  { method: 'POST', pattern: '/auth/keys', route: 'POST /Auth/Keys?app=', versions: 'both', target: 'query app', actions: ['CreateApiKey'], resolve: fixed('CreateApiKey', q('app')) },
  { method: 'DELETE', pattern: '/auth/keys/{key}', route: 'DELETE /Auth/Keys/{key}', versions: 'both', target: 'path key (shown as a fingerprint, never the key)', actions: ['RevokeApiKey'], resolve: fixed('RevokeApiKey', p('key')) },

  // ── plugins and packages (PluginsController, PackageController) ──
  { method: 'POST', pattern: '/packages/installed/{name}', route: 'POST /Packages/Installed/{name}?version=', versions: 'both', target: 'path name + query version', actions: ['InstallPlugin'], resolve: fixed('InstallPlugin', (r) => [text(r.lastSegment ?? r.params['name']), text(r.query('version')[0])].filter(Boolean).join(' ') || null) },
  { method: 'DELETE', pattern: '/packages/installing/{id}', route: 'DELETE /Packages/Installing/{packageId}', versions: 'both', target: '—', actions: ['CancelPluginInstall'], resolve: fixed('CancelPluginInstall') },
  { method: 'POST', pattern: '/repositories', route: 'POST /Repositories', versions: 'both', target: '—', actions: ['ChangePluginRepositories'], resolve: fixed('ChangePluginRepositories') },
  { method: 'POST', pattern: '/plugins/{id}/{version}/enable', route: 'POST /Plugins/{pluginId}/{version}/Enable', versions: 'both', target: 'path pluginId', actions: ['EnablePlugin'], resolve: fixed('EnablePlugin', p('id')) },
  { method: 'POST', pattern: '/plugins/{id}/{version}/disable', route: 'POST /Plugins/{pluginId}/{version}/Disable', versions: 'both', target: 'path pluginId', actions: ['DisablePlugin'], resolve: fixed('DisablePlugin', p('id')) },
  { method: 'DELETE', pattern: '/plugins/{id}/{version}', route: 'DELETE /Plugins/{pluginId}/{version}', versions: 'both', target: 'path pluginId', actions: ['UninstallPlugin'], resolve: fixed('UninstallPlugin', p('id')) },
  { method: 'DELETE', pattern: '/plugins/{id}', route: 'DELETE /Plugins/{pluginId}', versions: 'both', target: 'path pluginId', actions: ['UninstallPlugin'], resolve: fixed('UninstallPlugin', p('id')) },
  { method: 'POST', pattern: '/plugins/{id}/configuration', route: 'POST /Plugins/{pluginId}/Configuration', versions: 'both', target: 'path pluginId', actions: ['ChangePluginSettings'], resolve: fixed('ChangePluginSettings', p('id')) },

  // ── server and network settings (ConfigurationController, [Route("System")]; StartupController) ──
  { method: 'POST', pattern: '/system/configuration', route: 'POST /System/Configuration', versions: 'both', target: '—', actions: ['ChangeServerSettings'], resolve: fixed('ChangeServerSettings') },
  { method: 'POST', pattern: '/system/configuration/{key}', route: 'POST /System/Configuration/{key}', versions: 'both', target: 'path key (network, branding, encoding; metadata, xbmcmetadata, livetv)', actions: ['ChangeNetworkSettings', 'ChangeBranding', 'ChangeTranscodingSettings', 'ChangeOtherSettings', 'ChangeServerSettings'], resolve: namedConfiguration },
  { method: 'POST', pattern: '/startup/user', route: 'POST /Startup/User', versions: 'both', target: '—', actions: ['RunSetupWizard'], resolve: fixed('RunSetupWizard') },
  { method: 'POST', pattern: '/startup/configuration', route: 'POST /Startup/Configuration', versions: 'both', target: '—', actions: ['RunSetupWizard'], resolve: fixed('RunSetupWizard') },
  { method: 'POST', pattern: '/startup/remoteaccess', route: 'POST /Startup/RemoteAccess', versions: 'both', target: '—', actions: ['RunSetupWizard'], resolve: fixed('RunSetupWizard') },
  { method: 'POST', pattern: '/startup/complete', route: 'POST /Startup/Complete', versions: 'both', target: '—', actions: ['RunSetupWizard'], resolve: fixed('RunSetupWizard') },
  { method: 'POST', pattern: '/system/restart', route: 'POST /System/Restart', versions: 'both', target: '—', actions: ['RestartServer'], resolve: fixed('RestartServer') },
  { method: 'POST', pattern: '/system/shutdown', route: 'POST /System/Shutdown', versions: 'both', target: '—', actions: ['ShutdownServer'], resolve: fixed('ShutdownServer') },

  // ── backups (BackupController, 10.11) ──
  { method: 'POST', pattern: '/backup/create', route: 'POST /Backup/Create', versions: '10.11', target: '—', actions: ['CreateBackup'], resolve: fixed('CreateBackup') },
  { method: 'POST', pattern: '/backup/restore', route: 'POST /Backup/Restore', versions: '10.11', target: 'body ArchiveFileName', body: true, actions: ['RestoreBackup'], resolve: fixed('RestoreBackup', b('ArchiveFileName')) },

  // ── libraries (LibraryStructureController, [Route("Library/VirtualFolders")]; LibraryController) ──
  { method: 'POST', pattern: '/library/virtualfolders', route: 'POST /Library/VirtualFolders?name=', versions: 'both', target: 'query name', actions: ['AddLibrary'], resolve: fixed('AddLibrary', q('name')) },
  { method: 'DELETE', pattern: '/library/virtualfolders', route: 'DELETE /Library/VirtualFolders?name=', versions: 'both', target: 'query name', actions: ['RemoveLibrary'], resolve: fixed('RemoveLibrary', q('name')) },
  { method: 'POST', pattern: '/library/virtualfolders/name', route: 'POST /Library/VirtualFolders/Name?name=', versions: 'both', target: 'query name', actions: ['RenameLibrary'], resolve: fixed('RenameLibrary', q('name')) },
  { method: 'POST', pattern: '/library/virtualfolders/paths', route: 'POST /Library/VirtualFolders/Paths', versions: 'both', target: '—', actions: ['ChangeLibraryFolders'], resolve: fixed('ChangeLibraryFolders') },
  { method: 'POST', pattern: '/library/virtualfolders/paths/update', route: 'POST /Library/VirtualFolders/Paths/Update', versions: 'both', target: '—', actions: ['ChangeLibraryFolders'], resolve: fixed('ChangeLibraryFolders') },
  { method: 'DELETE', pattern: '/library/virtualfolders/paths', route: 'DELETE /Library/VirtualFolders/Paths?name=', versions: 'both', target: '—', actions: ['ChangeLibraryFolders'], resolve: fixed('ChangeLibraryFolders') },
  { method: 'POST', pattern: '/library/virtualfolders/libraryoptions', route: 'POST /Library/VirtualFolders/LibraryOptions', versions: 'both', target: '—', actions: ['ChangeLibraryOptions'], resolve: fixed('ChangeLibraryOptions') },
  { method: 'POST', pattern: '/library/refresh', route: 'POST /Library/Refresh', versions: 'both', target: '—', actions: ['ScanLibraries'], resolve: fixed('ScanLibraries') },
  { method: 'POST', pattern: '/environment/validatepath', route: 'POST /Environment/ValidatePath', versions: 'both', target: '—', actions: ['ChangeLibraryFolders'], resolve: fixed('ChangeLibraryFolders') },

  // ── everything else an administrator changes (AllConfigChanges) ──
  { method: 'POST', pattern: '/items/{id}', route: 'POST /Items/{itemId}', versions: 'both', target: '—', actions: ['EditMetadata'], resolve: fixed('EditMetadata') },
  { method: 'POST', pattern: '/items/{id}/contenttype', route: 'POST /Items/{itemId}/ContentType', versions: 'both', target: '—', actions: ['EditMetadata'], resolve: fixed('EditMetadata') },
  { method: 'POST', pattern: '/items/{id}/refresh', route: 'POST /Items/{itemId}/Refresh', versions: 'both', target: '—', actions: ['EditMetadata'], resolve: fixed('EditMetadata') },
  { method: 'POST', pattern: '/items/remotesearch/apply/{id}', route: 'POST /Items/RemoteSearch/Apply/{itemId}', versions: 'both', target: '—', actions: ['EditMetadata'], resolve: fixed('EditMetadata') },
  { method: 'POST', pattern: '/items/{id}/remoteimages/download', route: 'POST /Items/{itemId}/RemoteImages/Download', versions: 'both', target: '—', actions: ['EditMetadata'], resolve: fixed('EditMetadata') },
  { method: 'POST', pattern: '/items/{id}/images/{type}', route: 'POST /Items/{itemId}/Images/{imageType}', versions: 'both', target: '—', actions: ['EditMetadata'], resolve: fixed('EditMetadata') },
  { method: 'DELETE', pattern: '/items/{id}/images/{type}', route: 'DELETE /Items/{itemId}/Images/{imageType}', versions: 'both', target: '—', actions: ['EditMetadata'], resolve: fixed('EditMetadata') },
  { method: 'POST', pattern: '/items/{id}/images/{type}/{index}', route: 'POST /Items/{itemId}/Images/{imageType}/{imageIndex}', versions: 'both', target: '—', actions: ['EditMetadata'], resolve: fixed('EditMetadata') },
  { method: 'DELETE', pattern: '/items/{id}/images/{type}/{index}', route: 'DELETE /Items/{itemId}/Images/{imageType}/{imageIndex}', versions: 'both', target: '—', actions: ['EditMetadata'], resolve: fixed('EditMetadata') },
  { method: 'POST', pattern: '/items/{id}/images/{type}/{index}/index', route: 'POST /Items/{itemId}/Images/{imageType}/{imageIndex}/Index', versions: 'both', target: '—', actions: ['EditMetadata'], resolve: fixed('EditMetadata') },
  { method: 'POST', pattern: '/scheduledtasks/running/{id}', route: 'POST /ScheduledTasks/Running/{taskId}', versions: 'both', target: '—', actions: ['ManageTasks'], resolve: fixed('ManageTasks') },
  { method: 'DELETE', pattern: '/scheduledtasks/running/{id}', route: 'DELETE /ScheduledTasks/Running/{taskId}', versions: 'both', target: '—', actions: ['ManageTasks'], resolve: fixed('ManageTasks') },
  { method: 'POST', pattern: '/scheduledtasks/{id}/triggers', route: 'POST /ScheduledTasks/{taskId}/Triggers', versions: 'both', target: '—', actions: ['ManageTasks'], resolve: fixed('ManageTasks') },
  { method: 'POST', pattern: '/devices/options', route: 'POST /Devices/Options?id=', versions: 'both', target: '—', actions: ['ManageDevices'], resolve: fixed('ManageDevices') },
  { method: 'DELETE', pattern: '/devices', route: 'DELETE /Devices?id=', versions: 'both', target: '—', actions: ['ManageDevices'], resolve: fixed('ManageDevices') },
  { method: 'POST', pattern: '/livetv/tunerhosts', route: 'POST /LiveTv/TunerHosts', versions: 'both', target: '—', actions: ['ManageLiveTv'], resolve: fixed('ManageLiveTv') },
  { method: 'DELETE', pattern: '/livetv/tunerhosts', route: 'DELETE /LiveTv/TunerHosts?id=', versions: 'both', target: '—', actions: ['ManageLiveTv'], resolve: fixed('ManageLiveTv') },
  { method: 'POST', pattern: '/livetv/listingproviders', route: 'POST /LiveTv/ListingProviders', versions: 'both', target: '—', actions: ['ManageLiveTv'], resolve: fixed('ManageLiveTv') },
  { method: 'DELETE', pattern: '/livetv/listingproviders', route: 'DELETE /LiveTv/ListingProviders?id=', versions: 'both', target: '—', actions: ['ManageLiveTv'], resolve: fixed('ManageLiveTv') },
  { method: 'POST', pattern: '/livetv/tuners/{id}/reset', route: 'POST /LiveTv/Tuners/{tunerId}/Reset', versions: 'both', target: '—', actions: ['ManageLiveTv'], resolve: fixed('ManageLiveTv') },
  { method: 'POST', pattern: '/livetv/channelmappings', route: 'POST /LiveTv/ChannelMappings', versions: 'both', target: '—', actions: ['ManageLiveTv'], resolve: fixed('ManageLiveTv') },
  { method: 'DELETE', pattern: '/videos/{id}/subtitles/{index}', route: 'DELETE /Videos/{itemId}/Subtitles/{index}', versions: 'both', target: '—', actions: ['ManageMediaFiles'], resolve: fixed('ManageMediaFiles') },
  { method: 'DELETE', pattern: '/videos/{id}/alternatesources', route: 'DELETE /Videos/{itemId}/AlternateSources', versions: 'both', target: '—', actions: ['ManageMediaFiles'], resolve: fixed('ManageMediaFiles') },
  { method: 'POST', pattern: '/videos/mergeversions', route: 'POST /Videos/MergeVersions?ids=', versions: 'both', target: '—', actions: ['ManageMediaFiles'], resolve: fixed('ManageMediaFiles') },
  { method: 'POST', pattern: '/branding/splashscreen', route: 'POST /Branding/Splashscreen', versions: 'both', target: '—', actions: ['ChangeSplashscreen'], resolve: fixed('ChangeSplashscreen') },
  { method: 'DELETE', pattern: '/branding/splashscreen', route: 'DELETE /Branding/Splashscreen', versions: 'both', target: '—', actions: ['ChangeSplashscreen'], resolve: fixed('ChangeSplashscreen') },
];

/** The first segment and the number of segments of a normalized path ('/users/new' → 'users:2'). */
function shapeOf(route: string): string {
  let n = 0;
  for (let i = 0; i < route.length; i++) if (route.charCodeAt(i) === 0x2f) n++;
  const end = route.indexOf('/', 1);
  return `${end === -1 ? route.slice(1) : route.slice(1, end)}:${n}`;
}

/**
 * Rows by method, then by their first (literal) segment and length, in table order: a lookup looks only at
 * the rows that can match (GET and HEAD have none; a playback report's POST /Sessions/… none either).
 */
const BY_METHOD = new Map<string, Map<string, AdminRoute[]>>();
for (const row of ADMIN_ROUTES) {
  const shape = shapeOf(row.pattern);
  if (shape.startsWith('{')) throw new Error(`${row.pattern}: an administrator route must start with a literal segment`);
  const bySegment = BY_METHOD.get(row.method) ?? new Map<string, AdminRoute[]>();
  const list = bySegment.get(shape) ?? [];
  list.push(row);
  bySegment.set(shape, list);
  BY_METHOD.set(row.method, bySegment);
}

/** The row a request is, on the normalized path: the first match among the rows of its method and shape. */
export function findAdminRoute(method: string, route: string): { row: AdminRoute; params: RouteParams } | undefined {
  const bySegment = BY_METHOD.get(method);
  if (bySegment === undefined) return undefined;
  const rows = bySegment.get(shapeOf(route));
  if (rows === undefined) return undefined;
  for (const row of rows) {
    const params = matchRoute(route, row.pattern);
    if (params !== null) return { row, params };
  }
  return undefined;
}

/** Whether any row matches (the short path hands such requests to the pipeline). */
export function isAdminRoute(method: string, route: string): boolean {
  return findAdminRoute(method, route) !== undefined;
}
