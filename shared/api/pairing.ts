import { z } from 'zod';

/**
 * TV pairing and step-up: what the gateway, the big-screen pairing page and the Authenticator PWA agree
 * on. Every path is under `{BaseUrl}/JellyfinSecurity/` unless it starts with `{BaseUrl}/` (Jellyfin's own
 * routes through the gateway). Errors are `{"error": "<code>", "message": "<for humans>"}`.
 *
 * THE PHONE'S "PAIR A TV" PAGE (PWA route)
 *   `{origin}{BaseUrl}/JellyfinSecurity/app/#/pair?code=<code>` — `code` is a Quick Connect code
 *   (6 digits, "123456") or a PairDevice code ("AB23-CD45"). The big-screen page's QR code and
 *   PairDeviceQR both encode exactly this URL (`pairPageUrl` below builds it); the page may also be opened
 *   without `code` and the code typed by hand. It then:
 *     1. GET  Pair/Lookup?code=…                → PairTarget: show device, app + version, address, time
 *     2. POST Pair/Approval  {code}              → PairApprovalStarted: an approval of kind "pairing"
 *        created by the approvals engine for the signed-in user (no push: the user is on the phone),
 *        with the WebAuthn options of its challenge
 *     3. navigator.credentials.get(options) (passkey tap, user verification required)
 *     4. POST Pair/Approve   {approvalId, response} → PairApproved: the Quick Connect code is authorised at
 *        Jellyfin for that user (the TV's next poll signs it in), or the PairDevice pairing is approved for
 *        that user (the device collects its token on its next CheckPairingStatus).
 *     "Deny" instead of 4: POST Pair/Deny {approvalId} → 204.
 *   Wrong, expired and already used codes all answer 404 `unknown_code` and count as pairing failures for
 *   the brute-force guard (MaxFailedAttempts wrong codes from one address ban it for LockoutDuration).
 *
 * QUICK CONNECT THROUGH THE GATEWAY (Jellyfin's own routes, JELLYFIN.md §4)
 *   POST {BaseUrl}/QuickConnect/Initiate, GET {BaseUrl}/QuickConnect/Connect?secret=,
 *   POST {BaseUrl}/Users/AuthenticateWithQuickConnect {Secret}: as Jellyfin; the token is released only for
 *   codes approved through the gateway (phone approval above, or an Authorize with a step-up).
 *   POST {BaseUrl}/QuickConnect/Authorize?code=&userId= is a STEP-UP ACTION ("QuickConnectAuthorize"):
 *   the token must be verified AND the request must carry `X-Jellyguard-StepUp: <proof>`, where the proof
 *   is a grant from POST StepUp (below) for this session, this action and this code, or a current TOTP
 *   code of the user. Without it: 401 StepUpRequired and nothing reaches Jellyfin. A Jellyfin API key
 *   cannot step up: 403 `step_up_unavailable` (use the phone approval).
 *
 * STEP-UP: see ./stepup.ts (POST StepUp, StepUp/Passkey/Options, GET StepUp/{stepUpId}).
 *
 * THE BIG-SCREEN PAIRING PAGE (public)
 *   GET pair (alias GET p)       → HTML page for a TV browser: initiates Quick Connect through the gateway,
 *                                  shows the code and a QR of pairPageUrl(code), polls Connect, exchanges
 *                                  the secret when approved, writes jellyfin_credentials, goes to /web/.
 *   GET pair/qr.svg?code=123456  → image/svg+xml, the QR code of pairPageUrl(code)
 *
 * THE SEED'S PAIRING API (devices that do not speak Quick Connect)
 *   POST PairDevice {DeviceName, DeviceId}  → PairDeviceResponse (public; at most a few pending per address)
 *   GET  PairDeviceQR?code=AB23-CD45[&format=png|svg] → image/png (default) or image/svg+xml of pairPageUrl
 *   GET  CheckPairingStatus?code=AB23-CD45  → PairingStatusResponse; polls at most every 2 s per code (429
 *        with Retry-After otherwise); "approved" carries the device token ONCE, later polls answer 404.
 *   Admin (401 without a verified token, 403 for a non-administrator):
 *   GET  PendingPairs                       → PendingPair[]
 *   POST ApprovePair {Id | PairingCode, UserId}  → PendingPair (status "approved")
 *   POST DenyPair    {Id | PairingCode}          → 204
 *   Self-service (a verified token):
 *   GET    Me/PairedDevices                 → PairedDevice[]
 *   DELETE Me/PairedDevices/{id}            → 204 (the device token stops working at once)
 *   A paired device signs in with its password as usual plus the header `X-Device-Token: <deviceToken>`
 *   and the SAME DeviceId in its Authorization header: the second factor is skipped for that user and
 *   that DeviceId only. A token sent for another user or DeviceId is ignored (the login is challenged)
 *   and counted as a pairing failure.
 */

