import type { ENDPOINTS } from '../../shared/api/endpoints.ts';
import type { AdminUser } from '../../shared/api/factors.ts';
import type { Config } from '../config/index.ts';
import type { GatewayContext } from '../context.ts';
import { apiError } from '../errors.ts';
import type { Factors } from '../factors/index.ts';
import { isEmailAddress } from '../factors/email.ts';
import type { UserDirectory } from '../gate/users.ts';
import type { Notifiers } from '../guard/notifier.ts';
import { canonicalGuid, field, stringField, tryParseJson } from '../jellyfin/json.ts';
import type { JellyfinProxy } from '../jellyfin/proxy.ts';
import { mediaBrowserHeader, type JellyfinClient } from '../jellyfin/upstream.ts';
import { noStore } from './http.ts';
import type { ParamRule, RouteContext } from './route.ts';

type Ctx<K extends keyof typeof ENDPOINTS> = RouteContext<(typeof ENDPOINTS)[K]>;

export interface AdminUserDeps {
  config: Pick<Config, 'BaseUrl' | 'JellyfinApiKey'>;
  proxy: JellyfinProxy;
  jellyfin: JellyfinClient;
  users: UserDirectory;
  factors: Factors;
  /** Where the owner of a changed account is told (their phones, their e-mail). */
  notifiers: Pick<Notifiers, 'notifyUser'>;
}

/**
 * The admin endpoints for second factors: `GET /Users`, `GET/PUT /Users/{id}`,
 * `POST /Users/{id}/ResetTOTP`. The caller's Jellyfin token in any credential form; 401 without a
 * verified token, 403 for a user whose Jellyfin policy is not IsAdministrator (asked of Jellyfin at
 * once when the gateway has an API key): the route table's ADMIN guard. Every change is audited.
 *
 * "Every user": the users Jellyfin lists (with the gateway's API key), plus any the gateway has seen
 * log in or holds factors for (so the list still works without an API key).
 */
interface Person {
  id: string;
  name: string;
  isAdmin: boolean;
}

async function jellyfinUsers(d: AdminUserDeps): Promise<Person[]> {
  const key = d.config.JellyfinApiKey;
  if (!key) return [];
  try {
    const res = await d.proxy.request({
      method: 'GET',
      path: `${d.config.BaseUrl}/Users`,
      headers: { authorization: mediaBrowserHeader(key), accept: 'application/json' },
      maxResponseBytes: 8 * 1024 * 1024,
      timeoutMs: 10_000,
    });
    if (res.status !== 200) return [];
    const list = tryParseJson(res.body.toString('utf8'));
    if (!Array.isArray(list)) return [];
    return list.flatMap((u) => {
      const id = canonicalGuid(stringField(u, 'Id'));
      return id ? [{ id, name: stringField(u, 'Name') ?? id, isAdmin: field(field(u, 'Policy'), 'IsAdministrator') === true }] : [];
    });
  } catch {
    return [];
  }
}

async function person(d: AdminUserDeps, id: string): Promise<Person | undefined> {
  const fresh = await d.jellyfin.getUser(id).catch(() => undefined);
  if (fresh !== undefined) {
    return { id, name: stringField(fresh, 'Name') ?? id, isAdmin: field(field(fresh, 'Policy'), 'IsAdministrator') === true };
  }
  const known = await d.users.get(id);
  if (known) return known;
  if ((await d.factors.usersWithFactors()).includes(id)) return { id, name: id, isAdmin: false };
  return undefined;
}

export async function presentAdminUser(factors: Factors, p: Person): Promise<AdminUser> {
  const summary = await factors.summary(p.id);
  const requirement = await factors.requirement(p.id, p.isAdmin, summary);
  return {
    id: p.id,
    name: p.name,
    isAdmin: p.isAdmin,
    requireSecondFactor: requirement.setting,
    secondFactorRequired: requirement.required,
    factors: { totp: summary.totp, passkeys: summary.passkeys, email: summary.email, recoveryCodesRemaining: summary.recoveryCodes },
    trustedBrowsers: await factors.trustedBrowsers.count(p.id),
  };
}

/** A user id in a path: Jellyfin's GUID in any spelling, canonical for the handler. */
export const userIdParam: ParamRule = (raw) => {
  const id = canonicalGuid(raw);
  if (!id) throw apiError('invalid_user_id');
  return id;
};

