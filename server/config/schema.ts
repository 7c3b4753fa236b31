import { z } from 'zod';
import { AUDIT_EVENTS } from '../../shared/audit-events.ts';
import type { ConfigGroup } from '../../shared/api/configuration.ts';

/**
 * Every setting in one documented place, with its default (panva's rule: one place for defaults).
 * Keys follow the seed plugin's names so an admin moving from JellyfinSecurity recognises them.
 *
 * Each key carries its words and flags with `setting(schema, {…})` (zod's `.meta`): the description the
 * settings console and GET Configuration show, its group (a heading of the console), `secret` (never sent
 * to a browser or a log), `secretPaths` (secret fields inside the value) and `live` (read where it is used,
 * so a change applies at once; every other key takes effect at the next start). `z.toJSONSchema` of a key
 * gives its JSON Schema with the description.
 */
export interface SettingMeta {
  description: string;
  group: ConfigGroup;
  /** Read at use time from the one config object: POST Configuration applies it without a restart. */
  live?: true;
  /** Write-only: the value is never shown (GET says only whether one is set). */
  secret?: true;
  /** Secret fields inside the value: dot paths relative to it, `*` for each array item. */
  secretPaths?: string[];
}

const setting = <T extends z.ZodType>(schema: T, meta: SettingMeta): T => schema.meta({ ...meta });

const cidr = z.string().min(1);

/** One OpenID Connect provider (server/sso). The first keys are the seed plugin's. */
const oidcProvider = z
  .object({
    Name: z.string().min(1).describe('Shown to admins and in the audit log.'),
    Id: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1–64 letters, digits, "-" or "_"')
      .describe('The id in the URLs ({BaseUrl}/JellyfinSecurity/OIDC/Authorize?providerId=…): letters, digits, "-" and "_".'),
    ClientID: z.string().min(1).describe('The client id registered at the provider.'),
    ClientSecret: z.string().min(1).describe('The client secret; usually "${OIDC_CLIENT_SECRET}", read from the environment.'),
    Authority: z
      .url({ protocol: /^https?$/ })
      .describe('The issuer URL; its /.well-known/openid-configuration is read. https, or http only with AllowPrivateEndpoints.'),
    Scopes: z
      .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be a scope token'))
      .default(['profile', 'email', 'groups'])
      .describe('Scopes asked for besides "openid".'),
    AllowPrivateEndpoints: z
      .boolean()
      .default(false)
      .describe('Allow an Authority on plain http at a loopback or private address (a LAN IdP). Never over the internet.'),
    ButtonText: z.string().min(1).max(80).optional().describe('The login page\'s button text (default "Sign in with {Name}").'),
    UsernameClaim: z
      .string()
      .min(1)
      .default('preferred_username')
      .describe('The claim that names the Jellyfin user (a new user gets this name; linking by name compares it).'),
    AutoCreateUsers: z
      .boolean()
      .default(false)
      .describe('A first sign-in whose identity matches no linked user creates a Jellyfin user (random password nobody knows).'),
    LinkExistingUsers: z
      .boolean()
      .default(false)
      .describe('A first sign-in links to an existing Jellyfin user of the same name or e-mail, only when the provider says the e-mail is verified.'),
    GroupsClaim: z.string().min(1).default('groups').describe("The claim holding the user's groups."),
    AdminGroups: z
      .array(z.string().min(1))
      .default([])
      .describe('Members of any of these groups are Jellyfin administrators (applied when created, and at each sign-in with SyncGroupsEnabled).'),
    AllowedGroups: z
      .array(z.string().min(1))
      .default([])
      .describe('When not empty, only members of one of these groups may sign in; others are refused and their gateway sessions revoked.'),
    SyncGroupsEnabled: z.boolean().default(false).describe("At each sign-in, make the user's Jellyfin administrator flag follow AdminGroups."),
    OIDCSatisfiesSecondFactor: z
      .boolean()
      .default(false)
      .describe("The provider's multi-factor sign-in (amr/acr in the ID token) counts as the second factor."),
  })
  .strict()
  .refine((p) => !p.Authority.startsWith('http:') || p.AllowPrivateEndpoints, {
    message: 'an http Authority needs AllowPrivateEndpoints (use https)',
    path: ['Authority'],
  });

