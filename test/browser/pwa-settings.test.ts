import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ManualClock } from '../../server/clock.ts';
import { totpCodeAt } from '../../server/factors/totp.ts';
import { CONFIG_GROUP_LABELS, type ConfigurationView } from '../../shared/api/configuration.ts';
import { seriousViolations } from '../helpers/axe.ts';
import { DESKTOP, PHONE, screenshot } from '../helpers/browser.ts';
import { openPhone, serviceWorkerReady, signIn, USERS, type Phone } from './pwa-helpers.ts';
import { startSettingsWorld, type SettingsWorld } from './pwa-settings-world.ts';

/**
 * The settings console (Admin → Settings) in a real Chromium at a phone's size, against a real gateway
 * that was started from a YAML file with comments and one key set by the environment: every group is
 * listed with its keys' words and sources; a boolean and a number are changed, an invalid number is
 * stopped before anything is sent, Save asks "Confirm it's you", an authenticator code answers, the page
 * says what took effect and what waits for a restart, and the file on disk has the change with its
 * comments. A key from the environment cannot be changed, a secret is never shown, a household member
 * cannot open the console, and axe finds nothing serious.
 */

const [alice, , admin] = [USERS[0]!, USERS[1]!, USERS[2]!];
const clock = new ManualClock(Date.now());
let world: SettingsWorld;
let adminPhone: Phone;
let totpSecret = '';

/** A comment the admin wrote in the file, which saving must keep. */
const COMMENT = '# Wrong guesses before a ban: kept low on purpose (the kids share the TV).';

const p = () => adminPhone.page;
/** How long a poll waits for the page (vitest's default second is short on a loaded 2-core machine). */
const POLL = { timeout: 10_000 };
const card = (key: string) => p().getByTestId(`setting-${key}`);
/** The next authenticator code (the clock moves on so a code is never used twice). */
async function nextCode(): Promise<string> {
  clock.advance(31_000);
  return totpCodeAt(totpSecret, clock.now());
}
/**
 * Save, once the last confirmation's window has run out (StepUpWindowSeconds: 30 in the file), so the
 * gateway asks again (within the window the app would send the grant it already has).
 */
async function save(): Promise<void> {
  clock.advance(31_000);
  await p().getByRole('button', { name: 'Save' }).click();
}
const shot = (page: Page, name: string) => screenshot(page, `pwa-settings-${name}`, { fullPage: false });
/** What the gateway says right now (the admin's own session). */
async function view(): Promise<ConfigurationView> {
  return p().evaluate(async () => {
    const token = (JSON.parse(localStorage.getItem('jellyguard.session')!) as { token: string }).token;
    const res = await fetch('../Configuration', { headers: { 'x-emby-token': token } });
    return res.json();
  });
}

beforeAll(async () => {
  world = await startSettingsWorld({
    clock,
    file: [
      '# Jellyguard settings for the Smith household',
      COMMENT,
      'MaxFailedAttempts: 5 # per address, per name',
      'BreachCheckBlocks: false',
      '',
      '# Phones',
      'PushWindowSeconds: 60',
      'StepUpWindowSeconds: 30',
      '',
    ].join('\n'),
    env: { JELLYGUARD_HOST: '127.0.0.1' },
  });
  adminPhone = await openPhone(world, { ip: '198.51.100.50' });
  await signIn(p(), world, admin);
  await p().getByTestId('setup-phone').waitFor();
  await serviceWorkerReady(p());
  // The admin sets up an authenticator app: the code that confirms admin changes.
  await p().goto(`${world.appUrl}#/security`);
  await p().getByRole('button', { name: 'Set up an authenticator app' }).click();
  await p().locator('.secret').waitFor();
  totpSecret = (await p().locator('.secret').innerText()).replace(/\s+/g, '');
  await p().getByLabel('Code').fill(await nextCode());
  await p().getByRole('button', { name: 'Confirm' }).click();
  await p().getByTestId('recovery-codes').getByRole('button', { name: 'I saved them' }).click();
}, 90_000);

afterAll(async () => {
  await adminPhone?.close();
  await world?.close();
});

