import type { FactorAction } from '../../shared/api/stepup.ts';
import type { GatewayContext } from '../context.ts';
import type { UserDirectory } from '../gate/users.ts';
import type { FactorChanges } from '../stepup/changes.ts';
import type { StepUp } from '../stepup/index.ts';
import { actorOf } from './http.ts';

/**
 * After a change to the session's own factors went through: the step-up grant that allowed it is spent,
 * and the owner's phones and e-mail are told (server/stepup/changes.ts; "This wasn't me" undoes it).
 */
export type ChangeRecorder = (ctx: GatewayContext, change: FactorAction, ref?: string | null, name?: string | null, previousEmail?: string | null) => Promise<void>;

export function changeRecorder(d: { stepUp: StepUp; factorChanges: FactorChanges; users: UserDirectory }): ChangeRecorder {
  return async (ctx, change, ref = null, name = null, previousEmail = null) => {
    const actor = actorOf(ctx);
    const proof = d.stepUp.proofOf(actor, change);
    d.stepUp.finished(actor, change);
    const userName = (await d.users.get(actor.session.userId))?.name ?? actor.session.userId;
    await d.factorChanges.record(actor, userName, change, proof, ref, name, previousEmail);
  };
}
