import { rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../server/config/index.ts';
import { createGateway, type Gateway } from '../../server/app.ts';
import { silentLogger } from '../../server/log.ts';
import { tempDir } from '../helpers/gateway.ts';

/**
 * The order of a password login's checks is the table in server/login/policy.ts, as server/app.ts wires it
 * (a real gateway on a real SQLite file; Jellyfin is never asked). A change of order must change this test.
 */
describe('the password login policy', () => {
  const dataDir = tempDir();
  let gateway: Gateway | undefined;
  afterAll(async () => {
    await gateway?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs its checks in the one documented order', async () => {
    const config = parseConfig({ JellyfinUrl: 'http://127.0.0.1:9', Host: '127.0.0.1', Port: 0 });
    gateway = await createGateway({ config, dataDir, keys: { encryptionKey: randomBytes(32), hmacKey: randomBytes(32) }, log: silentLogger });
    const policy = gateway.services.loginHooks;
    const names = (list: ReadonlyArray<{ name: string }>) => list.map((c) => c.name);
    expect(names(policy.before)).toEqual(['guardBeforePassword', 'takeDeviceToken', 'totpInPassword']);
    expect(names(policy.failed)).toEqual(['guardCountsFailure']);
    expect(names(policy.accepted)).toEqual(['guardAfterPassword']);
    expect(names(policy.decide)).toEqual([
      'heldAccount',
      'totpInPassword',
      'noSecondFactorNeeded',
      'pairedDevice',
      'lanBypass',
      'trustedBrowser',
      'approvedOnPhone',
      'holdForPhone',
    ]);
    expect(names(policy.challengeMethods)).toEqual(['phoneMethod']);
    expect(names(policy.released)).toEqual(['guardRemembersSuccess']);
    // The decision reads the same table: nobody can add a step behind its back.
    expect(gateway.services.secondFactor.steps).toBe(policy.decide);
  });
});
