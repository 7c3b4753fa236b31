/**
 * Response DTOs, PascalCase, with the fields and defaults of Jellyfin's models (MediaBrowser.Model/
 * Dto/UserDto.cs, Users/UserPolicy.cs, Configuration/UserConfiguration.cs, Dto/SessionInfoDto.cs,
 * Dto/DeviceInfoDto.cs, QuickConnect/QuickConnectResult.cs, System/PublicSystemInfo.cs,
 * Branding/BrandingOptions.cs). `undefined` means null, which the serializer omits.
 */
import type { ApiKeyRecord, DeviceRecord, JellyfinState, LoginOutcome, QuickConnectRequest, SessionRecord, UserRecord } from './state.ts';
import { MIN_DATE, formatDate } from './wire.ts';

const EMPTY_GUID = '00000000000000000000000000000000';

/** UserManager.GetUserDto. */
export function userDto(st: JellyfinState, u: UserRecord): Record<string, unknown> {
  const hasPassword = u.password !== '';
  return {
    Name: u.name,
    ServerId: st.cfg.serverId,
    Id: u.id,
    HasPassword: hasPassword,
    HasConfiguredPassword: hasPassword,
    HasConfiguredEasyPassword: false,
    EnableAutoLogin: false,
    LastLoginDate: u.lastLoginDate === undefined ? undefined : formatDate(u.lastLoginDate),
    LastActivityDate: u.lastActivityDate === undefined ? undefined : formatDate(u.lastActivityDate),
    Configuration: {
      PlayDefaultAudioTrack: true,
      SubtitleLanguagePreference: '',
      DisplayMissingEpisodes: false,
      GroupedFolders: [],
      SubtitleMode: 'Default',
      DisplayCollectionsView: false,
      EnableLocalPassword: false,
      OrderedViews: [],
      LatestItemsExcludes: [],
      MyMediaExcludes: [],
      HidePlayedInLatest: true,
      RememberAudioSelections: true,
      RememberSubtitleSelections: true,
      EnableNextEpisodeAutoPlay: true,
      CastReceiverId: 'F007D354',
    },
    Policy: {
      IsAdministrator: u.isAdministrator,
      IsHidden: u.isHidden,
      EnableCollectionManagement: false,
      EnableSubtitleManagement: false,
      EnableLyricManagement: false,
      IsDisabled: u.isDisabled,
      BlockedTags: [],
      AllowedTags: [],
      EnableUserPreferenceAccess: true,
      AccessSchedules: [],
      BlockUnratedItems: [],
      EnableRemoteControlOfOtherUsers: false,
      EnableSharedDeviceControl: true,
      EnableRemoteAccess: true,
      EnableLiveTvManagement: true,
      EnableLiveTvAccess: true,
      EnableMediaPlayback: true,
      EnableAudioPlaybackTranscoding: true,
      EnableVideoPlaybackTranscoding: true,
      EnablePlaybackRemuxing: true,
      ForceRemoteSourceTranscoding: false,
      EnableContentDeletion: false,
      EnableContentDeletionFromFolders: [],
      EnableContentDownloading: true,
      EnableSyncTranscoding: true,
      EnableMediaConversion: true,
      EnabledDevices: [],
      EnableAllDevices: true,
      EnabledChannels: [],
      EnableAllChannels: true,
      EnabledFolders: [],
      EnableAllFolders: true,
      InvalidLoginAttemptCount: u.invalidLoginAttemptCount,
      // GetUserDto: LoginAttemptsBeforeLockout = user.LoginAttemptsBeforeLockout ?? -1
      LoginAttemptsBeforeLockout: u.loginAttemptsBeforeLockout,
      MaxActiveSessions: u.maxActiveSessions,
      EnablePublicSharing: true,
      BlockedMediaFolders: [],
      BlockedChannels: [],
      RemoteClientBitrateLimit: 0,
      AuthenticationProviderId: 'Jellyfin.Server.Implementations.Users.DefaultAuthenticationProvider',
      PasswordResetProviderId: 'Jellyfin.Server.Implementations.Users.DefaultPasswordResetProvider',
      SyncPlayAccess: 'CreateAndJoinGroups',
    },
  };
}

/** SessionManager.ToSessionInfoDto. */
export function sessionDto(st: JellyfinState, s: SessionRecord): Record<string, unknown> {
  return {
    PlayState: { CanSeek: false, IsPaused: false, IsMuted: false, RepeatMode: 'RepeatNone', PlaybackOrder: 'Default' },
    AdditionalUsers: [],
    Capabilities: { PlayableMediaTypes: [], SupportedCommands: [], SupportsMediaControl: false, SupportsPersistentIdentifier: true },
    RemoteEndPoint: s.remoteEndPoint,
    PlayableMediaTypes: [],
    Id: s.id,
    UserId: s.userId,
    UserName: s.userName,
    Client: s.client,
    LastActivityDate: formatDate(s.lastActivityDate),
    LastPlaybackCheckIn: MIN_DATE,
    DeviceName: s.deviceName,
    DeviceId: s.deviceId,
    ApplicationVersion: s.appVersion,
    IsActive: true,
    SupportsMediaControl: false,
    SupportsRemoteControl: false,
    NowPlayingQueue: [],
    NowPlayingQueueFullItems: [],
    HasCustomDeviceName: false,
    ServerId: st.cfg.serverId,
    SupportedCommands: [],
  };
}

