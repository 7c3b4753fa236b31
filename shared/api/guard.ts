import { z } from 'zod';

/**
 * Bans, IP allowlists, breach-check outcomes and the audit log: the bodies the gateway and the PWA's
 * admin console agree on. Every path is under `{BaseUrl}/JellyfinSecurity/`. Admin endpoints answer 401
 * without a verified Jellyfin token (any credential form) and 403 for a user who is not an
 * administrator; errors are `{"error": "<code>", "message": "<for humans>"}`.
 *
 * Admin:
 *   GET    Bans                        → BansResponse (bans in force, newest first)
 *   DELETE Bans/{id}                   → 204 (404 unknown)            audited guard.ban.lifted
 *   DELETE Bans                        → LiftAllResponse               audited guard.ban.lifted_all
 *   GET    Users/{id}/AllowedIPs       → AllowedIPs
 *   PUT    Users/{id}/AllowedIPs  SetAllowedIPsRequest → AllowedIPs  audited guard.allowlist.changed
 *   GET    AuditLog?{AuditQuery}       → AuditLogResponse (newest first)
 *   GET    AuditLog/Export?format=csv|json&{AuditQuery filters} → a file (CSV or AuditExport)  audited audit.exported
 *   GET    AuditLog/Verify             → AuditVerifyResponse
 * Self-service (a verified token):
 *   GET    Me/AllowedIPs               → AllowedIPs
 *   GET    Me/AuditLog?limit&offset&type → AuditLogResponse (only the caller's own events)
 *   GET    Me/PasswordCheck            → PasswordCheckResponse
 */

export const BAN_SCOPES = ['address', 'user', 'user_address'] as const;

export interface BanInfo {
  id: number;
  /** address: every request from it is refused; user: the name is locked (known devices still pass); user_address: the name is locked at that address. */
  scope: (typeof BAN_SCOPES)[number];
  /** The address or IPv6 /64, when the scope has one. */
  address: string | null;
  /** The user name (case-folded) or id, when the scope has one. */
  user: string | null;
  /** The attempt kind whose failures imposed it: password, totp, recovery, email, passkey, pairing, approval. */
  reason: string;
  /** Bans of this subject within a day of each other (each lasts twice as long as the one before). */
  strikes: number;
  failures: number;
  createdAt: string;
  /** null: permanent, until an admin lifts it. */
  expiresAt: string | null;
}

export interface BansResponse {
  items: BanInfo[];
}

export interface LiftAllResponse {
  lifted: number;
}

export const SetAllowedIPsRequestSchema = z
  .object({
    /** Addresses or CIDR ranges ("203.0.113.0/24", "2001:db8::/48"); an empty list lifts the restriction. */
    cidrs: z.array(z.string().min(1).max(64)).max(64),
  })
  .strict();
export type SetAllowedIPsRequest = z.infer<typeof SetAllowedIPsRequestSchema>;

export interface AllowedIPs {
  userId: string;
  /** Empty: the user may sign in from anywhere. */
  cidrs: string[];
  updatedAt: string | null;
  updatedBy: string | null;
}

/** One audit row as the API shows it. */
export interface AuditItem {
  id: number;
  /** ISO 8601. */
  time: string;
  /** Epoch milliseconds. */
  at: number;
  type: string;
  outcome: string;
  userId: string | null;
  userName: string | null;
  ip: string | null;
  deviceId: string | null;
  deviceName: string | null;
  client: string | null;
  detail: Record<string, unknown> | null;
}

/** In an export, each item also carries the chain's MACs so that the file can be verified on its own. */
export interface AuditExportItem extends AuditItem {
  prevMac: string;
  mac: string;
}

const time = z
  .string()
  .refine((s) => /^\d{1,15}$/.test(s) || !Number.isNaN(Date.parse(s)), { message: 'must be an ISO 8601 time or epoch milliseconds' })
  .transform((s) => (/^\d{1,15}$/.test(s) ? Number(s) : Date.parse(s)));

const oneOrMany = z.union([z.string(), z.array(z.string())]).transform((v) =>
  (Array.isArray(v) ? v : [v])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean),
);

