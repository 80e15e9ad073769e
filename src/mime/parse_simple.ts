/**
 * The JSON form of the commonest received messages, without the full MIME parser: a text/plain
 * body (no Content-Type, or text/plain in US-ASCII or UTF-8), or multipart/alternative with one
 * text/plain and one text/html part; 7bit, 8bit, binary or quoted-printable; CRLF lines, plain
 * address lists and no encoded-words (RFC 2047). For such a message it gives exactly what the
 * MIME port's parser (mailparser, hosts/process/mime_node.ts) gives — test/parse_simple_test.ts holds the
 * two side by side — and `undefined` for anything else (attachments, base64, other charsets,
 * encoded-words, groups, comments…), which then goes to that parser. Pure and edge-safe.
 *
 * Why: at full MX load the full parser cost about 0.4 ms of CPU per 5 KB message on a worker
 * thread, plus a thread round trip of several milliseconds before the message could be stored.
 * This takes a few microseconds on the event loop.
 */
import type { NamedAddress, ParsedMail } from "../../schemas/mail.ts";
import { headerFields } from "./header_block.ts";

const MAX_HEADER_BYTES = 64 * 1024;
/**
 * Larger messages go to the full parser, which runs on a worker thread: reading a few megabytes
 * here would hold the event loop for milliseconds.
 */
const MAX_MESSAGE_BYTES = 256 * 1024;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Fields read once; a second occurrence of one is left to the full parser (To, Cc and
 * References may repeat: their values are joined).
 */
const SINGLE = new Set([
  "subject",
  "from",
  "reply-to",
  "date",
  "message-id",
  "in-reply-to",
  "content-type",
  "content-transfer-encoding",
]);
const LISTS = new Set(["to", "cc", "references"]);
/** Header fields that ask for the full parser whatever their value. */
const FULL_PARSER = new Set(["content-disposition"]);

/** RFC 2045 section 6.1: the identity encodings. */
const IDENTITY_ENCODINGS = new Set(["7bit", "8bit", "binary"]);
/** `text/plain` or `text/html`, optionally with a US-ASCII or UTF-8 charset (RFC 2046 4.1.2). */
const TEXT_TYPE =
  /^text\/(plain|html)\s*(?:;\s*charset\s*=\s*("?)(?:us-ascii|ascii|utf-8|utf8)\2\s*)?;?$/i;
/** Which text a Content-Type value names, if it is one this parser reads. */
const textKind = (type: string): "text" | "html" | undefined => {
  const sub = type.match(TEXT_TYPE)?.[1].toLowerCase();
  return sub === "plain" ? "text" : sub === "html" ? "html" : undefined;
};

/** The end of the header section: the index of the empty line's CRLF CRLF, or -1. */
function headerEnd(raw: Uint8Array): number {
  const limit = Math.min(raw.byteLength - 3, MAX_HEADER_BYTES);
  for (let i = 0; i < limit; i++) {
    if (raw[i] === 13 && raw[i + 1] === 10 && raw[i + 2] === 13 && raw[i + 3] === 10) return i;
  }
  return -1;
}

/** True when every CR is followed by LF and every LF follows a CR, and there is no NUL. */
function crlfOnly(bytes: Uint8Array, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const b = bytes[i];
    if (b === 0) return false;
    if (b === 13 && bytes[i + 1] !== 10) return false;
    if (b === 10 && (i === 0 || bytes[i - 1] !== 13)) return false;
  }
  return true;
}

/** mailparser's Message-ID form: angle brackets added where missing (empty: none). */
function messageIdForm(value: string): string | undefined {
  if (!value) return undefined;
  return `${value.startsWith("<") ? "" : "<"}${value}${value.endsWith(">") ? "" : ">"}`;
}

const idsIn = (text: string): string[] => text.match(/<[^<>\s]+>/g) ?? [];

const ADDR = String.raw`[^\s<>"@,]+@[^\s<>"@,]+`;
const BARE = new RegExp(`^(${ADDR})$`);
const ANGLED = new RegExp(`^<(${ADDR})>$`);
const QUOTED_NAME = new RegExp(String.raw`^"([^"\\]*)"\s*<(${ADDR})>$`);
/** An unquoted display name of atoms and dots, words one space apart. */
const PLAIN_NAME = new RegExp(
  String
    .raw`^([A-Za-z0-9!#$%&'*+\-/=?^_\x60{|}~.]+(?: [A-Za-z0-9!#$%&'*+\-/=?^_\x60{|}~.]+)*)\s*<(${ADDR})>$`,
);

/** A plain address list (RFC 5322 section 3.4, without groups, comments or routes). */
function addressList(value: string): NamedAddress[] | undefined {
  if (/[()[\]:;\\]|=\?|xn--|[^\x20-\x7e]/i.test(value)) return undefined;
  if (value === "") return [];
  const items: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '"') quoted = !quoted;
    else if (c === "," && !quoted) {
      items.push(value.slice(start, i));
      start = i + 1;
    }
  }
  if (quoted) return undefined;
  items.push(value.slice(start));
  const out: NamedAddress[] = [];
  for (const raw of items) {
    const item = raw.trim();
    let m: RegExpMatchArray | null;
    if ((m = item.match(BARE)) || (m = item.match(ANGLED))) out.push({ name: "", address: m[1] });
    else if ((m = item.match(QUOTED_NAME)) || (m = item.match(PLAIN_NAME))) {
      out.push({ name: m[1].trim(), address: m[2] });
    } else return undefined;
  }
  return out;
}

