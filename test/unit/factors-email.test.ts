import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { ManualClock } from '../../server/clock.ts';
import { openStore } from '../../server/store/index.ts';
import { tempDir } from '../helpers/gateway.ts';
import { EmailCodes, EMAIL_CODE_MS, EMAIL_SEND_WINDOW_MS, EMAIL_SENDS_PER_IP, isEmailAddress } from '../../server/factors/email.ts';
import { codeIn, startSmtp, type TestSmtp } from '../helpers/smtp.ts';

const ALICE = 'a'.repeat(32);
const BOB = 'b'.repeat(32);

let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startSmtp();
});
afterAll(async () => {
  await smtp.close();
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup(enabled = true) {
  const store = await openStore(tempDir());
  const clock = new ManualClock();
  const logs: string[] = [];
  const email = new EmailCodes(store.db, clock, randomBytes(32), { EmailOTPEnabled: enabled, SMTP: { ...smtp.config(), Port: smtp.port } }, (m) => logs.push(m));
  cleanups.push(async () => {
    email.close();
    await store.close();
  });
  return { store, clock, email, logs };
}

describe('e-mail one-time codes', () => {
  it('sends a 6-digit code through SMTP that works once', async () => {
    const { email, store } = await setup();
    await email.setAddress(ALICE, 'alice@example.test', 'self');
    const out = await email.sendLoginCode(ALICE, '203.0.113.1', 'alice', true);
    expect(out.sent).toBe(true);
    const msg = await smtp.nextMessage((m) => m.to.includes('alice@example.test'));
    expect(msg.from).toBe('jellyfin@example.test');
    const code = codeIn(msg);
    expect(code).toMatch(/^\d{6}$/);
    expect(msg.text).toContain('someone knows your password');
    // Stored only as an HMAC.
    expect(JSON.stringify(await store.db.selectFrom('email_codes').selectAll().execute())).not.toContain(code);
    expect(await email.verify(BOB, 'login', code)).toEqual({ ok: false });
    expect(await email.verify(ALICE, 'confirm', code)).toEqual({ ok: false });
    expect(await email.verify(ALICE, 'login', code)).toEqual({ ok: true, email: 'alice@example.test' });
    expect(await email.verify(ALICE, 'login', code)).toEqual({ ok: false });
  });

  it('expires codes after 5 minutes', async () => {
    const { email, clock } = await setup();
    await email.setAddress(ALICE, 'alice2@example.test', 'self');
    await email.sendLoginCode(ALICE, '203.0.113.1');
    const code = codeIn(await smtp.nextMessage((m) => m.to.includes('alice2@example.test')));
    clock.advance(EMAIL_CODE_MS);
    expect(await email.verify(ALICE, 'login', code)).toEqual({ ok: false });
  });

  it('limits sends per user, and per requesting address whoever is asked for', async () => {
    const { email, clock } = await setup();
    await email.setAddress(ALICE, 'alice3@example.test', 'self');
    const results = [];
    for (let i = 0; i < 4; i++) results.push((await email.sendLoginCode(ALICE, `198.51.100.${i}`)).sent);
    expect(results).toEqual([true, true, true, false]);
    for (let i = 0; i < 3; i++) await smtp.nextMessage((m) => m.to.includes('alice3@example.test'));

    // One address asking for many (unknown) users is limited too, and the unknown users are "sent" nothing.
    const ip = '192.0.2.77';
    const outcomes = [];
    for (let i = 0; i < EMAIL_SENDS_PER_IP + 1; i++) outcomes.push((await email.sendLoginCode(undefined, ip)).reason);
    expect(outcomes.slice(0, EMAIL_SENDS_PER_IP).every((r) => r === 'no_address')).toBe(true);
    expect(outcomes[EMAIL_SENDS_PER_IP]).toBe('rate_limited');
    // The window slides.
    clock.advance(EMAIL_SEND_WINDOW_MS + 1);
    expect((await email.sendLoginCode(ALICE, ip)).sent).toBe(true);
    await smtp.nextMessage((m) => m.to.includes('alice3@example.test'));
  });

  it('keeps only the newest codes alive', async () => {
    const { email } = await setup();
    await email.setAddress(ALICE, 'alice4@example.test', 'self');
    const codes: string[] = [];
    for (let i = 0; i < 3; i++) {
      await email.sendLoginCode(ALICE, `10.0.0.${i}`);
      codes.push(codeIn(await smtp.nextMessage((m) => m.to.includes('alice4@example.test'))));
    }
    expect((await email.verify(ALICE, 'login', codes[2]!)).ok).toBe(true);
    expect((await email.verify(ALICE, 'login', codes[1]!)).ok).toBe(true);
  });

  it('confirms a new address with a code sent to that address', async () => {
    const { email } = await setup();
    expect(await email.address(ALICE)).toBeUndefined();
    await email.sendConfirmation(ALICE, 'new@example.test', '10.1.1.1', 'alice');
    const code = codeIn(await smtp.nextMessage((m) => m.to.includes('new@example.test')));
    expect((await email.verify(ALICE, 'login', code)).ok).toBe(false);
    expect(await email.verify(ALICE, 'confirm', code)).toEqual({ ok: true, email: 'new@example.test' });
  });

  it('sends nothing when disabled or when the user has no address', async () => {
    const off = await setup(false);
    expect((await off.email.sendLoginCode(ALICE, '10.0.0.1')).reason).toBe('disabled');
    const on = await setup();
    expect((await on.email.sendLoginCode(BOB, '10.0.0.1')).reason).toBe('no_address');
  });

  it('recognises e-mail addresses', () => {
    expect(isEmailAddress('a.b+c@example.org')).toBe(true);
    for (const bad of ['a@b', 'a b@example.org', 'a@example..org', '<a@example.org>', 'a@example.org\r\nBcc: x@y.z']) expect(isEmailAddress(bad)).toBe(false);
  });
});
