/**
 * An attachment's base64 text (RFC 4648 section 4) taken as it came in a JSON request and written
 * into the message re-wrapped in 76-character lines (RFC 2045 section 6.8), instead of decoded to
 * bytes and encoded again: for an 18 MB file that spared the 18 MB of bytes and one 24 MB encode
 * in a 128 MB Worker (issue 17). Only text whose shape is plain is taken so — the standard
 * alphabet, ASCII whitespace anywhere (dropped first), "=" only at the end, a final group of 2 or 3 letters or
 * none — and the message is byte-identical to decoding and encoding it again: the last group's
 * unused bits are cleared and its padding written as the encoder writes it. Anything else (a
 * URL-safe alphabet, one letter too many, Unicode spaces) goes back to the bytes path, so what
 * the send API accepts or refuses does not change.
 */
import type { Base64Content } from "../../schemas/mail.ts";
import { base64LinesLength, decodeBase64 } from "./transfer.ts";

// Searches for what may not be there, over the whole string: an anchored pattern of the same
// letters took 110-150 ms for 24 MB, this 20 ms (and a slice of the string is flattened first).
const NOT_PLAIN = /[^A-Za-z0-9+/=]/;
const NOT_SPACED = /[^A-Za-z0-9+/=\t\n\f\r ]/;
const SPACES = /[\t\n\f\r ]+/g;

/** `text` as base64 to copy into a message, or undefined when it must be decoded instead. */
export function base64Content(text: string): Base64Content | undefined {
  if (NOT_PLAIN.test(text)) {
    if (NOT_SPACED.test(text)) return undefined;
    // Lines (or spaces): dropped in one native pass, where skipping them letter by letter in
    // the copy cost four times the old decode; the text as it came is then garbage.
    text = text.replace(SPACES, "");
  }
  // "=" only at the end (RFC 4648 section 3.2 padding).
  const letters = text.indexOf("=") < 0 ? text.length : text.indexOf("=");
  for (let i = letters; i < text.length; i++) if (text.charCodeAt(i) !== 0x3d) return undefined;
  // One letter past a whole group is six bits, no octet: the decoders refuse it (a 422).
  if (letters % 4 === 1) return undefined;
  return { base64: text, size: Math.floor(letters / 4) * 3 + Math.max(0, (letters % 4) - 1) };
}

/** The bytes a `Base64Content` stands for (a message/* part, the process host's composer). */
export const base64ContentBytes = (content: Base64Content): Uint8Array =>
  decodeBase64(content.base64);

/** Content's decoded size, whichever form it has. */
export const contentSize = (content: Uint8Array | Base64Content): number =>
  content instanceof Uint8Array ? content.byteLength : content.size;

const LETTERS = new TextEncoder().encode(
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
);
const VALUES = new Int8Array(128).fill(-1);
LETTERS.forEach((c, i) => VALUES[c] = i);

/**
 * `content` as `writeBase64Lines` would write its bytes (transfer.ts): into `out` from `at`,
 * `base64LinesLength(size)` octets, CRLF every 76. Returns the offset after the last one.
 */
export function writeBase64Content(content: Base64Content, out: Uint8Array, at: number): number {
  const { base64: text, size } = content;
  const whole = Math.floor(size / 3) * 4; // letters of whole groups, copied as they are
  const tail: number[] = []; // the last group's letters (2 or 3), rewritten as the encoder would
  const total = whole + (size % 3 ? 4 : 0);
  const lines = Math.ceil(total / 76);
  const length = base64LinesLength(size);
  // The letters in one native copy to the end of the space they go to, then each line moved
  // back to its place (line k starts 2k octets after its letters would without line breaks;
  // the copy never overtakes letters not yet moved). The whole string, not a slice (a slice is
  // flattened: a copy); what is past the letters of whole groups is overwritten below.
  const from = at + length - total;
  new TextEncoder().encodeInto(text, out.subarray(from, at + length));
  for (let k = 0; k * 76 < whole; k++) {
    out.copyWithin(at + k * 78, from + k * 76, from + Math.min(k * 76 + 76, whole));
  }
  for (let i = whole; size % 3 && tail.length < (size % 3) + 1; i++) tail.push(text.charCodeAt(i));
  if (tail.length > 0) {
    const o = at + whole + 2 * Math.floor(whole / 76);
    const [a, b, c] = tail.map((t) => VALUES[t]);
    out[o] = LETTERS[a];
    out[o + 1] = LETTERS[tail.length === 2 ? b & 0x30 : b];
    out[o + 2] = tail.length === 2 ? 0x3d : LETTERS[c & 0x3c];
    out[o + 3] = 0x3d;
  }
  for (let k = 0; k < lines - 1; k++) out[at + k * 78 + 76] = 13, out[at + k * 78 + 77] = 10;
  return at + length;
}
