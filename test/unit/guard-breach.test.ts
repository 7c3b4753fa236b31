import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BreachChecker } from '../../server/guard/breach.ts';
import { sha1Hex, startBreachServer, type BreachServer } from '../helpers/breach-server.ts';

describe('the breached-password check (k-anonymity)', () => {
  let server: BreachServer;
  beforeAll(async () => {
    server = await startBreachServer();
    server.breach('password123', 123_456);
  });
  afterAll(() => server.close());

  it('finds a breached password and only the first five hex characters of its SHA-1 leave', async () => {
    const checker = new BreachChecker({ baseUrl: server.url + '/' });
    server.requests.length = 0;
    expect(await checker.check('password123')).toEqual({ result: 'breached', count: 123_456 });
    const [req] = server.requests;
    expect(req!.path).toBe(`/range/${sha1Hex('password123').slice(0, 5)}`);
    expect(req!.headers['add-padding']).toBe('true');
    // Nothing else about the password is in the request.
    const sent = JSON.stringify(req);
    expect(sent).not.toContain(sha1Hex('password123').slice(5, 12));
    expect(sent).not.toContain('password123');
  });

  it('a password not in the list is clean, and padding entries (count 0) never count', async () => {
    const checker = new BreachChecker({ baseUrl: server.url });
    expect(await checker.check('correct horse battery staple 1966')).toEqual({ result: 'clean', count: 0 });
    server.breach('padded-only', 0);
    expect(await checker.check('padded-only')).toEqual({ result: 'clean', count: 0 });
  });

  it('fails open: an error status, a timeout or an unreachable service is "unavailable"', async () => {
    server.behave({ status: 503 });
    expect(await new BreachChecker({ baseUrl: server.url }).check('password123')).toMatchObject({ result: 'unavailable', reason: expect.stringContaining('503') });
    server.behave({ delayMs: 5000 });
    const started = performance.now();
    const slow = await new BreachChecker({ baseUrl: server.url, timeoutMs: 150 }).check('password123');
    expect(slow).toMatchObject({ result: 'unavailable', reason: expect.stringContaining('150 ms') });
    expect(performance.now() - started).toBeLessThan(4000);
    server.behave({});
    expect(await new BreachChecker({ baseUrl: 'http://127.0.0.1:9' }).check('x')).toMatchObject({ result: 'unavailable' });
  });
});
