/** The admin console's calls (shared/api/factors.ts "Admin", shared/api/guard.ts). */
import { ENDPOINTS } from '../../../shared/api/endpoints.ts';
import type { AdminUser } from '../../../shared/api/factors.ts';
import { call } from './api.ts';

export type { AdminUser };

export const listUsers = () => call(ENDPOINTS.Users);
/** The changes below are step-up actions: `headers` carries the proof (lib/stepup.svelte.ts withStepUp). */
type Proof = Record<string, string>;

/** Reset every second factor of a user (they enrol again at their next sign-in). */
export const resetFactors = (userId: string, headers: Proof = {}) => call(ENDPOINTS.UserResetTOTP, { params: { id: userId }, headers });

export const listBans = () => call(ENDPOINTS.Bans);
export const liftBan = (id: number, headers: Proof = {}) => call(ENDPOINTS.BanLift, { params: { id: String(id) }, headers });
export const liftAllBans = (headers: Proof = {}) => call(ENDPOINTS.BansLiftAll, { headers });

export interface AuditFilter {
  type?: string;
  user?: string;
  outcome?: 'success' | 'failure' | 'refused' | 'info';
  limit?: number;
  offset?: number;
}

export const auditLog = (f: AuditFilter = {}) =>
  call(ENDPOINTS.AuditLog, { query: { type: f.type, user: f.user, outcome: f.outcome, limit: f.limit ?? 50, offset: f.offset ?? 0 } });
