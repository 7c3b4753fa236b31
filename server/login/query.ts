/** A query parameter by case-insensitive name, as ASP.NET binds it (the last of repeated keys is not used: the first is). */
export function queryParam(querystring: string, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of new URLSearchParams(querystring)) if (k.toLowerCase() === lower) return v;
  return undefined;
}
