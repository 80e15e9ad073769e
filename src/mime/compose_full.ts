/**
 * Composes any message the send API and JMAP can ask for (RFC 5322, MIME RFC 2045-2047, 2183,
 * 2231, 2387, 2392), edge-safe: text and/or HTML, attachments, inline images by Content-ID. The
 * MIME tree is the one the process host's composer (nodemailer) builds, so a recipient sees the
 * same message whichever host sent it:
 *
 *     multipart/mixed                       (when there is an attachment besides the body)
 *       multipart/alternative               (when there are text and HTML)
 *         text/plain
 *         multipart/related; type=text/html (when the HTML has inline parts: Content-ID)
 *           text/html
 *           image/png (inline, Content-ID)
 *       application/pdf (attachment)
 *
 * Encodings: a text body that is ASCII with lines of at most 76 characters goes as 7bit, else
 * quoted-printable when most of it is Latin letters, else base64 (nodemailer's rule); every
 * attachment goes as base64 in 76-character lines, except message/* parts, which RFC 2046
 * section 5.2.1 forbids to encode (7bit or 8bit, shown inline as a forwarded message). Header
 * values are compose.ts's (RFC 2047 encoded-words, folding before 78); file names are RFC 2231
 * `filename*` parameters when not plain ASCII, with an encoded-word `name` on Content-Type for
 * older readers. Boundaries are random (crypto.getRandomValues), lines CRLF and at most 998
 * octets. Pure apart from the random boundaries.
 */
import type { Base64Content, ComposeAttachment, ComposeInput } from "../../schemas/mail.ts";
import { toHex } from "../crypto.ts";
import { messageHeaders } from "./compose.ts";
import { base64ContentBytes, writeBase64Content } from "./base64_text.ts";
import { encodedWords, parameter } from "./encoded_words.ts";
import {
  base64LinesLength,
  encodeBase64Lines,
  encodeQuotedPrintable,
  writeBase64Lines,
} from "./transfer.ts";

const encoder = new TextEncoder();

/** A random boundary: 24 hex digits can occur in no part by chance. */
export function randomBoundary(): string {
  return `=_postern_${toHex(crypto.getRandomValues(new Uint8Array(12)))}`;
}

/** Bytes to go out as base64 lines, encoded only when the message's one buffer is written. */
interface Base64Body {
  base64: Uint8Array;
}

/** A piece of a message: text (encoded as UTF-8), bytes as they are, bytes to encode, or base64
 * text to re-wrap (an attachment as the send API received it: base64_text.ts). */
type Chunk = string | Uint8Array | Base64Body | Base64Content;

/** One MIME entity: header lines and a body (CRLF line ends, no final line break). The body is a
 * list of chunks, not one buffer: a multipart nests its parts' chunks instead of copying them,
 * and the whole message is written once, into one buffer, at the end (`concat`). An 18 MB
 * attachment thus exists twice at most, as its bytes and as its base64 in the message, where
 * each level of nesting used to copy the message again (issue 17, a Worker's 128 MB). */
interface Part {
  headers: string[];
  body: Chunk[];
}

/** Structured header field with parameters, each on its own folded line when long. */
function withParams(name: string, value: string, params: string[]): string {
  const line = [`${name}: ${value}`, ...params].join("; ");
  return line.length <= 78 ? line : [`${name}: ${value}`, ...params].join(";\r\n ");
}

// deno-lint-ignore no-control-regex -- nodemailer's "not plain text": controls and non-ASCII
const NOT_PLAIN = /[\x00-\x08\x0b\x0c\x0e-\x1f\u0080-\uffff]/;

/** nodemailer's choice between Q and B: Q when Latin letters outnumber the rest. */
function mostlyLatin(text: string): boolean {
  let other = 0;
  let latin = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x08 || c === 0x0b || c === 0x0c || (c >= 0x0e && c <= 0x1f) || c >= 0x80) other++;
    else if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) latin++;
  }
  return other < latin;
}

function textPart(subtype: "plain" | "html", content: string): Part {
  // Line breaks become CRLF (RFC 2046 section 4.1.1); a lone CR is data, escaped below.
  const lines = content.split(/\r?\n/);
  const canonical = lines.join("\r\n");
  const headers = [`Content-Type: text/${subtype}; charset=utf-8`];
  if (!NOT_PLAIN.test(content) && !content.includes("\r") && lines.every((l) => l.length <= 76)) {
    headers.push("Content-Transfer-Encoding: 7bit");
    return { headers, body: [canonical] };
  }
  if (mostlyLatin(content)) {
    headers.push("Content-Transfer-Encoding: quoted-printable");
    return { headers, body: [encodeQuotedPrintable(encoder.encode(canonical))] };
  }
  headers.push("Content-Transfer-Encoding: base64");
  return { headers, body: [encodeBase64Lines(encoder.encode(canonical))] };
}

/** An unstructured parameter value for Content-Type's `name`: encoded-words in quotes. */
function nameParameter(filename: string): string[] {
  if (/^[\x20-\x7e]*$/.test(filename)) return parameter("name", filename);
  return [`name="${encodedWords(filename).join("\r\n ")}"`];
}

// deno-lint-ignore no-control-regex -- 7bit: ASCII without NUL, lines of at most 998 octets
const SEVEN_BIT = /^[\x01-\x7f]*$/;

