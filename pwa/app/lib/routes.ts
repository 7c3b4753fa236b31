/**
 * The Authenticator's pages and their URLs: typed builders, used by the pages, the router and the
 * service worker (no DOM here). Routes live in the URL's fragment (`…/app/#/approve/ID`) so that every
 * page is the one precached document: no server route per page, relative asset URLs keep working under
 * any BaseUrl, and the offline shell serves all of them.
 */
export type Route =
  | { page: 'home' }
  | { page: 'signin' }
  | { page: 'enroll' }
  | { page: 'approvals' }
  | { page: 'approve'; id: string }
  /** Sign in a TV: a Quick Connect or PairDevice code (shared/api/pairing.ts pairPageUrl: `#/pair?code=`). */
  | { page: 'pair'; code: string | null }
  | { page: 'security' }
  | { page: 'devices' }
  | { page: 'activity' }
  | { page: 'admin'; tab: AdminTab };

/** The Admin area's tabs; `settings` is the settings console (#/admin/settings). */
export const ADMIN_TABS = ['users', 'bans', 'audit', 'settings'] as const;
export type AdminTab = (typeof ADMIN_TABS)[number];

/** An approval id as the server makes them (128 random bits, base64url: shared/api/approvals.ts ApprovalIdSchema). */
const APPROVAL_ID = /^[A-Za-z0-9_-]{22}$/;

export function isApprovalId(s: string): boolean {
  return APPROVAL_ID.test(s);
}

/** The fragment of a route, starting with "#/". */
export function hrefOf(r: Route): string {
  switch (r.page) {
    case 'home':
      return '#/';
    case 'approve':
      return `#/approve/${encodeURIComponent(r.id)}`;
    case 'pair':
      return r.code ? `#/pair?code=${encodeURIComponent(r.code)}` : '#/pair';
    case 'admin':
      return `#/admin/${r.tab}`;
    default:
      return `#/${r.page}`;
  }
}

/** The route of a fragment; unknown fragments are the home page. */
export function parseHash(hash: string): Route {
  const [path, query] = hash.replace(/^#\/?/, '').split('?') as [string, string | undefined];
  const parts = path.split('/').filter(Boolean);
  const [head, arg] = parts;
  switch (head) {
    case undefined:
      return { page: 'home' };
    case 'signin':
    case 'enroll':
    case 'approvals':
    case 'security':
    case 'devices':
    case 'activity':
      return { page: head };
    case 'approve': {
      const id = arg ? safeDecode(arg) : undefined;
      return id && isApprovalId(id) ? { page: 'approve', id } : { page: 'approvals' };
    }
    case 'pair': {
      const code = new URLSearchParams(query ?? '').get('code');
      return { page: 'pair', code: code && /^[A-Za-z0-9 -]{1,32}$/.test(code) ? code : null };
    }
    case 'admin':
      return { page: 'admin', tab: (ADMIN_TABS as readonly string[]).includes(arg ?? '') ? (arg as AdminTab) : 'users' };
    default:
      return { page: 'home' };
  }
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/** The absolute URL of an approval's page, from the app's scope (`…/JellyfinSecurity/app/`). */
export function approvalPageUrl(scope: string, approvalId: string): string {
  return new URL(hrefOf({ page: 'approve', id: approvalId }), scope).href;
}

/**
 * Whether `url` is a page of this app: same origin and inside the scope. The service worker opens only
 * such URLs from a notification, whatever a payload says.
 */
export function isInScope(url: string, scope: string): boolean {
  try {
    const u = new URL(url, scope);
    const s = new URL(scope);
    return u.origin === s.origin && u.pathname.startsWith(s.pathname);
  } catch {
    return false;
  }
}
