/**
 * Every security event Jellyguard records, in one list shared by the server and the PWA (DESIGN: Audit;
 * oidc-provider's documented events). Add new types here; never rename a landed one.
 */
export const AUDIT_EVENTS = [
  // gateway core
  'login.password.success', // Jellyfin accepted a password and the token was released
  'login.password.failure', // Jellyfin refused a password
  'login.quickconnect.success', // a Quick Connect token approved through the gateway was released
  'login.quickconnect.refused', // a Quick Connect code authorised outside the gateway
  'quickconnect.authorized', // a verified session authorised a Quick Connect code
  'session.logout', // a session logged out through the gateway
  'session.adopted', // a pre-existing Jellyfin session adopted during the adoption window
  'password.changed', // a Jellyfin password was changed through the gateway; the user's other sessions were signed out
  'password.change.failure', // a password change with a wrong current password (a guess, counted by the guard)
  'gate.refused', // a request carried a token the gate does not know
  'config.changed', // an admin changed the gateway's settings (detail.keys, applied, restartRequired; never a value of a secret)
  // second factors and the login challenge (server/factors, server/login/challenge.ts)
  'login.challenge.issued', // a correct password whose token is held until a second factor
  'login.challenge.passed', // a second factor released a held token (detail.method)
  'login.challenge.failure', // a wrong code or assertion inside a challenge (detail.method, attemptsLeft)
  'login.challenge.ended', // too many wrong codes: the held token was revoked at Jellyfin
  'login.challenge.expired', // nobody completed the challenge in time: the held token was revoked
  'login.trusted_browser', // a trusted-browser cookie released a login without a second factor
  'login.totp_in_password', // a native client's password carried a valid TOTP code
  'factor.totp.enrolled', // a TOTP authenticator was confirmed by its first code
  'factor.totp.removed',
  'factor.recovery.generated', // a new set of recovery codes replaced the old one
  'factor.recovery.used', // a recovery code was redeemed (detail.remaining)
  'factor.passkey.registered',
  'factor.passkey.renamed',
  'factor.passkey.removed',
  'factor.passkey.counter_regression', // an assertion's signature counter went backwards: a cloned authenticator?
  'factor.email.code_sent', // an e-mail one-time code was sent (login or address confirmation)
  'factor.email.confirmed', // an e-mail address was confirmed for codes (or set by an admin)
  'factor.email.removed',
  'factor.failure', // a wrong code outside a login challenge (self-service confirmation)
  'factor.locked', // a user reached the wrong-code limit: code checks paused
  'factor.reset', // an admin reset a user's second factors
  'factor.settings.changed', // an admin changed a user's second-factor settings
  'factor.change.notified', // the owner's phones and e-mail were told of a factor change (detail.change, session, address)
  'factor.change.confirmed', // the owner answered "It was me" to a factor-change notice
  'factor.change.reverted', // "This wasn't me": the session that made the change was revoked and what it added removed
  'trusted_browser.created',
  'trusted_browser.revoked',
  // the guard (server/guard) and the audit log itself (server/audit)
  'guard.ban.imposed', // failures reached MaxFailedAttempts: an address banned, a user name locked (detail.scope, reason, expiresAt)
  'guard.ban.lifted', // an admin lifted one ban (detail.scope, subject)
  'guard.ban.lifted_all', // an admin lifted every ban (detail.count)
  'guard.login.locked', // a locked user name was answered as a wrong password (detail.scope)
  'guard.login.busy', // too many attempts of one address in flight: refused before Jellyfin
  'guard.allowlist.refused', // a login from outside the user's IP allowlist, refused before Jellyfin
  'guard.allowlist.changed', // an admin changed a user's IP allowlist
  'guard.travel.impossible', // a login too far, too fast from the previous one (detail.speedKmh; outcome refused when blocked)
  'guard.device.new', // a user signed in from a device never seen for them
  'guard.network.new', // a user signed in from a network never seen for them
  'guard.password.checked', // a breached-password check (detail.result clean | breached | unavailable, count)
  'audit.exported', // an admin exported the audit log (detail.format, rows)
  'audit.purged', // retention removed old rows (detail.rows, reason)
  'audit.dropped', // the write queue overflowed and events were lost (detail.count)
  'audit.seal_invalid', // at start-up the chain's sealed ends did not match: the log was edited while stopped
  // TV pairing and step-up (server/pairing, server/stepup)
  'stepup.required', // an action that needs a fresh proof came without one and was refused (detail.action)
  'stepup.granted', // a session gave a fresh proof and received a single-use grant (detail.action, method)
  'stepup.failure', // a wrong step-up code, or a grant of another session or action (detail.action, reason)
  'stepup.used', // a step-up grant or code was spent on its action (detail.action, target)
  'stepup.apikey', // an administrator action came with a Jellyfin API key, which cannot step up: let through (detail.route, action)
  'pairing.code.invalid', // a wrong, expired or used pairing / Quick Connect code (counted by the guard)
  'pairing.approval.requested', // a phone began approving a code it scanned or was typed (detail.kind quickconnect | device)
  'pairing.quickconnect.approved', // the phone approved: the code was authorised at Jellyfin for the user
  'pairing.quickconnect.failed', // the phone approved but Jellyfin refused to authorise the code
  'pairing.device.requested', // PairDevice: a device asked to be paired (detail.deviceName)
  'pairing.device.approved', // a pairing was approved (detail.by: admin | phone)
  'pairing.device.denied', // a pairing was denied (by an admin or from the phone)
  'pairing.device.expired', // nobody approved a pairing in time
  'pairing.device.collected', // the device collected its device token (once)
  'pairing.device_token.used', // a device token let a login skip the second factor
  'pairing.device_token.refused', // a device token sent for another user or DeviceId, or unknown
  'pairing.device.revoked', // a paired device's token was revoked (by its owner or an admin)
  // push approval and the Authenticator's phones (server/approvals, server/push)
  'approval.requested', // an approval was created (detail.kind, pushed, pushSkipped)
  'approval.approved', // a passkey tap approved it (detail.kind, credentialId)
  'approval.denied', // denied on the phone, or ended by a wrong number / refused assertions (detail.reason)
  'approval.reported', // "This wasn't me": denied, the address banned (detail.banned), the admins alerted
  'approval.expired', // nobody answered in time
  'approval.failure', // an assertion for an approval was refused (detail.reason, attemptsLeft)
  'login.approval.held', // a native client's login is held open while the phone is asked
  'login.approval.timeout', // the hold ended unanswered: 401, the approval stays open (approve-then-retry)
  'login.phone.requested', // the login page asked to sign in by phone with a user name alone (detail.asked: a phone was asked)
  'account.held', // after ReportsBeforeHold reports in a day, password logins wait for the phone (detail.reports)
  'account.released', // the phone approved a login: the hold on the account was lifted
  'phone.enrolled', // a phone was enrolled (its passkey and push subscription)
  'phone.renamed',
  'phone.removed', // a phone (and its passkey) was removed by its owner
  'phone.resubscribed', // a phone's push subscription changed (new endpoint)
  'push.subscription.expired', // the push service answered 404/410: the subscription was deleted
  'session.revoked', // a user revoked one of their Jellyfin sessions (detail.revokedAtJellyfin)
  // sessions minted for users the gateway authenticated itself, and OIDC single sign-on (server/login/mint.ts, server/sso)
  'session.minted', // a Jellyfin session was obtained through Quick Connect for a user the gateway authenticated (detail.method)
  'session.mint.failed', // it could not be: Quick Connect off, no API key, user disabled (detail.method, reason)
  'login.passkey.success', // a passkey alone signed a browser in (usernameless; counts as both factors)
  'login.passkey.failure', // a passkey sign-in was refused (detail.reason: unknown_ceremony, unknown_credential, wrong_user_handle, invalid…)
  'sso.started', // a browser was sent to an OIDC provider (detail.provider)
  'sso.success', // the provider's answer was checked and the user signed in (detail.provider, secondFactor)
  'sso.failure', // the provider's answer was refused: error=, state replayed or foreign, nonce, issuer, code (detail.provider, reason)
  'sso.refused', // a checked identity may not sign in: not in AllowedGroups, not linked (detail.provider, reason); its sessions revoked
  'sso.linked', // an identity (issuer, subject) was linked to a Jellyfin user (detail.provider, by: name | email | created)
  'sso.user.created', // a Jellyfin user was created for a new identity (detail.provider, admin)
  'sso.password.refused', // DisablePasswordLoginForSSOUsers: a correct password of a linked user was refused and its token revoked
] as const;

