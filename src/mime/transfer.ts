/**
 * Content-Transfer-Encodings (RFC 2045 section 6): base64 (6.8) and quoted-printable (6.7) in
 * both directions, on bytes, with Web APIs only. Decoding is as tolerant as the process host's
 * parser (mailparser's libbase64 and libqp), so both ports read the same bytes out of the same
 * damaged mail: base64 skips every character outside its alphabet and restarts its quartets
 * after each "=" (some senders pad every line), quoted-printable keeps an "=" that starts no
 * escape and drops whitespace at line ends (rule 3). Pure; never throws.
 */
import { toBase64 } from "../crypto.ts";

const ascii = new TextDecoder("latin1");

/** Value of each base64 alphabet byte (RFC 4648 table 1), -1 for anything else. */
const B64 = new Int16Array(256).fill(-1);
for (
  const [i, c] of [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"].entries()
) {
  B64[c.charCodeAt(0)] = i;
}

/**
 * Base64 bytes (or a string of 8-bit characters) decoded. Characters outside the alphabet are
 * skipped; an "=" ends a segment and the next one starts a fresh quartet; a segment's dangling
 * 2 or 3 characters still give 1 or 2 bytes, a dangling single one gives nothing.
 */
export function decodeBase64(input: Uint8Array | string): Uint8Array {
  // Clean base64 (the alphabet, padding at the end, line breaks) goes to the runtime's own
  // decoder where there is one (ES2026; Deno, workerd): a 20 MB attachment in tens of ms, not
  // hundreds. Anything it refuses is read by the tolerant loop below.
  const native = (Uint8Array as { fromBase64?: (text: string) => Uint8Array }).fromBase64;
  if (native && input.length > 256) {
    try {
      return native(typeof input === "string" ? input : ascii.decode(input));
    } catch {
      // junk or padding mid-way: the tolerant path
    }
  }
  const length = input.length;
  const at = typeof input === "string"
    ? (i: number) => {
      const code = input.charCodeAt(i);
      return code > 0xff ? -1 : code;
    }
    : (i: number) => input[i];
  const out = new Uint8Array(Math.floor(length * 3 / 4) + 3);
  let n = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < length; i++) {
    const code = at(i);
    if (code === 0x3d) {
      // Padding: the segment ends, whatever partial quartet it had is flushed as whole bytes.
      acc = 0;
      bits = 0;
      continue;
    }
    const value = code < 0 ? -1 : B64[code];
    if (value < 0) continue;
    acc = (acc << 6) | value;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
      acc &= (1 << bits) - 1;
    }
  }
  return out.slice(0, n);
}

/** 1 for a base64 alphabet byte, 2 for "=", 0 for anything else. */
const KIND = new Uint8Array(256);
for (let i = 0; i < 256; i++) KIND[i] = i === 0x3d ? 2 : B64[i] >= 0 ? 1 : 0;

/** What `decodeBase64` would return's length, without decoding (an attachment's size). */
export function base64DecodedSize(input: Uint8Array): number {
  let size = 0;
  let chars = 0;
  for (let i = 0; i < input.length; i++) {
    const kind = KIND[input[i]];
    if (kind === 1) chars++;
    else if (kind === 2) {
      size += (chars * 3) >> 2;
      chars = 0;
    }
  }
  return size + ((chars * 3) >> 2);
}

/** Base64 in lines of 76 characters (RFC 2045 section 6.8), CRLF between, none at the end. */
export function encodeBase64Lines(bytes: Uint8Array): string {
  const flat = toBase64(bytes);
  if (flat.length <= 76) return flat;
  const lines: string[] = [];
  for (let i = 0; i < flat.length; i += 76) lines.push(flat.slice(i, i + 76));
  return lines.join("\r\n");
}

const BASE64 = new TextEncoder().encode(
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
);

/** How many bytes `encodeBase64LineBytes` makes of `length` bytes (CRLF between lines). */
export function base64LinesLength(length: number): number {
  const chars = Math.ceil(length / 3) * 4;
  return chars + Math.max(0, Math.ceil(chars / 76) - 1) * 2;
}

/**
 * `encodeBase64Lines` as bytes, written into `out` from `at` (`base64LinesLength` of them), so a
 * composer can encode an attachment straight into the message's one buffer instead of into a
 * buffer of its own that is copied again (an 18 MB file in a 128 MB Worker; issue 17). Returns
 * the offset after the last byte written.
 */
