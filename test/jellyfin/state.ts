/**
 * Jellyfin's in-memory model and the managers that act on it: users (Jellyfin.Server.Implementations/
 * Users/UserManager.cs, DefaultAuthenticationProvider.cs), devices/tokens (Devices/DeviceManager.cs),
 * sessions (Emby.Server.Implementations/Session/SessionManager.cs), API keys (Security/
 * AuthenticationManager.cs) and Quick Connect (Emby.Server.Implementations/QuickConnect/
 * QuickConnectManager.cs). Pure logic: no HTTP here.
 */
import { createHash, randomBytes } from 'node:crypto';
import { isNullOrWhiteSpace, type JellyfinVersion, type RequestCredentials } from './credentials.ts';
import { DotnetException } from './wire.ts';

export interface EmulatorUser {
  /** 32 lowercase hex. */
  id: string;
  name: string;
  /** '' means the user has no password (Jellyfin then accepts an empty Pw). */
  password: string;
  isAdministrator: boolean;
  isDisabled: boolean;
  invalidLoginAttemptCount: number;
  /** -1: never locked out (Jellyfin's null, shown as -1 in the UserDto). */
  loginAttemptsBeforeLockout: number;
}

export interface UserRecord extends EmulatorUser {
  isHidden: boolean;
  maxActiveSessions: number;
  dateCreated: number;
  lastLoginDate?: number;
  lastActivityDate?: number;
}

/** A Device row: one per issued access token. */
export interface DeviceRecord {
  accessToken: string;
  userId: string;
  appName: string;
  appVersion: string;
  deviceName: string;
  deviceId: string;
  dateCreated: number;
  dateLastActivity: number;
}

export interface ApiKeyRecord {
  accessToken: string;
  name: string;
  dateCreated: number;
}

export interface SessionRecord {
  key: string;
  id: string;
  userId: string;
  userName: string;
  client: string;
  deviceId: string;
  deviceName: string;
  appVersion: string;
  remoteEndPoint?: string;
  lastActivityDate: number;
}

export interface QuickConnectRequest {
  secret: string;
  code: string;
  dateAdded: number;
  deviceId: string;
  deviceName: string;
  appName: string;
  appVersion: string;
  authenticated: boolean;
}

/** AuthorizationContext's result once the token has been looked up. */
export interface AuthorizationInfo extends RequestCredentials {
  hasToken: boolean;
  isAuthenticated: boolean;
  isApiKey: boolean;
  user?: UserRecord;
  /** The token's Device row, when it is a user token. */
  deviceRecord?: DeviceRecord;
}

/** The ClaimsPrincipal CustomAuthenticationHandler produces. */
export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'failed'; reason: string }
  | { kind: 'authenticated'; info: AuthorizationInfo; token: string; isApiKey: boolean; user?: UserRecord; isAdministrator: boolean };

export interface NewSessionRequest {
  app?: string;
  appVersion?: string;
  deviceId?: string;
  deviceName?: string;
  username?: string;
  userId?: string;
  password?: string;
  remoteEndPoint?: string;
}

/** What a login yields; turned into an AuthenticationResult DTO by the caller. */
export interface LoginOutcome {
  user: UserRecord;
  session: SessionRecord;
  accessToken: string;
}

export interface StateConfig {
  version: JellyfinVersion;
  serverId: string;
  serverName: string;
  serverVersion: string;
  quickConnectEnabled: boolean;
  now: () => number;
}

/** Jellyfin's Guid.NewGuid().ToString("N"): 32 lowercase hex. */
export function newGuidN(): string {
  return randomBytes(16).toString('hex');
}

/**
 * SessionManager: session Id = (appName + deviceId).GetMD5().ToString("N"), where GetMD5 hashes the
 * UTF-16LE bytes and wraps them in a System.Guid (whose N form swaps the first three groups' bytes).
 */
export function sessionIdFor(appName: string, deviceId: string): string {
  const b = createHash('md5').update(Buffer.from(appName + deviceId, 'utf16le')).digest();
  const order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
  return order.map((i) => b[i]!.toString(16).padStart(2, '0')).join('');
}

