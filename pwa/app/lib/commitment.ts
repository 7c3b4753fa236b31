/**
 * The approval page checks, before asking for a passkey, that what it shows is what the signature will
 * approve (shared/api/approvals.ts ApprovalView.commitment):
 *   challenge = base64url(SHA-256(base64url-decoded nonce ‖ UTF-8 id ‖ UTF-8 canonical))
 * and `canonical` is `{"asking":…,"kind":…,"userId":…,"userName":…,"v":1}` (keys sorted, no spaces) of
 * exactly the fields on screen. The passkey options' challenge must then be that same challenge.
 */
import type { ApprovalView } from '../../../shared/api/approvals.ts';
import { base64UrlToBytes, bytesToBase64Url } from './push-keys.ts';

/** JSON with object keys sorted at every level and no spaces. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

export async function challengeOf(nonce: string, id: string, canonical: string): Promise<string> {
  const enc = new TextEncoder();
  const n = base64UrlToBytes(nonce);
  const a = enc.encode(id);
  const c = enc.encode(canonical);
  const buf = new Uint8Array(n.length + a.length + c.length);
  buf.set(n, 0);
  buf.set(a, n.length);
  buf.set(c, n.length + a.length);
  return bytesToBase64Url(await crypto.subtle.digest('SHA-256', buf));
}

/** Whether the view's commitment binds exactly the fields the page shows. */
export async function commitmentHolds(view: ApprovalView): Promise<boolean> {
  const expected = canonicalJson({ asking: view.asking, kind: view.kind, userId: view.userId, userName: view.userName, v: 1 });
  if (expected !== view.commitment.canonical) return false;
  try {
    return (await challengeOf(view.commitment.nonce, view.id, view.commitment.canonical)) === view.commitment.challenge;
  } catch {
    return false;
  }
}
