/** The admin console's calls (shared/api/factors.ts "Admin", shared/api/guard.ts). */
import { z } from 'zod';
import { AdminUserSchema, type AdminUser } from '../../../shared/api/factors.ts';
import type { AuditLogResponse, BansResponse, LiftAllResponse } from '../../../shared/api/guard.ts';
import { del, get, post } from './api.ts';

export type { AdminUser };

export const listUsers = () => get('Users', { schema: z.array(AdminUserSchema) });
/** Reset every second factor of a user (they enrol again at their next sign-in). */
export const resetFactors = (userId: string) => post(`Users/${encodeURIComponent(userId)}/ResetTOTP`, {}, { schema: AdminUserSchema });

export const listBans = () => get('Bans') as Promise<BansResponse>;
export const liftBan = (id: number) => del(`Bans/${id}`);
export const liftAllBans = () => del('Bans') as Promise<LiftAllResponse>;

export interface AuditFilter {
  type?: string;
  user?: string;
  outcome?: 'success' | 'failure' | 'refused' | 'info';
  limit?: number;
  offset?: number;
}

export const auditLog = (f: AuditFilter = {}) =>
  get('AuditLog', { query: { type: f.type, user: f.user, outcome: f.outcome, limit: f.limit ?? 50, offset: f.offset ?? 0 } }) as Promise<AuditLogResponse>;