describe('the settings console', () => {
  it('lists every group with its keys, their words and where each value comes from', async () => {
    await p().goto(`${world.appUrl}#/admin/users`);
    await p().getByTestId('admin-settings-tab').click();
    expect(p().url()).toMatch(/#\/admin\/settings$/);
    const v = await view();
    for (const group of new Set(v.keys.map((k) => k.group))) {
      await expect.poll(() => p().getByRole('heading', { name: CONFIG_GROUP_LABELS[group], exact: true }).count(), POLL).toBe(1);
    }
    for (const g of ['signIn', 'stepUp', 'guard', 'network', 'approvals', 'pairing', 'sso', 'operations', 'audit'] as const) {
      expect(await p().getByTestId(`group-${g}`).count(), g).toBe(1);
    }
    // Each key: its description from the schema, its source.
    const max = v.keys.find((k) => k.key === 'MaxFailedAttempts')!;
    expect(await card('MaxFailedAttempts').innerText()).toContain(max.description);
    expect(await card('MaxFailedAttempts').getByText('from the file').count()).toBe(1);
    expect(await card('TOTPTimeSkew').getByText('default', { exact: true }).count()).toBe(1);
    expect(await p().getByLabel('MaxFailedAttempts').inputValue()).toBe('5');
    // A key that needs a restart says so.
    const restartKey = v.keys.find((k) => k.restartRequired && !k.readOnly)!;
    expect(await card(restartKey.key).getByText('needs a restart').count()).toBe(1);
    await shot(p(), 'phone');
    // The group buttons bring a group into view, and the focus with it.
    await p().getByRole('navigation', { name: 'Setting groups' }).getByRole('button', { name: CONFIG_GROUP_LABELS.audit }).click();
    expect(await p().evaluate(() => document.activeElement?.id)).toBe('group-audit');
    expect(p().url()).toMatch(/#\/admin\/settings$/);
  });

  it('a key set by the environment is shown, disabled, with the reason', async () => {
    const host = card('Host');
    await host.scrollIntoViewIfNeeded();
    expect(await host.getByText('from the environment — read-only').count()).toBe(1);
    expect(await p().getByLabel('Host', { exact: true }).isDisabled()).toBe(true);
    expect(await p().getByLabel('Host', { exact: true }).inputValue()).toBe('127.0.0.1');
    const reason = (await view()).keys.find((k) => k.key === 'Host')!.readOnlyReason!;
    expect(reason).toBeTruthy();
    expect(await host.innerText()).toContain(reason);
    // …and read with the field by a screen reader.
    expect((await p().getByLabel('Host', { exact: true }).getAttribute('aria-describedby'))?.split(' ')).toContain('setting-Host-readonly');
  });

  it('a secret is never shown: "set — type to replace"', async () => {
    const apiKey = await p().getByLabel('JellyfinApiKey').inputValue();
    expect(apiKey).toBe('');
    expect(await p().getByLabel('JellyfinApiKey').getAttribute('type')).toBe('password');
    expect(await p().getByLabel('JellyfinApiKey').getAttribute('placeholder')).toBe('Set — type to replace');
    expect(await p().content()).not.toContain(world.apiKey);
  });

  it('an invalid number is stopped before anything is sent, with the reason next to the field', async () => {
    const posts: string[] = [];
    const listener = (r: { method(): string; url(): string }) => {
      if (r.method() === 'POST' && r.url().endsWith('/Configuration')) posts.push(r.url());
    };
    p().on('request', listener);
    const field = p().getByLabel('MaxFailedAttempts');
    await field.fill('0');
    await field.blur();
    const error = card('MaxFailedAttempts').getByTestId('field-error');
    await expect.poll(() => error.innerText(), POLL).toBe('Must be at least 1.');
    // Tied to the field for a screen reader.
    const describedBy = (await field.getAttribute('aria-describedby')) ?? '';
    expect(describedBy.split(' ')).toContain(await error.getAttribute('id'));
    expect(await field.getAttribute('aria-invalid')).toBe('true');
    await field.fill('lots');
    await expect.poll(() => error.innerText(), POLL).toBe('Must be a whole number.');
    await save();
    await p().getByText('Fix the marked settings first').waitFor();
    // The invalid field has the focus, and nothing went to the gateway.
    expect(await field.evaluate((el) => el === document.activeElement)).toBe(true);
    expect(posts).toEqual([]);
    await shot(p(), 'phone-invalid');
    await p().setViewportSize(DESKTOP);
    await shot(p(), 'desktop-invalid');
    await p().setViewportSize(PHONE);
    const problems = await seriousViolations(p());
    expect(problems, JSON.stringify(problems, null, 2)).toEqual([]);
    p().off('request', listener);
  });

  it('Save asks "Confirm it\'s you"; a code answers; the page says what took effect and the file keeps its comments', async () => {
    const field = p().getByLabel('MaxFailedAttempts');
    await field.fill('7');
    await expect.poll(() => card('MaxFailedAttempts').getByTestId('field-error').count(), POLL).toBe(0);
    const breach = p().getByRole('switch', { name: 'BreachCheckBlocks' });
    expect(await breach.isChecked()).toBe(false);
    await breach.check();
    await p().getByText('2 changes').waitFor();
    await save();

    const dialog = p().getByTestId('step-up');
    await dialog.waitFor();
    expect(await dialog.getByTestId('step-up-action').innerText()).toBe('Change Jellyguard settings: BreachCheckBlocks, MaxFailedAttempts');
    expect(await seriousViolations(p())).toEqual([]);
    await shot(p(), 'phone-stepup');
    await p().setViewportSize(DESKTOP);
    await shot(p(), 'desktop-stepup');
    await p().setViewportSize(PHONE);
    await dialog.getByLabel('Code from your authenticator app').fill(await nextCode());
    await dialog.getByRole('button', { name: 'Confirm with code' }).click();

    const saved = p().getByTestId('saved');
    await saved.waitFor();
    const v = await view();
    const needsRestart = (key: string) => v.keys.find((k) => k.key === key)!.restartRequired;
    for (const key of ['MaxFailedAttempts', 'BreachCheckBlocks']) {
      const where = needsRestart(key) ? 'saved-restart' : 'saved-applied';
      expect(await saved.getByTestId(where).innerText(), key).toContain(key);
    }
    if (needsRestart('MaxFailedAttempts')) {
      expect(await p().getByTestId('pending-restart').innerText()).toContain('MaxFailedAttempts');
      expect(v.pendingRestart).toContain('MaxFailedAttempts');
    }
    await shot(p(), 'phone-saved');

    // The gateway's own view, and the file on disk: changed, comments kept, nothing else touched.
    expect(v.keys.find((k) => k.key === 'MaxFailedAttempts')).toMatchObject({ value: 7, source: 'file' });
    expect(v.keys.find((k) => k.key === 'BreachCheckBlocks')).toMatchObject({ value: true, source: 'file' });
    const yaml = readFileSync(world.configFile, 'utf8');
    expect(yaml).toMatch(/^MaxFailedAttempts: 7\b/m);
    expect(yaml).toMatch(/^BreachCheckBlocks: true\b/m);
    expect(yaml).toContain(COMMENT);
    expect(yaml).toContain('# Jellyguard settings for the Smith household');
    expect(yaml).toContain('# per address, per name');
    expect(yaml).toMatch(/^PushWindowSeconds: 60$/m);
    expect(yaml).not.toContain('Host');
    // The form shows the saved values, and no change is pending.
    expect(await field.inputValue()).toBe('7');
    expect(await p().getByTestId('savebar').count()).toBe(0);
  });

  it('"Reset to default" takes the key out of the file (after the same confirmation)', async () => {
    await card('BreachCheckBlocks').getByRole('button', { name: 'Reset BreachCheckBlocks to default' }).click();
    expect(await p().getByRole('switch', { name: 'BreachCheckBlocks' }).isChecked()).toBe(false);
    await save();
    const dialog = p().getByTestId('step-up');
    await dialog.getByLabel('Code from your authenticator app').fill(await nextCode());
    await dialog.getByRole('button', { name: 'Confirm with code' }).click();
    await p().getByTestId('saved').waitFor();
    await expect.poll(() => card('BreachCheckBlocks').getByText('default', { exact: true }).count(), POLL).toBe(1);
    const yaml = readFileSync(world.configFile, 'utf8');
    expect(yaml).not.toContain('BreachCheckBlocks');
    expect(yaml).toContain(COMMENT);
  });

  it('what only the gateway can tell (a rule between two keys) is shown next to the key it names, before any confirmation', async () => {
    // HoldSeconds must stay shorter than ApprovalSeconds (120): each value alone is in range.
    // The gateway checks the change before asking anyone to confirm it: no dialog for a refused change.
    await p().getByLabel('HoldSeconds').fill('120');
    await save();
    await p().getByText('The gateway refused a setting: nothing was changed.').waitFor();
    expect(await p().getByTestId('step-up').count()).toBe(0);
    const error = card('HoldSeconds').getByTestId('field-error');
    expect(await error.innerText()).toContain('ApprovalSeconds');
    expect((await p().getByLabel('HoldSeconds').getAttribute('aria-describedby'))?.split(' ')).toContain(await error.getAttribute('id'));
    expect(readFileSync(world.configFile, 'utf8')).not.toContain('HoldSeconds');
    await shot(p(), 'phone-refused');
    await card('HoldSeconds').getByRole('button', { name: 'Undo the change of HoldSeconds' }).click();
  });

  it('SMTP as a sub-form: its password is written, never shown again, kept when left empty — and asked again for another server', async () => {
    const smtp = card('SMTP');
    await smtp.getByRole('button', { name: 'Set up SMTP' }).click();
    await smtp.getByLabel('Host').fill('mail.example.org');
    await smtp.getByLabel('From').fill('Jellyfin <jellyfin@example.org>');
    await smtp.getByLabel('Port').fill('465');
    await smtp.getByRole('switch', { name: 'Secure' }).check();
    await smtp.getByLabel('Password').fill('smtp-secret-1');
    await save();
    let dialog = p().getByTestId('step-up');
    await dialog.getByLabel('Code from your authenticator app').fill(await nextCode());
    await dialog.getByRole('button', { name: 'Confirm with code' }).click();
    await p().getByTestId('saved').waitFor();
    let yaml = readFileSync(world.configFile, 'utf8');
    expect(yaml).toMatch(/^SMTP:\n(  .*\n)*  Password: smtp-secret-1$/m);
    expect(yaml).toContain(COMMENT);
    // Shown again: everything but the password.
    expect(await smtp.getByLabel('Host').inputValue()).toBe('mail.example.org');
    expect(await smtp.getByLabel('Password').inputValue()).toBe('');
    expect(await smtp.getByLabel('Password').getAttribute('placeholder')).toBe('Unchanged — type to replace');
    expect(await p().content()).not.toContain('smtp-secret-1');

    // Left empty, the password is kept while the server stays the same…
    await smtp.getByLabel('From').fill('Media <jellyfin@example.org>');
    await save();
    dialog = p().getByTestId('step-up');
    await dialog.getByLabel('Code from your authenticator app').fill(await nextCode());
    await dialog.getByRole('button', { name: 'Confirm with code' }).click();
    await expect.poll(() => readFileSync(world.configFile, 'utf8'), POLL).toContain('From: Media <jellyfin@example.org>');
    expect(readFileSync(world.configFile, 'utf8')).toContain('Password: smtp-secret-1');

    // …but a password kept for one server never goes to another: a new Host needs it typed again,
    // said at the key before anyone is asked to confirm.
    await smtp.getByLabel('Host').fill('smtp.example.org');
    await save();
    await p().getByText('The gateway refused a setting: nothing was changed.').waitFor();
    expect(await p().getByTestId('step-up').count()).toBe(0);
    expect(await smtp.getByTestId('field-error').first().innerText()).toMatch(/Host changed, so enter Password again/);
    expect(readFileSync(world.configFile, 'utf8')).not.toContain('smtp.example.org');
    await smtp.getByLabel('Password').fill('smtp-secret-2');
    await save();
    dialog = p().getByTestId('step-up');
    await dialog.getByLabel('Code from your authenticator app').fill(await nextCode());
    await dialog.getByRole('button', { name: 'Confirm with code' }).click();
    await expect.poll(() => readFileSync(world.configFile, 'utf8'), POLL).toContain('Host: smtp.example.org');
    yaml = readFileSync(world.configFile, 'utf8');
    expect(yaml).toContain('Password: smtp-secret-2');
    expect(await p().content()).not.toContain('smtp-secret-2');
  });

  it('OIDC providers as a list of sub-forms: added, and removed without another keeping the wrong secret', async () => {
    const oidc = card('OIDCProviders');
    const item = (i: number) => oidc.getByTestId('list-item').nth(i);
    const fill = async (i: number, f: Record<string, string>) => {
      for (const [label, value] of Object.entries(f)) await item(i).getByLabel(label, { exact: true }).fill(value);
    };
    await oidc.getByRole('button', { name: 'Add a provider' }).click();
    await fill(0, { Name: 'Pocket ID', Id: 'pocket', ClientID: 'jellyfin', ClientSecret: 'pocket-secret', Authority: 'https://id.example.org' });
    await oidc.getByRole('button', { name: 'Add a provider' }).click();
    // A new provider must have its secret: checked before sending.
    await fill(1, { Name: 'Authentik', Id: 'authentik', ClientID: 'jf', Authority: 'https://auth.example.org' });
    await fill(1, { Scopes: 'profile\nemail' });
    await save();
    await expect.poll(() => item(1).getByTestId('field-error').allInnerTexts(), POLL).toEqual(['Must not be empty.']);
    expect(await item(1).getByLabel('ClientSecret', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    await fill(1, { ClientSecret: 'authentik-secret' });
    await save();
    const dialog = p().getByTestId('step-up');
    await dialog.getByLabel('Code from your authenticator app').fill(await nextCode());
    await dialog.getByRole('button', { name: 'Confirm with code' }).click();
    await p().getByTestId('saved').waitFor();
    let yaml = readFileSync(world.configFile, 'utf8');
    expect(yaml).toContain('ClientSecret: pocket-secret');
    expect(yaml).toContain('ClientSecret: authentik-secret');
    expect(yaml).toMatch(/Scopes:\n\s+- profile\n\s+- email/);
    expect(await p().content()).not.toContain('pocket-secret');
    expect(await item(1).getByLabel('ClientSecret', { exact: true }).getAttribute('placeholder')).toBe('Unchanged — type to replace');
    await shot(p(), 'phone-oidc');

    // Remove the first: the second moves up and keeps its own secret (matched by Id, not by place).
    await oidc.getByRole('button', { name: 'Remove provider 1' }).click();
    expect(await item(0).getByLabel('Id', { exact: true }).inputValue()).toBe('authentik');
    await save();
    await dialog.getByLabel('Code from your authenticator app').fill(await nextCode());
    await dialog.getByRole('button', { name: 'Confirm with code' }).click();
    await p().getByTestId('saved').waitFor();
    yaml = readFileSync(world.configFile, 'utf8');
    expect(yaml).not.toContain('pocket');
    expect(yaml).toContain('ClientSecret: authentik-secret');
    expect(yaml).toContain(COMMENT);
  });

  it('Cancel in the dialog sends nothing and says so', async () => {
    await p().getByLabel('PushWindowSeconds').fill('120');
    await save();
    const dialog = p().getByTestId('step-up');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await p().getByText('Not saved: the change was not confirmed.').waitFor();
    expect(readFileSync(world.configFile, 'utf8')).toMatch(/^PushWindowSeconds: 60$/m);
    await p().getByRole('button', { name: 'Undo all' }).click();
    expect(await p().getByLabel('PushWindowSeconds').inputValue()).toBe('60');
  });

  it('within StepUpWindowSeconds a second save is not asked again: the app sends the grant it has', async () => {
    await p().getByLabel('PushWindowSeconds').fill('90');
    await save();
    const dialog = p().getByTestId('step-up');
    await dialog.getByLabel('Code from your authenticator app').fill(await nextCode());
    await dialog.getByRole('button', { name: 'Confirm with code' }).click();
    await expect.poll(() => readFileSync(world.configFile, 'utf8'), POLL).toMatch(/^PushWindowSeconds: 90$/m);
    // Right away (the window is 30 seconds): saved without a question.
    await p().getByLabel('PushWindowSeconds').fill('120');
    await p().getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => readFileSync(world.configFile, 'utf8'), POLL).toMatch(/^PushWindowSeconds: 120$/m);
    await p().getByTestId('saved').waitFor();
    expect(await dialog.count()).toBe(0);
  });

  it('is not there for a household member (neither the page nor the gateway\'s answer)', async () => {
    const member = await openPhone(world, { ip: '198.51.100.60' });
    try {
      await signIn(member.page, world, alice);
      await member.page.getByTestId('setup-phone').waitFor();
      await member.page.goto(`${world.appUrl}#/admin/settings`);
      await member.page.getByTestId('no-requests').waitFor(); // the admin route falls back to the home page
      expect(await member.page.getByTestId('savebar').count()).toBe(0);
      const status = await member.page.evaluate(async () => {
        const token = (JSON.parse(localStorage.getItem('jellyguard.session')!) as { token: string }).token;
        return (await fetch('../Configuration', { headers: { 'x-emby-token': token } })).status;
      });
      expect(status).toBe(403);
    } finally {
      await member.close();
    }
  });
});