/** A media type as `type/subtype` (parameters dropped); anything else is octet-stream. */
function mediaType(value: string): string {
  const type = value.split(";")[0].trim().toLowerCase();
  return /^[\w.+-]+\/[\w.+-]+$/.test(type) ? type : "application/octet-stream";
}

function attachmentPart(a: ComposeAttachment): Part {
  // Callers validate these fields (the send API does, JMAP less strictly); whatever arrives, no
  // CR or LF from them reaches a header line.
  const type = mediaType(a.contentType);
  const message = type.startsWith("message/");
  const inline = message || (type.startsWith("image/") && !!a.contentId);
  const headers = [withParams("Content-Type", type, a.filename ? nameParameter(a.filename) : [])];
  // Only printable ASCII, no angle brackets (RFC 2392 msg-id): controls and spaces are dropped.
  const contentId = a.contentId?.replace(/[^!-;=?-~]/g, "");
  if (contentId) headers.push(`Content-ID: <${contentId}>`);
  let body: Chunk;
  if (message) {
    // RFC 2046 section 5.2.1: a message part is not encoded; its lines must already be CRLF.
    const bytes = a.content instanceof Uint8Array ? a.content : base64ContentBytes(a.content);
    const text = new TextDecoder("latin1").decode(bytes);
    const sevenBit = SEVEN_BIT.test(text) && text.split("\r\n").every((l) => l.length <= 998);
    headers.push(`Content-Transfer-Encoding: ${sevenBit ? "7bit" : "8bit"}`);
    body = bytes;
  } else {
    headers.push("Content-Transfer-Encoding: base64");
    body = a.content instanceof Uint8Array ? { base64: a.content } : a.content;
  }
  headers.push(
    withParams(
      "Content-Disposition",
      inline ? "inline" : "attachment",
      a.filename ? parameter("filename", a.filename) : [],
    ),
  );
  return { headers, body: [body] };
}

/** A multipart entity (RFC 2046 section 5.1.1) of `parts` under a fresh boundary. */
function multipart(subtype: string, parts: Part[], extra: string[] = []): Part {
  const boundary = randomBoundary();
  const chunks: Chunk[] = [];
  for (const part of parts) {
    chunks.push(`--${boundary}\r\n`, ...serialize(part), "\r\n");
  }
  chunks.push(`--${boundary}--`);
  return {
    headers: [
      withParams("Content-Type", `multipart/${subtype}`, [...extra, `boundary="${boundary}"`]),
    ],
    body: chunks,
  };
}

function serialize(part: Part): Chunk[] {
  return [part.headers.join("\r\n"), "\r\n\r\n", ...part.body];
}

const isText = (c: Base64Body | Base64Content): c is Base64Content => typeof c.base64 === "string";

/** The chunks written into one buffer of their total length (base64 encoded in place). */
function concat(chunks: Chunk[]): Uint8Array {
  const pieces = chunks.map((c) => typeof c === "string" ? encoder.encode(c) : c);
  const size = (p: Uint8Array | Base64Body | Base64Content) =>
    p instanceof Uint8Array
      ? p.byteLength
      : base64LinesLength(isText(p) ? p.size : p.base64.byteLength);
  const out = new Uint8Array(pieces.reduce((n, p) => n + size(p), 0));
  let at = 0;
  for (const p of pieces) {
    if (p instanceof Uint8Array) out.set(p, at), at += p.byteLength;
    else if (isText(p)) at = writeBase64Content(p, out, at);
    else at = writeBase64Lines(p.base64, out, at);
  }
  return out;
}

/** The last byte the chunks make, undefined when they make none. */
function lastByte(chunks: Chunk[]): number | undefined {
  for (let i = chunks.length - 1; i >= 0; i--) {
    const c = chunks[i];
    if (typeof c === "string") {
      if (c.length > 0) return c.charCodeAt(c.length - 1);
    } else if (c instanceof Uint8Array) {
      if (c.byteLength > 0) return c[c.byteLength - 1];
    } else if ((isText(c) ? c.size : c.base64.byteLength) > 0) {
      return 0x3d; // "=" or a base64 letter: not a line end
    }
  }
  return undefined;
}

/** The message's bytes (CRLF line ends, ending with one). */
export function composeFull(input: ComposeInput): Uint8Array {
  const text = input.text ? textPart("plain", input.text) : undefined;
  const html = input.html ? textPart("html", input.html) : undefined;
  // Parts with a Content-ID go beside the HTML in multipart/related (RFC 2387), if there is HTML.
  const related = html ? input.attachments.filter((a) => a.contentId?.trim()) : [];
  const attached = input.attachments.filter((a) => !related.includes(a)).map(attachmentPart);

  const htmlNode = html && related.length > 0
    ? multipart("related", [html, ...related.map(attachmentPart)], ['type="text/html"'])
    : html;
  const bodyNodes = [text, htmlNode].filter((p): p is Part => !!p);
  const content = bodyNodes.length > 1 ? multipart("alternative", bodyNodes) : bodyNodes[0];

  let root: Part;
  if (attached.length > 1 || (content && attached.length === 1)) {
    root = multipart("mixed", [...(content ? [content] : []), ...attached]);
  } else {
    root = content ?? attached[0] ?? textPart("plain", "");
  }
  // The message ends with a line break: its last line's own, or one added to a non-empty body.
  const last = lastByte(root.body);
  const end = last !== undefined && last !== 0x0a ? "\r\n" : "";
  return concat([messageHeaders(input).join("\r\n"), "\r\n", ...serialize(root), end]);
}
