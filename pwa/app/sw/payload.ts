/**
 * The push payload (shared/api/approvals.ts `PushPayload`), read defensively: the worker stays small
 * (no schema library in it), and anything malformed or of an unknown type is shown plainly, never
 * trusted. The type is the server's own, so a change there fails the type check here.
 */
import type { PushPayload } from '../../../shared/api/approvals.ts';

const ID = /^[A-Za-z0-9_-]{22}$/;
const KINDS = ['login', 'pairing', 'stepup', 'newdevice', 'signin'] as const;

const str = (v: unknown, max = 500): string | undefined => (typeof v === 'string' && v.length <= max ? v : undefined);

/** The payload, or undefined when it is not one this version understands. */
export function parsePushPayload(raw: unknown): PushPayload | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const o = raw as Record<string, unknown>;
  const title = str(o.title, 200);
  const body = str(o.body);
  const tag = str(o.tag, 100);
  if (o.v !== 1 || title === undefined || body === undefined || tag === undefined) return undefined;
  if (o.type === 'approval') {
    const approvalId = str(o.approvalId, 22);
    const kind = KINDS.find((k) => k === o.kind);
    if (!approvalId || !ID.test(approvalId) || !kind || typeof o.expiresAt !== 'number') return undefined;
    return { v: 1, type: 'approval', approvalId, kind, title, body, tag, expiresAt: o.expiresAt };
  }
  if (o.type === 'notice') {
    const kind = str(o.kind, 64);
    if (kind === undefined) return undefined;
    return { v: 1, type: 'notice', kind, title, body, tag };
  }
  return undefined;
}