/** MediaBrowser.Controller/Authentication/AuthenticationResult.cs. */
export function authenticationResultDto(st: JellyfinState, o: LoginOutcome): Record<string, unknown> {
  return {
    User: userDto(st, o.user),
    SessionInfo: sessionDto(st, o.session),
    AccessToken: o.accessToken,
    ServerId: st.cfg.serverId,
  };
}

export function quickConnectResultDto(r: QuickConnectRequest): Record<string, unknown> {
  return {
    Authenticated: r.authenticated,
    Secret: r.secret,
    Code: r.code,
    DeviceId: r.deviceId,
    DeviceName: r.deviceName,
    AppName: r.appName,
    AppVersion: r.appVersion,
    DateAdded: formatDate(r.dateAdded),
  };
}

/** DeviceManager.ToDeviceInfoDto. */
export function deviceInfoDto(st: JellyfinState, d: DeviceRecord): Record<string, unknown> {
  return {
    Name: d.deviceName,
    AccessToken: d.accessToken,
    Id: d.deviceId,
    LastUserName: st.users.get(d.userId)?.name,
    AppName: d.appName,
    AppVersion: d.appVersion,
    LastUserId: d.userId,
    DateLastActivity: formatDate(d.dateLastActivity),
    Capabilities: { PlayableMediaTypes: [], SupportedCommands: [], SupportsMediaControl: false, SupportsPersistentIdentifier: true },
  };
}

/** AuthenticationManager.GetApiKeys → AuthenticationInfo. */
export function apiKeyDto(k: ApiKeyRecord): Record<string, unknown> {
  return {
    Id: 0,
    AccessToken: k.accessToken,
    DeviceId: '',
    AppName: k.name,
    AppVersion: '',
    DeviceName: '',
    UserId: EMPTY_GUID,
    IsActive: false,
    DateCreated: formatDate(k.dateCreated),
    DateLastActivity: MIN_DATE,
  };
}

/** QueryResult<T>. */
export function queryResult(items: unknown[]): Record<string, unknown> {
  return { Items: items, TotalRecordCount: items.length, StartIndex: 0 };
}

/** SystemManager.GetPublicSystemInfo. */
export function publicSystemInfo(st: JellyfinState, localAddress: string): Record<string, unknown> {
  return {
    LocalAddress: localAddress,
    ServerName: st.cfg.serverName,
    Version: st.cfg.serverVersion,
    ProductName: 'Jellyfin Server',
    OperatingSystem: '',
    Id: st.cfg.serverId,
    StartupWizardCompleted: true,
  };
}

/** SystemManager.GetSystemInfo (the fields a client reads). */
export function systemInfo(st: JellyfinState, localAddress: string): Record<string, unknown> {
  return {
    ...publicSystemInfo(st, localAddress),
    OperatingSystemDisplayName: '',
    PackageName: 'emulator',
    HasPendingRestart: false,
    IsShuttingDown: false,
    SupportsLibraryMonitor: true,
    WebSocketPortNumber: 8096,
    CompletedInstallations: [],
    CanSelfRestart: false,
    CanLaunchWebBrowser: false,
    ProgramDataPath: '/config',
    WebPath: '/jellyfin/jellyfin-web',
    ItemsByNamePath: '/config/metadata',
    CachePath: '/cache',
    LogPath: '/config/log',
    InternalMetadataPath: '/config/metadata',
    TranscodingTempPath: '/cache/transcodes',
    CastReceiverApplications: [],
    HasUpdateAvailable: false,
    EncoderLocation: 'System',
    SystemArchitecture: 'X64',
  };
}

/**
 * MediaBrowser.Common/Net/NetworkConfiguration.cs (the named configuration "network", as
 * `GET /System/Configuration/network` returns it), with its defaults.
 */
export interface NetworkConfigurationDto {
  BaseUrl: string;
  EnableHttps: boolean;
  RequireHttps: boolean;
  CertificatePath: string;
  CertificatePassword: string;
  InternalHttpPort: number;
  InternalHttpsPort: number;
  PublicHttpPort: number;
  PublicHttpsPort: number;
  AutoDiscovery: boolean;
  EnableUPnP: boolean;
  EnableIPv4: boolean;
  EnableIPv6: boolean;
  EnableRemoteAccess: boolean;
  LocalNetworkSubnets: string[];
  LocalNetworkAddresses: string[];
  KnownProxies: string[];
  IgnoreVirtualInterfaces: boolean;
  VirtualInterfaceNames: string[];
  EnablePublishedServerUriByRequest: boolean;
  PublishedServerUriBySubnet: string[];
  RemoteIPFilter: string[];
  IsRemoteIPFilterBlacklist: boolean;
}

