import { describe, expect, it } from 'vitest';
import { parseConfig, ConfigError } from '../../server/config/index.ts';
import { parseAllowList, LanBypass } from '../../server/guard/network.ts';

describe('guard and audit settings', () => {
  it('have safe defaults', () => {
    const c = parseConfig({});
    expect(c).toMatchObject({
      BruteForceEnabled: true,
      MaxFailedAttempts: 5,
      FailureWindowSeconds: 900,
      LockoutDuration: 900,
      PermanentBanThreshold: 20,
      LANBypassEnabled: false,
      ImpossibleTravelEnabled: false,
      ImpossibleTravelAction: 'Block',
      BreachCheckEnabled: false,
      BreachCheckBlocks: false,
      BreachCheckUrl: 'https://api.pwnedpasswords.com',
      AdminEmailAlerts: false,
      AuditLogMaxAge: 365,
      AuditLogMaxSize: 1_000_000,
      AuditLogExcludedEvents: [],
    });
    expect(c.LANBypassCIDRs).not.toContain('127.0.0.0/8');
  });

  it('refuse bad values, naming the key', () => {
    expect(() => parseConfig({ AuditLogExcludedEvents: ['login.password.sucess'] })).toThrow(ConfigError);
    expect(() => parseConfig({ AuditLogExcludedEvents: ['login.password.sucess'] })).toThrow(/AuditLogExcludedEvents\.0: is not an audit event type/);
    expect(parseConfig({ AuditLogExcludedEvents: ['guard.*', 'login.password.success'] }).AuditLogExcludedEvents).toHaveLength(2);
    expect(() => parseConfig({ AuditLogExcludedEvents: ['nothing.*'] })).toThrow(/AuditLogExcludedEvents/);
    expect(() => parseConfig({ MaxFailedAttempts: 0 })).toThrow(/MaxFailedAttempts/);
    expect(() => parseConfig({ ImpossibleTravelAction: 'Shrug' })).toThrow(/ImpossibleTravelAction/);
    expect(() => parseConfig({ BreachCheckUrl: 'ftp://mirror' })).toThrow(/BreachCheckUrl/);
  });

  it('allowlists are validated strictly and LAN bypass never trusts a proxy without forwarding (SEC-H3)', () => {
    expect(parseAllowList([' 203.0.113.0/24 ', '2001:db8::/48', '203.0.113.0/24'])).toEqual(['203.0.113.0/24', '2001:db8::/48']);
    expect(() => parseAllowList(['010.0.0.1'])).toThrow(/010\.0\.0\.1/); // octal-looking: refused, not guessed
    expect(() => parseAllowList(['10.0.0.0/33'])).toThrow(/prefix/);
    expect(() => parseAllowList(Array.from({ length: 65 }, (_, i) => `10.0.0.${i}`))).toThrow(/at most 64/);
    const lan = new LanBypass(true, ['192.168.0.0/16']);
    expect(lan.applies({ ip: '192.168.1.5', proxyWithoutForwarding: false })).toBe(true);
    expect(lan.applies({ ip: '::ffff:192.168.1.5', proxyWithoutForwarding: false })).toBe(true);
    expect(lan.applies({ ip: '192.168.1.5', proxyWithoutForwarding: true })).toBe(false);
    expect(lan.applies({ ip: '203.0.113.5', proxyWithoutForwarding: false })).toBe(false);
    expect(new LanBypass(false, ['192.168.0.0/16']).applies({ ip: '192.168.1.5', proxyWithoutForwarding: false })).toBe(false);
  });
});
