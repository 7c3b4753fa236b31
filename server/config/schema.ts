import { z } from 'zod';
import { AUDIT_EVENTS } from '../../shared/audit-events.ts';

/**
 * Every setting in one documented place, with its default (panva's rule: one place for defaults).
 * Keys follow the seed plugin's names so an admin moving from JellyfinSecurity recognises them.
 */
const cidr = z.string().min(1);

/** One OpenID Connect provider (server/sso). The first keys are the seed plugin's. */
const oidcProvider = z
  .object({
    /** Shown to admins and in the audit log. */
    Name: z.string().min(1),
    /** The id in the URLs ({BaseUrl}/JellyfinSecurity/OIDC/Authorize?providerId=…): letters, digits, "-" and "_". */
    Id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1–64 letters, digits, "-" or "_"'),
    ClientID: z.string().min(1),
    /** Usually "${OIDC_CLIENT_SECRET}", read from the environment. */
    ClientSecret: z.string().min(1),
    /** The issuer URL; its /.well-known/openid-configuration is read. https, or http only with AllowPrivateEndpoints. */
    Authority: z.url({ protocol: /^https?$/ }),
    /** Scopes asked for besides "openid". */
    Scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be a scope token')).default(['profile', 'email', 'groups']),
    /** Allow an Authority on plain http at a loopback or private address (a LAN IdP). Never over the internet. */
    AllowPrivateEndpoints: z.boolean().default(false),
    /** The login page's button text (default "Sign in with {Name}"). */
    ButtonText: z.string().min(1).max(80).optional(),
    /** The claim that names the Jellyfin user (a new user gets this name; linking by name compares it). */
    UsernameClaim: z.string().min(1).default('preferred_username'),
    /** A first sign-in whose identity matches no linked user creates a Jellyfin user (random password nobody knows). */
    AutoCreateUsers: z.boolean().default(false),
    /** A first sign-in links to an existing Jellyfin user of the same name or e-mail, only when the provider says the e-mail is verified. */
    LinkExistingUsers: z.boolean().default(false),
    /** The claim holding the user's groups. */
    GroupsClaim: z.string().min(1).default('groups'),
    /** Members of any of these groups are Jellyfin administrators (applied when created, and at each sign-in with SyncGroupsEnabled). */
    AdminGroups: z.array(z.string().min(1)).default([]),
    /** When not empty, only members of one of these groups may sign in; others are refused and their gateway sessions revoked. */
    AllowedGroups: z.array(z.string().min(1)).default([]),
    /** At each sign-in, make the user's Jellyfin administrator flag follow AdminGroups. */
    SyncGroupsEnabled: z.boolean().default(false),
    /** The provider's multi-factor sign-in (amr/acr in the ID token) counts as the second factor. */
    OIDCSatisfiesSecondFactor: z.boolean().default(false),
  })
  .strict()
  .refine((p) => !p.Authority.startsWith('http:') || p.AllowPrivateEndpoints, {
    message: 'an http Authority needs AllowPrivateEndpoints (use https)',
    path: ['Authority'],
  });

