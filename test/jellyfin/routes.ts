/**
 * The controller actions the emulator serves, one table entry per Jellyfin route with the
 * authorization policy Jellyfin puts on it. Sources: Jellyfin.Api/Controllers/UserController.cs,
 * QuickConnectController.cs, SessionController.cs, DevicesController.cs, SystemController.cs,
 * BrandingController.cs, ApiKeyController.cs, VideosController.cs.
 */
import type { JellyfinVersion, RequestCredentials } from './credentials.ts';
import {
  apiKeyDto,
  authenticationResultDto,
  deviceInfoDto,
  publicSystemInfo,
  type PluginInfoDto,
  queryResult,
  quickConnectResultDto,
  sessionDto,
  systemInfo,
  userDto,
} from './dto.ts';
import { equalsIgnoreCase, parseGuid, queryValues, type HeaderBag, type QueryBag } from './kestrel.ts';
import { mediaReply } from './media.ts';
import { isValidUsername, lockoutFromPolicy, type JellyfinState, type Principal, type UserRecord } from './state.ts';
import { DotnetException, emptyReply, jsonReply, problemReply, type JsonProfile, type Reply } from './wire.ts';

/** Jellyfin.Api/Constants/Policies.cs, reduced to what changes the answer here. */
/**
 * 'localAccessOrElevated' (LocalAccessOrRequiresElevation, only POST System/Restart): an administrator, or
 * ANY request whose remote address is in the LAN — no token needed ("Loopback will be on LAN").
 */
export type Policy = 'anonymous' | 'default' | 'elevated' | 'localAccessOrElevated';

export interface RequestContext {
  st: JellyfinState;
  version: JellyfinVersion;
  method: string;
  params: Record<string, string>;
  /** The query model binding sees (after UrlDecodeQueryFeature). */
  query: QueryBag;
  headers: HeaderBag;
  body: Buffer;
  principal: Principal;
  remoteIp: string;
  profile: JsonProfile;
  localAddress: string;
  mediaSize: number;
  itemId: string;
  branding: { LoginDisclaimer?: string; CustomCss?: string; SplashscreenEnabled: boolean };
  /** AuthorizationContext.GetAuthorizationInfo(Request) re-read with the decoded query (controllers call it). */
  credentials(): RequestCredentials;
  countLoginAttempt(): void;
  /** IApplicationHost.NotifyPendingRestart + Restart: counted, nothing restarts. */
  restart(): void;
  /** IConfigurationManager.GetConfiguration(key): a named configuration ("network"), or undefined. */
  namedConfiguration(key: string): unknown;
  /** The administrator's side of the server: configuration, plugins, packages, libraries, backups. */
  admin: AdminState;
}

/** What the admin routes change (the tests read it back to see that a change did or did not happen). */
export interface AdminState {
  server: Record<string, unknown>;
  /** Named configuration stores other than "network" (which lives in the emulator's own object). */
  named: Map<string, Record<string, unknown>>;
  plugins: PluginInfoDto[];
  /** Packages the repositories offer: name → versions. */
  packages: Map<string, string[]>;
  /** `{name} {version}` of every InstallPackage carried out. */
  installed: string[];
  libraries: Array<{ Name: string; CollectionType?: string; Locations: string[] }>;
  /** Backup archives that exist (file names) and the restores scheduled. */
  backups: string[];
  restores: string[];
  shutdowns: number;
}

export interface Route {
  methods: string[];
  template: string;
  policy: Policy;
  /** Versions that have the route (default: all). */
  versions?: JellyfinVersion[];
  handle(ctx: RequestContext): Reply;
}

// ---------- model binding helpers (ASP.NET [ApiController] behaviour) ----------

type Bound<T> = { ok: true; value: T } | { ok: false; reply: Reply };

function required(name: string): Reply {
  return problemReply(400, { [name]: [`The ${name} field is required.`] });
}

/** A simple-type query parameter: first value, empty string = null (ConvertEmptyStringToNull). */
function queryParam(ctx: RequestContext, name: string): string | undefined {
  const v = queryValues(ctx.query, name)[0];
  return v === undefined || v === '' ? undefined : v;
}

function guidParam(raw: string | undefined, name: string): Bound<string | undefined> {
  if (raw === undefined) return { ok: true, value: undefined };
  const g = parseGuid(raw);
  return g ? { ok: true, value: g } : { ok: false, reply: problemReply(400, { [name]: [`The value '${raw}' is not valid.`] }) };
}

