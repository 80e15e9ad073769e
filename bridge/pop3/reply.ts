/**
 * POP3 replies (RFC 1939 section 3): `+OK` / `-ERR` status lines with RFC 2449 section 8
 * extended response codes (`[IN-USE]`, `[SYS/TEMP]`, `[SYS/PERM]`, RFC 3206 `[AUTH]`), and
 * multi-line responses whose lines starting with "." are byte-stuffed and which end with
 * CRLF "." CRLF. Message bytes are sent exactly as stored. Pure: no I/O.
 */

export type RespCode = "IN-USE" | "LOGIN-DELAY" | "SYS/TEMP" | "SYS/PERM" | "AUTH";

// Reply text must never carry CR or LF (a backend's text could otherwise inject lines).
// deno-lint-ignore no-control-regex
const clean = (text: string) => text.replace(/[\x00-\x1f\x7f]/g, " ");

export const ok = (text = "") => `+OK${text ? " " + clean(text) : ""}\r\n`;

export const err = (text: string, code?: RespCode) =>
  `-ERR ${code ? `[${code}] ` : ""}${clean(text)}\r\n`;

/** A multi-line text response: status line, dot-stuffed lines, terminating ".". */
export function multiline(status: string, lines: string[]): string {
  return ok(status) + lines.map((l) => (l.startsWith(".") ? "." + l : l) + "\r\n").join("") +
    ".\r\n";
}

const DOT = 46;
const LF = 10;
const encoder = new TextEncoder();

/**
 * Byte-stuffs message bytes for a multi-line response (RFC 1939 section 3): a "." at the start
 * of any line is doubled; the end is CRLF "." CRLF, with a CRLF first when the bytes do not end
 * in a line break. Nothing else changes, so the client gets the stored bytes exactly. `status`
 * (the "+OK" line) goes in front, so a RETR reply is one buffer and one socket write. Lines are
 * found with indexOf (native memchr) and copied in runs: mail rarely has a line starting "."
 */
export function dotStuff(bytes: Uint8Array, status = ""): Uint8Array {
  const head = status ? encoder.encode(status) : undefined;
  // Where a "." needs doubling: the start, and after every LF.
  const dots: number[] = bytes.length > 0 && bytes[0] === DOT ? [0] : [];
  for (
    let lf = bytes.indexOf(LF);
    lf >= 0 && lf + 1 < bytes.length;
    lf = bytes.indexOf(LF, lf + 1)
  ) {
    if (bytes[lf + 1] === DOT) dots.push(lf + 1);
  }
  const endsWithLine = bytes.length === 0 || bytes[bytes.length - 1] === LF;
  const tail = endsWithLine ? 3 : 5;
  const offset = head?.byteLength ?? 0;
  const out = new Uint8Array(offset + bytes.length + dots.length + tail);
  if (head) out.set(head);
  let o = offset;
  let from = 0;
  for (const at of dots) {
    out.set(bytes.subarray(from, at), o);
    o += at - from;
    out[o++] = DOT; // the doubled dot; the line's own dot follows with the next run
    from = at;
  }
  out.set(bytes.subarray(from), o);
  o += bytes.length - from;
  if (!endsWithLine) {
    out[o++] = 13;
    out[o++] = LF;
  }
  out[o++] = DOT;
  out[o++] = 13;
  out[o++] = LF;
  return out;
}

/** The header block and the first `n` body lines (TOP, RFC 1939 section 7). */
export function topOf(raw: Uint8Array, n: number): Uint8Array {
  let i = 0;
  // The header ends at the first empty line (CRLF CRLF or LF LF); no blank line: all header.
  for (; i < raw.length; i++) {
    if (raw[i] !== LF) continue;
    if (raw[i + 1] === LF) {
      i += 2;
      break;
    }
    if (raw[i + 1] === 13 && raw[i + 2] === LF) {
      i += 3;
      break;
    }
  }
  if (i >= raw.length) return raw;
  let lines = 0;
  let end = i;
  while (lines < n && end < raw.length) {
    const lf = raw.indexOf(LF, end);
    end = lf < 0 ? raw.length : lf + 1;
    lines++;
  }
  return raw.subarray(0, end);
}
