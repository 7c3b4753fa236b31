import type { AuditEvent } from '../audit/index.ts';
import type { PairingsTable, QuickConnectTable } from '../store/schema.ts';
import type { PairTarget } from '../../shared/api/pairing.ts';
import type { DevicePairings } from './devices.ts';
import type { QuickConnectRequests } from '../login/quick-connect.ts';

/** Who is acting on a code: the address, and the signed-in user when there is one. */
export interface CodeActor {
  ip: string;
  userId?: string;
  userName?: string;
}

/** A code found waiting: what the phone shows, and the row behind it. */
export interface LookedUp {
  target: PairTarget;
  quickConnect?: QuickConnectTable;
  pairing?: PairingsTable;
}

/** What phone approval (server/pairing/phone.ts) needs of TV pairing; `Pairing` (server/pairing/index.ts) provides it. */
export interface PairingTargets {
  readonly codes: Pick<QuickConnectRequests, 'pending'>;
  readonly devices: Pick<DevicePairings, 'approve' | 'deny'>;
  lookup(input: string, actor: CodeActor): Promise<LookedUp>;
  authorizeQuickConnect(code: string, userId: string): Promise<boolean>;
  audit(e: AuditEvent): void;
}
