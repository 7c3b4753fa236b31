import type { Generated } from 'kysely';
/** Table types for Kysely. One interface per table; concerns import only the tables they use. */
export interface UsersTable {
  id: string;
  name: string;
  is_admin: number;
  updated_at: number;
}

export type TokenState = 'verified' | 'pending';

export interface TokensTable {
  token_hash: string;
  state: TokenState;
  user_id: string;
  device_id: string | null;
  device_name: string | null;
  client: string | null;
  app_version: string | null;
  ip: string | null;
  method: string;
  created_at: number;
  last_seen_at: number;
}

export interface QuickConnectTable {
  secret_hash: string;
  code: string;
  device_id: string | null;
  device_name: string | null;
  app_name: string | null;
  app_version: string | null;
  ip: string | null;
  created_at: number;
  expires_at: number;
  authorized_user_id: string | null;
  authorized_at: number | null;
}

export interface Database {
  users: UsersTable;
  tokens: TokensTable;
  quick_connect: QuickConnectTable;
  // second factors and the login challenge (migration 002_factors)
  factor_totp: FactorTotpTable;
  factor_recovery_codes: FactorRecoveryCodesTable;
  factor_passkeys: FactorPasskeysTable;
  webauthn_ceremonies: WebauthnCeremoniesTable;
  factor_email: FactorEmailTable;
  email_codes: EmailCodesTable;
  email_sends: EmailSendsTable;
  trusted_browsers: TrustedBrowsersTable;
  login_challenges: LoginChallengesTable;
  factor_user_settings: FactorUserSettingsTable;
  factor_user_failures: FactorUserFailuresTable;
  // the guard and the audit log (migration 003_guard_audit)
  bans: BansTable;
  known_devices: KnownDevicesTable;
  known_networks: KnownNetworksTable;
  login_places: LoginPlacesTable;
  allowed_ips: AllowedIpsTable;
  password_checks: PasswordChecksTable;
  audit_log: AuditLogTable;
  audit_chain: AuditChainTable;
  // push approval (migration 004_approvals)
  push_vapid: PushVapidTable;
  phones: PhonesTable;
  approvals: ApprovalsTable;
  approval_holds: ApprovalHoldsTable;
  // TV pairing and step-up (migration 005_pairing)
  stepup_grants: StepUpGrantsTable;
  pairings: PairingsTable;
  paired_devices: PairedDevicesTable;
  pairing_approvals: PairingApprovalsTable;
  // Changes to second factors and who made them (migration 006_factor_changes)
  factor_changes: FactorChangesTable;
  // OIDC single sign-on (migration 007_sso)
  sso_links: SsoLinksTable;
  sso_spent_states: SsoSpentStatesTable;
}

// ── Second factors and the login challenge (migration 002_factors) ──────────────────────────────────

export interface FactorTotpTable {
  user_id: string;
  secret_enc: string | null;
  confirmed_at: number | null;
  pending_secret_enc: string | null;
  pending_created_at: number | null;
  last_step: number | null;
  updated_at: number;
}

export interface FactorRecoveryCodesTable {
  id: Generated<number>;
  user_id: string;
  code_hash: string;
  created_at: number;
  used_at: number | null;
}

export interface FactorPasskeysTable {
  credential_id: string;
  user_id: string;
  public_key: string;
  counter: number;
  transports: string;
  name: string;
  rp_id: string;
  aaguid: string | null;
  device_type: string | null;
  backed_up: number;
  created_at: number;
  last_used_at: number | null;
}