/** UserManager.IsValidUsername. */
export function isValidUsername(name: string): boolean {
  if (isNullOrWhiteSpace(name)) return false;
  if (/^\s|\s$/.test(name)) return false;
  for (const ch of name) {
    if (/[\p{L}\p{Nd}]/u.test(ch) || " -'._@+".includes(ch)) continue;
    if (/\p{Mn}/u.test(ch)) continue;
    return false;
  }
  return true;
}

/**
 * UserManager.UpdatePolicyAsync: "-1 => null (never), 0 => 3, _ => value". New users get null
 * (CreateUserInternalAsync never sets it), so by default Jellyfin never locks anyone out.
 */
export function lockoutFromPolicy(value: number): number {
  return value === -1 ? -1 : value === 0 ? 3 : value;
}

const QUICK_CONNECT_TIMEOUT_MS = 10 * 60 * 1000; // QuickConnectManager.Timeout = 10 (minutes)

export class JellyfinState {
  readonly users = new Map<string, UserRecord>();
  readonly devices = new Map<string, DeviceRecord>();
  readonly apiKeys = new Map<string, ApiKeyRecord>();
  readonly sessions = new Map<string, SessionRecord>();
  readonly qcRequests = new Map<string, QuickConnectRequest>();
  readonly qcAuthorized = new Map<string, { timestamp: number; outcome: unknown }>();

  constructor(readonly cfg: StateConfig) {}

  now(): number {
    return this.cfg.now();
  }

  // ---- users (UserManager) ----

  /** UserManager.CreateUserAsync (+ ChangePassword when a password is given). */
  createUser(name: string, password: string | null, isAdministrator: boolean, lockout: number): UserRecord {
    if (!isValidUsername(name)) {
      throw new DotnetException('Argument', 'Usernames can contain unicode symbols, numbers (0-9), dashes (-), underscores (_), apostrophes (\'), and periods (.)');
    }
    if ([...this.users.values()].some((u) => u.name.toLowerCase() === name.toLowerCase())) {
      throw new DotnetException('Argument', `A user with the name '${name}' already exists.`);
    }
    const user: UserRecord = {
      id: newGuidN(),
      name,
      password: password ?? '',
      isAdministrator,
      isDisabled: false,
      invalidLoginAttemptCount: 0,
      loginAttemptsBeforeLockout: lockout,
      isHidden: true, // User.AddDefaultPermissions: IsHidden = true
      maxActiveSessions: 0,
      dateCreated: this.now(),
    };
    this.users.set(user.id, user);
    return user;
  }

  /** UserManager.GetUserByName: whitespace is an ArgumentException, the match is case-insensitive. */
  getUserByName(name: string | undefined): UserRecord | undefined {
    if (isNullOrWhiteSpace(name)) throw new DotnetException('Argument', 'Invalid username');
    const lower = name!.toLowerCase();
    return [...this.users.values()].find((u) => u.name.toLowerCase() === lower);
  }

  /** UserManager.DeleteUserAsync guards. */
  deleteUser(user: UserRecord): void {
    if (this.users.size === 1) {
      throw new DotnetException('InvalidOperation', 'There must be at least one user in the system.');
    }
    if (user.isAdministrator && [...this.users.values()].filter((u) => u.isAdministrator).length === 1) {
      throw new DotnetException('Argument', 'There must be at least one admin user in the system.');
    }
    this.users.delete(user.id);
  }

