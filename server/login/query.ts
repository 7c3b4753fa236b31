/**
 * The query's name/value pairs as Jellyfin's model binding reads them: ASP.NET's parsing ('&'-separated,
 * '+' a space, decoded once), then Jellyfin's UrlDecodeQueryFeature (Jellyfin.Server/Middleware): a query
 * that is ONE key with no value and an '=' in it — a whole query encoded, `?userId%3Dabc%26x%3D1` — is
 * split again on '&' and '=' (not decoded again). A gateway reading only the first form would miss a
 * `userId` that Jellyfin binds.
 */
export function jellyfinQueryPairs(querystring: string): Array<[string, string]> {
  const pairs = [...new URLSearchParams(querystring)];
  if (pairs.length === 0) return pairs;
  const key = pairs[0]![0];
  if (pairs.some(([k]) => k.toLowerCase() !== key.toLowerCase())) return pairs;
  // StringValues as a string: its values joined with ',' — only one empty value counts as "no value".
  if (pairs.map(([, v]) => v).join(',') !== '' || !key.includes('=')) return pairs;
  const out: Array<[string, string]> = [];
  for (const piece of key.split('&')) {
    const i = piece.indexOf('=');
    if (i === -1) {
      if (!out.some(([k]) => k === piece)) out.push([piece, '']);
    } else {
      out.push([piece.slice(0, i), piece.slice(i + 1)]);
    }
  }
  return out;
}

/** A query parameter by case-insensitive name, as ASP.NET binds it (the last of repeated keys is not used: the first is). */
export function queryParam(querystring: string, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of jellyfinQueryPairs(querystring)) if (k.toLowerCase() === lower) return v;
  return undefined;
}
