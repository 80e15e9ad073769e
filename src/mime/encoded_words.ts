/**
 * RFC 2047 encoded-words in header values, both ways. Decoding follows the rules mail readers
 * settled on (and the process host's parser, libmime, applies): adjacent words in the same
 * charset and encoding are joined before decoding, so a multi-byte character split across two
 * words survives (section 6.2 forbids the split; senders do it anyway); whitespace between
 * adjacent encoded-words is dropped (section 6.2); a word that is not well formed stays as
 * written. Encoding writes "B" words of at most 75 characters (section 2) that never split a
 * UTF-8 sequence, and RFC 2231 parameter values (section 4) for non-ASCII file names. Pure.
 */
import { toBase64 } from "../crypto.ts";
import { decodeCharset } from "./charset.ts";
import { decodeBase64, hexValue } from "./transfer.ts";

const encoder = new TextEncoder();

/** An encoded-word's payload as bytes (the header was read as UTF-8, so back to UTF-8). */
const octets = (text: string): Uint8Array => encoder.encode(text);

/** The "Q" encoding's bytes (section 4.2): "_" is a space, `=XX` an octet. */
function decodeQ(text: string): Uint8Array {
  // A space between "=" and a hex digit is what a bad line folder leaves behind.
  const bytes = octets(text.replace(/=\s+([0-9a-fA-F])/g, "=$1").replace(/[_\s]/g, " "));
  const out = new Uint8Array(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === 0x3d && i <= bytes.length - 3) {
      const hi = hexValue(bytes[i + 1]);
      const lo = hexValue(bytes[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out[n++] = hi * 16 + lo;
        i += 2;
        continue;
      }
    }
    out[n++] = c;
  }
  return out.subarray(0, n);
}

/** One encoded-word's text: `charset` (RFC 2231 language suffix ignored), `Q` or `B`. */
export function decodeWord(charset: string, encoding: string, text: string): string {
  const kind = encoding.toUpperCase();
  const bytes = kind === "Q" ? decodeQ(text) : kind === "B" ? decodeBase64(text) : octets(text);
  return decodeCharset(bytes, charset).text;
}

const sameCharset = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();

/** Marks where two adjacent words of one charset and encoding are joined. */
const JOIN = "__\uffffJOIN\uffff__";

/** Every encoded-word in `value` decoded; malformed ones stay as written. */
export function decodeWords(value: string): string {
  if (!value.includes("=?")) return value;
  const joinable = (kind: "B" | "Q") =>
    new RegExp(
      String
        .raw`(=\?([^?]+)\?[${kind}${kind.toLowerCase()}]\?[^?]*\?=)\s*(?==\?([^?]+)\?[${kind}${kind.toLowerCase()}]\?[^?]*\?=)`,
      "g",
    );
  return value
    .replace(joinable("B"), (match, left, a, b) => sameCharset(a, b) ? left + JOIN : match)
    .replace(joinable("Q"), (match, left, a, b) => sameCharset(a, b) ? left + JOIN : match)
    .replace(/(\?=)?__\uffffJOIN\uffff__(=\?([^?]+)\?[QqBb]\?)?/g, "")
    .replace(/(=\?[^?]+\?[QqBb]\?[^?]*\?=)\s+(?==\?[^?]+\?[QqBb]\?[^?]*\?=)/g, "$1")
    .replace(
      /=\?([\w_\-*]+)\?([QqBb])\?([^?]*)\?=/g,
      (_m, charset: string, encoding: string, text: string) => decodeWord(charset, encoding, text),
    );
}

/** RFC 2047 "B" encoded-words for `text`, each at most 75 characters (45 octets of UTF-8). */
export function encodedWords(text: string): string[] {
  const words: string[] = [];
  let chunk = "";
  let size = 0;
  for (const char of text) {
    const width = encoder.encode(char).length;
    if (size + width > 45) {
      words.push(`=?UTF-8?B?${toBase64(encoder.encode(chunk))}?=`);
      chunk = "";
      size = 0;
    }
    chunk += char;
    size += width;
  }
  if (chunk || words.length === 0) words.push(`=?UTF-8?B?${toBase64(encoder.encode(chunk))}?=`);
  return words;
}

/** RFC 5987/2231 attr-char: what a parameter value may carry unescaped. */
const ATTR_CHAR = /[A-Za-z0-9!#$&+\-.^_`|~]/;

/**
 * A parameter as `name=value` pieces to join with "; " (RFC 2045 section 5.1): a token as is,
 * other ASCII quoted, anything else in RFC 2231 form (`name*0*=utf-8''…`, section 4 with the
 * continuations of section 3) in pieces short enough for 78-character lines.
 */
export function parameter(name: string, value: string): string[] {
  if (/^[\x20-\x7e]*$/.test(value)) {
    if (/^[A-Za-z0-9!#$%&'*+\-.^_`{|}~]+$/.test(value)) return [`${name}=${value}`];
    const quoted = `"${value.replace(/(["\\])/g, "\\$1")}"`;
    if (name.length + quoted.length < 70) return [`${name}=${quoted}`];
  }
  let encoded = "";
  for (const byte of encoder.encode(value)) {
    const c = String.fromCharCode(byte);
    encoded += byte < 0x80 && ATTR_CHAR.test(c)
      ? c
      : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  const pieces: string[] = [];
  let rest = `utf-8''${encoded}`;
  // Never split a %XX escape between two pieces.
  while (rest.length > 0) {
    let take = Math.min(rest.length, 60);
    const escape = rest.lastIndexOf("%", take - 1);
    if (escape > take - 3 && escape >= 0 && take < rest.length) take = escape;
    pieces.push(rest.slice(0, take));
    rest = rest.slice(take);
  }
  if (pieces.length === 1) return [`${name}*=${pieces[0]}`];
  return pieces.map((piece, i) => `${name}*${i}*=${piece}`);
}
