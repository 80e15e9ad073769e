/**
 * RFC 5229 (variables): `${name}` and match variables `${0}`…`${9}` expanded in strings
 * (section 3), the `set` modifiers in their precedence order (section 4.1), and variable
 * values bounded in length. Names are case-insensitive. Pure.
 */
const MAX_VALUE_CHARS = 4096;
const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*|[0-9]+)\}/g;

export class Variables {
  private readonly vars = new Map<string, string>();
  /** `${0}` is the whole value of the last successful `:matches`, then each wildcard. */
  matches: string[] = [];

  get(name: string): string {
    if (/^[0-9]+$/.test(name)) return this.matches[Number(name)] ?? "";
    return this.vars.get(name.toLowerCase()) ?? "";
  }

  set(name: string, value: string) {
    this.vars.set(name.toLowerCase(), value.slice(0, MAX_VALUE_CHARS));
  }

  /** Section 3: references to unknown variables expand to the empty string. */
  expand(s: string): string {
    if (!s.includes("${")) return s;
    return s.replace(REFERENCE, (_, name: string) => this.get(name));
  }
}

/** Section 4.1: modifiers apply from the highest precedence down. */
export function applyModifiers(value: string, tags: ReadonlySet<string>): string {
  let v = value;
  if (tags.has("lower")) v = v.toLowerCase();
  if (tags.has("upper")) v = v.toUpperCase();
  if (tags.has("lowerfirst")) v = v.charAt(0).toLowerCase() + v.slice(1);
  if (tags.has("upperfirst")) v = v.charAt(0).toUpperCase() + v.slice(1);
  if (tags.has("quotewildcard")) v = v.replace(/[*?\\]/g, "\\$&");
  if (tags.has("length")) v = String([...v].length);
  return v;
}
