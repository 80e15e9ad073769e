/**
 * Structured MIME header values, `value; name=value; …` (Content-Type and Content-Disposition:
 * RFC 2045 section 5.1, RFC 2183), read the way the process host's parser (libmime) reads them,
 * so that both ports find the same boundary and the same file name: comments dropped except
 * where a "(" continues a token (`filename=Invoice(1).pdf`); a parameter given twice keeps its
 * first value; what follows a closed quoted string up to the next ";" is ignored; RFC 2231
 * continuations (`name*0`, `name*1*`) are joined and their charset'language' prefix and %XX
 * escapes decoded (sections 3 and 4), and such a value overrides a plain one of the same name
 * (RFC 6266 section 4.3). Encoded-words in plain parameter values are decoded by the caller.
 * Pure; never throws.
 */
import { decodeWord, decodeWords } from "./encoded_words.ts";

export interface HeaderParams {
  /** The value before the first ";" (`text/plain`, `attachment`), as written. */
  value: string;
  /** Parameters by lower-case name. */
  params: Map<string, string>;
  /** Names whose value came from RFC 2231 form (already decoded). */
  decoded: Set<string>;
}

const isWsp = (c: string) =>
  c === " " || c === "\t" || c === "\r" || c === "\n" || c === "\f" || c === "\v";

/** The ")" that closes the comment opening at `start` (nested, with escapes), or -1. */
function commentEnd(text: string, start: number): number {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === "\\") i++;
    else if (c === "(") depth++;
    else if (c === ")" && --depth === 0) return i;
  }
  return -1;
}

export function parseHeaderParams(text: string, stripComments = true): HeaderParams {
  const result: HeaderParams = { value: "", params: new Map(), decoded: new Set() };
  const raw = new Map<string, string>();
  let key: string | false = false;
  let value = "";
  let valueEnd = 0;
  let inKey = false;
  let quote = false;
  let quoteClosed = false;
  let escaped = false;
  let tokenOpen = false;
  let strip = stripComments;

  const commit = () => {
    const collected = value.slice(0, valueEnd);
    value = "";
    valueEnd = 0;
    if (inKey) {
      const name = collected.toLowerCase();
      if (name && !raw.has(name)) raw.set(name, "");
    } else if (key === false) result.value = collected;
    else if (!raw.has(key)) raw.set(key, collected);
  };

  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (strip && c === "(" && !quote && !escaped && !tokenOpen) {
      let end = commentEnd(text, i);
      // An unclosed comment runs to the end, unless a parameter follows: then it is content.
      if (end < 0 && text.indexOf(";", i) < 0) end = text.length - 1;
      if (end >= 0) {
        i = end;
        continue;
      }
      strip = false;
    }
    if (inKey) {
      if (c === "=") {
        key = value.slice(0, valueEnd).toLowerCase();
        value = "";
        valueEnd = 0;
        inKey = false;
        tokenOpen = true;
      } else if (c === ";") commit();
      else if (isWsp(c)) {
        if (value.length) value += c;
      } else {
        value += c;
        valueEnd = value.length;
      }
      continue;
    }
    if (quoteClosed && c !== ";") {
      escaped = false;
      continue;
    }
    if (escaped) {
      value += c;
      valueEnd = value.length;
      tokenOpen = key !== false && !quote;
    } else if (c === "\\") {
      escaped = true;
      continue;
    } else if (c === '"') {
      quoteClosed = quote;
      quote = !quote;
      tokenOpen = false;
    } else if (!quote && c === ";") {
      commit();
      inKey = true;
      tokenOpen = false;
      quoteClosed = false;
    } else if (!quote && isWsp(c)) {
      if (value.length) value += c;
      tokenOpen = false;
    } else {
      value += c;
      valueEnd = value.length;
      tokenOpen = key !== false && !quote;
    }
    escaped = false;
  }
  commit();

  // RFC 2231 section 3: collect the segments of continued parameters.
  const continued = new Map<string, { charset: string | false; parts: [number, string][] }>();
  for (const [name, v] of raw) {
    const m = name.match(/\*((\d+)\*?)?$/);
    if (!m) {
      result.params.set(name, v);
      continue;
    }
    const base = name.slice(0, m.index).toLowerCase();
    const nr = Number(m[2]) || 0;
    let entry = continued.get(base);
    if (!entry) {
      entry = { charset: false, parts: [] };
      continued.set(base, entry);
    }
    let segment = v;
    const prefixed = nr === 0 && m[0].endsWith("*") ? v.match(/^([^']*)'[^']*'(.*)$/) : null;
    if (prefixed) {
      entry.charset = prefixed[1] || "utf-8";
      segment = prefixed[2];
    }
    entry.parts.push([nr, segment]);
  }
  for (const [name, entry] of continued) {
    const joined = entry.parts.sort((a, b) => a[0] - b[0]).map((p) => p[1]).join("");
    result.decoded.add(name);
    if (!entry.charset) {
      result.params.set(name, decodeWords(joined));
      continue;
    }
    // Section 4: %XX escapes in the declared charset, read through the "Q" decoder.
    const q = joined
      .replace(
        /[=_\s]/g,
        (s) => s === " " ? "_" : `%${s.charCodeAt(0).toString(16).padStart(2, "0")}`,
      )
      .replace(/%/g, "=");
    result.params.set(name, decodeWord(entry.charset, "Q", q));
  }
  return result;
}