export interface WebauthnCeremoniesTable {
  id: string;
  kind: 'registration' | 'authentication';
  user_id: string;
  challenge: string;
  login_challenge_id: string | null;
  rp_id: string;
  origin: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

export interface FactorEmailTable {
  user_id: string;
  email: string;
  set_by: 'self' | 'admin';
  confirmed_at: number;
}

export interface EmailCodesTable {
  id: Generated<number>;
  user_id: string;
  purpose: 'login' | 'confirm';
  code_hash: string;
  email: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

export interface EmailSendsTable {
  id: Generated<number>;
  user_id: string | null;
  email: string | null;
  ip: string;
  at: number;
}

export interface TrustedBrowsersTable {
  id: string;
  user_id: string;
  device_id: string;
  label: string;
  ip_prefix: string;
  created_at: number;
  expires_at: number;
  last_used_at: number | null;
}

export type LoginChallengeState = 'pending' | 'satisfied' | 'verified' | 'failed' | 'expired' | 'superseded';

export interface LoginChallengesTable {
  id: string;
  user_id: string;
  user_name: string;
  is_admin: number;
  token_hash: string;
  result_enc: string | null;
  content_type: string | null;
  methods: string;
  device_id: string | null;
  device_name: string | null;
  client: string | null;
  ip: string;
  attempts: number;
  state: LoginChallengeState;
  method: string | null;
  created_at: number;
  expires_at: number;
  ended_at: number | null;
  revoked_at: number | null;
}

export interface FactorUserSettingsTable {
  user_id: string;
  require_second_factor: number | null;
  updated_at: number;
}

export interface FactorUserFailuresTable {
  user_id: string;
  failures: number;
  window_start: number;
  locked_until: number | null;
}

// ---- the guard and the audit log (migration 003_guard_audit) ----

export type BanScope = 'address' | 'user' | 'user_address';

export interface BansTable {
  id: Generated<number>;
  scope: BanScope;
  subject: string;
  address: string | null;
  user_name: string | null;
  reason: string;
  strikes: number;
  failures: number;
  created_at: number;
  /** null: permanent, until an admin lifts it. */
  expires_at: number | null;
}

export interface KnownDevicesTable {
  user_id: string;
  device_hash: string;
  user_name: string;
  device_name: string | null;
  client: string | null;
  first_seen_at: number;
  last_seen_at: number;
  last_ip: string | null;
}

export interface KnownNetworksTable {
  user_id: string;
  network: string;
  first_seen_at: number;
  last_seen_at: number;
}

export interface LoginPlacesTable {
  user_id: string;
  ip: string;
  latitude: number;
  longitude: number;
  accuracy_km: number;
  city: string | null;
  country: string | null;
  at: number;
}

export interface AllowedIpsTable {
  user_id: string;
  cidrs: string;
  updated_at: number;
  updated_by: string | null;
}

export interface PasswordChecksTable {
  user_id: string;
  result: 'clean' | 'breached' | 'unavailable';
  count: number;
  checked_at: number;
}

export interface AuditLogTable {
  id: number;
  at: number;
  type: string;
  outcome: string;
  user_id: string | null;
  user_name: string | null;
  ip: string | null;
  device_id: string | null;
  device_name: string | null;
  client: string | null;
  detail: string | null;
  prev_mac: string;
  mac: string;
}

export interface AuditChainTable {
  id: number;
  head_id: number;
  head_mac: string;
  anchor_id: number;
  anchor_mac: string;
  seal: string;
}

// ---- TV pairing and step-up (migration 005_pairing) ----

export type StepUpGrantState = 'pending' | 'granted' | 'used' | 'denied' | 'expired';

export interface StepUpGrantsTable {
  id: string;
  secret_hash: string;
  token_hash: string;
  user_id: string;
  action: string;
  target: string | null;
  method: string;
  state: StepUpGrantState;
  approval_id: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

export type PairingStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'collected';

export interface PairingsTable {
  id: string;
  code_hash: string;
  device_id: string;
  device_name: string;
  client: string | null;
  app_version: string | null;
  ip: string;
  status: PairingStatus;
  user_id: string | null;
  decided_by: string | null;
  decided_via: 'admin' | 'phone' | null;
  device_token_enc: string | null;
  paired_device_id: string | null;
  created_at: number;
  expires_at: number;
  decided_at: number | null;
  collected_at: number | null;
}

export interface PairedDevicesTable {
  id: string;
  user_id: string;
  device_id: string;
  device_name: string;
  token_hash: string;
  pairing_id: string | null;
  approved_by: string;
  approved_via: 'admin' | 'phone';
  created_at: number;
  last_used_at: number | null;
  last_ip: string | null;
}

export type PairingApprovalPurpose = 'quickconnect' | 'pairdevice' | 'stepup';

export interface PairingApprovalsTable {
  approval_id: string;
  purpose: PairingApprovalPurpose;
  ref: string;
  user_id: string;
  token_hash: string;
  state: 'pending' | 'done' | 'failed';
  outcome: string | null;
  created_at: number;
  expires_at: number;
}

// ---- push approval (migration 004_approvals) ----

export interface PushVapidTable {
  id: number;
  public_key: string;
  private_key_enc: string;
  created_at: number;
}

export interface PhonesTable {
  id: string;
  user_id: string;
  name: string;
  credential_id: string;
  subscription_enc: string | null;
  endpoint_hash: string | null;
  push_service: string | null;
  created_at: number;
  last_seen_at: number | null;
  subscribed_at: number | null;
  /** The DeviceId of the Authenticator that enrolled it (migration 006); null for phones enrolled before. */
  device_id: string | null;
}

export type ApprovalKindColumn = 'login' | 'pairing' | 'stepup' | 'newdevice' | 'change' | 'signin';
export type ApprovalStatusColumn = 'pending' | 'approved' | 'denied' | 'reported' | 'expired';

export interface ApprovalsTable {
  id: string;
  kind: ApprovalKindColumn;
  user_id: string;
  user_name: string;
  status: ApprovalStatusColumn;
  reason: string | null;
  mode: 'hold' | 'poll' | 'none';
  client: string | null;
  device_name: string | null;
  device_id: string | null;
  ip: string;
  address_key: string;
  place: string | null;
  action: string | null;
  number: string | null;
  choices: string | null;
  nonce: string;
  canonical: string;
  challenge: string;
  login_challenge_id: string | null;
  failures: Generated<number>;
  created_at: number;
  expires_at: number;
  decided_at: number | null;
  decided_ip: string | null;
  credential_id: string | null;
  retry_until: number | null;
  used_at: number | null;
  pushed_at: number | null;
  push_skipped: string | null;
}

export interface ApprovalHoldsTable {
  user_id: string;
  held_at: number | null;
  lifted_at: number | null;
  reports: number;
}

// ── Changes to second factors (migration 006_factor_changes) ─────────────────────────────────────────

export interface FactorChangesTable {
  id: string;
  user_id: string;
  change: string;
  ref: string | null;
  token_hash: string;
  device_id: string | null;
  device_name: string | null;
  client: string | null;
  ip: string;
  proof: string;
  previous: string | null;
  approval_id: string | null;
  created_at: number;
  undone_at: number | null;
}

// ── OIDC single sign-on (migration 007_sso) ─────────────────────────────────────────────────────────

export interface SsoLinksTable {
  issuer: string;
  subject: string;
  user_id: string;
  provider_id: string;
  linked_by: 'name' | 'email' | 'created';
  created_at: number;
  last_login_at: number | null;
}

export interface SsoSpentStatesTable {
  state_hash: string;
  expires_at: number;
}
