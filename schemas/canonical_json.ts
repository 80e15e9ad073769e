/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): the exact bytes federation signatures cover.
 * Object members are sorted by their names' UTF-16 code units (section 3.2.3), numbers are
 * written the ECMAScript way (section 3.2.2.3, which `JSON.stringify` implements), strings with
 * the minimal escaping of `JSON.stringify` (section 3.2.2.2), no whitespace. Pure: no I/O.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The canonical text of a JSON value; throws on values JSON cannot carry (NaN, functions). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === "boolean" || typeof value === "string") {
    return JSON.stringify(value);
  }
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError("RFC 8785: numbers must be finite");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(",")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined);
    // Section 3.2.3: sort by UTF-16 code units, which is what `<` on JS strings compares.
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  throw new TypeError(`RFC 8785: cannot canonicalize a ${typeof value}`);
}

/** The canonical UTF-8 bytes (section 3.2.4: the output is UTF-8). */
export function canonicalBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value));
}