/** Filters and paging of `AuditLog` and `AuditLog/Export` (query string). */
export const AuditQuerySchema = z
  .object({
    /** Event types (repeat or comma-separate); "prefix.*" selects a family, e.g. "guard.*". */
    type: oneOrMany.pipe(z.array(z.string().regex(/^[a-z_]+(\.[a-z_]+)*(\.\*)?$/, 'is not an event type')).max(50)).optional(),
    userId: z.string().regex(/^[0-9a-fA-F-]{32,36}$/, 'must be a Jellyfin user id').optional(),
    /** A user name, case-insensitive. */
    user: z.string().min(1).max(256).optional(),
    ip: z.string().min(1).max(64).optional(),
    outcome: z.enum(['success', 'failure', 'refused', 'info']).optional(),
    /** Inclusive. ISO 8601 or epoch ms. */
    from: time.optional(),
    /** Exclusive. ISO 8601 or epoch ms. */
    to: time.optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    offset: z.coerce.number().int().min(0).max(10_000_000).default(0),
    format: z.enum(['csv', 'json']).optional(),
  })
  .strict();
export type AuditQuery = z.infer<typeof AuditQuerySchema>;

export interface AuditLogResponse {
  items: AuditItem[];
  total: number;
  offset: number;
  limit: number;
}

/** The JSON export document. `chain` (the sealed ends) is present when the export is unfiltered. */
export interface AuditExport {
  format: 'jellyguard-audit-v1';
  exportedAt: string;
  complete: boolean;
  chain?: { headId: number; headMac: string; anchorId: number; anchorMac: string; seal: string };
  items: AuditExportItem[];
}

export interface AuditVerifyResponse {
  ok: boolean;
  rows: number;
  firstId: number | null;
  lastId: number | null;
  problems: Array<{ id: number | null; problem: 'seal' | 'anchor' | 'gap' | 'link' | 'edited' | 'head'; message: string }>;
}

export interface PasswordCheckResponse {
  /** null: never checked (the check is off, or no sign-in since it was turned on). */
  result: 'clean' | 'breached' | 'unavailable' | null;
  /** How many times the password appears in known breaches. */
  count: number;
  checkedAt: string | null;
}

// ── Schemas of the answers above (shared/api/endpoints.ts names them; the PWA parses with them) ──

const isoTime = z.iso.datetime();

export const BanInfoSchema = z.object({
  id: z.number().int(),
  scope: z.enum(BAN_SCOPES),
  address: z.string().nullable(),
  user: z.string().nullable(),
  reason: z.string(),
  strikes: z.number().int(),
  failures: z.number().int(),
  createdAt: isoTime,
  expiresAt: isoTime.nullable(),
}) satisfies z.ZodType<BanInfo>;

export const BansResponseSchema = z.object({ items: z.array(BanInfoSchema) }) satisfies z.ZodType<BansResponse>;
export const LiftAllResponseSchema = z.object({ lifted: z.number().int() }) satisfies z.ZodType<LiftAllResponse>;

export const AllowedIPsSchema = z.object({
  userId: z.string(),
  cidrs: z.array(z.string()),
  updatedAt: isoTime.nullable(),
  updatedBy: z.string().nullable(),
}) satisfies z.ZodType<AllowedIPs>;

export const AuditItemSchema = z.object({
  id: z.number().int(),
  time: isoTime,
  at: z.number(),
  type: z.string(),
  outcome: z.string(),
  userId: z.string().nullable(),
  userName: z.string().nullable(),
  ip: z.string().nullable(),
  deviceId: z.string().nullable(),
  deviceName: z.string().nullable(),
  client: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()).nullable(),
}) satisfies z.ZodType<AuditItem>;

export const AuditLogResponseSchema = z.object({
  items: z.array(AuditItemSchema),
  total: z.number().int(),
  offset: z.number().int(),
  limit: z.number().int(),
}) satisfies z.ZodType<AuditLogResponse>;

export const AuditVerifyResponseSchema = z.object({
  ok: z.boolean(),
  rows: z.number().int(),
  firstId: z.number().int().nullable(),
  lastId: z.number().int().nullable(),
  problems: z.array(
    z.object({ id: z.number().int().nullable(), problem: z.enum(['seal', 'anchor', 'gap', 'link', 'edited', 'head']), message: z.string() }),
  ),
}) satisfies z.ZodType<AuditVerifyResponse>;

export const PasswordCheckResponseSchema = z.object({
  result: z.enum(['clean', 'breached', 'unavailable']).nullable(),
  count: z.number().int(),
  checkedAt: isoTime.nullable(),
}) satisfies z.ZodType<PasswordCheckResponse>;

/** The filters Me/AuditLog accepts: a user's own events, by type and time (no user or address filter). */
export const MyAuditQuerySchema = AuditQuerySchema.pick({ type: true, limit: true, offset: true, from: true, to: true }).strict();
