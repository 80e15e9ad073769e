/**
 * Comparators and match types: `i;octet` and `i;ascii-casemap` (RFC 4790 sections 9.2-9.3, RFC
 * 5228 section 2.7.3), `i;ascii-numeric` (RFC 4790 section 9.1); `:is`, `:contains`, `:matches`
 * (RFC 5228 section 2.7.1, with the match variables of RFC 5229 section 3.2) and the relational
 * `:value`/`:count` (RFC 5231). Pure.
 */

export type Comparator = "i;octet" | "i;ascii-casemap" | "i;ascii-numeric";

export type MatchType =
  | { kind: "is" }
  | { kind: "contains" }
  | { kind: "matches" }
  | { kind: "value"; relation: string }
  | { kind: "count"; relation: string };

/** ASCII letters folded to lower case only (RFC 4790 section 9.2: no other characters). */
const asciiFold = (s: string) =>
  s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));

/** RFC 4790 section 9.1: the leading digits' value, or Infinity when the string has none. */
function numeric(s: string): number {
  const m = /^[0-9]+/.exec(s);
  return m ? Number(m[0]) : Infinity;
}

/** Orders two values under a comparator: negative, zero or positive. */
export function compare(cmp: Comparator, a: string, b: string): number {
  if (cmp === "i;ascii-numeric") {
    const x = numeric(a);
    const y = numeric(b);
    return x === y ? 0 : x < y ? -1 : 1;
  }
  const x = cmp === "i;ascii-casemap" ? asciiFold(a) : a;
  const y = cmp === "i;ascii-casemap" ? asciiFold(b) : b;
  return x === y ? 0 : x < y ? -1 : 1;
}

/** RFC 5231 section 4: `value REL key`. */
export function relate(relation: string, order: number): boolean {
  switch (relation.toLowerCase()) {
    case "gt":
      return order > 0;
    case "ge":
      return order >= 0;
    case "lt":
      return order < 0;
    case "le":
      return order <= 0;
    case "eq":
      return order === 0;
    default:
      return order !== 0;
  }
}

const patternCache = new Map<string, RegExp>();

/**
 * A `:matches` pattern as an anchored regular expression: `*` any run, `?` one character, `\`
 * quotes the next. Each wildcard is a group, shortest match first, so `${1}`… are what RFC
 * 5229's examples show ("[*] *" on "[acme-users] [fwd] …" gives "acme-users").
 */
function patternRegex(pattern: string): RegExp {
  let re = patternCache.get(pattern);
  if (re) return re;
  let src = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\" && i + 1 < pattern.length) {
      src += escapeRegex(pattern[++i]);
    } else if (c === "*") src += "([\\s\\S]*?)";
    else if (c === "?") src += "([\\s\\S])";
    else src += escapeRegex(c);
  }
  // `d`: the groups' offsets, so they can be cut from the value as written (folding keeps length).
  re = new RegExp(src + "$", "du");
  if (patternCache.size > 500) patternCache.clear();
  patternCache.set(pattern, re);
  return re;
}

const escapeRegex = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/** What a successful match gave: the groups of `:matches` (`${0}` is the whole value). */
export type MatchGroups = string[] | undefined;

/**
 * Whether any value matches any key. `groups` receives the match variables of the first
 * `:matches` success (RFC 5229 section 3.2). An empty key list never matches.
 */
export function matchAny(
  values: string[],
  keys: string[],
  type: MatchType,
  cmp: Comparator,
  groups?: (g: string[]) => void,
): boolean {
  if (type.kind === "count") {
    const count = String(values.length);
    return keys.some((k) => relate(type.relation, compare(cmp, count, k)));
  }
  for (const value of values) {
    for (const key of keys) {
      if (matchOne(value, key, type, cmp, groups)) return true;
    }
  }
  return false;
}

function matchOne(
  value: string,
  key: string,
  type: MatchType,
  cmp: Comparator,
  groups?: (g: string[]) => void,
): boolean {
  switch (type.kind) {
    case "is":
      return compare(cmp, value, key) === 0;
    case "value":
      return relate(type.relation, compare(cmp, value, key));
    case "contains": {
      if (cmp === "i;ascii-numeric") return false;
      const v = cmp === "i;ascii-casemap" ? asciiFold(value) : value;
      const k = cmp === "i;ascii-casemap" ? asciiFold(key) : key;
      return v.includes(k);
    }
    case "matches": {
      if (cmp === "i;ascii-numeric") return false;
      const v = cmp === "i;ascii-casemap" ? asciiFold(value) : value;
      const k = cmp === "i;ascii-casemap" ? asciiFold(key) : key;
      const m = patternRegex(k).exec(v);
      if (!m) return false;
      if (groups) {
        // Case folding keeps every offset: cut the groups from the value as written.
        const out = [value];
        for (let i = 1; i < m.length; i++) {
          const [start, end] = m.indices![i]!;
          out.push(value.slice(start, end));
        }
        groups(out);
      }
      return true;
    }
    default:
      return false;
  }
}
