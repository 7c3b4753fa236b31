import type Router from '@koa/router';
import type { GatewayContext, GatewayState } from '../context.ts';
import { HttpError } from '../errors.ts';
import type { Services } from '../services.ts';
import { requireAdmin } from './auth.ts';
import { canonicalGuid, field, stringField, tryParseJson } from '../jellyfin/json.ts';
import { mediaBrowserHeader } from '../jellyfin/upstream.ts';
import { noStore, readJson } from './factors.ts';
import { isEmailAddress } from '../factors/email.ts';
import { AdminUserUpdateSchema, type AdminUser } from '../../shared/api/factors.ts';

/**
 * The seed's admin endpoints for second factors: `GET /Users`, `GET/PUT /Users/{id}`,
 * `POST /Users/{id}/ResetTOTP`. The caller's Jellyfin token in any credential form; 401 without a
 * verified token, 403 for a user whose Jellyfin policy is not IsAdministrator (asked of Jellyfin at
 * once when the gateway has an API key). Every change is audited.
 *
 * "Every user": the users Jellyfin lists (with the gateway's API key), plus any the gateway has seen
 * log in or holds factors for (so the list still works without an API key).
 */
interface Person {
  id: string;
  name: string;
  isAdmin: boolean;
}

async function jellyfinUsers(services: Services): Promise<Person[]> {
  const key = services.config.JellyfinApiKey;
  if (!key) return [];
  try {
    const res = await services.proxy.request({
      method: 'GET',
      path: `${services.config.BaseUrl}/Users`,
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

async function usersWithFactors(services: Services): Promise<string[]> {
  const db = services.store.db;
  const ids = new Set<string>();
  for (const r of await db.selectFrom('factor_totp').select('user_id').execute()) ids.add(r.user_id);
  for (const r of await db.selectFrom('factor_passkeys').select('user_id').execute()) ids.add(r.user_id);
  for (const r of await db.selectFrom('factor_email').select('user_id').execute()) ids.add(r.user_id);
  for (const r of await db.selectFrom('factor_user_settings').select('user_id').execute()) ids.add(r.user_id);
  return [...ids];
}

async function person(services: Services, id: string): Promise<Person | undefined> {
  const fresh = await services.jellyfin.getUser(id).catch(() => undefined);
  if (fresh !== undefined) {
    return { id, name: stringField(fresh, 'Name') ?? id, isAdmin: field(field(fresh, 'Policy'), 'IsAdministrator') === true };
  }
  const known = await services.users.get(id);
  if (known) return known;
  if ((await usersWithFactors(services)).includes(id)) return { id, name: id, isAdmin: false };
  return undefined;
}

export async function presentAdminUser(services: Services, p: Person): Promise<AdminUser> {
  const { factors } = services;
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

function idParam(ctx: GatewayContext & { params: Record<string, string | undefined> }): string {
  const id = canonicalGuid(ctx.params.id);
  if (!id) throw new HttpError(400, 'invalid_user_id', 'A user id is 32 hexadecimal characters (dashes allowed).');
  return id;
}

export function mountAdminUserRoutes(router: Router<GatewayState>, services: Services): void {
  const admin = requireAdmin(services);
  const { factors } = services;
  const audit = (ctx: GatewayContext, type: 'factor.reset' | 'factor.settings.changed' | 'factor.email.confirmed' | 'factor.email.removed', target: Person, detail?: Record<string, unknown>) =>
    factors.audit({
      type,
      outcome: 'success',
      userId: target.id,
      userName: target.name,
      ip: ctx.state.client.ip,
      detail: { by: ctx.state.session?.userId, ...detail },
    });

  router.get('/Users', admin, async (ctx) => {
    const people = new Map<string, Person>();
    for (const u of await services.users.all()) people.set(u.id, u);
    for (const u of await jellyfinUsers(services)) people.set(u.id, u); // Jellyfin's view wins
    for (const id of await usersWithFactors(services)) if (!people.has(id)) people.set(id, { id, name: id, isAdmin: false });
    const list = await Promise.all([...people.values()].map((p) => presentAdminUser(services, p)));
    list.sort((a, b) => a.name.localeCompare(b.name));
    noStore(ctx);
    ctx.body = list;
  });

  router.get('/Users/:id', admin, async (ctx) => {
    const target = await person(services, idParam(ctx));
    if (!target) throw new HttpError(404, 'unknown_user', 'No such user.');
    noStore(ctx);
    ctx.body = await presentAdminUser(services, target);
  });

  /**
   * The owner hears of an administrator's change to their factors too (their phones, and the address
   * that was theirs before it): an admin's stolen session must not change someone's keys unnoticed.
   */
  const tellOwner = async (ctx: GatewayContext, target: Person, what: string, to?: string) => {
    const by = (await services.users.get(ctx.state.session!.userId))?.name ?? 'an administrator';
    services.guard.notifyUser(target.id, {
      kind: 'factor_change',
      title: `Jellyfin: the sign-in keys of ${target.name} changed`,
      text: `${what} by the administrator ${by} (address ${ctx.state.client.ip}). If you did not ask for this, tell your administrator.\n`,
      // E-mail goes to the address the user had before; with none, the phones alone are told.
      ...(to ? { to } : { channels: ['push'] }),
    });
  };

  router.put('/Users/:id', admin, async (ctx) => {
    const id = idParam(ctx);
    const input = await readJson(ctx, AdminUserUpdateSchema);
    const target = await person(services, id);
    if (!target) throw new HttpError(404, 'unknown_user', 'No such user.');
    if (input.email && !isEmailAddress(input.email)) throw new HttpError(400, 'invalid_request', 'email: must be an e-mail address');
    if (input.email !== undefined && !factors.email.enabled && input.email !== null) {
      throw new HttpError(400, 'method_unavailable', 'E-mail codes are turned off.');
    }
    if (input.requireSecondFactor !== undefined) {
      await factors.setSetting(id, input.requireSecondFactor);
      audit(ctx, 'factor.settings.changed', target, { requireSecondFactor: input.requireSecondFactor });
    }
    if (input.email !== undefined) {
      const previous = (await factors.email.address(id))?.email;
      if (input.email === null) {
        await factors.email.removeAddress(id);
        await factors.afterPrimaryRemoved(id);
        audit(ctx, 'factor.email.removed', target);
        if (previous) await tellOwner(ctx, target, 'Your e-mail address was removed', previous);
      } else {
        await factors.email.setAddress(id, input.email, 'admin');
        audit(ctx, 'factor.email.confirmed', target, { setBy: 'admin' });
        if (previous !== input.email) await tellOwner(ctx, target, `Your e-mail address was changed to ${input.email}`, previous);
      }
    }
    noStore(ctx);
    ctx.body = await presentAdminUser(services, target);
  });

  /** Reset every second factor (and trusted browser) of a user; they sign in with the password and enroll again. */
  router.post('/Users/:id/ResetTOTP', admin, async (ctx) => {
    const id = idParam(ctx);
    const target = await person(services, id);
    if (!target) throw new HttpError(404, 'unknown_user', 'No such user.');
    const before = await presentAdminUser(services, target);
    const address = (await factors.email.address(id))?.email;
    await factors.resetAll(id);
    await tellOwner(ctx, target, 'All your second factors (authenticator app, passkeys, phones, e-mail codes, recovery codes) were reset', address);
    audit(ctx, 'factor.reset', target, { had: before.factors, trustedBrowsers: before.trustedBrowsers });
    noStore(ctx);
    ctx.body = await presentAdminUser(services, target);
  });
}