export function adminUserHandlers(d: AdminUserDeps) {
  const { factors, users } = d;
  const audit = (ctx: GatewayContext, type: 'factor.reset' | 'factor.settings.changed' | 'factor.email.confirmed' | 'factor.email.removed', target: Person, detail?: Record<string, unknown>) =>
    factors.audit({
      type,
      outcome: 'success',
      userId: target.id,
      userName: target.name,
      ip: ctx.state.client.ip,
      detail: { by: ctx.state.session?.userId, ...detail },
    });

  /**
   * The owner hears of an administrator's change to their factors too (their phones, and the address
   * that was theirs before it): an admin's stolen session must not change someone's keys unnoticed.
   */
  const tellOwner = async (ctx: GatewayContext, target: Person, what: string, to?: string) => {
    const by = (await users.get(ctx.state.session!.userId))?.name ?? 'an administrator';
    d.notifiers.notifyUser(target.id, {
      kind: 'factor_change',
      title: `Jellyfin: the sign-in keys of ${target.name} changed`,
      text: `${what} by the administrator ${by} (address ${ctx.state.client.ip}). If you did not ask for this, tell your administrator.\n`,
      // E-mail goes to the address the user had before; with none, the phones alone are told.
      ...(to ? { to } : { channels: ['push'] }),
    });
  };

  const target = async (id: string) => {
    const t = await person(d, id);
    if (!t) throw apiError('unknown_user');
    return t;
  };

  return {
    async list(ctx: Ctx<'Users'>) {
      const people = new Map<string, Person>();
      for (const u of await users.all()) people.set(u.id, u);
      for (const u of await jellyfinUsers(d)) people.set(u.id, u); // Jellyfin's view wins
      for (const id of await factors.usersWithFactors()) if (!people.has(id)) people.set(id, { id, name: id, isAdmin: false });
      const list = await Promise.all([...people.values()].map((p) => presentAdminUser(factors, p)));
      list.sort((a, b) => a.name.localeCompare(b.name));
      noStore(ctx);
      ctx.body = list;
    },

    async get(ctx: Ctx<'User'>) {
      const t = await target(ctx.params.id);
      noStore(ctx);
      ctx.body = await presentAdminUser(factors, t);
    },

    async update(ctx: Ctx<'UserUpdate'>) {
      const id = ctx.params.id;
      const input = ctx.input;
      const t = await target(id);
      if (input.email && !isEmailAddress(input.email)) throw apiError('invalid_request', 'email: must be an e-mail address');
      if (input.email !== undefined && !factors.email.enabled && input.email !== null) throw apiError('method_unavailable', 'E-mail codes are turned off.');
      if (input.requireSecondFactor !== undefined) {
        await factors.setSetting(id, input.requireSecondFactor);
        audit(ctx, 'factor.settings.changed', t, { requireSecondFactor: input.requireSecondFactor });
      }
      if (input.email !== undefined) {
        const previous = (await factors.email.address(id))?.email;
        if (input.email === null) {
          await factors.email.removeAddress(id);
          await factors.afterPrimaryRemoved(id);
          audit(ctx, 'factor.email.removed', t);
          if (previous) await tellOwner(ctx, t, 'Your e-mail address was removed', previous);
        } else {
          await factors.email.setAddress(id, input.email, 'admin');
          audit(ctx, 'factor.email.confirmed', t, { setBy: 'admin' });
          if (previous !== input.email) await tellOwner(ctx, t, `Your e-mail address was changed to ${input.email}`, previous);
        }
      }
      noStore(ctx);
      ctx.body = await presentAdminUser(factors, t);
    },

    /** Reset every second factor (and trusted browser) of a user; they sign in with the password and enroll again. */
    async reset(ctx: Ctx<'UserResetTOTP'>) {
      const id = ctx.params.id;
      const t = await target(id);
      const before = await presentAdminUser(factors, t);
      const address = (await factors.email.address(id))?.email;
      await factors.resetAll(id);
      await tellOwner(ctx, t, 'All your second factors (authenticator app, passkeys, phones, e-mail codes, recovery codes) were reset', address);
      audit(ctx, 'factor.reset', t, { had: before.factors, trustedBrowsers: before.trustedBrowsers });
      noStore(ctx);
      ctx.body = await presentAdminUser(factors, t);
    },
  };
}