export function writeBase64Lines(bytes: Uint8Array, out: Uint8Array, at: number): number {
  let o = at;
  for (let i = 0, col = 0; i < bytes.length; i += 3) {
    if (col === 76) out[o++] = 13, out[o++] = 10, col = 0;
    const n = bytes.length - i;
    const v = (bytes[i] << 16) | (n > 1 ? bytes[i + 1] << 8 : 0) | (n > 2 ? bytes[i + 2] : 0);
    out[o++] = BASE64[v >> 18];
    out[o++] = BASE64[(v >> 12) & 63];
    out[o++] = n > 1 ? BASE64[(v >> 6) & 63] : 61;
    out[o++] = n > 2 ? BASE64[v & 63] : 61;
    col += 4;
  }
  return o;
}

/** `encodeBase64Lines` as bytes in one buffer of their own (one copy of 4/3 the size, where the
 * string form took three: the flat text, the joined lines, their UTF-8 bytes). */
export function encodeBase64LineBytes(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(base64LinesLength(bytes.length));
  writeBase64Lines(bytes, out, 0);
  return out;
}

/** The value of an ASCII hex digit, -1 for any other byte. */
export const hexValue = (code: number): number =>
  code >= 0x30 && code <= 0x39
    ? code - 0x30
    : code >= 0x41 && code <= 0x46
    ? code - 0x37
    : code >= 0x61 && code <= 0x66
    ? code - 0x57
    : -1;

/**
 * Quoted-printable bytes decoded: whitespace before a line end dropped, soft line breaks ("="
 * before a line end, or at the very end) removed, `=XX` turned into its octet, any other byte
 * kept as it is (a lone "=" too).
 */
export function decodeQuotedPrintable(input: Uint8Array): Uint8Array {
  const out = new Uint8Array(input.length);
  let n = 0;
  const length = input.length;
  for (let i = 0; i < length; i++) {
    const b = input[i];
    if (b === 0x20 || b === 0x09) {
      // Rule 3: trailing whitespace of a line (or of the input) is not part of the data.
      let j = i;
      while (j < length && (input[j] === 0x20 || input[j] === 0x09)) j++;
      if (j === length || input[j] === 0x0a || input[j] === 0x0d) {
        i = j - 1;
        continue;
      }
      for (; i < j; i++) out[n++] = input[i];
      i--;
      continue;
    }
    if (b === 0x3d) {
      // A soft line break: "=" then optional trailing whitespace then CRLF, LF, or the end.
      let j = i + 1;
      while (j < length && (input[j] === 0x20 || input[j] === 0x09)) j++;
      if (j === length) {
        i = j - 1;
        continue;
      }
      if (input[j] === 0x0a) {
        i = j;
        continue;
      }
      if (input[j] === 0x0d && input[j + 1] === 0x0a) {
        i = j + 1;
        continue;
      }
      if (i < length - 2) {
        const hi = hexValue(input[i + 1]);
        const lo = hexValue(input[i + 2]);
        if (hi >= 0 && lo >= 0) {
          out[n++] = hi * 16 + lo;
          i += 2;
          continue;
        }
      }
    }
    out[n++] = b;
  }
  return out.slice(0, n);
}

const HEX = "0123456789ABCDEF";

/**
 * Quoted-printable of bytes whose line breaks are CRLF (kept as hard breaks): lines of at most
 * 76 characters with soft breaks, "=" and every byte outside printable ASCII escaped, and a
 * space or tab ending a line escaped (rule 3). A lone CR or LF is escaped as data.
 */
export function encodeQuotedPrintable(bytes: Uint8Array): string {
  const out: string[] = [];
  let line = "";
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x0d && bytes[i + 1] === 0x0a) {
      out.push(line);
      line = "";
      i++;
      continue;
    }
    const lineEnd = i === bytes.length - 1 || (bytes[i + 1] === 0x0d && bytes[i + 2] === 0x0a);
    const literal = (b >= 33 && b <= 126 && b !== 61) || ((b === 32 || b === 9) && !lineEnd);
    const token = literal ? String.fromCharCode(b) : `=${HEX[b >> 4]}${HEX[b & 15]}`;
    if (line.length + token.length > 75) {
      out.push(line + "=");
      line = "";
    }
    line += token;
  }
  out.push(line);
  return out.join("\r\n");
}