/** A Quick Connect code as Jellyfin makes them. */
export const QUICK_CONNECT_CODE = /^\d{6}$/;
/**
 * PairDevice codes: 8 symbols of an alphabet without the look-alikes I, O, 0 and 1 (so the seed's example
 * "AB12-CD34" is never issued), shown as "AB23-CD45"; typed in any case, with or without the dash.
 */
export const PAIRING_CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
export const PAIRING_CODE = /^[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$/;

/** Strip what people type around a code (spaces, dashes), upper-case it. */
export function compactCode(input: string): string {
  return input.replace(/[\s-]/g, '').toUpperCase();
}

/** What kind of code this is, in its canonical form ("123456" or "AB23-CD45"), or undefined. */
export function parsePairCode(input: string): { kind: 'quickconnect' | 'device'; code: string } | undefined {
  const c = compactCode(input);
  if (/^\d{6}$/.test(c)) return { kind: 'quickconnect', code: c };
  if (/^[A-HJ-NP-Z2-9]{8}$/.test(c)) return { kind: 'device', code: `${c.slice(0, 4)}-${c.slice(4)}` };
  return undefined;
}

/**
 * The phone's approval page for a code: `{origin}{BaseUrl}/JellyfinSecurity/app/#/pair?code=…`, with
 * `origin` = PublicUrl when configured, else the origin the request came to.
 */
export function pairPageUrl(origin: string, baseUrl: string, code: string): string {
  return `${origin.replace(/\/+$/, '')}${baseUrl}/JellyfinSecurity/app/#/pair?code=${encodeURIComponent(code)}`;
}

// Step-up (the StepUp endpoints and their schemas) lives in ./stepup.ts; re-exported for the pairing code.
export * from './stepup.ts';
import { AssertionSchema } from './stepup.ts';

/**
 * Jellyfin binds names in a body or a query string case-insensitively (Kodi sends `deviceName`): read
 * requests to the seed's pairing API the same way. In a body the last spelling wins (as Jellyfin's JSON
 * binding); in a query string the first, first value, as the gateway reads Jellyfin's own query strings.
 */
export function jellyfinNames<S extends z.ZodType>(names: readonly string[], schema: S, from: 'body' | 'query' = 'body') {
  return z.preprocess((json: unknown): unknown => {
    if (!json || typeof json !== 'object' || Array.isArray(json)) return json;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(json as Record<string, unknown>)) {
      const name = names.find((n) => n.toLowerCase() === k.toLowerCase()) ?? k;
      if (from === 'query' && name in out) continue;
      out[name] = from === 'query' && Array.isArray(v) ? v[0] : v;
    }
    return out;
  }, schema);
}

/** `?code=` of the QR images, the pairing status and the phone's lookup. */
export const CodeQuerySchema = jellyfinNames(['code'], z.object({ code: z.string().optional() }), 'query');
/** `?code=&format=png|svg` of PairDeviceQR. */
export const QrQuerySchema = jellyfinNames(['code', 'format'], z.object({ code: z.string().optional(), format: z.string().optional() }), 'query');

// ── Phone approval of a code ────────────────────────────────────────────────────────────────────────

export const PairCodeRequestSchema = z.object({ code: z.string().trim().min(1).max(32) });

/** What is asking to be signed in: exactly what the phone shows before the passkey tap. */
export const PairTargetSchema = z.object({
  kind: z.enum(['quickconnect', 'device']),
  /** Canonical: "123456" or "AB23-CD45". */
  code: z.string(),
  deviceName: z.string().nullable(),
  deviceId: z.string().nullable(),
  /** The app (Jellyfin client) and its version, when the device said. */
  appName: z.string().nullable(),
  appVersion: z.string().nullable(),
  /** The address the request came from. */
  ip: z.string().nullable(),
  requestedAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
});
export type PairTarget = z.infer<typeof PairTargetSchema>;