/** [FromBody, Required]: JSON content type (else 415), non-empty, an object. */
function jsonBody(ctx: RequestContext): Bound<Record<string, unknown>> {
  const ct = (ctx.headers.get('content-type')?.[0] ?? '').split(';')[0]!.trim().toLowerCase();
  const isJson = ct === 'application/json' || ct === 'text/json' || /^application\/[^/]+\+json$/.test(ct);
  if (ctx.body.length === 0 && ct === '') return { ok: false, reply: problemReply(415) };
  if (!isJson) return { ok: false, reply: problemReply(415) };
  if (ctx.body.length === 0) return { ok: false, reply: problemReply(400, { '': ['A non-empty request body is required.'] }) };
  let parsed: unknown;
  try {
    parsed = JSON.parse(ctx.body.toString('utf8'));
  } catch {
    return { ok: false, reply: problemReply(400, { $: ['The JSON value could not be converted.'] }) };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { ok: false, reply: problemReply(400, { $: ['The JSON value could not be converted.'] }) };
  }
  return { ok: true, value: parsed as Record<string, unknown> };
}

/** JsonDefaults: PropertyNameCaseInsensitive = true (the last matching property wins). */
function prop(obj: Record<string, unknown>, name: string): unknown {
  let found: unknown;
  for (const [k, v] of Object.entries(obj)) if (equalsIgnoreCase(k, name)) found = v;
  return found;
}

class BindError extends Error {}

