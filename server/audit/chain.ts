import { timingSafeEqual } from 'node:crypto';
import { deriveKey, mac } from '../crypto.ts';

/**
 * The audit log's keyed hash chain. Each row carries the MAC of the row before it (`prev_mac`) and its
 * own MAC over that and every field, under a key derived from the gateway's HMAC key: whoever edits,
 * deletes or reorders a row without the key breaks the chain at that row. The two ends are kept, sealed
 * with the same key, in `audit_chain`: the head (the last row written: a truncated tail shows) and the
 * anchor (the last row retention removed: a trimmed start shows).
 *
 * Limits, stated plainly: someone holding the key (it lives in the data directory, or the environment)
 * can rewrite the chain; someone who saved an old sealed head can roll the log back to it.
 */

/** One stored row, exactly as in the `audit_log` table. */
export interface AuditRow {
  id: number;
  at: number;
  type: string;
  outcome: string;
  user_id: string | null;
  user_name: string | null;
  ip: string | null;
  device_id: string | null;
  device_name: string | null;
  client: string | null;
  /** A JSON object as text, or null. */
  detail: string | null;
  prev_mac: string;
  mac: string;
}

/** The two sealed ends of the chain. */
export interface ChainState {
  head_id: number;
  head_mac: string;
  anchor_id: number;
  anchor_mac: string;
  seal: string;
}

/** The chain before the first row: nothing written, nothing removed. */
export const GENESIS_MAC = '';

/** A key for the chain only, derived from the gateway's HMAC key (domain separation from token hashes). */
export function chainKey(hmacKey: Buffer): Buffer {
  return deriveKey(hmacKey, 'jellyguard audit chain v1');
}

/** The MAC of a row: over its predecessor's MAC and every field, in a fixed order. */
export function rowMac(key: Buffer, row: Omit<AuditRow, 'mac'>): string {
  const fields = [
    row.prev_mac,
    row.id,
    row.at,
    row.type,
    row.outcome,
    row.user_id,
    row.user_name,
    row.ip,
    row.device_id,
    row.device_name,
    row.client,
    row.detail,
  ];
  return mac(key, JSON.stringify(fields));
}

export function sealOf(key: Buffer, s: Omit<ChainState, 'seal'>): string {
  const fields = ['chain', s.head_id, s.head_mac, s.anchor_id, s.anchor_mac];
  return mac(key, JSON.stringify(fields));
}

export function sealed(key: Buffer, s: Omit<ChainState, 'seal'>): ChainState {
  return { ...s, seal: sealOf(key, s) };
}

export function sameMac(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export type ChainProblem =
  /** The sealed ends were edited. */
  | 'seal'
  /** The first row does not follow the anchor: rows at the start were removed outside retention. */
  | 'anchor'
  /** Ids jump: rows were deleted here. */
  | 'gap'
  /** A row does not follow the one before it (deleted, reordered, or the one before was edited). */
  | 'link'
  /** A row's fields no longer match its MAC: it was edited. */
  | 'edited'
  /** The last row is not the sealed head: rows at the end were removed or added. */
  | 'head';

export interface VerifyResult {
  ok: boolean;
  /** Rows checked. */
  rows: number;
  firstId: number | null;
  lastId: number | null;
  /** Every problem found, in order (at most 100 kept). */
  problems: Array<{ id: number | null; problem: ChainProblem; message: string }>;
}

/**
 * Walk rows in ascending id order and check every link. With `chain` (the sealed ends from the store)
 * the start and the end are checked too; without it (an export file) only the rows between.
 */
export async function verifyRows(key: Buffer, rows: Iterable<AuditRow> | AsyncIterable<AuditRow>, chain?: ChainState): Promise<VerifyResult> {
  const problems: VerifyResult['problems'] = [];
  const add = (id: number | null, problem: ChainProblem, message: string) => {
    if (problems.length < 100) problems.push({ id, problem, message });
  };
  if (chain && !sameMac(chain.seal, sealOf(key, chain))) {
    add(null, 'seal', 'the stored chain ends (head and anchor) do not match their seal: they were edited');
  }
  let prevId: number | null = chain ? chain.anchor_id : null;
  let prevMac: string | null = chain ? chain.anchor_mac : null;
  let firstId: number | null = null;
  let count = 0;
  for await (const row of rows as AsyncIterable<AuditRow>) {
    count++;
    if (firstId === null) {
      firstId = row.id;
      if (chain && row.id !== chain.anchor_id + 1) {
        add(row.id, 'anchor', `the log should start at row ${chain.anchor_id + 1} but starts at ${row.id}: rows were removed`);
      }
    } else if (prevId !== null && row.id !== prevId + 1) {
      add(row.id, 'gap', `rows ${prevId + 1}–${row.id - 1} are missing`);
    }
    if (prevMac !== null && !sameMac(row.prev_mac, prevMac)) {
      add(row.id, 'link', `row ${row.id} does not follow row ${prevId ?? '?'}`);
    }
    const { mac: _mac, ...rest } = row;
    if (!sameMac(row.mac, rowMac(key, rest))) add(row.id, 'edited', `row ${row.id} was changed after it was written`);
    prevId = row.id;
    prevMac = row.mac;
  }
  if (chain) {
    const lastId = prevId ?? chain.anchor_id;
    const lastMac = prevMac ?? chain.anchor_mac;
    if (lastId !== chain.head_id || !sameMac(lastMac, chain.head_mac)) {
      add(count ? lastId : null, 'head', `the log should end at row ${chain.head_id} but ends at ${count ? lastId : 'nothing'}`);
    }
  }
  return { ok: problems.length === 0, rows: count, firstId, lastId: count ? prevId : null, problems };
}
