/**
 * Jellyfin user and item ids: the canonical (N, lower-case: 32 hex digits) form of a string .NET's
 * Guid.TryParse would accept, else undefined. One reading for every id the gateway compares (paths,
 * query parameters, JSON answers), so that it names the same user Jellyfin does, in whichever form the
 * client or the upstream wrote it.
 */
export function canonicalGuid(id: string | undefined): string | undefined {
  return id === undefined ? undefined : (parseGuid(id) ?? undefined);
}

/** The value of a hex digit's char code, or -1. */
export function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

// As .NET Guid.TryParse reads them (System.Private.CoreLib/src/System/Guid.cs).

function isDotNetWhiteSpace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  if (c < 0x85) return false;
  return (
    c === 0x85 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000
  );
}

function hex(n: number, width: number): string {
  return (n >>> 0).toString(16).padStart(width, '0');
}

/** Guid.cs `TryParseHex`: optional '+', optional "0x"/"0X", leading zeros, hex digits. */
function tryParseHex(s: string, start: number, end: number): { value: number; overflow: boolean } | null {
  if (end > start) {
    if (s.charCodeAt(start) === 0x2b) start++;
    if (end - start > 1 && s.charCodeAt(start) === 0x30 && (s.charCodeAt(start + 1) | 0x20) === 0x78) start += 2;
  }
  while (start < end && s.charCodeAt(start) === 0x30) start++;
  let digits = 0;
  let value = 0;
  for (let i = start; i < end; i++) {
    const v = hexValue(s.charCodeAt(i));
    if (v < 0) return null;
    value = ((value * 16) + v) >>> 0;
    digits++;
  }
  return { value, overflow: digits > 8 };
}

function allHex(s: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (hexValue(s.charCodeAt(i)) < 0) return false;
  return true;
}

/** D format on s[o, o+36). */
function parseD(s: string, o: number): string | null {
  if (s.charCodeAt(o + 8) !== 0x2d || s.charCodeAt(o + 13) !== 0x2d || s.charCodeAt(o + 18) !== 0x2d || s.charCodeAt(o + 23) !== 0x2d) {
    return null;
  }
  if (allHex(s, o, o + 8) && allHex(s, o + 9, o + 13) && allHex(s, o + 14, o + 18) && allHex(s, o + 19, o + 23) && allHex(s, o + 24, o + 36)) {
    return (
      s.slice(o, o + 8) + s.slice(o + 9, o + 13) + s.slice(o + 14, o + 18) + s.slice(o + 19, o + 23) + s.slice(o + 24, o + 36)
    ).toLowerCase();
  }
  // Compat: components may carry '+' and/or "0x" within their fixed width; the last 8 digits never.
  let hasCompat = false;
  for (let i = o; i < o + 36; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2b || (c | 0x20) === 0x78) {
      hasCompat = true;
      break;
    }
  }
  if (!hasCompat) return null;
  const a = tryParseHex(s, o, o + 8);
  const b = tryParseHex(s, o + 9, o + 13);
  const c = tryParseHex(s, o + 14, o + 18);
  const de = tryParseHex(s, o + 19, o + 23);
  const fg = tryParseHex(s, o + 24, o + 28);
  if (!a || !b || !c || !de || !fg || !allHex(s, o + 28, o + 36)) return null;
  return (
    hex(a.value, 8) + hex(b.value & 0xffff, 4) + hex(c.value & 0xffff, 4) + hex(de.value & 0xffff, 4) +
    hex(fg.value & 0xffff, 4) + s.slice(o + 28, o + 36).toLowerCase()
  );
}

/** X format: {0xa,0xb,0xc,{0xd,0xe,0xf,0xg,0xh,0xi,0xj,0xk}}, whitespace anywhere. */
function parseX(input: string): string | null {
  let s = '';
  for (let i = 0; i < input.length; i++) if (!isDotNetWhiteSpace(input.charCodeAt(i))) s += input[i];
  const isHexPrefix = (i: number): boolean => i + 1 < s.length && s.charCodeAt(i) === 0x30 && (s.charCodeAt(i + 1) | 0x20) === 0x78;
  if (s.length === 0 || s.charCodeAt(0) !== 0x7b || !isHexPrefix(1)) return null;
  const parts: number[] = [];
  let numStart = 3;
  let numLen = s.indexOf(',', numStart) - numStart;
  if (numLen <= 0) return null;
  let r = tryParseHex(s, numStart, numStart + numLen);
  if (!r || r.overflow) return null;
  parts.push(r.value);
  for (let k = 0; k < 2; k++) {
    if (!isHexPrefix(numStart + numLen + 1)) return null;
    numStart = numStart + numLen + 3;
    numLen = s.indexOf(',', numStart) - numStart;
    if (numLen <= 0) return null;
    r = tryParseHex(s, numStart, numStart + numLen);
    if (!r || r.overflow) return null;
    parts.push(r.value & 0xffff);
  }
  if (s.length <= numStart + numLen + 1 || s.charCodeAt(numStart + numLen + 1) !== 0x7b) return null;
  numLen++;
  let bytes = '';
  for (let k = 0; k < 8; k++) {
    if (!isHexPrefix(numStart + numLen + 1)) return null;
    numStart = numStart + numLen + 3;
    numLen = s.indexOf(k < 7 ? ',' : '}', numStart) - numStart;
    if (numLen <= 0) return null;
    r = tryParseHex(s, numStart, numStart + numLen);
    if (!r || r.overflow || r.value > 0xff) return null;
    bytes += hex(r.value, 2);
  }
  if (numStart + numLen + 1 >= s.length || s.charCodeAt(numStart + numLen + 1) !== 0x7d) return null;
  if (numStart + numLen + 1 !== s.length - 1) return null;
  return hex(parts[0]!, 8) + hex(parts[1]!, 4) + hex(parts[2]!, 4) + bytes;
}

function parseGuid(segment: string): string | null {
  if (segment.length < 32) return null;
  let start = 0;
  let end = segment.length;
  while (start < end && isDotNetWhiteSpace(segment.charCodeAt(start))) start++;
  while (end > start && isDotNetWhiteSpace(segment.charCodeAt(end - 1))) end--;
  const len = end - start;
  if (len < 32) return null;
  const c0 = segment.charCodeAt(start);
  if (c0 === 0x28 /* ( */) {
    return len === 38 && segment.charCodeAt(end - 1) === 0x29 ? parseD(segment, start + 1) : null;
  }
  if (c0 === 0x7b /* { */) {
    if (segment.charCodeAt(start + 9) === 0x2d) {
      return len === 38 && segment.charCodeAt(end - 1) === 0x7d ? parseD(segment, start + 1) : null;
    }
    return parseX(segment.slice(start, end));
  }
  if (segment.charCodeAt(start + 8) === 0x2d) return len === 36 ? parseD(segment, start) : null;
  if (len !== 32 || !allHex(segment, start, end)) return null;
  return segment.slice(start, end).toLowerCase();
}
