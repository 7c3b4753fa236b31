/**
 * Answering an approval (shared/api/approvals.ts "Approvals"): read it, check its commitment, approve
 * with the matching number and a passkey tap, deny, or report "This wasn't me" (also a passkey tap: it
 * bans an address and alerts the admins).
 */
import type { ApprovalView, ApprovalsResponse } from '../../../shared/api/approvals.ts';
import { ENDPOINTS } from '../../../shared/api/endpoints.ts';
import { ApiError, call } from './api.ts';
import { commitmentHolds } from './commitment.ts';
import { countryName, isLocalAddress } from './format.ts';
import { requestOptionsOf, signWithPasskey } from '../../common/passkey.ts';
import { clientOnDevice } from '../../common/device.ts';

export type { ApprovalView, ApprovalsResponse };

export const pendingApprovals = () => call(ENDPOINTS.MeApprovals);
export const getApproval = (id: string) => call(ENDPOINTS.Approval, { params: { approvalId: id } });

/** The page's view and what it commits to disagree: never sign. */
export class CommitmentMismatch extends Error {
  constructor() {
    super('This request could not be checked, so it cannot be approved here. Deny it, or try again.');
    this.name = 'CommitmentMismatch';
  }
}

/** A passkey signature over exactly this approval's challenge. */
async function signApproval(view: ApprovalView): Promise<unknown> {
  if (!(await commitmentHolds(view))) throw new CommitmentMismatch();
  const options = requestOptionsOf(await call(ENDPOINTS.ApprovalOptions, { params: { approvalId: view.id } }));
  if (options.challenge !== view.commitment.challenge) throw new CommitmentMismatch();
  return signWithPasskey(options);
}

export async function approve(view: ApprovalView, number: string | null): Promise<ApprovalView> {
  const response = await signApproval(view);
  return call(ENDPOINTS.ApprovalApprove, { params: { approvalId: view.id }, body: { ...(number ? { number } : {}), response } });
}

export const deny = (view: ApprovalView) => call(ENDPOINTS.ApprovalDeny, { params: { approvalId: view.id } });

export async function report(view: ApprovalView): Promise<ApprovalView> {
  const response = await signApproval(view);
  return call(ENDPOINTS.ApprovalReport, { params: { approvalId: view.id }, body: { response } });
}

/** What an approval error means for the person holding the phone. */
export function approvalErrorText(err: unknown): string | null {
  if (err instanceof CommitmentMismatch) return err.message;
  if (!(err instanceof ApiError)) return null;
  switch (err.code) {
    case 'wrong_number':
      return 'That was not the number on the screen, so the sign-in was stopped. If it was you, sign in again.';
    case 'approval_over':
      return 'This request was already answered.';
    case 'approval_expired':
      return 'This request has expired. If it was you, sign in again on the other device.';
    case 'unknown_approval':
      return 'This request does not exist (any more).';
    case 'invalid_assertion': {
      const left = typeof err.body.attemptsLeft === 'number' ? err.body.attemptsLeft : null;
      if (left === 0) return 'That passkey was not accepted, so the request was stopped.';
      return 'That passkey was not accepted. Use the passkey of this account on this phone.';
    }
    case 'number_required':
      return 'Pick the number shown on the other screen first.';
    default:
      return null;
  }
}

/** "Jellyfin Roku on Living room TV" */
export function describeRequester(v: ApprovalView): string {
  return clientOnDevice(v.asking.client, v.asking.deviceName) ?? 'An unknown app';
}

/** "Sydney, Australia", "Your local network", or null when nothing is known. */
export function placeOf(v: ApprovalView): string | null {
  const p = v.asking.place;
  const named = p ? [p.city, p.country ? countryName(p.country) : null].filter(Boolean).join(', ') : '';
  if (named) return named;
  return isLocalAddress(v.asking.ip) ? 'Your local network' : null;
}

export function kindTitle(v: ApprovalView): string {
  switch (v.kind) {
    case 'login':
    case 'signin':
      return 'Sign-in request';
    case 'pairing':
      return 'Pair a device';
    case 'stepup':
      return 'Confirm a change';
    case 'newdevice':
      return 'New device';
    case 'change':
      return 'Your sign-in keys changed';
  }
}