  /**
   * UserManager.AuthenticateUser (default provider): unknown user 401, disabled 403 whatever the
   * password, a wrong password counts and disables at LoginAttemptsBeforeLockout, a right one
   * resets the count.
   */
  authenticateUser(username: string | undefined, password: string | undefined, isUserSession: boolean): UserRecord | null {
    if (isNullOrWhiteSpace(username)) throw new DotnetException('Argument', 'username');
    const lower = username!.toLowerCase();
    const user = [...this.users.values()].find((u) => u.name.toLowerCase() === lower);
    // DefaultAuthenticationProvider: a password-less user accepts an empty password only.
    const pw = password ?? '';
    const success = user !== undefined && (user.password === '' ? pw === '' : pw === user.password);
    if (!user) throw new DotnetException('Authentication', 'Invalid username or password entered.');
    if (user.isDisabled) {
      throw new DotnetException('Security', `The ${user.name} account is currently disabled. Please consult with your administrator.`);
    }
    if (success) {
      if (isUserSession) user.lastActivityDate = user.lastLoginDate = this.now();
      user.invalidLoginAttemptCount = 0;
      return user;
    }
    // UserManager.IncrementInvalidLoginAttemptCount
    user.invalidLoginAttemptCount++;
    if (user.loginAttemptsBeforeLockout !== -1 && user.invalidLoginAttemptCount >= user.loginAttemptsBeforeLockout) {
      user.isDisabled = true;
    }
    return null;
  }

  // ---- credentials (AuthorizationContext + AuthService) ----

  /** AuthorizationContext: look the token up among devices, then API keys, and fill defaults. */
  getAuthorizationInfo(creds: RequestCredentials): AuthorizationInfo {
    const info: AuthorizationInfo = { ...creds, hasToken: !isNullOrWhiteSpace(creds.token), isAuthenticated: false, isApiKey: false };
    if (!info.hasToken) return info;
    const token = creds.token!;
    const device = this.devices.get(token);
    if (device) {
      info.isAuthenticated = true;
      info.deviceRecord = device;
      if (isNullOrWhiteSpace(info.client)) info.client = device.appName;
      if (isNullOrWhiteSpace(info.deviceId)) info.deviceId = device.deviceId;
      const allowTokenInfoUpdate = !info.client!.toLowerCase().includes('chromecast');
      if (isNullOrWhiteSpace(info.device)) info.device = device.deviceName;
      else if (allowTokenInfoUpdate && info.device!.toLowerCase() !== device.deviceName.toLowerCase()) device.deviceName = info.device!;
      if (isNullOrWhiteSpace(info.version)) info.version = device.appVersion;
      else if (allowTokenInfoUpdate && info.version!.toLowerCase() !== device.appVersion.toLowerCase()) device.appVersion = info.version!;
      device.dateLastActivity = this.now();
      info.user = this.users.get(device.userId);
      return info;
    }
    const key = this.apiKeys.get(token);
    if (key) {
      info.isAuthenticated = true;
      info.client = key.name;
      if (isNullOrWhiteSpace(info.deviceId)) info.deviceId = this.cfg.serverId;
      if (isNullOrWhiteSpace(info.device)) info.device = this.cfg.serverName;
      if (isNullOrWhiteSpace(info.version)) info.version = this.cfg.serverVersion;
      info.isApiKey = true;
    }
    return info;
  }

  /**
   * AuthService.Authenticate + CustomAuthenticationHandler: no token → no identity; an unknown
   * token or a disabled user → authentication fails (401 on [Authorize] routes); API keys and
   * administrators get the Administrator role.
   */
  authenticate(info: AuthorizationInfo): Principal {
    if (!info.hasToken) return { kind: 'anonymous' };
    if (!info.isAuthenticated) return { kind: 'failed', reason: 'Invalid token.' };
    if (info.user?.isDisabled) return { kind: 'failed', reason: 'User account has been disabled.' };
    if (!info.isApiKey && !info.user) return { kind: 'failed', reason: 'User not found.' };
    return {
      kind: 'authenticated',
      info,
      token: info.token!,
      isApiKey: info.isApiKey,
      ...(info.user ? { user: info.user } : {}),
      isAdministrator: info.isApiKey || (info.user?.isAdministrator ?? false),
    };
  }

  /** A token a user could use right now: issued, not revoked, its user enabled. */
  isUserTokenLive(token: string): boolean {
    const device = this.devices.get(token);
    const user = device ? this.users.get(device.userId) : undefined;
    return user !== undefined && !user.isDisabled;
  }

  // ---- sessions and tokens (SessionManager, DeviceManager) ----

