import type { AcceptedCheck, BeforeCheck, ChallengeMethods, FailedCheck, LoginHooks, LoginStep, ReleasedCheck } from './hooks.ts';
import { noSecondFactorNeeded } from './challenge.ts';

/** The checks the policy is made of, each exported by the module that owns it (server/app.ts hands them in). */
export interface PolicyChecks {
  /** server/guard: bans, locks, network rules, impossible travel, breached passwords, new-device notices. */
  guard: { before: BeforeCheck; failed: FailedCheck; accepted: AcceptedCheck; released: ReleasedCheck; lanBypass: LoginStep };
  /** server/pairing: a paired TV's device token. */
  pairing: { takeDeviceToken: BeforeCheck; pairedDevice: LoginStep };
  /** server/login/totp-in-password.ts: a code typed after the password. */
  totpInPassword: { split: BeforeCheck; spend: LoginStep };
  /** server/factors: a browser that proved a factor recently. */
  trustedBrowser: LoginStep;
  /** server/sso: a user kept to single sign-on (DisablePasswordLoginForSSOUsers); absent when off. */
  ssoOnly?: AcceptedCheck | undefined;
  /** server/approvals: login by phone. */
  phone: { heldAccount: LoginStep; approvedOnPhone: LoginStep; holdForPhone: LoginStep; phoneMethod: ChallengeMethods };
}

/**
 * In what order a password login is checked: this table, top to bottom (server/login/password.ts runs it).
 * Each list runs at its point of the one login path; a `decide` step that settles the login ends the list,
 * and a login no step settled is held behind a challenge (server/login/challenge.ts).
 */
export function loginPolicy(c: PolicyChecks): LoginHooks {
  return {
    before: [
      c.guard.before, //              bans, locks and the IP allowlist first: a refused attempt never reaches Jellyfin
      c.pairing.takeDeviceToken, //   Jellyfin never sees a paired device's token
      c.totpInPassword.split, //      last: it changes what Jellyfin is sent, so every refusal has had its say
    ],
    failed: [
      c.guard.failed, //              a wrong password counts towards bans, whatever the path
    ],
    accepted: [
      c.guard.accepted, //            allowlist by id, impossible travel, breached password hold even a user with a factor
      ...(c.ssoOnly ? [c.ssoOnly] : []), // a user kept to single sign-on: the right password is still refused
    ],
    decide: [
      c.phone.heldAccount, //         an account held after "This wasn't me" waits for the phone before any bypass
      c.totpInPassword.spend, //      the code in the password is a second factor proved, spent once (never a way past a hold)
      noSecondFactorNeeded, //        no factor and none required: the password is enough
      c.pairing.pairedDevice, //      a paired TV proves itself with its device token
      c.guard.lanBypass, //           a LAN address needs nothing more (LANBypassEnabled only)
      c.trustedBrowser, //            a browser that proved a factor recently on this network
      c.phone.approvedOnPhone, //     approve-then-retry: the phone already approved this device and address
      c.phone.holdForPhone, //        a native client cannot show a challenge: hold the request for the phone
    ],
    challengeMethods: [
      c.phone.phoneMethod, //         a web challenge also offers "approve on my phone"
    ],
    released: [
      c.guard.released, //            a success resets counters and tells the user of a new device or network
    ],
  };
}
