import type { AuditRow, ChainState } from './chain.ts';
import type { AuditExport, AuditExportItem, AuditItem } from '../../shared/api/guard.ts';

/**
 * How audit rows leave the server: the API's JSON items (a presenter: field names for people, the
 * detail as an object), and the two export formats, CSV and JSON, which carry the chain MACs too so an
 * export can be verified on its own (`npm run audit:verify -- --file export.csv`). Both parse back to
 * exactly the stored rows.
 */

export type { AuditItem, AuditExportItem };

export const EXPORT_FORMAT = 'jellyguard-audit-v1';

export function presentRow(r: AuditRow): AuditItem {
  return {
    id: r.id,
    time: new Date(r.at).toISOString(),
    at: r.at,
    type: r.type,
    outcome: r.outcome,
    userId: r.user_id,
    userName: r.user_name,
    ip: r.ip,
    deviceId: r.device_id,
    deviceName: r.device_name,
    client: r.client,
    detail: r.detail === null ? null : (JSON.parse(r.detail) as Record<string, unknown>),
  };
}

export function exportItem(r: AuditRow): AuditExportItem {
  return { ...presentRow(r), prevMac: r.prev_mac, mac: r.mac };
}

function rowFromItem(i: AuditExportItem): AuditRow {
  return {
    id: i.id,
    at: i.at,
    type: i.type,
    outcome: i.outcome,
    user_id: i.userId,
    user_name: i.userName,
    ip: i.ip,
    device_id: i.deviceId,
    device_name: i.deviceName,
    client: i.client,
    detail: i.detail === null ? null : JSON.stringify(i.detail),
    prev_mac: i.prevMac,
    mac: i.mac,
  };
}

// ---- CSV (RFC 4180) ----

export const CSV_COLUMNS = [
  'id', 'time', 'at', 'type', 'outcome', 'user_id', 'user_name', 'ip', 'device_id', 'device_name', 'client', 'detail', 'prev_mac', 'mac',
] as const;

/**
 * A text cell: always quoted (so an empty string differs from null, which is an empty unquoted cell),
 * and a leading `= + - @ tab CR '` is escaped with `'` so that a spreadsheet never runs it as a formula.
 */
function textCell(v: string | null): string {
  if (v === null) return '';
  const guarded = /^[=+\-@\t\r']/.test(v) ? `'${v}` : v;
  return `"${guarded.replace(/"/g, '""')}"`;
}

export function csvHeader(): string {
  return CSV_COLUMNS.join(',') + '\r\n';
}

export function csvLine(r: AuditRow): string {
  return [
    String(r.id),
    textCell(new Date(r.at).toISOString()),
    String(r.at),
    textCell(r.type),
    textCell(r.outcome),
    textCell(r.user_id),
    textCell(r.user_name),
    textCell(r.ip),
    textCell(r.device_id),
    textCell(r.device_name),
    textCell(r.client),
    textCell(r.detail),
    textCell(r.prev_mac),
    textCell(r.mac),
  ].join(',') + '\r\n';
}

/** Parse CSV into records of cells; a cell is null when it was empty and unquoted. */
export function parseCsv(text: string): Array<Array<string | null>> {
  const records: Array<Array<string | null>> = [];
  let record: Array<string | null> = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    let cell: string | null;
    if (text[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= n) throw new Error('CSV: a quoted cell is not closed');
        const c = text[i]!;
        if (c === '"') {
          if (text[i + 1] === '"') {
            v += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += c;
        i++;
      }
      cell = v.startsWith("'") ? v.slice(1) : v;
    } else {
      let j = i;
      while (j < n && text[j] !== ',' && text[j] !== '\r' && text[j] !== '\n') j++;
      const v = text.slice(i, j);
      cell = v === '' ? null : v;
      i = j;
    }
    record.push(cell);
    if (i >= n) {
      records.push(record);
      break;
    }
    const sep = text[i];
    if (sep === ',') {
      i++;
      if (i >= n) {
        record.push(null);
        records.push(record);
      }
      continue;
    }
    if (sep === '\r' && text[i + 1] === '\n') i += 2;
    else if (sep === '\n' || sep === '\r') i++;
    else throw new Error(`CSV: unexpected character after a quoted cell at ${i}`);
    records.push(record);
    record = [];
  }
  return records;
}

function num(v: string | null | undefined, what: string): number {
  if (v === null || v === undefined || !/^\d+$/.test(v)) throw new Error(`CSV: ${what} is not a number`);
  return Number(v);
}

function text(v: string | null | undefined, what: string): string {
  if (v === null || v === undefined) throw new Error(`CSV: ${what} is missing`);
  return v;
}

/** Rows from a CSV export. */
export function rowsFromCsv(csv: string): AuditRow[] {
  const records = parseCsv(csv);
  const header = records.shift();
  if (!header || header.join(',') !== CSV_COLUMNS.join(',')) throw new Error('CSV: not a Jellyguard audit export (unexpected header)');
  return records.map((c, k) => {
    if (c.length !== CSV_COLUMNS.length) throw new Error(`CSV: line ${k + 2} has ${c.length} cells, not ${CSV_COLUMNS.length}`);
    const opt = (idx: number) => c[idx] ?? null;
    return {
      id: num(c[0], 'id'),
      at: num(c[2], 'at'),
      type: text(c[3], 'type'),
      outcome: text(c[4], 'outcome'),
      user_id: opt(5),
      user_name: opt(6),
      ip: opt(7),
      device_id: opt(8),
      device_name: opt(9),
      client: opt(10),
      detail: opt(11),
      prev_mac: c[12] ?? '',
      mac: text(c[13], 'mac'),
    };
  });
}

/** Rows from a JSON export. */
export function rowsFromJson(json: string): AuditRow[] {
  return parseJsonExport(json).rows;
}

function parseJsonExport(json: string): { rows: AuditRow[]; chain: ChainState | undefined } {
  const doc = JSON.parse(json) as Partial<AuditExport>;
  if (doc.format !== EXPORT_FORMAT || !Array.isArray(doc.items)) throw new Error('JSON: not a Jellyguard audit export');
  const c = doc.chain;
  const chain = c && { head_id: c.headId, head_mac: c.headMac, anchor_id: c.anchorId, anchor_mac: c.anchorMac, seal: c.seal };
  return { rows: doc.items.map(rowFromItem), chain };
}

/**
 * Rows from either export format (told apart by the first character), and the sealed chain ends when
 * the file carries them (a complete JSON export).
 */
export function parseExport(content: string): { rows: AuditRow[]; chain: ChainState | undefined } {
  return content.trimStart().startsWith('{') ? parseJsonExport(content) : { rows: rowsFromCsv(content), chain: undefined };
}

export function rowsFromExport(content: string): AuditRow[] {
  return parseExport(content).rows;
}

/** The sealed ends as a JSON export carries them. */
export function chainForExport(c: ChainState): NonNullable<AuditExport['chain']> {
  return { headId: c.head_id, headMac: c.head_mac, anchorId: c.anchor_id, anchorMac: c.anchor_mac, seal: c.seal };
}