const smtp = z
  .object({
    Host: z.string().min(1).describe('The SMTP server.'),
    Port: z.number().int().min(1).max(65535).default(587).describe('Its port (587 submission, 465 TLS).'),
    Secure: z
      .boolean()
      .default(false)
      .describe('TLS from the first byte (port 465); otherwise STARTTLS is used when the server offers it.'),
    Username: z.string().optional().describe('The login, if the server wants one.'),
    Password: z.string().optional().describe('Its password (many providers want an app password).'),
    From: z.string().min(3).describe('The sender, e.g. "Jellyfin <jellyfin@example.org>".'),
  })
  .strict();

export const configSchema = z
  .object({
    // ── Jellyfin and the gateway ──
    JellyfinUrl: setting(z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:8096'), {
      group: 'connection',
      description: 'The upstream Jellyfin (origin only, e.g. http://127.0.0.1:8096). Env: JELLYFIN_URL.',
    }),
    JellyfinApiKey: setting(z.string().regex(/^[0-9a-fA-F]{32}$/, 'must be 32 hex characters').optional(), {
      group: 'connection',
      secret: true,
      description: 'An admin API key the gateway uses for its own calls (Auth/Keys, revoking tokens). Env: JELLYFIN_API_KEY.',
    }),
    BaseUrl: setting(
      z
        .string()
        .regex(/^(|\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*)$/, 'must be empty or like "/jellyfin" (no trailing slash)')
        .default(''),
      {
        group: 'connection',
        description: 'Jellyfin\'s BaseUrl (Dashboard → Networking), e.g. "/jellyfin"; the gateway\'s own routes move under it too.',
      },
    ),
    PublicUrl: setting(z.url({ protocol: /^https?$/ }).optional(), {
      group: 'connection',
      description: 'The public origin (WebAuthn RP id, links in pushes and e-mails). Env: JELLYGUARD_PUBLIC_URL. Empty: taken from the request.',
    }),
    APIKeyBypassEnabled: setting(z.boolean().default(true), {
      group: 'connection',
      description: 'Jellyfin API keys (Sonarr, Radarr, Tautulli…) pass the token gate. Needs JellyfinApiKey to recognise them.',
    }),
    APIKeyRefreshSeconds: setting(z.number().int().min(5).max(86400).default(60), {
      group: 'connection',
      description: 'Seconds between refreshes of the API key list from /Auth/Keys.',
    }),
    AdoptExistingSessionsUntil: setting(z.iso.datetime({ offset: true }).optional(), {
      group: 'connection',
      description:
        'Opt-in adoption window: until this time, a token issued before the gateway was installed is checked once at Jellyfin (/Users/Me) and, if it is a live session, accepted from then on. Unset: refused.',
    }),

    // ── Network and addresses ──
    Port: setting(z.number().int().min(0).max(65535).default(8097), {
      group: 'network',
      description: 'The port the gateway listens on. Env: JELLYGUARD_PORT.',
    }),
    Host: setting(z.string().min(1).default('0.0.0.0'), {
      group: 'network',
      description: 'The address the gateway listens on. Env: JELLYGUARD_HOST.',
    }),
    TrustedProxyCIDRs: setting(z.array(cidr).default([]), {
      group: 'network',
      description: 'Peers whose X-Forwarded-For (or Forwarded) is believed: your TLS terminator, never the whole internet.',
    }),
    ForwardedHeader: setting(z.enum(['X-Forwarded-For', 'Forwarded']).default('X-Forwarded-For'), {
      group: 'network',
      description: 'Which forwarding header the trusted proxies set; only that one is read.',
    }),

    // ── Operations: limits, time-outs, shut-down ──
    MaxLoginBodyBytes: setting(z.number().int().min(256).max(1_048_576).default(16_384), {
      group: 'operations',
      description: 'Largest login request body read into memory (bytes); larger ones get 413 before Jellyfin sees them.',
    }),
    UpstreamTimeoutSeconds: setting(z.number().int().min(1).max(3600).default(30), {
      group: 'operations',
      description: "Seconds to wait for Jellyfin's response headers before answering 504.",
    }),
    RequestTimeoutSeconds: setting(z.number().int().min(1).max(86_400).default(300), {
      group: 'operations',
      description:
        'Seconds a client has to send a whole request, headers and body; a slower one is answered 408 and closed. Responses (streams, downloads) are not limited. Jellyfin accepts bodies up to 30 MB (an image or subtitle upload): the default lets one through at 100 KB/s; raise it for slower uplinks.',
    }),
    ShutdownGraceSeconds: setting(z.number().int().min(0).max(600).default(8), {
      group: 'operations',
      live: true, // read when SIGTERM arrives (server/main.ts)
      description: 'On SIGTERM, seconds requests and streams in flight may take to finish before they are cut (Docker kills after 10).',
    }),

    // ── Second factors and the login challenge (server/factors, server/login/challenge.ts) ──
    TOTPEnabled: setting(z.boolean().default(true), {
      group: 'signIn',
      live: true,
      description: 'Users may enroll an authenticator app (TOTP, RFC 6238: SHA-1, 6 digits, 30 s).',
    }),
    PasskeysEnabled: setting(z.boolean().default(true), {
      group: 'signIn',
      live: true,
      description: 'Users may register passkeys (WebAuthn, user verification required).',
    }),
    EmailOTPEnabled: setting(z.boolean().default(false), {
      group: 'signIn',
      live: true,
      description: 'Users may receive one-time codes by e-mail (needs SMTP).',
    }),
    RecoveryCodesEnabled: setting(z.boolean().default(true), {
      group: 'signIn',
      live: true,
      description: 'Ten single-use recovery codes come with TOTP enrollment and can be regenerated.',
    }),
    TOTPTimeSkew: setting(z.number().int().min(0).max(10).default(1), {
      group: 'signIn',
      description: 'TOTP codes of this many 30-second steps before or after now are accepted (RFC 6238 §5.2).',
    }),
    EnforcementScope: setting(z.enum(['Optional', 'Admins', 'All']).default('Optional'), {
      group: 'signIn',
      live: true,
      description: 'Who must have a second factor: Optional (those who enrolled one), Admins, or All (enrolled at first login).',
    }),
    AllowTOTPInPassword: setting(z.boolean().default(false), {
      group: 'signIn',
      live: true,
      description:
        'Opt-in: a native client may send the password followed by a current TOTP code in one field. Tried only when the last 6 digits are a valid, unused code, so a wrong split never costs a Jellyfin failure count.',
    }),
    TrustedDeviceDays: setting(z.number().int().min(0).max(400).default(90), {
      group: 'signIn',
      description: 'Days a "trust this browser" cookie skips the second factor; 0 turns the option off.',
    }),
    TrustedDeviceIPv4Prefix: setting(z.number().int().min(0).max(32).default(24), {
      group: 'signIn',
      description: 'A trusted browser stays trusted only from the same IPv4 network of this prefix length (0 = anywhere).',
    }),
    TrustedDeviceIPv6Prefix: setting(z.number().int().min(0).max(128).default(64), {
      group: 'signIn',
      description: '…and the same IPv6 network of this prefix length (0 = anywhere).',
    }),
    ChallengeSeconds: setting(z.number().int().min(30).max(3600).default(300), {
      group: 'signIn',
      description: 'Seconds a login waits for its second factor before the pending token is revoked at Jellyfin.',
    }),
    SMTP: setting(smtp.optional(), {
      group: 'signIn',
      secretPaths: ['Password'],
      description: 'The SMTP server e-mail codes and admin alerts are sent through (nodemailer). Port 465 usually wants Secure: true.',
    }),
    ShowBuiltIn2FAButton: setting(z.boolean().default(true), {
      group: 'signIn',
      live: true,
      description: 'Show the "Set up two-factor" button the injected script adds to jellyfin-web.',
    }),
    ShowBuiltInPasskeyButton: setting(z.boolean().default(true), {
      group: 'signIn',
      live: true,
      description: 'Show the "Sign in with a passkey" button on the login page.',
    }),

    // ── The guard: brute force, network rules, impossible travel, breach check (server/guard) ──
    BruteForceEnabled: setting(z.boolean().default(true), {
      group: 'guard',
      live: true,
      description: 'Count failed attempts and ban addresses / lock user names that reach MaxFailedAttempts.',
    }),
    MaxFailedAttempts: setting(z.number().int().min(1).max(1000).default(5), {
      group: 'guard',
      live: true,
      description: 'Failures within FailureWindowSeconds, per address (IPv6 by /64), per user name and per both, before a ban.',
    }),
    CodeFailuresPerAddress: setting(z.number().int().min(1).max(10_000).default(20), {
      group: 'guard',
      live: true,
      description:
        "Wrong second-factor codes (authenticator, e-mail, recovery) within FailureWindowSeconds that ban an address. Higher than MaxFailedAttempts: a household shares one address, and one person's typos are met by the challenge's own limit (5) and that user's code lock (10), not by banning everyone.",
    }),
    FailureWindowSeconds: setting(z.number().int().min(10).max(86_400).default(900), {
      group: 'guard',
      live: true,
      description: 'The sliding window those failures are counted in, in seconds.',
    }),
    LockoutDuration: setting(z.number().int().min(1).max(2_592_000).default(900), {
      group: 'guard',
      live: true,
      description: 'Seconds the first ban lasts; each further ban of the same subject lasts twice as long as the one before.',
    }),
    PermanentBanThreshold: setting(z.number().int().min(0).max(100_000).default(20), {
      group: 'guard',
      live: true,
      description: 'Failures in total (across bans) after which a ban is permanent until an admin lifts it; 0 = never permanent.',
    }),
    LANBypassEnabled: setting(z.boolean().default(false), {
      group: 'guard',
      description: 'Logins from LANBypassCIDRs skip the second factor. Never for a trusted proxy that sent no X-Forwarded-For.',
    }),
    LANBypassCIDRs: setting(z.array(cidr).default(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7', 'fe80::/10']), {
      group: 'guard',
      description: 'The networks LAN bypass applies to (loopback is deliberately not among the defaults).',
    }),
    ImpossibleTravelEnabled: setting(z.boolean().default(false), {
      group: 'guard',
      description: 'Refuse (or report, see ImpossibleTravelAction) a login faster than ImpossibleTravelThreshold from the last one. Needs GeoIPDatabasePath.',
    }),
    ImpossibleTravelThreshold: setting(z.number().positive().max(100_000).default(1000), {
      group: 'guard',
      live: true,
      description: 'Speed in km/h above which two logins of one user are impossible travel (an airliner flies about 900).',
    }),
    ImpossibleTravelAction: setting(z.enum(['Block', 'Alert']).default('Block'), {
      group: 'guard',
      live: true,
      description: 'Block the login (the token is revoked at Jellyfin) or only alert the user and the admins.',
    }),
    GeoIPDatabasePath: setting(z.string().min(1).optional(), {
      group: 'guard',
      description: 'A GeoIP2/GeoLite2 City database (MaxMind DB format) on disk; needed by impossible travel.',
    }),
    BreachCheckEnabled: setting(z.boolean().default(false), {
      group: 'guard',
      description: 'Check a correct password against known breaches (k-anonymity: only 5 hex characters of its SHA-1 leave).',
    }),
    BreachCheckUrl: setting(z.url({ protocol: /^https?$/ }).default('https://api.pwnedpasswords.com'), {
      group: 'guard',
      description: 'The range API (Have I Been Pwned or a mirror): GET {BreachCheckUrl}/range/{5 hex}.',
    }),
    BreachCheckBlocks: setting(z.boolean().default(false), {
      group: 'guard',
      live: true,
      description: 'Refuse a login whose password is known breached (otherwise it is audited and shown to the user).',
    }),
    AdminEmailAlerts: setting(z.boolean().default(false), {
      group: 'guard',
      description: 'E-mail impossible-travel alerts and permanent bans to administrators (their confirmed addresses; needs SMTP).',
    }),

    // ── TV pairing (server/pairing) ──
    TVPairingEnabled: setting(z.boolean().default(true), {
      group: 'pairing',
      live: true,
      description:
        'TV pairing: the big-screen page ({BaseUrl}/JellyfinSecurity/pair), phone approval of Quick Connect codes and the PairDevice API. Off: those answer 404 (Quick Connect Authorize still needs a step-up).',
    }),
    PairingCodeExpiration: setting(z.number().int().min(30).max(3600).default(300), {
      group: 'pairing',
      live: true,
      description: 'Seconds a PairDevice pairing code waits for approval (and an approved device for collecting its token).',
    }),

    // ── Step-up: confirming admin actions (server/stepup) ──
    StepUpLevel: setting(z.enum(['None', 'AdminActions', 'AllConfigChanges']).default('AdminActions'), {
      group: 'stepUp',
      live: true,
      description:
        "Which administrator actions need a fresh proof from the admin's own second factor: None; AdminActions (users, API keys, plugins, server and network settings, restart, backups, library paths and every gateway admin change); or AllConfigChanges (every state-changing administrator request).",
    }),
    StepUpWindowSeconds: setting(z.number().int().min(30).max(3600).default(300), {
      group: 'stepUp',
      live: true,
      description:
        "Seconds an admin action's confirmation stays usable by the same session for the same action (the most dangerous ones are single use).",
    }),

    // ── Push approval: the Authenticator's phones (server/approvals, server/push) ──
    HoldSeconds: setting(z.number().int().min(0).max(120).default(25), {
      group: 'approvals',
      live: true,
      description:
        "Seconds a native client's login (TV, Kodi, apps) is held open while the phone is asked, at most: never past that client's own login timeout; 0 = answer 401 at once (approve-then-retry only). Shorter than ApprovalSeconds and ChallengeSeconds.",
    }),
    ApprovalSeconds: setting(z.number().int().min(30).max(3600).default(120), {
      group: 'approvals',
      live: true,
      description: 'Seconds an approval waits for the phone; once approved, the same user and DeviceId may log in again (approve-then-retry) for this long.',
    }),
    PushEnabled: setting(z.boolean().default(true), {
      group: 'approvals',
      description: "Send Web Push notifications to enrolled phones (approvals and notices). Off: approvals wait in the app's list.",
    }),
    PushMaxPerWindow: setting(z.number().int().min(1).max(100).default(3), {
      group: 'approvals',
      live: true,
      description: 'Most approval pushes per user within PushWindowSeconds (push-fatigue limit); later ones are not sent.',
    }),
    PushWindowSeconds: setting(z.number().int().min(60).max(86_400).default(600), {
      group: 'approvals',
      live: true,
      description: 'The push-fatigue window, in seconds. Within it each further push also waits twice as long as the one before (15 s, 30 s…).',
    }),
    ReportBansAddress: setting(z.boolean().default(true), {
      group: 'approvals',
      live: true,
      description: '"This wasn\'t me" bans the requesting address (as a brute-force ban; never the reporting phone\'s own address).',
    }),
    ReportsBeforeHold: setting(z.number().int().min(0).max(100).default(3), {
      group: 'approvals',
      description: 'After this many "This wasn\'t me" within 24 hours, every password login of the account waits for the phone; 0 = never.',
    }),
    VapidSubject: setting(
      z
        .string()
        .regex(/^(mailto:[^\s@]+@[^\s@]+|https:\/\/\S+)$/, 'must be a mailto: address or an https: URL')
        .optional(),
      {
        group: 'approvals',
        description: 'The VAPID subject (RFC 8292 §2.1): "mailto:admin@example.org" or an https URL. Default: PublicUrl when it is https.',
      },
    ),
    PushAllowHttpLoopback: setting(z.boolean().default(false), {
      group: 'approvals',
      description: 'Accept push subscriptions on plain http to a loopback address (a local test push service only; never in production).',
    }),

    // ── Single sign-on with OpenID Connect providers (server/sso) ──
    OIDCProviders: setting(
      z
        .array(oidcProvider)
        .refine((list) => new Set(list.map((p) => p.Id.toLowerCase())).size === list.length, { message: 'every provider needs its own Id' })
        .default([]),
      {
        group: 'sso',
        secretPaths: ['*.ClientSecret'],
        description:
          'OIDC providers (Authentik, Authelia, Keycloak, Pocket ID…). Register the gateway at each with the redirect URI {public origin}{BaseUrl}/JellyfinSecurity/OIDC/Callback. Signing in needs JellyfinApiKey and Quick Connect turned on in Jellyfin (the session is obtained through it).',
      },
    ),
    DisablePasswordLoginForSSOUsers: setting(z.boolean().default(false), {
      group: 'sso',
      description: 'Users linked to an OIDC identity may not sign in with their Jellyfin password (their TVs use Quick Connect from the phone).',
    }),

    // ── Operations: metrics (server/metrics) ──
    MetricsEnabled: setting(z.boolean().default(false), {
      group: 'operations',
      description: 'Serve Prometheus metrics at {BaseUrl}/JellyfinSecurity/Metrics. Off: that path answers 404.',
    }),
    MetricsToken: setting(z.string().min(16, 'must be at least 16 characters').optional(), {
      group: 'operations',
      secret: true,
      description:
        'A bearer token a scraper must send (`Authorization: Bearer …`, Prometheus `authorization.credentials`). Without it only MetricsAllowedCIDRs may scrape, and never through a reverse proxy.',
    }),
    MetricsAllowedCIDRs: setting(z.array(cidr).default(['127.0.0.0/8', '::1/128']), {
      group: 'operations',
      description: 'Addresses that may scrape without the token (default: this machine only).',
    }),

    // ── The audit log (server/audit) ──
    AuditLogMaxAge: setting(z.number().int().min(0).max(36_500).default(365), {
      group: 'audit',
      description: 'Days audit rows are kept; 0 = for ever.',
    }),
    AuditLogMaxSize: setting(z.number().int().min(0).max(100_000_000).default(1_000_000), {
      group: 'audit',
      description: 'Most audit rows kept (the oldest go first); 0 = no limit.',
    }),
    AuditLogExcludedEvents: setting(
      z
        .array(
          z.string().refine(
            (t) => (t.endsWith('.*') ? AUDIT_EVENTS.some((e) => e.startsWith(t.slice(0, -1))) : (AUDIT_EVENTS as readonly string[]).includes(t)),
            { message: 'is not an audit event type (see shared/audit-events.ts)' },
          ),
        )
        .default([]),
      {
        group: 'audit',
        description: 'Event types never written (see shared/audit-events.ts); "prefix.*" excludes a whole family.',
      },
    ),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type ConfigKeyName = keyof Config;

/** The words and flags of a key (see SettingMeta). */
export function settingMeta(key: ConfigKeyName): SettingMeta {
  const meta = z.globalRegistry.get(configSchema.shape[key]);
  if (!meta?.description || !meta.group) throw new Error(`config key ${key} has no setting() description`);
  return meta as unknown as SettingMeta;
}

export const CONFIG_KEYS = Object.keys(configSchema.shape) as ConfigKeyName[];