  /**
   * SessionManager.AuthenticateNewSessionInternal: the four device fields first (400), then the
   * user, then (with enforcePassword) the password check, max sessions, a new token that replaces
   * this user's earlier tokens on the same DeviceId, and the session.
   */
  authenticateNewSession(req: NewSessionRequest, enforcePassword: boolean): LoginOutcome {
    for (const [field, value] of [
      ['App', req.app],
      ['DeviceId', req.deviceId],
      ['DeviceName', req.deviceName],
      ['AppVersion', req.appVersion],
    ] as const) {
      if (value === undefined || value === '') throw new DotnetException('Argument', `Value cannot be null or empty. (Parameter '${field}')`);
    }
    let user: UserRecord | null | undefined = req.userId ? this.users.get(req.userId) : undefined;
    user ??= this.getUserByName(req.username);
    if (enforcePassword) user = this.authenticateUser(req.username, req.password, true);
    if (!user) throw new DotnetException('Authentication', 'Invalid username or password entered.');
    const sessionsCount = [...this.sessions.values()].filter((s) => s.userId === user.id).length;
    if (user.maxActiveSessions >= 1 && sessionsCount >= user.maxActiveSessions) {
      throw new DotnetException('Security', 'User is at their maximum number of sessions.');
    }
    const accessToken = this.getAuthorizationToken(user, req.deviceId!, req.app!, req.appVersion!, req.deviceName!);
    const session = this.logSessionActivity(req.app!, req.appVersion!, req.deviceId!, req.deviceName!, req.remoteEndPoint, user);
    return { user, session, accessToken };
  }

  /** SessionManager.GetAuthorizationToken: log out this user's tokens on this DeviceId, issue a new one. */
  private getAuthorizationToken(user: UserRecord, deviceId: string, app: string, appVersion: string, deviceName: string): string {
    for (const d of [...this.devices.values()]) {
      if (d.deviceId === deviceId && d.userId === user.id) this.logoutDevice(d);
    }
    const now = this.now();
    const device: DeviceRecord = {
      accessToken: newGuidN(),
      userId: user.id,
      appName: app,
      appVersion,
      deviceName,
      deviceId,
      dateCreated: now,
      dateLastActivity: now,
    };
    this.devices.set(device.accessToken, device);
    return device.accessToken;
  }

  /** SessionManager.LogSessionActivity: sessions are keyed by app name + device id. */
  logSessionActivity(app: string, appVersion: string, deviceId: string, deviceName: string, remoteEndPoint: string | undefined, user: UserRecord): SessionRecord {
    const key = app + deviceId;
    const now = this.now();
    let s = this.sessions.get(key);
    if (!s) {
      s = { key, id: sessionIdFor(app, deviceId), userId: user.id, userName: user.name, client: app, deviceId, deviceName, appVersion, lastActivityDate: now };
      this.sessions.set(key, s);
    }
    s.userId = user.id;
    s.userName = user.name;
    s.deviceName = deviceName;
    s.appVersion = appVersion;
    s.lastActivityDate = now;
    if (remoteEndPoint !== undefined) s.remoteEndPoint = remoteEndPoint;
    user.lastActivityDate = now;
    return s;
  }

  /** SessionManager.Logout(Device): delete the token, end the sessions on that DeviceId. */
  logoutDevice(device: DeviceRecord): void {
    this.devices.delete(device.accessToken);
    for (const [key, s] of [...this.sessions]) {
      if (s.deviceId.toLowerCase() === device.deviceId.toLowerCase()) this.sessions.delete(key);
    }
  }

  /** SessionManager.Logout(string accessToken): a token that is not a device (an API key) is a no-op. */
  logoutToken(token: string): void {
    const device = this.devices.get(token);
    if (device) this.logoutDevice(device);
  }

  /** SessionManager.RevokeUserTokens. */
  revokeUserTokens(userId: string, exceptToken: string | undefined): void {
    for (const d of [...this.devices.values()]) {
      if (d.userId === userId && d.accessToken !== exceptToken) this.logoutDevice(d);
    }
  }

  // ---- API keys (AuthenticationManager) ----

  createApiKey(name: string): ApiKeyRecord {
    const key: ApiKeyRecord = { accessToken: newGuidN(), name, dateCreated: this.now() };
    this.apiKeys.set(key.accessToken, key);
    return key;
  }

