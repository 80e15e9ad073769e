/**
 * BINARY (RFC 3516), pure: a part's content with its Content-Transfer-Encoding undone, for
 * FETCH BINARY[part] and BINARY.SIZE[part]. 7bit, 8bit and binary are the octets as stored;
 * base64 (RFC 2045 section 6.8, characters outside the alphabet ignored) and quoted-printable
 * (section 6.7, soft line breaks removed, a malformed "=" kept as is) are decoded; any other
 * encoding is `undefined`, which the session answers with NO [UNKNOWN-CTE] (section 4.3).
 */
import type { MimePart } from "../../schemas/mime_structure.ts";
import { resolvePart } from "./section.ts";

const B64 = new Int16Array(256).fill(-1);
for (let i = 0; i < 64; i++) {
  B64["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".charCodeAt(i)] = i;
}

function decodeBase64(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.floor((src.length * 3) / 4) + 3);
  let n = 0;
  let acc = 0;
  let bits = 0;
  for (const c of src) {
    if (c === 0x3d) break; // "=": padding ends the data
    const v = B64[c];
    if (v < 0) continue;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, n);
}

const hex = (c: number) =>
  c >= 0x30 && c <= 0x39
    ? c - 0x30
    : c >= 0x41 && c <= 0x46
    ? c - 0x37
    : c >= 0x61 && c <= 0x66
    ? c - 0x57
    : -1;

function decodeQuotedPrintable(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c !== 0x3d) {
      out[n++] = c;
      continue;
    }
    // "=" CRLF (or LF, or trailing whitespace then a line end) is a soft line break.
    let j = i + 1;
    while (j < src.length && (src[j] === 0x20 || src[j] === 0x09)) j++;
    if (j < src.length && (src[j] === 0x0d || src[j] === 0x0a)) {
      i = src[j] === 0x0d && src[j + 1] === 0x0a ? j + 1 : j;
      continue;
    }
    if (j === src.length) break;
    const hi = hex(src[i + 1] ?? 0);
    const lo = hex(src[i + 2] ?? 0);
    if (hi >= 0 && lo >= 0) {
      out[n++] = (hi << 4) | lo;
      i += 2;
    } else out[n++] = c;
  }
  return out.subarray(0, n);
}

/** The decoded octets of a leaf part's body, or undefined for an unknown encoding. */
export function decodeContent(body: Uint8Array, encoding: string): Uint8Array | undefined {
  switch (encoding.toLowerCase()) {
    case "":
    case "7bit":
    case "8bit":
    case "binary":
      return body;
    case "base64":
      return decodeBase64(body);
    case "quoted-printable":
      return decodeQuotedPrintable(body);
    default:
      return undefined;
  }
}

export type BinaryResult =
  | { ok: true; bytes: Uint8Array }
  | { ok: false; reason: "nopart" | "unknown-cte" };

/**
 * BINARY[part]: the whole message as stored for `[]`, else the part's body decoded. A
 * multipart or message/rfc822 part has no transfer encoding of its own to undo (RFC 2045
 * section 6.4 allows only identity encodings there), so its body is returned as stored.
 */
export function binarySection(
  raw: Uint8Array,
  root: MimePart | undefined,
  path: number[],
): BinaryResult {
  if (path.length === 0) return { ok: true, bytes: raw };
  const part = root && resolvePart(root, path);
  if (!part) return { ok: false, reason: "nopart" };
  const body = raw.subarray(part.bodyStart, part.bodyEnd);
  const bytes = decodeContent(body, part.encoding);
  return bytes ? { ok: true, bytes } : { ok: false, reason: "unknown-cte" };
}