export type AuditEventType = (typeof AUDIT_EVENTS)[number];

export type AuditOutcome = 'success' | 'failure' | 'refused' | 'info';

/**
 * Each event as a sentence for people (the admin's audit log, the Authenticator's activity), as
 * Jellyfin's own activity log reads: the type stays for filtering, the sentence is what is read.
 */
export const AUDIT_SENTENCES: Record<AuditEventType, string> = {
  'login.password.success': 'Signed in with a password',
  'login.password.failure': 'Wrong user name or password',
  'login.quickconnect.success': 'Signed in with a Quick Connect code',
  'login.quickconnect.refused': 'A Quick Connect code approved outside the gateway was refused',
  'quickconnect.authorized': 'A Quick Connect code was approved',
  'session.logout': 'Signed out',
  'session.adopted': 'An existing Jellyfin session was taken over by the gateway',
  'password.changed': 'The password was changed; other sessions were signed out',
  'password.change.failure': 'A password change gave a wrong current password',
  'gate.refused': 'A request with an unknown token was refused',
  'config.changed': 'An administrator changed the gateway’s settings',
  'login.challenge.issued': 'Password right; a second step was asked',
  'login.challenge.passed': 'Signed in with a second step',
  'login.challenge.failure': 'A wrong code or passkey in the second step',
  'login.challenge.ended': 'A sign-in was stopped after too many wrong codes',
  'login.challenge.expired': 'A sign-in was not finished in time',
  'login.trusted_browser': 'Signed in from a trusted browser',
  'login.totp_in_password': 'Signed in with a code added to the password',
  'factor.totp.enrolled': 'An authenticator app was set up',
  'factor.totp.removed': 'An authenticator app was removed',
  'factor.recovery.generated': 'New recovery codes replaced the old ones',
  'factor.recovery.used': 'A recovery code was used',
  'factor.passkey.registered': 'A passkey was added',
  'factor.passkey.renamed': 'A passkey was renamed',
  'factor.passkey.removed': 'A passkey was removed',
  'factor.passkey.counter_regression': 'A passkey’s counter went backwards: it may have been copied',
  'factor.email.code_sent': 'A code was sent by e-mail',
  'factor.email.confirmed': 'An e-mail address was confirmed for codes',
  'factor.email.removed': 'The e-mail address for codes was removed',
  'factor.failure': 'A wrong code while changing security settings',
  'factor.locked': 'Too many wrong codes: code checks are paused for this user',
  'factor.reset': 'An administrator reset the second factors',
  'factor.settings.changed': 'An administrator changed the second-factor settings',
  'factor.change.notified': 'The owner was told of a security change',
  'factor.change.confirmed': 'The owner confirmed a security change: “It was me”',
  'factor.change.reverted': 'The owner undid a security change: “This wasn’t me”',
  'trusted_browser.created': 'A browser was trusted',
  'trusted_browser.revoked': 'A trusted browser was removed',
  'guard.ban.imposed': 'Too many failures: an address or user name was blocked for a while',
  'guard.ban.lifted': 'An administrator lifted a block',
  'guard.ban.lifted_all': 'An administrator lifted every block',
  'guard.login.locked': 'A sign-in to a blocked user name was refused',
  'guard.login.busy': 'Too many sign-ins at once from one address were refused',
  'guard.allowlist.refused': 'A sign-in from outside the user’s allowed networks was refused',
  'guard.allowlist.changed': 'An administrator changed the user’s allowed networks',
  'guard.travel.impossible': 'A sign-in too far, too fast from the last one',
  'guard.device.new': 'A sign-in from a new device',
  'guard.network.new': 'A sign-in from a new network',
  'guard.password.checked': 'The password was checked against known breaches',
  'audit.exported': 'An administrator exported the audit log',
  'audit.purged': 'Old audit entries were removed',
  'audit.dropped': 'Some audit entries were lost (too many at once)',
  'audit.seal_invalid': 'The audit log was changed while the gateway was stopped',
  'stepup.required': 'An action needed a fresh proof and was refused without one',
  'stepup.granted': 'A fresh proof was given for an action',
  'stepup.failure': 'A fresh proof was refused',
  'stepup.used': 'A fresh proof was used for its action',
  'stepup.apikey': 'An administrator action was made with an API key (no fresh proof possible)',
  'pairing.code.invalid': 'A wrong or expired TV code was entered',
  'pairing.approval.requested': 'A phone began signing in a TV',
  'pairing.quickconnect.approved': 'A TV was signed in from a phone',
  'pairing.quickconnect.failed': 'Jellyfin refused a TV code approved on a phone',
  'pairing.device.requested': 'A device asked to be paired',
  'pairing.device.approved': 'A device pairing was approved',
  'pairing.device.denied': 'A device pairing was denied',
  'pairing.device.expired': 'A device pairing was not approved in time',
  'pairing.device.collected': 'A paired device picked up its key',
  'pairing.device_token.used': 'A paired device signed in without a second step',
  'pairing.device_token.refused': 'A paired device’s key was refused',
  'pairing.device.revoked': 'A paired device was removed',
  'approval.requested': 'The phone was asked to approve',
  'approval.approved': 'Approved on the phone',
  'approval.denied': 'Denied on the phone',
  'approval.reported': 'Reported on the phone: “This wasn’t me”',
  'approval.expired': 'Nobody answered on the phone in time, or the sign-in was given up',
  'approval.failure': 'A passkey on the phone was refused',
  'login.approval.held': 'A sign-in waits for the phone',
  'login.approval.timeout': 'The phone did not answer before the device gave up',
  'account.held': 'After several reports, sign-ins wait for the phone',
  'account.released': 'The phone approved a sign-in; sign-ins no longer wait for it',
  'phone.enrolled': 'A phone was set up to approve sign-ins',
  'phone.renamed': 'A phone was renamed',
  'phone.removed': 'A phone was removed',
  'phone.resubscribed': 'A phone’s notifications were renewed',
  'push.subscription.expired': 'A phone’s notifications ended; it must turn them on again',
  'session.revoked': 'A session was signed out from the app',
  'session.minted': 'A Jellyfin session was opened for a user the gateway signed in',
  'session.mint.failed': 'A Jellyfin session could not be opened',
  'sso.started': 'Single sign-on started',
  'sso.success': 'Signed in with single sign-on',
  'sso.failure': 'A single sign-on answer was refused',
  'sso.refused': 'Single sign-on: this identity may not sign in',
  'sso.linked': 'A single sign-on identity was linked to a user',
  'sso.user.created': 'A user was created for a single sign-on identity',
  'sso.password.refused': 'A password sign-in was refused: this user signs in with single sign-on',
  'login.phone.requested': 'A sign-in by phone approval was asked for',
  'login.passkey.success': 'Signed in with a passkey alone',
  'login.passkey.failure': 'A passkey sign-in was refused',
};

/** The sentence for an event type (an unknown one — from a newer version — as readable words). */
export function auditSentence(type: string): string {
  return (AUDIT_SENTENCES as Record<string, string>)[type] ?? type.replace(/[._]/g, ' ');
}
