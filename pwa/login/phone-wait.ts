/** The phone approval of this sign-in, as the login page shows it while it waits. */
export interface PhoneWait {
  state: 'starting' | 'waiting' | 'expired' | 'stalled';
  /** The 2 digits to pick on the phone. */
  number: string | null;
  pushed: boolean;
  pushSkipped: string | null;
}

/** Why no notification arrived, and what to do instead. */
export function pushSkippedText(reason: string | null): string {
  switch (reason) {
    case 'disabled':
      return 'Notifications are off on this server: open the Jellyguard app on your phone to see the request.';
    case 'no_subscription':
      return 'Your phone cannot receive notifications right now: open the Jellyguard app on it to see the request.';
    case 'rate_limited':
    case 'backoff':
      return 'Several requests were sent recently, so no notification this time: open the Jellyguard app on your phone to see it.';
    default:
      return 'No notification was sent: open the Jellyguard app on your phone to see the request.';
  }
}