function stringProp(obj: Record<string, unknown>, name: string): string | undefined {
  const v = prop(obj, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new BindError(name);
  return v;
}

function boolProp(obj: Record<string, unknown>, name: string, dflt: boolean): boolean {
  const v = prop(obj, name);
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new BindError(name);
  return v;
}

/** JsonDefaults: NumberHandling = AllowReadingFromString. */
function intProp(obj: Record<string, unknown>, name: string, dflt: number): number {
  const v = prop(obj, name);
  if (v === undefined) return dflt;
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new BindError(name);
  return n;
}

function withBody(ctx: RequestContext, fn: (body: Record<string, unknown>) => Reply): Reply {
  const b = jsonBody(ctx);
  if (!b.ok) return b.reply;
  try {
    return fn(b.value);
  } catch (e) {
    if (e instanceof BindError) return problemReply(400, { [`$.${e.message}`]: ['The JSON value could not be converted.'] });
    throw e;
  }
}

function json(ctx: RequestContext, value: unknown, status = 200): Reply {
  return jsonReply(status, value, ctx.profile);
}

function principalUser(ctx: RequestContext): UserRecord | undefined {
  return ctx.principal.kind === 'authenticated' ? ctx.principal.user : undefined;
}

function userOr404(ctx: RequestContext, id: string): UserRecord | undefined {
  return ctx.st.users.get(id);
}

// ---------- actions ----------

/** UserController.AuthenticateUserByName (also the tail of the obsolete /Users/{id}/Authenticate). */
function authenticateByName(ctx: RequestContext, username: string | undefined, pw: string | undefined): Reply {
  const auth = ctx.st.getAuthorizationInfo(ctx.credentials());
  const outcome = ctx.st.authenticateNewSession(
    {
      ...(auth.client !== undefined ? { app: auth.client } : {}),
      ...(auth.version !== undefined ? { appVersion: auth.version } : {}),
      ...(auth.deviceId !== undefined ? { deviceId: auth.deviceId } : {}),
      ...(auth.device !== undefined ? { deviceName: auth.device } : {}),
      ...(username !== undefined ? { username } : {}),
      ...(pw !== undefined ? { password: pw } : {}),
      remoteEndPoint: ctx.remoteIp,
    },
    true,
  );
  return json(ctx, authenticationResultDto(ctx.st, outcome));
}

/** The user list helper UserController.Get: filters, ordered by name. */
function listUsers(ctx: RequestContext, isHidden: boolean | undefined, isDisabled: boolean | undefined): unknown[] {
  return [...ctx.st.users.values()]
    .filter((u) => isDisabled === undefined || u.isDisabled === isDisabled)
    .filter((u) => isHidden === undefined || u.isHidden === isHidden)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((u) => userDto(ctx.st, u));
}

function boolQuery(ctx: RequestContext, name: string): Bound<boolean | undefined> {
  const v = queryParam(ctx, name);
  if (v === undefined) return { ok: true, value: undefined };
  if (/^true$/i.test(v)) return { ok: true, value: true };
  if (/^false$/i.test(v)) return { ok: true, value: false };
  return { ok: false, reply: problemReply(400, { [name]: [`The value '${v}' is not valid.`] }) };
}

export const routes: Route[] = [
  // ----- UserController -----
  {
    methods: ['POST'],
    template: 'Users/AuthenticateByName',
    policy: 'anonymous',
    handle: (ctx) => {
      ctx.countLoginAttempt();
      return withBody(ctx, (body) => authenticateByName(ctx, stringProp(body, 'Username'), stringProp(body, 'Pw')));
    },
  },
  {
    // [Obsolete] hidden route: same login, user picked by id, password in the query.
    methods: ['POST'],
    template: 'Users/{userId}/Authenticate',
    policy: 'anonymous',
    handle: (ctx) => {
      ctx.countLoginAttempt();
      const id = guidParam(ctx.params['userId'], 'userId');
      if (!id.ok) return id.reply;
      const pw = queryParam(ctx, 'pw');
      if (pw === undefined) return required('pw');
      const user = userOr404(ctx, id.value!);
      if (!user) return json(ctx, 'User not found', 404);
      return authenticateByName(ctx, user.name, pw);
    },
  },
  {
    methods: ['POST'],
    template: 'Users/AuthenticateWithQuickConnect',
    policy: 'anonymous',
    handle: (ctx) =>
      withBody(ctx, (body) => {
        const secret = stringProp(body, 'Secret');
        if (secret === undefined) return required('Secret');
        return json(ctx, ctx.st.getAuthorizedRequest(secret));
      }),
  },
  {
    methods: ['GET'],
    template: 'Users',
    policy: 'default',
    handle: (ctx) => {
      const hidden = boolQuery(ctx, 'isHidden');
      if (!hidden.ok) return hidden.reply;
      const disabled = boolQuery(ctx, 'isDisabled');
      if (!disabled.ok) return disabled.reply;
      return json(ctx, listUsers(ctx, hidden.value, disabled.value));
    },
  },
  {
    // Public users: not hidden, not disabled (new users are hidden, so usually []).
    methods: ['GET'],
    template: 'Users/Public',
    policy: 'anonymous',
    handle: (ctx) => json(ctx, listUsers(ctx, false, false)),
  },
  {
    // 400 when the token is not a user's (an API key).
    methods: ['GET'],
    template: 'Users/Me',
    policy: 'default',
    handle: (ctx) => {
      const user = principalUser(ctx);
      return user ? json(ctx, userDto(ctx.st, user)) : problemReply(400);
    },
  },
  {
    methods: ['GET'],
    template: 'Users/{userId}',
    policy: 'default',
    handle: (ctx) => {
      const id = guidParam(ctx.params['userId'], 'userId');
      if (!id.ok) return id.reply;
      const user = userOr404(ctx, id.value!);
      return user ? json(ctx, userDto(ctx.st, user)) : json(ctx, 'User not found', 404);
    },
  },
  {
    methods: ['DELETE'],
    template: 'Users/{userId}',
    policy: 'elevated',
    handle: (ctx) => {
      const id = guidParam(ctx.params['userId'], 'userId');
      if (!id.ok) return id.reply;
      const user = userOr404(ctx, id.value!);
      if (!user) return problemReply(404);
      ctx.st.revokeUserTokens(user.id, undefined);
      ctx.st.deleteUser(user);
      return emptyReply(204);
    },
  },
  {
    methods: ['POST'],
    template: 'Users/New',
    policy: 'elevated',
    handle: (ctx) =>
      withBody(ctx, (body) => {
        const name = stringProp(body, 'Name');
        if (name === undefined) return required('Name');
        const password = stringProp(body, 'Password');
        const user = ctx.st.createUser(name, password ?? null, false, -1);
        return json(ctx, userDto(ctx.st, user));
      }),
  },
  {
    // UserController.UpdateUserPolicy + UserManager.UpdatePolicyAsync. Fields not sent take
    // UserPolicy's defaults (the whole policy is replaced), as the real binder does.
    methods: ['POST'],
    template: 'Users/{userId}/Policy',
    policy: 'elevated',
    handle: (ctx) => {
      const id = guidParam(ctx.params['userId'], 'userId');
      if (!id.ok) return id.reply;
      return withBody(ctx, (body) => {
        // UserPolicy: [Required] AuthenticationProviderId and PasswordResetProviderId.
        const errors: Record<string, string[]> = {};
        for (const f of ['AuthenticationProviderId', 'PasswordResetProviderId']) {
          if (!stringProp(body, f)) errors[f] = [`The ${f} field is required.`];
        }
        if (Object.keys(errors).length > 0) return problemReply(400, errors);
        const policy = {
          isAdministrator: boolProp(body, 'IsAdministrator', false),
          isHidden: boolProp(body, 'IsHidden', true),
          isDisabled: boolProp(body, 'IsDisabled', false),
          lockout: intProp(body, 'LoginAttemptsBeforeLockout', -1),
          maxActiveSessions: intProp(body, 'MaxActiveSessions', 0),
        };
        const user = userOr404(ctx, id.value!);
        if (!user) return problemReply(404);
        const users = [...ctx.st.users.values()];
        if (!policy.isAdministrator && user.isAdministrator && users.filter((u) => u.isAdministrator).length === 1) {
          return json(ctx, 'There must be at least one user in the system with administrative access.', 403);
        }
        if (policy.isDisabled && user.isAdministrator) return json(ctx, 'Administrators cannot be disabled.', 403);
        if (policy.isDisabled && !user.isDisabled) {
          if (users.filter((u) => !u.isDisabled).length === 1) {
            return json(ctx, 'There must be at least one enabled user in the system.', 403);
          }
          const current = ctx.principal.kind === 'authenticated' ? ctx.principal.token : undefined;
          ctx.st.revokeUserTokens(user.id, current);
        }
        user.isAdministrator = policy.isAdministrator;
        user.isHidden = policy.isHidden;
        user.isDisabled = policy.isDisabled;
        user.loginAttemptsBeforeLockout = lockoutFromPolicy(policy.lockout);
        user.maxActiveSessions = policy.maxActiveSessions;
        return emptyReply(204);
      });
    },
  },

  {
    methods: ['POST'],
    template: 'Users',
    policy: 'default',
    handle: (ctx) => updateUser(ctx, queryParam(ctx, 'userId')),
  },
  {
    // [Obsolete] UpdateUserLegacy.
    methods: ['POST'],
    template: 'Users/{userId}',
    policy: 'default',
    handle: (ctx) => updateUser(ctx, ctx.params['userId']),
  },
  {
    methods: ['POST'],
    template: 'Users/Password',
    policy: 'default',
    handle: (ctx) => updatePassword(ctx, queryParam(ctx, 'userId')),
  },
  {
    // [Obsolete] UpdateUserPasswordLegacy.
    methods: ['POST'],
    template: 'Users/{userId}/Password',
    policy: 'default',
    handle: (ctx) => updatePassword(ctx, ctx.params['userId']),
  },

  // ----- QuickConnectController -----
  {
    methods: ['GET'],
    template: 'QuickConnect/Enabled',
    policy: 'anonymous',
    handle: (ctx) => json(ctx, ctx.st.cfg.quickConnectEnabled),
  },
  {
    methods: ['POST'],
    template: 'QuickConnect/Initiate',
    policy: 'anonymous',
    handle: (ctx) => initiate(ctx),
  },
  {
    // [Obsolete] GET variant, removed in 12.0.
    methods: ['GET'],
    template: 'QuickConnect/Initiate',
    policy: 'anonymous',
    versions: ['10.10', '10.11'],
    handle: (ctx) => initiate(ctx),
  },
  {
    methods: ['GET'],
    template: 'QuickConnect/Connect',
    policy: 'anonymous',
    handle: (ctx) => {
      const secret = queryParam(ctx, 'secret');
      if (secret === undefined) return required('secret');
      try {
        return json(ctx, quickConnectResultDto(ctx.st.checkRequestStatus(secret)));
      } catch (e) {
        return quickConnectCatch(ctx, e, true);
      }
    },
  },
  {
    // [Authorize]; RequestHelpers.GetUserId: only administrators (and API keys) may name another user.
    methods: ['POST'],
    template: 'QuickConnect/Authorize',
    policy: 'default',
    handle: (ctx) => {
      const code = queryParam(ctx, 'code');
      if (code === undefined) return required('code');
      const uid = guidParam(queryParam(ctx, 'userId'), 'userId');
      if (!uid.ok) return uid.reply;
      const p = ctx.principal;
      if (p.kind !== 'authenticated') return emptyReply(401); // (the policy already ensured it; narrows the type)
      let userId = p.user?.id;
      if (uid.value !== undefined && uid.value !== '00000000000000000000000000000000') {
        if (uid.value !== userId && !p.isAdministrator) throw new DotnetException('Security', 'Forbidden');
        userId = uid.value;
      }
      try {
        return json(ctx, ctx.st.authorizeRequest(userId, code, (o) => authenticationResultDto(ctx.st, o)));
      } catch (e) {
        return quickConnectCatch(ctx, e, false);
      }
    },
  },

  // ----- SessionController -----
  {
    methods: ['POST'],
    template: 'Sessions/Logout',
    policy: 'default',
    handle: (ctx) => {
      if (ctx.principal.kind === 'authenticated') ctx.st.logoutToken(ctx.principal.token);
      return emptyReply(204);
    },
  },
  {
    // Administrators and API keys see every session, users their own.
    methods: ['GET'],
    template: 'Sessions',
    policy: 'default',
    handle: (ctx) => {
      const p = ctx.principal;
      const deviceId = queryParam(ctx, 'deviceId');
      let list = [...ctx.st.sessions.values()];
      if (deviceId !== undefined) list = list.filter((s) => s.deviceId.toLowerCase() === deviceId.toLowerCase());
      if (p.kind === 'authenticated' && !p.isApiKey && !p.user?.isAdministrator) {
        list = list.filter((s) => s.userId === p.user?.id);
      }
      return json(ctx, list.map((s) => sessionDto(ctx.st, s)));
    },
  },
  {
    // jellyfin-web posts this right after login.
    methods: ['POST'],
    template: 'Sessions/Capabilities/Full',
    policy: 'default',
    handle: () => emptyReply(204),
  },

  // ----- DevicesController ([Authorize(Policy = RequiresElevation)]) -----
  {
    methods: ['GET'],
    template: 'Devices',
    policy: 'elevated',
    handle: (ctx) => {
      const uid = guidParam(queryParam(ctx, 'userId'), 'userId');
      if (!uid.ok) return uid.reply;
      const list = [...ctx.st.devices.values()]
        .filter((d) => uid.value === undefined || d.userId === uid.value)
        .sort((a, b) => b.dateLastActivity - a.dateLastActivity)
        .map((d) => deviceInfoDto(ctx.st, d));
      return json(ctx, queryResult(list));
    },
  },
  {
    // Logs out every token issued on that DeviceId.
    methods: ['DELETE'],
    template: 'Devices',
    policy: 'elevated',
    handle: (ctx) => {
      const id = queryParam(ctx, 'id');
      if (id === undefined) return required('id');
      const tokens = [...ctx.st.devices.values()].filter((d) => d.deviceId === id);
      if (tokens.length === 0) return problemReply(404);
      for (const d of tokens) ctx.st.logoutDevice(d);
      return emptyReply(204);
    },
  },

  // ----- SystemController, BrandingController -----
  {
    // SystemController.RestartApplication: [Authorize(Policy = LocalAccessOrRequiresElevation)] → 204.
    methods: ['POST'],
    template: 'System/Restart',
    policy: 'localAccessOrElevated',
    handle: (ctx) => {
      ctx.restart();
      return emptyReply(204);
    },
  },
  {
    methods: ['GET'],
    template: 'System/Info/Public',
    policy: 'anonymous',
    handle: (ctx) => json(ctx, publicSystemInfo(ctx.st, ctx.localAddress)),
  },
  {
    methods: ['GET'],
    template: 'System/Info',
    policy: 'default',
    handle: (ctx) => json(ctx, systemInfo(ctx.st, ctx.localAddress)),
  },
  {
    // ConfigurationController.GetNamedConfiguration: [Authorize] (DefaultAuthorization), so an API key or
    // any user may read it; an unknown key is a ResourceNotFoundException (404).
    methods: ['GET'],
    template: 'System/Configuration/{key}',
    policy: 'default',
    handle: (ctx) => {
      const value = ctx.namedConfiguration(ctx.params['key'] ?? '');
      return value === undefined ? emptyReply(404) : json(ctx, value);
    },
  },
  {
    methods: ['GET'],
    template: 'Branding/Configuration',
    policy: 'anonymous',
    handle: (ctx) => json(ctx, ctx.branding),
  },

  // ----- ApiKeyController (Route "Auth", RequiresElevation) -----
  {
    methods: ['GET'],
    template: 'Auth/Keys',
    policy: 'elevated',
    handle: (ctx) => json(ctx, queryResult([...ctx.st.apiKeys.values()].map(apiKeyDto))),
  },
  {
    methods: ['POST'],
    template: 'Auth/Keys',
    policy: 'elevated',
    handle: (ctx) => {
      const app = queryParam(ctx, 'app');
      if (app === undefined) return required('app');
      ctx.st.createApiKey(app);
      return emptyReply(204);
    },
  },
  {
    // 204 whether or not the key existed.
    methods: ['DELETE'],
    template: 'Auth/Keys/{key}',
    policy: 'elevated',
    handle: (ctx) => {
      ctx.st.apiKeys.delete(ctx.params['key'] ?? '');
      return emptyReply(204);
    },
  },

  // ----- ConfigurationController ([Route("System")], class [Authorize]) -----
  {
    // GetConfiguration: [Authorize] (any user).
    methods: ['GET'],
    template: 'System/Configuration',
    policy: 'default',
    handle: (ctx) => json(ctx, ctx.admin.server),
  },
  {
    // UpdateConfiguration: RequiresElevation; the whole configuration is replaced (ReplaceConfiguration) → 204.
    methods: ['POST'],
    template: 'System/Configuration',
    policy: 'elevated',
    handle: (ctx) =>
      withBody(ctx, (body) => {
        for (const k of Object.keys(ctx.admin.server)) delete ctx.admin.server[k];
        Object.assign(ctx.admin.server, body);
        return emptyReply(204);
      }),
  },
  {
    // UpdateNamedConfiguration: RequiresElevation; the raw JsonDocument is deserialised with JsonDefaults
    // (names case-SENSITIVE: unknown properties are ignored). An unknown key: GetConfigurationType throws (500).
    methods: ['POST'],
    template: 'System/Configuration/{key}',
    policy: 'elevated',
    handle: (ctx) => {
      const key = (ctx.params['key'] ?? '').toLowerCase();
      const current = ctx.namedConfiguration(key) as Record<string, unknown> | undefined;
      if (current === undefined) throw new DotnetException('ResourceNotFound', `Configuration with key ${key} not found.`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(ctx.body.toString('utf8'));
      } catch {
        return problemReply(400, { $: ['The JSON value could not be converted.'] });
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return problemReply(400, { $: ['The JSON value could not be converted.'] });
      for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) if (Object.hasOwn(current, k)) current[k] = v;
      return emptyReply(204);
    },
  },

  // ----- PluginsController, PackageController (class RequiresElevation) -----
  {
    methods: ['GET'],
    template: 'Plugins',
    policy: 'elevated',
    handle: (ctx) => json(ctx, ctx.admin.plugins),
  },
  {
    // InstallPackage: no body → 204; 404 when no repository has the package (or that version).
    methods: ['POST'],
    template: 'Packages/Installed/{name}',
    policy: 'elevated',
    handle: (ctx) => {
      const name = ctx.params['name'] ?? '';
      const versions = [...ctx.admin.packages].find(([n]) => equalsIgnoreCase(n, name))?.[1];
      const version = queryParam(ctx, 'version');
      if (!versions || (version !== undefined && !versions.includes(version))) return json(ctx, 'Package not found.', 404);
      ctx.admin.installed.push(`${name} ${version ?? versions.at(-1)}`);
      return emptyReply(204);
    },
  },

  // ----- SystemController -----
  {
    methods: ['POST'],
    template: 'System/Shutdown',
    policy: 'elevated',
    handle: (ctx) => {
      ctx.admin.shutdowns++;
      return emptyReply(204);
    },
  },

  // ----- BackupController (10.11, class RequiresElevation) -----
  {
    // StartRestoreBackup: body {ArchiveFileName} ([BindRequired]); the file name only (Path.GetFileName)
    // under the backup folder; 404 when it does not exist; else the restore is scheduled (and the server restarts).
    methods: ['POST'],
    template: 'Backup/Restore',
    policy: 'elevated',
    versions: ['10.11', '12.0'],
    handle: (ctx) =>
      withBody(ctx, (body) => {
        const file = stringProp(body, 'ArchiveFileName');
        if (file === undefined) return required('ArchiveFileName');
        const name = file.split(/[\\/]/).at(-1) ?? '';
        if (!ctx.admin.backups.includes(name)) return problemReply(404);
        ctx.admin.restores.push(name);
        ctx.restart();
        return emptyReply(204);
      }),
  },

  // ----- LibraryStructureController ([Route("Library/VirtualFolders")], FirstTimeSetupOrElevated) -----
  {
    methods: ['GET'],
    template: 'Library/VirtualFolders',
    policy: 'elevated', // the wizard is complete here: an administrator
    handle: (ctx) => json(ctx, ctx.admin.libraries),
  },
  {
    // AddVirtualFolder: ?name=&collectionType=&paths=a,b → 204; a duplicate name is an ArgumentException (400).
    methods: ['POST'],
    template: 'Library/VirtualFolders',
    policy: 'elevated',
    handle: (ctx) => {
      const name = queryParam(ctx, 'name');
      if (name === undefined || name.trim() === '') throw new DotnetException('Argument', 'The name of the library is required.');
      if (ctx.admin.libraries.some((l) => equalsIgnoreCase(l.Name, name))) throw new DotnetException('Argument', 'There is already a media library with the name ' + name + '.');
      const paths = queryValues(ctx.query, 'paths').flatMap((p) => p.split(',')).filter(Boolean);
      const collectionType = queryParam(ctx, 'collectionType');
      ctx.admin.libraries.push({ Name: name, ...(collectionType ? { CollectionType: collectionType } : {}), Locations: paths });
      return emptyReply(204);
    },
  },

  // ----- VideosController ([Authorize]) -----
  {
    methods: ['GET', 'HEAD'],
    template: 'Videos/{itemId}/stream',
    policy: 'default',
    handle: (ctx) => video(ctx),
  },
  {
    methods: ['GET', 'HEAD'],
    template: 'Videos/{itemId}/stream.{container}',
    policy: 'default',
    handle: (ctx) => video(ctx),
  },
];

/** RequestHelpers.AssertCanUpdateUser: yourself, or anyone if you are an administrator (or API key). */
function canUpdateUser(ctx: RequestContext, user: UserRecord): boolean {
  const p = ctx.principal;
  return p.kind === 'authenticated' && (p.isAdministrator || p.user?.id === user.id);
}

/** The user a `userId` parameter (or the caller) names; null + reply when binding or lookup fails. */
function targetUser(ctx: RequestContext, rawId: string | undefined): Bound<UserRecord | undefined> {
  const id = guidParam(rawId, 'userId');
  if (!id.ok) return id;
  const userId = id.value ?? principalUser(ctx)?.id;
  return { ok: true, value: userId ? ctx.st.users.get(userId) : undefined };
}

/** UserController.UpdateUser: only the name is acted on here (UserManager.RenameUser). */
function updateUser(ctx: RequestContext, rawId: string | undefined): Reply {
  const target = targetUser(ctx, rawId);
  if (!target.ok) return target.reply;
  return withBody(ctx, (body) => {
    const user = target.value;
    if (!user) return problemReply(404);
    if (!canUpdateUser(ctx, user)) return json(ctx, 'User update not allowed.', 403);
    // `if (!string.Equals(user.Username, updateUser.Name, Ordinal)) RenameUser(...)`: a missing
    // Name is a rename to null, which RenameUser rejects (400).
    const name = stringProp(body, 'Name');
    if (name !== user.name) {
      if (name === undefined || !isValidUsername(name)) throw new DotnetException('Argument', 'Invalid username');
      const clash = [...ctx.st.users.values()].some((u) => u.id !== user.id && u.name.toLowerCase() === name.toLowerCase());
      if (clash) throw new DotnetException('Argument', `A user with the name '${name}' already exists.`);
      user.name = name;
    }
    return emptyReply(204);
  });
}

/**
 * UserController.UpdateUserPassword: a non-admin (or an admin changing their own) must give
 * CurrentPw, checked by UserManager.AuthenticateUser, so a wrong one counts towards the lockout;
 * on success every other token of the user is revoked.
 */
function updatePassword(ctx: RequestContext, rawId: string | undefined): Reply {
  const target = targetUser(ctx, rawId);
  if (!target.ok) return target.reply;
  return withBody(ctx, (body) => {
    const user = target.value;
    if (!user) return problemReply(404);
    if (!canUpdateUser(ctx, user)) return json(ctx, 'User is not allowed to update the password.', 403);
    const p = ctx.principal;
    if (boolProp(body, 'ResetPassword', false)) {
      user.password = '';
      return emptyReply(204);
    }
    const self = p.kind === 'authenticated' && p.user?.id === user.id;
    if (p.kind === 'authenticated' && (!p.isAdministrator || (rawId !== undefined && self))) {
      const ok = ctx.st.authenticateUser(user.name, stringProp(body, 'CurrentPw') ?? '', false);
      if (!ok) return json(ctx, 'Invalid user or password entered.', 403);
    }
    user.password = stringProp(body, 'NewPw') ?? '';
    ctx.st.revokeUserTokens(user.id, p.kind === 'authenticated' ? p.token : undefined);
    return emptyReply(204);
  });
}

/** QuickConnectController.InitiateQuickConnect: 401 "Quick connect is disabled" when off. */
function initiate(ctx: RequestContext): Reply {
  const auth = ctx.st.getAuthorizationInfo(ctx.credentials());
  try {
    return json(ctx, quickConnectResultDto(ctx.st.tryConnect(auth)));
  } catch (e) {
    return quickConnectCatch(ctx, e, false);
  }
}

/** The controller's own catch blocks: AuthenticationException → 401 JSON string; Connect also maps 404. */
function quickConnectCatch(ctx: RequestContext, e: unknown, mapNotFound: boolean): Reply {
  if (e instanceof DotnetException) {
    const kind = e.kind;
    if (kind === 'Authentication') return json(ctx, 'Quick connect is disabled', 401);
    if (mapNotFound && kind === 'ResourceNotFound') return json(ctx, 'Unknown secret', 404);
  }
  throw e;
}

function video(ctx: RequestContext): Reply {
  const id = guidParam(ctx.params['itemId'], 'itemId');
  if (!id.ok) return id.reply;
  // StreamingHelpers: an unknown item is a ResourceNotFoundException.
  if (id.value !== ctx.itemId) throw new DotnetException('ResourceNotFound', 'Item not found');
  const container = ctx.params['container'];
  const type = container === undefined || container.toLowerCase() === 'mp4' ? 'video/mp4' : `video/${container.toLowerCase()}`;
  return mediaReply(ctx.mediaSize, ctx.headers.get('range')?.[0], type);
}

// ---------- matching (endpoint routing) ----------

interface CompiledSegment {
  kind: 'literal' | 'complex' | 'param';
  literal?: string;
  name?: string;
  regex?: RegExp;
}

interface CompiledRoute {
  route: Route;
  segments: CompiledSegment[];
}

function compile(route: Route): CompiledRoute {
  const segments = route.template.split('/').map((seg): CompiledSegment => {
    const whole = /^\{(\w+)\}$/.exec(seg);
    if (whole) return { kind: 'param', name: whole[1]! };
    if (seg.includes('{')) {
      const names: string[] = [];
      const src = seg.replace(/\{(\w+)\}|[^{}]+/g, (m, name: string | undefined) => {
        if (name) {
          names.push(name);
          return '(.+)';
        }
        return m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      });
      return { kind: 'complex', regex: new RegExp(`^${src}$`, 'i'), name: names.join(',') };
    }
    return { kind: 'literal', literal: seg };
  });
  return { route, segments };
}

const compiled = routes.map(compile);
const RANK = { literal: 0, complex: 1, param: 2 } as const;

export type MatchResult =
  | { kind: 'matched'; route: Route; params: Record<string, string> }
  | { kind: 'methodNotAllowed'; allow: string[] }
  | { kind: 'none' };

/**
 * DfaMatcher + HttpMethodMatcherPolicy: literal segments compare OrdinalIgnoreCase, a trailing slash
 * is ignored, candidates are filtered by method first (405 only when none is left), then the most
 * literal template wins.
 */
export function matchRoute(path: string, method: string, version: JellyfinVersion): MatchResult {
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  const parts = trimmed.replace(/^\//, '').split('/');
  const candidates: Array<{ c: CompiledRoute; params: Record<string, string> }> = [];
  for (const c of compiled) {
    if (c.route.versions && !c.route.versions.includes(version)) continue;
    if (c.segments.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    c.segments.forEach((seg, i) => {
      const part = parts[i]!;
      if (!ok) return;
      if (seg.kind === 'literal') ok = equalsIgnoreCase(part, seg.literal!);
      else if (seg.kind === 'param') {
        ok = part !== '';
        params[seg.name!] = part;
      } else {
        const m = seg.regex!.exec(part);
        ok = m !== null;
        if (m) seg.name!.split(',').forEach((n, k) => (params[n] = m[k + 1]!));
      }
    });
    if (ok) candidates.push({ c, params });
  }
  if (candidates.length === 0) return { kind: 'none' };
  const forMethod = candidates.filter(({ c }) => c.route.methods.includes(method));
  if (forMethod.length === 0) {
    return { kind: 'methodNotAllowed', allow: [...new Set(candidates.flatMap(({ c }) => c.route.methods))] };
  }
  forMethod.sort((a, b) => {
    for (let i = 0; i < a.c.segments.length; i++) {
      const d = RANK[a.c.segments[i]!.kind] - RANK[b.c.segments[i]!.kind];
      if (d !== 0) return d;
    }
    return 0;
  });
  const best = forMethod[0]!;
  return { kind: 'matched', route: best.c.route, params: best.params };
}