export const configSchema = z
  .object({
    /** The upstream Jellyfin (origin only). Env: JELLYFIN_URL. */
    JellyfinUrl: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:8096'),
    /** An admin API key the gateway uses for its own calls (Auth/Keys, revoking tokens). Env: JELLYFIN_API_KEY. */
    JellyfinApiKey: z.string().regex(/^[0-9a-fA-F]{32}$/, 'must be 32 hex characters').optional(),
    /** Jellyfin's BaseUrl (Dashboard → Networking), e.g. "/jellyfin"; the gateway's own routes move under it too. */
    BaseUrl: z
      .string()
      .regex(/^(|\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*)$/, 'must be empty or like "/jellyfin" (no trailing slash)')
      .default(''),
    /** Where the gateway listens. Env: JELLYGUARD_PORT / JELLYGUARD_HOST. */
    Port: z.number().int().min(0).max(65535).default(8097),
    Host: z.string().min(1).default('0.0.0.0'),
    /** The public origin (WebAuthn RP id, links). Env: JELLYGUARD_PUBLIC_URL. Empty: taken from the request. */
    PublicUrl: z.url({ protocol: /^https?$/ }).optional(),

    /** Peers whose X-Forwarded-For (or Forwarded) is believed: your TLS terminator, never the whole internet. */
    TrustedProxyCIDRs: z.array(cidr).default([]),
    /** Which forwarding header the trusted proxies set; only that one is read. */
    ForwardedHeader: z.enum(['X-Forwarded-For', 'Forwarded']).default('X-Forwarded-For'),

    /** Jellyfin API keys (Sonarr, Radarr, Tautulli…) pass the token gate. Needs JellyfinApiKey to recognise them. */
    APIKeyBypassEnabled: z.boolean().default(true),
    /** Seconds between refreshes of the API key list from /Auth/Keys. */
    APIKeyRefreshSeconds: z.number().int().min(5).max(86400).default(60),
    /**
     * Opt-in adoption window: until this time, a token issued before the gateway was installed is checked
     * once at Jellyfin (/Users/Me) and, if it is a live session, accepted from then on. Unset: refused.
     */
    AdoptExistingSessionsUntil: z.iso.datetime({ offset: true }).optional(),

    /** Largest login request body read into memory (bytes); larger ones get 413 before Jellyfin sees them. */
    MaxLoginBodyBytes: z.number().int().min(256).max(1_048_576).default(16_384),
    /** Seconds to wait for Jellyfin's response headers before answering 504. */
    UpstreamTimeoutSeconds: z.number().int().min(1).max(3600).default(30),
    /**
     * Seconds a client has to send a whole request, headers and body; a slower one is answered 408 and
     * closed. Responses (streams, downloads) are not limited. Jellyfin accepts bodies up to 30 MB (an image
     * or subtitle upload): the default lets one through at 100 KB/s; raise it for slower uplinks.
     */
    RequestTimeoutSeconds: z.number().int().min(1).max(86_400).default(300),
    /** On SIGTERM, seconds requests and streams in flight may take to finish before they are cut (Docker kills after 10). */
    ShutdownGraceSeconds: z.number().int().min(0).max(600).default(8),

    // ── Second factors and the login challenge (server/factors, server/login/challenge.ts) ──
    /** Users may enroll an authenticator app (TOTP, RFC 6238: SHA-1, 6 digits, 30 s). */
    TOTPEnabled: z.boolean().default(true),
    /** Users may register passkeys (WebAuthn, user verification required). */
    PasskeysEnabled: z.boolean().default(true),
    /** Users may receive one-time codes by e-mail (needs SMTP). */
    EmailOTPEnabled: z.boolean().default(false),
    /** Ten single-use recovery codes come with TOTP enrollment and can be regenerated. */
    RecoveryCodesEnabled: z.boolean().default(true),
    /** TOTP codes of this many 30-second steps before or after now are accepted (RFC 6238 §5.2). */
    TOTPTimeSkew: z.number().int().min(0).max(10).default(1),
    /** Who must have a second factor: Optional (those who enrolled one), Admins, or All (enrolled at first login). */
    EnforcementScope: z.enum(['Optional', 'Admins', 'All']).default('Optional'),
    /**
     * Opt-in: a native client may send the password followed by a current TOTP code in one field. Tried only
     * when the last 6 digits are a valid, unused code, so a wrong split never costs a Jellyfin failure count.
     */
    AllowTOTPInPassword: z.boolean().default(false),
    /** Days a "trust this browser" cookie skips the second factor; 0 turns the option off. */
    TrustedDeviceDays: z.number().int().min(0).max(400).default(90),
    /** A trusted browser stays trusted only from the same IPv4 network of this prefix length (0 = anywhere). */
    TrustedDeviceIPv4Prefix: z.number().int().min(0).max(32).default(24),
    /** …and the same IPv6 network of this prefix length (0 = anywhere). */
    TrustedDeviceIPv6Prefix: z.number().int().min(0).max(128).default(64),
    /** Seconds a login waits for its second factor before the pending token is revoked at Jellyfin. */
    ChallengeSeconds: z.number().int().min(30).max(3600).default(300),
    /** The SMTP server e-mail codes are sent through (nodemailer). Port 465 usually wants Secure: true. */
    SMTP: z
      .object({
        Host: z.string().min(1),
        Port: z.number().int().min(1).max(65535).default(587),
        /** TLS from the first byte (port 465); otherwise STARTTLS is used when the server offers it. */
        Secure: z.boolean().default(false),
        Username: z.string().optional(),
        Password: z.string().optional(),
        /** The sender, e.g. "Jellyfin <jellyfin@example.org>". */
        From: z.string().min(3),
      })
      .strict()
      .optional(),
    /** Show the "Set up two-factor" button the injected script adds to jellyfin-web. */
    ShowBuiltIn2FAButton: z.boolean().default(true),
    /** Show the "Sign in with a passkey" button on the login page. */
    ShowBuiltInPasskeyButton: z.boolean().default(true),

    // ── The guard: brute force, network rules, impossible travel, breach check (server/guard) ──
    /** Count failed attempts and ban addresses / lock user names that reach MaxFailedAttempts. */
    BruteForceEnabled: z.boolean().default(true),
    /** Failures within FailureWindowSeconds, per address (IPv6 by /64), per user name and per both, before a ban. */
    MaxFailedAttempts: z.number().int().min(1).max(1000).default(5),
    /**
     * Wrong second-factor codes (authenticator, e-mail, recovery) within FailureWindowSeconds that ban an
     * address. Higher than MaxFailedAttempts: a household shares one address, and one person's typos are
     * met by the challenge's own limit (5) and that user's code lock (10), not by banning everyone.
     */
    CodeFailuresPerAddress: z.number().int().min(1).max(10_000).default(20),
    /** The sliding window those failures are counted in, in seconds. */
    FailureWindowSeconds: z.number().int().min(10).max(86_400).default(900),
    /** Seconds the first ban lasts; each further ban of the same subject lasts twice as long as the one before. */
    LockoutDuration: z.number().int().min(1).max(2_592_000).default(900),
    /** Failures in total (across bans) after which a ban is permanent until an admin lifts it; 0 = never permanent. */
    PermanentBanThreshold: z.number().int().min(0).max(100_000).default(20),
    /** Logins from LANBypassCIDRs skip the second factor. Never for a trusted proxy that sent no X-Forwarded-For. */
    LANBypassEnabled: z.boolean().default(false),
    /** The networks LAN bypass applies to (loopback is deliberately not among the defaults). */
    LANBypassCIDRs: z.array(cidr).default(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7', 'fe80::/10']),
    /** Refuse (or report, see ImpossibleTravelAction) a login faster than ImpossibleTravelThreshold from the last one. */
    ImpossibleTravelEnabled: z.boolean().default(false),
    /** Speed in km/h above which two logins of one user are impossible travel (an airliner flies about 900). */
    ImpossibleTravelThreshold: z.number().positive().max(100_000).default(1000),
    /** Block the login (the token is revoked at Jellyfin) or only alert the user and the admins. */
    ImpossibleTravelAction: z.enum(['Block', 'Alert']).default('Block'),
    /** A GeoIP2/GeoLite2 City database (MaxMind DB format) on disk; needed by impossible travel. */
    GeoIPDatabasePath: z.string().min(1).optional(),
    /** Check a correct password against known breaches (k-anonymity: only 5 hex characters of its SHA-1 leave). */
    BreachCheckEnabled: z.boolean().default(false),
    /** The range API (Have I Been Pwned or a mirror): GET {BreachCheckUrl}/range/{5 hex}. */
    BreachCheckUrl: z.url({ protocol: /^https?$/ }).default('https://api.pwnedpasswords.com'),
    /** Refuse a login whose password is known breached (otherwise it is audited and shown to the user). */
    BreachCheckBlocks: z.boolean().default(false),
    /** E-mail impossible-travel alerts and permanent bans to administrators (their confirmed addresses; needs SMTP). */
    AdminEmailAlerts: z.boolean().default(false),

    // ── TV pairing and step-up (server/pairing, server/stepup) ──
    /**
     * TV pairing: the big-screen page ({BaseUrl}/JellyfinSecurity/pair), phone approval of Quick Connect
     * codes and the PairDevice API. Off: those answer 404 (Quick Connect Authorize still needs a step-up).
     */
    TVPairingEnabled: z.boolean().default(true),
    /** Seconds a PairDevice pairing code waits for approval (and an approved device for collecting its token). */
    PairingCodeExpiration: z.number().int().min(30).max(3600).default(300),

    /**
     * Which administrator actions need a fresh proof from the admin's own second factor (server/stepup/admin-actions.ts):
     * None; AdminActions (users, API keys, plugins, server and network settings, restart, backups, library
     * paths and every gateway admin change); or AllConfigChanges (every state-changing administrator request).
     */
    StepUpLevel: z.enum(['None', 'AdminActions', 'AllConfigChanges']).default('AdminActions'),
    /** Seconds an admin action's confirmation stays usable by the same session for the same action (the most dangerous ones are single use). */
    StepUpWindowSeconds: z.number().int().min(30).max(3600).default(300),

    // ── Push approval: the Authenticator's phones (server/approvals, server/push) ──
    /** Seconds a native client's login (TV, Kodi, apps) is held open while the phone is asked, at most: never past that client's own login timeout (server/approvals/client-timeouts.ts); 0 = answer 401 at once (approve-then-retry only). */
    HoldSeconds: z.number().int().min(0).max(120).default(25),
    /** Seconds an approval waits for the phone; once approved, the same user and DeviceId may log in again (approve-then-retry) for this long. */
    ApprovalSeconds: z.number().int().min(30).max(3600).default(120),
    /** Send Web Push notifications to enrolled phones (approvals and notices). Off: approvals wait in the app's list. */
    PushEnabled: z.boolean().default(true),
    /** Most approval pushes per user within PushWindowSeconds (push-fatigue limit); later ones are not sent. */
    PushMaxPerWindow: z.number().int().min(1).max(100).default(3),
    /** The push-fatigue window, in seconds. Within it each further push also waits twice as long as the one before (15 s, 30 s…). */
    PushWindowSeconds: z.number().int().min(60).max(86_400).default(600),
    /** "This wasn't me" bans the requesting address (as a brute-force ban; never the reporting phone's own address). */
    ReportBansAddress: z.boolean().default(true),
    /** After this many "This wasn't me" within 24 hours, every password login of the account waits for the phone; 0 = never. */
    ReportsBeforeHold: z.number().int().min(0).max(100).default(3),
    /** The VAPID subject (RFC 8292 §2.1): "mailto:admin@example.org" or an https URL. Default: PublicUrl when it is https. */
    VapidSubject: z
      .string()
      .regex(/^(mailto:[^\s@]+@[^\s@]+|https:\/\/\S+)$/, 'must be a mailto: address or an https: URL')
      .optional(),
    /** Accept push subscriptions on plain http to a loopback address (a local test push service only; never in production). */
    PushAllowHttpLoopback: z.boolean().default(false),

    // ── Single sign-on with OpenID Connect providers (server/sso) ──
    /**
     * OIDC providers (Authentik, Authelia, Keycloak, Pocket ID…). Register the gateway at each with the
     * redirect URI {public origin}{BaseUrl}/JellyfinSecurity/OIDC/Callback. Signing in needs JellyfinApiKey
     * and Quick Connect turned on in Jellyfin (the session is obtained through it).
     */
    OIDCProviders: z
      .array(oidcProvider)
      .refine((list) => new Set(list.map((p) => p.Id.toLowerCase())).size === list.length, { message: 'every provider needs its own Id' })
      .default([]),
    /** Users linked to an OIDC identity may not sign in with their Jellyfin password (their TVs use Quick Connect from the phone). */
    DisablePasswordLoginForSSOUsers: z.boolean().default(false),

    // ── Operations: metrics (server/metrics) ──
    /** Serve Prometheus metrics at {BaseUrl}/JellyfinSecurity/Metrics. Off: that path answers 404. */
    MetricsEnabled: z.boolean().default(false),
    /**
     * A bearer token a scraper must send (`Authorization: Bearer …`, Prometheus `authorization.credentials`).
     * Without it only MetricsAllowedCIDRs may scrape, and never through a reverse proxy.
     */
    MetricsToken: z.string().min(16, 'must be at least 16 characters').optional(),
    /** Addresses that may scrape without the token (default: this machine only). */
    MetricsAllowedCIDRs: z.array(cidr).default(['127.0.0.0/8', '::1/128']),

    // ── The audit log (server/audit) ──
    /** Days audit rows are kept; 0 = for ever. */
    AuditLogMaxAge: z.number().int().min(0).max(36_500).default(365),
    /** Most audit rows kept (the oldest go first); 0 = no limit. */
    AuditLogMaxSize: z.number().int().min(0).max(100_000_000).default(1_000_000),
    /** Event types never written (see shared/audit-events.ts); "prefix.*" excludes a whole family. */
    AuditLogExcludedEvents: z
      .array(
        z.string().refine(
          (t) => (t.endsWith('.*') ? AUDIT_EVENTS.some((e) => e.startsWith(t.slice(0, -1))) : (AUDIT_EVENTS as readonly string[]).includes(t)),
          { message: 'is not an audit event type (see shared/audit-events.ts)' },
        ),
      )
      .default([]),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
