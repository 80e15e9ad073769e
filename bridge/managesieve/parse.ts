/**
 * ManageSieve command syntax (RFC 5804 section 4): a command is an atom (the command name,
 * case-insensitive) followed by arguments separated by single spaces, each a quoted string
 * (at most 1024 octets, `\"` and `\\` the only escapes), a literal (`{n+}` CRLF then n octets;
 * `{n}` is read the same way, as Cyrus and Dovecot do, since ManageSieve has no continuation
 * for it) or a number. A SASL response is one string alone on its line (section 2.1).
 * Strings are UTF-8 and are decoded strictly; script names follow section 1.6 (Net-Unicode,
 * RFC 5198: no control characters). Pure: no I/O. The server assembles a command's bytes
 * (lines and literals, bounded) and hands them here; bad input is a result, never a throw.
 */

/** Longest line outside literals (quoted strings are 1024 octets; a PLAIN response fits). */
export const MAX_LINE_OCTETS = 8192;
/** RFC 5804 section 4: quoted = DQUOTE *1024QUOTED-CHAR DQUOTE. */
export const MAX_QUOTED_OCTETS = 1024;
/** Section 1.6: servers MUST allow names of up to 128 Unicode characters; we allow no more. */
export const MAX_NAME_CHARS = 128;
/** Numbers are 0..4294967295 (section 4: number = 1*DIGIT, fits in 32 bits). */
const MAX_NUMBER = 4294967295;

export type Token =
  | { type: "atom"; value: string }
  | { type: "string"; value: string; literal: boolean }
  | { type: "number"; value: number };

export type ParseResult =
  | { ok: true; tokens: Token[] }
  | { ok: false; error: string };

/** A literal announced at the end of a line: `{n+}` (or `{n}`), CRLF removed. */
export interface LiteralMark {
  size: number;
  /** Where the `{` starts in the line. */
  at: number;
}

const SP = 0x20;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const CR = 0x0d;
const LF = 0x0a;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The literal a line ends with, if any: `{digits}` or `{digits+}` as its last bytes. Size
 * `Infinity` when the digits do not fit a number (the caller refuses it as too large).
 */
export function literalAtEnd(line: Uint8Array): LiteralMark | undefined {
  let end = line.byteLength;
  if (end < 3 || line[end - 1] !== 0x7d) return undefined;
  end--;
  if (line[end - 1] === 0x2b) end--;
  let start = end;
  while (start > 0 && line[start - 1] >= 0x30 && line[start - 1] <= 0x39) start--;
  if (start === end || start === 0 || line[start - 1] !== LBRACE) return undefined;
  const digits = new TextDecoder().decode(line.subarray(start, end));
  const size = digits.length > 10 ? Infinity : Number(digits);
  return { size: size > MAX_NUMBER ? Infinity : size, at: start - 1 };
}

/**
 * Tokenizes one whole command: its lines joined with CRLF and its literals' bytes in place, as
 * the client sent them (the last line's CRLF removed).
 */
export function tokenize(bytes: Uint8Array): ParseResult {
  const tokens: Token[] = [];
  let i = 0;
  const n = bytes.byteLength;
  while (i < n) {
    if (tokens.length > 0) {
      if (bytes[i] !== SP) return fail("expected a space between arguments");
      i++;
      if (i >= n) return fail("trailing space");
    }
    const c = bytes[i];
    if (c === DQUOTE) {
      const r = quoted(bytes, i);
      if ("error" in r) return fail(r.error);
      tokens.push({ type: "string", value: r.value, literal: false });
      i = r.next;
    } else if (c === LBRACE) {
      const r = literal(bytes, i);
      if ("error" in r) return fail(r.error);
      tokens.push({ type: "string", value: r.value, literal: true });
      i = r.next;
    } else if (c >= 0x30 && c <= 0x39) {
      let j = i;
      while (j < n && bytes[j] >= 0x30 && bytes[j] <= 0x39) j++;
      if (j < n && bytes[j] !== SP) return fail("malformed number");
      if (j - i > 10 || Number(ascii(bytes, i, j)) > MAX_NUMBER) return fail("number too large");
      tokens.push({ type: "number", value: Number(ascii(bytes, i, j)) });
      i = j;
    } else if (isAtomChar(c)) {
      let j = i;
      while (j < n && isAtomChar(bytes[j])) j++;
      if (j < n && bytes[j] !== SP) return fail("unexpected character");
      tokens.push({ type: "atom", value: ascii(bytes, i, j).toUpperCase() });
      i = j;
    } else {
      return fail(c === SP ? "unexpected space" : "unexpected character");
    }
  }
  return { ok: true, tokens };
}

/** Command names and keywords: ASCII letters, digits and "-" (section 4's atom, in practice). */
function isAtomChar(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) ||
    c === 0x2d;
}

function ascii(bytes: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...bytes.subarray(from, to));
}

function fail(error: string): ParseResult {
  return { ok: false, error };
}

type Part = { value: string; next: number } | { error: string };

// Section 4: QUOTED-CHAR = SAFE-UTF8-CHAR / "\" QUOTED-SPECIALS; no NUL, CR or LF inside.
function quoted(bytes: Uint8Array, start: number): Part {
  const out: number[] = [];
  for (let i = start + 1; i < bytes.byteLength; i++) {
    const c = bytes[i];
    if (c === DQUOTE) {
      const value = decode(Uint8Array.from(out));
      return value === undefined ? { error: "string is not valid UTF-8" } : { value, next: i + 1 };
    }
    if (c === 0 || c === CR || c === LF) return { error: "control character in quoted string" };
    if (c === BACKSLASH) {
      const e = bytes[++i];
      if (e !== DQUOTE && e !== BACKSLASH) return { error: "bad escape in quoted string" };
      out.push(e);
    } else {
      out.push(c);
    }
    if (out.length > MAX_QUOTED_OCTETS) return { error: "quoted string too long, use a literal" };
  }
  return { error: "unterminated quoted string" };
}

// Section 4: literal-c2s = "{" number "+}" CRLF *OCTET.
function literal(bytes: Uint8Array, start: number): Part {
  const close = bytes.indexOf(0x7d, start);
  if (close < 0) return { error: "malformed literal" };
  const mark = literalAtEnd(bytes.subarray(start, close + 1));
  if (!mark || mark.at !== 0) return { error: "malformed literal" };
  const body = close + 3;
  if (bytes[close + 1] !== CR || bytes[close + 2] !== LF) return { error: "malformed literal" };
  if (body + mark.size > bytes.byteLength) return { error: "literal is cut short" };
  const value = decode(bytes.subarray(body, body + mark.size));
  if (value === undefined) return { error: "string is not valid UTF-8" };
  return { value, next: body + mark.size };
}

function decode(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Why a script name is refused (section 1.6: Net-Unicode, RFC 5198 section 2: no C0/C1
 * controls, DEL, LINE SEPARATOR or PARAGRAPH SEPARATOR), or undefined when it is fine.
 */
export function badScriptName(name: string): string | undefined {
  if (name === "") return "the script name is empty";
  if ([...name].length > MAX_NAME_CHARS) {
    return `the script name is longer than ${MAX_NAME_CHARS} characters`;
  }
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f-\x9f\u2028\u2029]/.test(name)) {
    return "the script name holds control characters";
  }
  if (name.normalize("NFC") !== name) return "the script name is not in Unicode NFC form";
  // Scripts are named in URL paths of the gateway's API, where "." and ".." are path steps.
  if (name === "." || name === "..") return 'the script name cannot be "." or ".."';
  return undefined;
}
