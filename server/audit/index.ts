export { nullAuditSink, type AuditEvent, type AuditSink } from './event.ts';
export { AuditLog, verifyStore, type AuditFilter, type AuditLogOptions } from './log.ts';
export { verifyRows, chainKey, type AuditRow, type ChainState, type VerifyResult } from './chain.ts';
export { presentRow, exportItem, parseExport, rowsFromExport, rowsFromCsv, rowsFromJson, chainForExport, csvHeader, csvLine, EXPORT_FORMAT } from './export.ts';
export type { AuditItem, AuditExportItem } from './export.ts';
