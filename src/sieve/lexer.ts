/**
 * The Sieve lexer (RFC 5228 section 8.1): identifiers, tags, numbers with their K/M/G
 * quantifiers, quoted strings with `\\` and `\"` escapes, `text:` multi-line strings with dot
 * unstuffing, the punctuation of lists, blocks and test lists, and both comment forms. Pure: a
 * script in, tokens out, or the first error with its line and column (bad input is normal here;
 * it never throws past `tokenize`).
 */
import { type Position, SieveSyntaxError } from "./errors.ts";

export type Token =
  | { kind: "identifier"; value: string; at: Position }
  | { kind: "tag"; value: string; at: Position }
  | { kind: "number"; value: number; at: Position }
  | { kind: "string"; value: string; multiline: boolean; at: Position }
  | { kind: "punct"; value: "[" | "]" | "{" | "}" | "(" | ")" | "," | ";"; at: Position }
  | { kind: "eof"; at: Position };

const QUANTIFIERS: Record<string, number> = { K: 1024, M: 1024 ** 2, G: 1024 ** 3 };
/** RFC 5228 section 8.1: numbers are unsigned and must fit in 2^32 - 1 after the quantifier. */
const MAX_NUMBER = 2 ** 32 - 1;
const IDENT_START = /[A-Za-z_]/;
const IDENT_REST = /[A-Za-z0-9_]/;

/** Splits a script into tokens; throws SieveSyntaxError (caught by `parseScript`). */
export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const at = (): Position => ({ line, column: i - lineStart + 1 });
  const fail = (reason: string, pos = at()): never => {
    throw new SieveSyntaxError(pos, reason);
  };
  const newline = () => {
    line++;
    lineStart = i;
  };

  while (i < src.length) {
    const c = src[i];
    if (c === "\n") {
      i++;
      newline();
      continue;
    }
    if (c === " " || c === "\t" || c === "\r") {
      i++;
      continue;
    }
    if (c === "#") {
      while (i < src.length && src[i] !== "\n") i++;
      continue;
    }
    if (c === "/" && src[i + 1] === "*") {
      const start = at();
      i += 2;
      while (i < src.length && !(src[i] === "*" && src[i + 1] === "/")) {
        if (src[i] === "\n") {
          i++;
          newline();
        } else i++;
      }
      if (i >= src.length) fail("unterminated /* comment", start);
      i += 2;
      continue;
    }
    const pos = at();
    if ("[]{}(),;".includes(c)) {
      out.push({ kind: "punct", value: c as "[", at: pos });
      i++;
      continue;
    }
    if (c === ":") {
      i++;
      if (!IDENT_START.test(src[i] ?? "")) fail("a tag needs a name after ':'", pos);
      const s = i;
      while (i < src.length && IDENT_REST.test(src[i])) i++;
      out.push({ kind: "tag", value: src.slice(s, i).toLowerCase(), at: pos });
      continue;
    }
    if (c >= "0" && c <= "9") {
      const s = i;
      while (i < src.length && src[i] >= "0" && src[i] <= "9") i++;
      let value = Number(src.slice(s, i));
      const q = src[i]?.toUpperCase();
      if (q && q in QUANTIFIERS) {
        value *= QUANTIFIERS[q];
        i++;
      }
      if (IDENT_REST.test(src[i] ?? "")) fail(`"${src.slice(s, i + 1)}" is not a number`, pos);
      if (value > MAX_NUMBER) fail("number is larger than 4294967295", pos);
      out.push({ kind: "number", value, at: pos });
      continue;
    }
    if (c === '"') {
      i++;
      let value = "";
      for (;;) {
        if (i >= src.length) fail("unterminated string", pos);
        const ch = src[i];
        if (ch === '"') break;
        if (ch === "\\") {
          // RFC 5228 section 2.4.2: only \\ and \" are escapes; any other backslash is dropped.
          value += src[i + 1] ?? "";
          if (src[i + 1] === "\n") {
            i += 2;
            newline();
            continue;
          }
          i += 2;
          continue;
        }
        value += ch;
        i++;
        if (ch === "\n") newline();
      }
      i++;
      // Scripts arrive with bare LF as often as CRLF; a string's line breaks are CRLF (2.4.2).
      out.push({
        kind: "string",
        value: value.replace(/\r?\n/g, "\r\n"),
        multiline: false,
        at: pos,
      });
      continue;
    }
    if (IDENT_START.test(c)) {
      const s = i;
      while (i < src.length && IDENT_REST.test(src[i])) i++;
      const word = src.slice(s, i).toLowerCase();
      if (word === "text" && src[i] === ":") {
        i++;
        out.push({ kind: "string", value: readMultiline(), multiline: true, at: pos });
        continue;
      }
      out.push({ kind: "identifier", value: word, at: pos });
      continue;
    }
    fail(`unexpected character "${c}"`);
  }
  out.push({ kind: "eof", at: at() });
  return out;

  /** RFC 5228 section 2.4.2: `text:` [spaces] [comment] CRLF, lines, "." CRLF. */
  function readMultiline(): string {
    const start = at();
    while (src[i] === " " || src[i] === "\t") i++;
    if (src[i] === "#") { while (i < src.length && src[i] !== "\n") i++; }
    if (src[i] === "\r") i++;
    if (src[i] !== "\n") fail("text: must be followed by the end of the line", at());
    i++;
    newline();
    const lines: string[] = [];
    for (;;) {
      if (i >= src.length) fail("unterminated text: string (no line with a single '.')", start);
      let end = src.indexOf("\n", i);
      if (end < 0) end = src.length;
      let text = src.slice(i, end);
      if (text.endsWith("\r")) text = text.slice(0, -1);
      i = Math.min(end + 1, src.length);
      if (end < src.length) newline();
      if (text === ".") break;
      // Dot-stuffing: a line that begins with "." had a second one added by the writer.
      lines.push(text.startsWith("..") ? text.slice(1) : text);
    }
    return lines.map((l) => l + "\r\n").join("");
  }
}
