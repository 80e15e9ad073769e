/**
 * IMAP response encoding (RFC 3501 sections 4 and 7): strings as quoted strings when they are
 * short printable ASCII and as literals otherwise, NIL, parenthesised lists, flag lists, the
 * date-time form of INTERNALDATE, and a byte builder for responses that carry raw message
 * octets (FETCH BODY[] literals are binary-exact).
 */

const encoder = new TextEncoder();

/** Text that is sent as-is: produced by the encoder, never user text. */
export class Raw {
  constructor(readonly text: string) {}
}

/** Octets sent as a literal `{n}\r\n…`. */
export class Literal {
  constructor(readonly bytes: Uint8Array) {}
}

export type Piece = string | Uint8Array;

/** A string or NIL: quoted when safe (printable ASCII, no long text), else a literal. */
export function nstring(value: string | null | undefined): string {
  if (value === null || value === undefined) return "NIL";
  return istring(value);
}

export function istring(value: string): string {
  // A loop over char codes, not a Unicode regex: FETCH ENVELOPE of a large mailbox encodes tens
  // of thousands of these per command (printable ASCII is 0x20-0x7e; DQUOTE and "\" escaped).
  if (value.length <= 1024) {
    let escapes = false;
    let i = 0;
    for (; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c < 0x20 || c > 0x7e) break;
      if (c === 0x22 || c === 0x5c) escapes = true;
    }
    if (i === value.length) return escapes ? `"${value.replace(/["\\]/g, "\\$&")}"` : `"${value}"`;
  }
  return `{${encoder.encode(value).byteLength}}\r\n${value}`;
}

/** An astring: an atom when the value is one, else a string (mailbox names, LIST replies). */
export function astring(value: string): string {
  // deno-lint-ignore no-control-regex
  if (value.length > 0 && !/[(){ \x00-\x1f\x7f-\u{10FFFF}%*"\\\]]/u.test(value)) {
    if (value.toUpperCase() !== "NIL") return value;
  }
  return istring(value);
}

export function flagList(flags: Iterable<string>): string {
  return `(${[...flags].join(" ")})`;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** date-time (RFC 3501 section 9) in UTC: "17-Jul-1996 09:44:25 +0000". */
export function dateTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `"${p(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000"`;
}

/**
 * Accumulates a response of text and binary literal pieces, written out as they are (the
 * connection sends them in one vectored write, so literals are not copied into one buffer).
 * Text is kept as a list of strings and joined and encoded once per run between literals:
 * joining copies them into one flat string that encodes at memory speed, where a string grown
 * by `+=` over thousands of FETCH lines stays a rope of cons strings that the encoder walked
 * piece by piece (two thirds of a FETCH 1:* ENVELOPE pass's CPU; issue 20).
 */
export class ResponseBuilder {
  private pieces: Uint8Array[] = [];
  private size = 0;
  private pending: string[] = [];
  private pendingLength = 0;

  text(s: string): this {
    this.pending.push(s);
    this.pendingLength += s.length;
    return this;
  }

  private flushText(): void {
    if (this.pending.length === 0) return;
    const b = encoder.encode(this.pending.join(""));
    this.pending = [];
    this.pendingLength = 0;
    this.pieces.push(b);
    this.size += b.byteLength;
  }

  /**
   * `{n}\r\n` followed by the octets; `~{n}` (RFC 3516 literal8) when `binary` and they hold
   * a NUL, which a plain literal cannot carry (RFC 3501 section 4.3).
   */
  literal(bytes: Uint8Array, binary = false): this {
    this.text(`${binary && bytes.includes(0) ? "~" : ""}{${bytes.byteLength}}\r\n`);
    this.flushText();
    this.pieces.push(bytes);
    this.size += bytes.byteLength;
    return this;
  }

  get length(): number {
    return this.size + this.pendingLength;
  }

  /** The response's pieces in order; the builder is empty afterwards. */
  chunks(): Uint8Array[] {
    this.flushText();
    const pieces = this.pieces;
    this.pieces = [];
    this.size = 0;
    return pieces;
  }
}

/** Tagged and untagged status responses (RFC 3501 section 7.1). */
export function tagged(
  tag: string,
  status: "OK" | "NO" | "BAD",
  text: string,
  code?: string,
): string {
  return `${tag} ${status} ${code ? `[${code}] ` : ""}${sanitize(text)}\r\n`;
}

export function untagged(text: string): string {
  return `* ${text}\r\n`;
}

/** Human-readable text must not contain CR or LF (it ends the response). */
export function sanitize(text: string): string {
  return text.replace(/[\r\n]+/g, " ");
}
