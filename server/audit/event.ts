import type { AuditEventType, AuditOutcome } from '../../shared/audit-events.ts';

/** One security event (DESIGN: Audit). `detail` never holds a secret. */
export interface AuditEvent {
  type: AuditEventType;
  outcome: AuditOutcome;
  userId?: string | null;
  userName?: string | null;
  ip?: string | null;
  deviceId?: string | null;
  deviceName?: string | null;
  client?: string | null;
  detail?: Record<string, unknown>;
}

/**
 * Where events go. Recording never blocks nor fails the request that caused it: implementations queue
 * and write in the background.
 */
export interface AuditSink {
  record(event: AuditEvent): void;
}

/** A sink that drops everything (for parts built without a store, e.g. unit tests of other concerns). */
export const nullAuditSink: AuditSink = { record: () => {} };