interface HeaderSection {
  /** In order, as the full parser's port gives them (header_block.ts). */
  headers: { name: string; value: string }[];
  /** Unfolded values by lower-case name, as mailparser reads them (libmime.decodeHeader). */
  fields: Map<string, string[]>;
}

/** CRLF-separated header lines (no bare CR or LF); undefined for a line that is not a field. */
function readHeaders(head: string): HeaderSection | undefined {
  const fields = new Map<string, string[]>();
  // Each field with its folds kept: libmime joins a fold's whitespace into one space.
  const folded: string[] = [];
  for (const line of head.split("\r\n")) {
    if (line[0] === " " || line[0] === "\t") {
      if (folded.length === 0) return undefined;
      folded[folded.length - 1] += "\r\n" + line;
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0 || !/^[!-9;-~]+$/.test(line.slice(0, colon))) return undefined;
    folded.push(line);
  }
  for (const field of folded) {
    const colon = field.indexOf(":");
    const key = field.slice(0, colon).toLowerCase();
    const value = field.slice(colon + 1).replace(/\r\n[ \t]*/g, " ").trim();
    const list = fields.get(key);
    if (list) list.push(value);
    else fields.set(key, [value]);
  }
  return { headers: headerFields(head), fields };
}

/**
 * Quoted-printable (RFC 2045 section 6.7) as libqp reads it, so that the result is the full
 * parser's: whitespace at line ends dropped, soft line breaks removed, `=XX` decoded and any
 * other `=` kept as it is.
 */
function decodeQuotedPrintable(input: string): Uint8Array {
  const text = input.replace(/(^|[^ \t])[ \t]+(?=[\n\r]|$)/g, "$1").replace(/=(?:\r?\n|$)/g, "");
  const out = new Uint8Array(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x3d && i < text.length - 2) {
      const hex = text.slice(i + 1, i + 3);
      if (/^[\da-fA-F]{2}$/.test(hex)) {
        out[n++] = parseInt(hex, 16);
        i += 2;
        continue;
      }
    }
    if (code > 0xff) throw new Error("not octets");
    out[n++] = code;
  }
  return out.subarray(0, n);
}

/** A text part's content as mailparser gives it (UTF-8, LF line ends); undefined if unsure. */
function leafText(content: string, encoding: string | undefined): string | undefined {
  const cte = (encoding ?? "7bit").toLowerCase();
  let text = content;
  if (cte === "quoted-printable") {
    // Quoted-printable is 7-bit by definition; anything else is left to the full parser.
    if (/\P{ASCII}/u.test(content)) return undefined;
    try {
      text = utf8.decode(decodeQuotedPrintable(content));
    } catch {
      return undefined;
    }
  } else if (!IDENTITY_ENCODINGS.has(cte)) return undefined;
  return text.replace(/\r?\n/g, "\n");
}