  // ---- Quick Connect (QuickConnectManager) ----

  private assertQuickConnectActive(): void {
    if (!this.cfg.quickConnectEnabled) throw new DotnetException('Authentication', 'Quick connect is not active on this server');
  }

  /** QuickConnectManager.ExpireRequests: requests and approved secrets live 10 minutes. */
  private expireQuickConnect(): void {
    const minTime = this.now() - QUICK_CONNECT_TIMEOUT_MS;
    for (const [code, r] of [...this.qcRequests]) if (r.dateAdded < minTime) this.qcRequests.delete(code);
    for (const [secret, a] of [...this.qcAuthorized]) if (a.timestamp < minTime) this.qcAuthorized.delete(secret);
  }

  /** QuickConnectManager.GenerateCode: min + (max - min) * (uint / uint.MaxValue), six digits. */
  private generateCode(): string {
    let scale = 0xffffffff;
    while (scale === 0xffffffff) scale = randomBytes(4).readUInt32LE(0);
    return String(Math.trunc(100000 + 900000 * (scale / 0xffffffff)));
  }

  /** QuickConnectManager.TryConnect: device fields (400) before the enabled check (401). */
  tryConnect(info: AuthorizationInfo): QuickConnectRequest {
    for (const [field, value] of [
      ['DeviceId', info.deviceId],
      ['Device', info.device],
      ['Client', info.client],
      ['Version', info.version],
    ] as const) {
      if (value === undefined || value === '') throw new DotnetException('Argument', `Value cannot be null or empty. (Parameter '${field}')`);
    }
    this.assertQuickConnectActive();
    this.expireQuickConnect();
    const request: QuickConnectRequest = {
      secret: randomBytes(32).toString('hex').toUpperCase(), // Convert.ToHexString: uppercase
      code: this.generateCode(),
      dateAdded: this.now(),
      deviceId: info.deviceId!,
      deviceName: info.device!,
      appName: info.client!,
      appVersion: info.version!,
      authenticated: false,
    };
    this.qcRequests.set(request.code, request);
    return request;
  }

  checkRequestStatus(secret: string): QuickConnectRequest {
    this.assertQuickConnectActive();
    this.expireQuickConnect();
    const found = [...this.qcRequests.values()].find((r) => r.secret === secret);
    if (!found) throw new DotnetException('ResourceNotFound', 'Unable to find request with provided secret');
    return found;
  }

  /**
   * QuickConnectManager.AuthorizeRequest: signs the waiting device in as `userId` with no password
   * (SessionManager.AuthenticateDirect) and remembers the result under the secret.
   */
  authorizeRequest(userId: string | undefined, code: string, toDto: (o: LoginOutcome) => unknown): boolean {
    this.assertQuickConnectActive();
    this.expireQuickConnect();
    const request = this.qcRequests.get(code);
    if (!request) throw new DotnetException('ResourceNotFound', 'Unable to find request');
    if (request.authenticated) throw new DotnetException('InvalidOperation', 'Request is already authorized');
    // "expires one minute into the future" — a later ExpireRequests uses DateAdded + 10 min.
    request.dateAdded = this.now() + 60_000;
    const outcome = this.authenticateNewSession(
      {
        ...(userId ? { userId } : {}),
        deviceId: request.deviceId,
        deviceName: request.deviceName,
        app: request.appName,
        appVersion: request.appVersion,
      },
      false,
    );
    this.qcAuthorized.set(request.secret, { timestamp: this.now(), outcome: toDto(outcome) });
    request.authenticated = true;
    return true;
  }

  /** QuickConnectManager.GetAuthorizedRequest: the SAME AuthenticationResult each time, for 10 minutes. */
  getAuthorizedRequest(secret: string): unknown {
    this.assertQuickConnectActive();
    this.expireQuickConnect();
    const entry = this.qcAuthorized.get(secret);
    if (!entry) throw new DotnetException('ResourceNotFound', 'Unable to find request');
    return entry.outcome;
  }
}