export const PairApprovalStartedSchema = z.object({
  approvalId: z.string(),
  target: PairTargetSchema,
  expiresAt: z.iso.datetime(),
  /** Sign this with navigator.credentials.get (the approval's challenge; user verification required). */
  options: z.record(z.string(), z.unknown()),
});
export type PairApprovalStarted = z.infer<typeof PairApprovalStartedSchema>;

export const PairApproveRequestSchema = z.object({ approvalId: z.string().min(8).max(128), response: AssertionSchema });
export const PairDenyRequestSchema = z.object({ approvalId: z.string().min(8).max(128) });

export const PairApprovedSchema = z.object({
  status: z.literal('approved'),
  kind: z.enum(['quickconnect', 'device']),
  deviceName: z.string().nullable(),
  message: z.string(),
});
export type PairApproved = z.infer<typeof PairApprovedSchema>;

// ── The seed's pairing API ──────────────────────────────────────────────────────────────────────────

const deviceText = (max: number) => z.string().trim().min(1, 'is required').max(max, 'is too long');

/** Property names match case-insensitively, as Jellyfin binds JSON. */
export const PairDeviceRequestSchema = z.object({ DeviceName: deviceText(128), DeviceId: deviceText(256) });
export type PairDeviceRequest = z.infer<typeof PairDeviceRequestSchema>;
export const PairDeviceBodySchema = jellyfinNames(['DeviceName', 'DeviceId'], PairDeviceRequestSchema);

export const PairDeviceResponseSchema = z.object({
  pairingCode: z.string(),
  /** `{BaseUrl}/JellyfinSecurity/PairDeviceQR?code=…` (relative to the server's origin). */
  qrCodeUrl: z.string(),
  /** The phone page the QR code opens (pairPageUrl). */
  pairUrl: z.string(),
  expiresAt: z.iso.datetime(),
});
export type PairDeviceResponse = z.infer<typeof PairDeviceResponseSchema>;

export const PairingStatusResponseSchema = z.discriminatedUnion('status', [
  z.object({ status: z.literal('pending'), expiresAt: z.iso.datetime() }),
  z.object({ status: z.literal('denied') }),
  z.object({
    status: z.literal('approved'),
    /** Send as X-Device-Token with every password login of this device. Shown once. */
    deviceToken: z.string(),
    userId: z.string(),
    userName: z.string().nullable(),
    deviceId: z.string(),
  }),
]);
export type PairingStatusResponse = z.infer<typeof PairingStatusResponseSchema>;

export const PendingPairSchema = z.object({
  id: z.string(),
  deviceName: z.string(),
  deviceId: z.string(),
  client: z.string().nullable(),
  appVersion: z.string().nullable(),
  ip: z.string(),
  status: z.enum(['pending', 'approved', 'denied', 'expired', 'collected']),
  userId: z.string().nullable(),
  requestedAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
});
export type PendingPair = z.infer<typeof PendingPairSchema>;

const guid = z
  .string()
  .trim()
  .regex(/^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/, 'must be a Jellyfin user id');
export const ApprovePairRequestSchema = z
  .object({ Id: z.string().max(64).optional(), PairingCode: z.string().max(32).optional(), UserId: guid })
  .refine((v) => v.Id !== undefined || v.PairingCode !== undefined, 'Id or PairingCode is required');
export const DenyPairRequestSchema = z
  .object({ Id: z.string().max(64).optional(), PairingCode: z.string().max(32).optional() })
  .refine((v) => v.Id !== undefined || v.PairingCode !== undefined, 'Id or PairingCode is required');
export const ApprovePairBodySchema = jellyfinNames(['Id', 'PairingCode', 'UserId'], ApprovePairRequestSchema);
export const DenyPairBodySchema = jellyfinNames(['Id', 'PairingCode'], DenyPairRequestSchema);

export const PairedDeviceSchema = z.object({
  id: z.string(),
  deviceName: z.string(),
  deviceId: z.string(),
  pairedAt: z.iso.datetime(),
  lastUsedAt: z.iso.datetime().nullable(),
  lastIp: z.string().nullable(),
  /** "admin" or "phone" (the user approved it themselves). */
  approvedVia: z.string().nullable(),
});
export type PairedDevice = z.infer<typeof PairedDeviceSchema>;