/** RFC 2046 section 5.1.1, with only the boundary parameter and no space in it. */
const ALTERNATIVE =
  /^multipart\/alternative\s*;\s*boundary\s*=\s*(?:"([\w'()+,\-./:=?]+)"|([\w'()+,\-./=?]+))\s*;?$/i;

/**
 * multipart/alternative with exactly one text/plain and one text/html part (RFC 2046 section
 * 5.1.4), the shape most mail programs send; each part may be quoted-printable.
 */
function alternativeParts(
  body: string,
  boundary: string,
): { text?: string; html?: string } | undefined {
  const lines = body.split("\r\n");
  const delimiter = `--${boundary}`;
  const close = `${delimiter}--`;
  const parts: string[][] = [];
  let current: string[] | undefined;
  let closed = false;
  for (const line of lines) {
    if (line.startsWith(delimiter)) {
      if (closed || (line !== delimiter && line !== close)) return undefined;
      if (current) parts.push(current);
      current = line === delimiter ? [] : undefined;
      closed = line === close;
      continue;
    }
    current?.push(line);
  }
  if (!closed || parts.length !== 2) return undefined;
  const out: { text?: string; html?: string } = {};
  for (const part of parts) {
    const blank = part.indexOf("");
    if (blank <= 0) return undefined; // a part without Content-Type is not text to mailparser
    const section = readHeaders(part.slice(0, blank).join("\r\n"));
    if (!section) return undefined;
    for (const [key, values] of section.fields) {
      if (values.length > 1 || (key !== "content-type" && key !== "content-transfer-encoding")) {
        return undefined;
      }
    }
    const kind = textKind(section.fields.get("content-type")?.[0] ?? "");
    if (!kind || kind in out) return undefined;
    const content = part.slice(blank + 1).join("\r\n");
    // An empty part reads as one line break in mailparser; such rare parts go to it.
    if (content === "") return undefined;
    const text = leafText(content, section.fields.get("content-transfer-encoding")?.[0]);
    if (text === undefined) return undefined;
    out[kind] = text;
  }
  return out;
}

export function parseSimpleMail(raw: Uint8Array): ParsedMail | undefined {
  if (raw.byteLength > MAX_MESSAGE_BYTES) return undefined;
  const end = headerEnd(raw);
  if (end <= 0 || !crlfOnly(raw, end)) return undefined;
  let section: HeaderSection | undefined;
  let body: string;
  try {
    section = readHeaders(utf8.decode(raw.subarray(0, end)));
    body = utf8.decode(raw.subarray(end + 4));
  } catch {
    return undefined; // not UTF-8: the full parser decides what it is
  }
  if (!section) return undefined;
  const { headers, fields } = section;

  for (const [key, values] of fields) {
    if (FULL_PARSER.has(key) || (SINGLE.has(key) && values.length > 1)) return undefined;
    if ((SINGLE.has(key) || LISTS.has(key)) && values.some((v) => v.includes("=?"))) {
      return undefined;
    }
  }
  const one = (key: string) => fields.get(key)?.[0];

  const contentType = one("content-type");
  const encoding = one("content-transfer-encoding");
  let content: { text?: string; html?: string } | undefined;
  const alternative = contentType?.match(ALTERNATIVE);
  // At the top level only text/plain: mailparser turns a lone text/html into text as well.
  if (contentType === undefined || textKind(contentType) === "text") {
    const text = leafText(body, encoding);
    content = text === undefined ? undefined : { text };
  } else if (alternative) {
    const rootEncoding = (encoding ?? "7bit").toLowerCase();
    if (
      !IDENTITY_ENCODINGS.has(rootEncoding) ||
      !crlfOnly(raw.subarray(end + 4), raw.length - end - 4)
    ) {
      return undefined;
    }
    content = alternativeParts(body, alternative[1] ?? alternative[2]);
  }
  if (!content) return undefined;

  const addresses = (key: string): NamedAddress[] | undefined => {
    const out: NamedAddress[] = [];
    for (const value of fields.get(key) ?? []) {
      const list = addressList(value);
      if (!list) return undefined;
      out.push(...list);
    }
    return out;
  };
  const from = addresses("from");
  const to = addresses("to");
  const cc = addresses("cc");
  const replyTo = addresses("reply-to");
  if (!from || !to || !cc || !replyTo) return undefined;

  let date: number | undefined;
  const dateValue = one("date");
  if (dateValue !== undefined) {
    date = new Date(dateValue).getTime();
    // mailparser puts the time of parsing in place of a date it cannot read; leave that to it.
    if (Number.isNaN(date)) return undefined;
  }

  const references = (fields.get("references") ?? []).flatMap((v) =>
    v.split(/\s+/).map(messageIdForm).filter((id): id is string => !!id)
  );
  return {
    messageId: messageIdForm(one("message-id") ?? ""),
    inReplyTo: idsIn(messageIdForm(one("in-reply-to") ?? "") ?? "")[0],
    references: idsIn(references.join(" ")),
    subject: one("subject") ?? "",
    from: from[0],
    to,
    cc,
    replyTo,
    date,
    headers,
    text: content.text || undefined,
    html: content.html || undefined,
    attachments: [],
  };
}