export function networkConfigurationDto(baseUrl: string, overrides: Partial<NetworkConfigurationDto>): NetworkConfigurationDto {
  return {
    BaseUrl: baseUrl,
    EnableHttps: false,
    RequireHttps: false,
    CertificatePath: '',
    CertificatePassword: '',
    InternalHttpPort: 8096,
    InternalHttpsPort: 8920,
    PublicHttpPort: 8096,
    PublicHttpsPort: 8920,
    AutoDiscovery: true,
    EnableUPnP: false,
    EnableIPv4: true,
    EnableIPv6: false,
    EnableRemoteAccess: true,
    LocalNetworkSubnets: [],
    LocalNetworkAddresses: [],
    KnownProxies: [],
    IgnoreVirtualInterfaces: true,
    VirtualInterfaceNames: ['veth'],
    EnablePublishedServerUriByRequest: false,
    PublishedServerUriBySubnet: [],
    RemoteIPFilter: [],
    IsRemoteIPFilterBlacklist: false,
    ...overrides,
  };
}

/**
 * ServerConfiguration (MediaBrowser.Model/Configuration/ServerConfiguration.cs + BaseApplicationConfiguration),
 * the fields the dashboard's General page edits and those the gateway's tests look at; 10.10 has
 * `EnableGroupingIntoCollections` and `RemoveOldPlugins`, 10.11 the split grouping flags, `CacheSize` and
 * `EnableLegacyAuthorization`.
 */
export function serverConfigurationDto(version: string, serverName: string, enableLegacyAuthorization: boolean): Record<string, unknown> {
  const v1010 = version === '10.10';
  return {
    LogFileRetentionDays: 3,
    IsStartupWizardCompleted: true,
    CachePath: '/cache',
    EnableMetrics: false,
    EnableNormalizedItemByNameIds: true,
    IsPortAuthorized: true,
    QuickConnectAvailable: true,
    EnableCaseSensitiveItemIds: true,
    DisableLiveTvChannelUserDataName: true,
    MetadataPath: '',
    PreferredMetadataLanguage: 'en',
    MetadataCountryCode: 'US',
    SortReplaceCharacters: ['.', '+', '%'],
    SortRemoveCharacters: [',', '&', '-', '{', '}', "'"],
    SortRemoveWords: ['the', 'a', 'an'],
    MinResumePct: 5,
    MaxResumePct: 90,
    MinResumeDurationSeconds: 300,
    MinAudiobookResume: 5,
    MaxAudiobookResume: 5,
    InactiveSessionThreshold: 0,
    LibraryMonitorDelay: 60,
    LibraryUpdateDuration: 30,
    ...(v1010 ? {} : { CacheSize: 200 }),
    ImageSavingConvention: 'Legacy',
    MetadataOptions: [],
    SkipDeserializationForBasicTypes: true,
    ServerName: serverName,
    UICulture: 'en-US',
    SaveMetadataHidden: false,
    ContentTypes: [],
    RemoteClientBitrateLimit: 0,
    EnableFolderView: false,
    ...(v1010 ? { EnableGroupingIntoCollections: false } : { EnableGroupingMoviesIntoCollections: false, EnableGroupingShowsIntoCollections: false }),
    DisplaySpecialsWithinSeasons: true,
    CodecsUsed: [],
    PluginRepositories: [{ Name: 'Jellyfin Stable', Url: 'https://repo.jellyfin.org/files/plugin/manifest.json', Enabled: true }],
    EnableExternalContentInSuggestions: true,
    ImageExtractionTimeoutMs: 0,
    PathSubstitutions: [],
    EnableSlowResponseWarning: true,
    SlowResponseThresholdMs: 500,
    CorsHosts: ['*'],
    ActivityLogRetentionDays: 30,
    LibraryScanFanoutConcurrency: 0,
    LibraryMetadataRefreshConcurrency: 0,
    AllowClientLogUpload: true,
    DummyChapterDuration: 0,
    ChapterImageResolution: 'MatchSource',
    ParallelImageEncodingLimit: 0,
    CastReceiverApplications: [],
    ...(v1010 ? { RemoveOldPlugins: true } : { EnableLegacyAuthorization: enableLegacyAuthorization }),
  };
}

/** PluginInfo (MediaBrowser.Model/Plugins/PluginInfo.cs). */
export interface PluginInfoDto {
  Name: string;
  Version: string;
  ConfigurationFileName?: string;
  Description: string;
  Id: string;
  CanUninstall: boolean;
  HasImage: boolean;
  Status: 'Active' | 'Restart' | 'Disabled' | 'NotSupported' | 'Malfunctioned' | 'Superceded' | 'Deleted';
}
