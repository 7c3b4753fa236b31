import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { ManualClock } from '../../server/clock.ts';
import { openStore } from '../../server/store/index.ts';
import { parseConfig } from '../../server/config/index.ts';
import type { ConfigInput } from '../../server/config/schema.ts';
import { silentLogger } from '../../server/log.ts';
import { tempDir } from '../helpers/gateway.ts';
import { Factors, noFailureRecorder } from '../../server/factors/index.ts';
import { totpCodeAt } from '../../server/factors/totp.ts';

const USER = 'a'.repeat(32);
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function factorsWith(config: Partial<ConfigInput>, dir = tempDir()) {
  const store = await openStore(dir);
  cleanups.push(() => store.close());
  const clock = new ManualClock();
  const keys = { encryptionKey: Buffer.alloc(32, 1), hmacKey: Buffer.alloc(32, 2) };
  const factors = new Factors({
    db: store.db,
    clock,
    keys,
    config: parseConfig({ ...config }),
    log: silentLogger,
    audit: { record: () => {} },
    failures: () => noFailureRecorder,
  });
  return { factors, clock, dir };
}

async function enrollTotp(f: Factors, clock: ManualClock) {
  const e = await f.totp.beginEnrollment(USER, 'alice');
  expect(await f.totp.confirmEnrollment(USER, await totpCodeAt(e.secret, clock.now()))).toBe(true);
}

describe('who needs a second factor', () => {
  it('follows EnforcementScope, overridden per user by the admin', async () => {
    for (const [scope, admin, expected] of [
      ['Optional', true, false],
      ['Admins', false, false],
      ['Admins', true, true],
      ['All', false, true],
    ] as const) {
      const { factors } = await factorsWith({ EnforcementScope: scope });
      expect((await factors.requirement(USER, admin)).required, `${scope} admin=${admin}`).toBe(expected);
    }
    const { factors } = await factorsWith({ EnforcementScope: 'All' });
    await factors.setSetting(USER, false); // exempt
    expect((await factors.requirement(USER, false)).required).toBe(false);
    await factors.setSetting(USER, true);
    const { factors: optional } = await factorsWith({ EnforcementScope: 'Optional' });
    await optional.setSetting(USER, true);
    expect(await optional.requirement(USER, false)).toEqual({ required: true, hasFactor: false, setting: true });
  });

  it('a user with a factor always needs it, even when exempt', async () => {
    const { factors, clock } = await factorsWith({});
    await enrollTotp(factors, clock);
    await factors.setSetting(USER, false);
    expect((await factors.requirement(USER, false)).required).toBe(true);
    expect(Factors.methods(await factors.summary(USER))).toEqual(['totp']);
  });

  it('turning TOTP off does not turn its users’ protection off (fail closed)', async () => {
    const on = await factorsWith({});
    await enrollTotp(on.factors, on.clock);
    await on.factors.recovery.generate(USER);
    const off = await factorsWith({ TOTPEnabled: false }, on.dir);
    const s = await off.factors.summary(USER);
    expect(s.totp).toBe(false);
    expect((await off.factors.requirement(USER, false)).required).toBe(true);
    expect(Factors.methods(s)).toEqual(['recovery']); // the backup still works
    expect(off.factors.enrollMethods()).toEqual(['passkey']);
  });

  it('an e-mail address is a factor only while e-mail codes are on', async () => {
    const off = await factorsWith({});
    await off.factors.email.setAddress(USER, 'a@example.test', 'admin');
    expect((await off.factors.requirement(USER, false)).required).toBe(false);
    const on = await factorsWith({ EmailOTPEnabled: true, SMTP: { Host: '127.0.0.1', From: 'x@example.test' } }, off.dir);
    expect((await on.factors.requirement(USER, false)).required).toBe(true);
    expect(Factors.methods(await on.factors.summary(USER))).toEqual(['email']);
  });

  it('recovery codes alone are not a factor, and go when the last factor goes', async () => {
    const { factors, clock } = await factorsWith({});
    await enrollTotp(factors, clock);
    await factors.recovery.generate(USER);
    expect(Factors.methods(await factors.summary(USER))).toEqual(['totp', 'recovery']);
    await factors.totp.remove(USER);
    await factors.afterPrimaryRemoved(USER);
    expect(await factors.recovery.remaining(USER)).toBe(0);
    expect((await factors.requirement(USER, false)).required).toBe(false);
  });

  it('an admin reset removes every factor and trusted browser', async () => {
    const { factors, clock } = await factorsWith({});
    await enrollTotp(factors, clock);
    await factors.recovery.generate(USER);
    await factors.trustedBrowsers.issue(USER, { deviceId: 'd', userAgent: 'ua', ip: '10.0.0.1' }, undefined);
    await factors.resetAll(USER);
    expect(await factors.summary(USER)).toEqual({ userId: USER, totp: false, passkeys: 0, email: null, recoveryCodes: 0, enrolled: false });
    expect(await factors.trustedBrowsers.count(USER)).toBe(0);
  });
});

describe('configuration', () => {
  it('has the seed plugin’s keys with safe defaults', () => {
    const c = parseConfig({});
    expect(c).toMatchObject({
      TOTPEnabled: true,
      PasskeysEnabled: true,
      EmailOTPEnabled: false,
      RecoveryCodesEnabled: true,
      TOTPTimeSkew: 1,
      EnforcementScope: 'Optional',
      AllowTOTPInPassword: false,
      TrustedDeviceDays: 90,
      TrustedDeviceIPv4Prefix: 24,
      TrustedDeviceIPv6Prefix: 64,
      ChallengeSeconds: 300,
      ShowBuiltIn2FAButton: true,
      ShowBuiltInPasskeyButton: true,
    });
    expect(() => parseConfig({ EnforcementScope: 'Everyone' })).toThrow(/EnforcementScope/);
    expect(() => parseConfig({ TOTPTimeSkew: 11 })).toThrow(/TOTPTimeSkew/);
    expect(() => parseConfig({ SMTP: { Host: 'x' } })).toThrow(/SMTP\.From/);
    expect(parseConfig({ SMTP: { Host: 'mail', From: 'a@b.c' } }).SMTP).toEqual({ Host: 'mail', Port: 587, Secure: false, From: 'a@b.c' });
  });
});
