import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getQuickConnectApi, getUserApi, jellyfinClient } from '../helpers/sdk.ts';
import { screenshot } from '../helpers/browser.ts';
import { enrollThroughApp, openPhone, PLACES, serviceWorkerReady, signIn, startWorld, tokenWorks, USERS, type Phone, type World } from './pwa-helpers.ts';

/**
 * "Sign in a TV" in the Authenticator (DESIGN: TV pairing; shared/api/pairing.ts): a TV starts Jellyfin's
 * Quick Connect through the gateway (the real SDK), the phone opens the pairing link of its code (what the
 * TV's QR code holds), sees the device, and a passkey tap signs the TV in; Deny leaves it out.
 */

const alice = USERS[0]!;
let world: World;
let phone: Phone;

function tv(deviceId: string) {
  const api = jellyfinClient(world.gw.url, { client: 'Jellyfin Android TV', device: 'Living room TV', deviceId });
  api.axiosInstance.defaults.headers.common['X-Forwarded-For'] = PLACES.london.ip;
  return api;
}

beforeAll(async () => {
  world = await startWorld();
  phone = await openPhone(world);
  await signIn(phone.page, world, alice);
  await phone.page.getByTestId('setup-phone').waitFor();
  await serviceWorkerReady(phone.page);
  await enrollThroughApp(phone);
}, 90_000);

afterAll(async () => {
  await phone?.close();
  await world?.close();
});

describe('signing in a TV from the phone', () => {
  it('the code typed on the phone shows the TV; a passkey tap signs the TV in', async () => {
    const t = tv('atv-1');
    const { Code, Secret } = (await getQuickConnectApi(t).initiateQuickConnect()).data as { Code: string; Secret: string };
    await phone.page.goto(world.appUrl);
    await phone.page.getByTestId('pair-tv').click();
    await phone.page.getByLabel('Code on the TV').fill(Code);
    await screenshot(phone.page, 'pwa-pair-enter', { fullPage: false });
    await phone.page.getByRole('button', { name: 'Continue' }).click();
    const details = phone.page.getByTestId('pair-details');
    await details.getByText('Living room TV').waitFor();
    expect(await details.innerText()).toContain('Jellyfin Android TV');
    await screenshot(phone.page, 'pwa-pair-review', { fullPage: false });
    await phone.page.getByTestId('pair-approve').click();
    await expect.poll(() => phone.page.getByTestId('pair-result').getAttribute('data-status')).toBe('approved');

    const state = await getQuickConnectApi(t).getQuickConnectState({ secret: Secret });
    expect(state.data.Authenticated).toBe(true);
    const login = await getUserApi(t).authenticateWithQuickConnect({ quickConnectDto: { Secret } });
    expect(login.status).toBe(200);
    expect(await tokenWorks(world, login.data.AccessToken!)).toBe(true);
  });

  it('a pairing link (the TV\'s QR code) opens the review at once; Deny leaves the TV out', async () => {
    const t = tv('atv-2');
    const { Code, Secret } = (await getQuickConnectApi(t).initiateQuickConnect()).data as { Code: string; Secret: string };
    await phone.page.goto(`${world.appUrl}#/pair?code=${Code}`);
    await phone.page.getByTestId('pair-details').getByText('Living room TV').waitFor();
    await phone.page.getByTestId('pair-deny').click();
    await expect.poll(() => phone.page.getByTestId('pair-result').getAttribute('data-status')).toBe('denied');
    const state = await getQuickConnectApi(t).getQuickConnectState({ secret: Secret }).catch((e: { response?: { data?: { Authenticated?: boolean } } }) => e.response);
    expect(state.data?.Authenticated ?? false).toBe(false);
  });

  it('a wrong code says so and pairs nothing', async () => {
    await phone.page.goto(`${world.appUrl}#/pair`);
    await phone.page.getByLabel('Code on the TV').fill('000000');
    await phone.page.getByRole('button', { name: 'Continue' }).click();
    await phone.page.getByRole('alert').getByText('not right').waitFor();
    await phone.page.getByLabel('Code on the TV').fill('12');
    await phone.page.getByRole('button', { name: 'Continue' }).click();
    await phone.page.getByRole('alert').getByText('6 digits').waitFor();
  });
});
