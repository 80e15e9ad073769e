/**
 * The JSON form of the plainest and commonest received message, without the full MIME parser:
 * one text/plain body (no Content-Type, or text/plain in US-ASCII or UTF-8) sent as 7bit, 8bit
 * or binary, CRLF header lines, plain address lists and no encoded-words (RFC 2047). For such a
 * message it gives exactly what the MIME port's parser (mailparser, cli/mime_node.ts) gives —
 * test/parse_simple_test.ts holds the two side by side — and `undefined` for anything else,
 * which then goes to that parser. Pure and edge-safe.
 *
 * Why: at full MX load the full parser cost about 0.4 ms of CPU per 5 KB message on a worker
 * thread, plus a thread round trip of several milliseconds before the message could be stored.
 * This takes a few microseconds on the event loop.
 */
import type { NamedAddress, ParsedMail } from "../../schemas/mail.ts";

const MAX_HEADER_BYTES = 64 * 1024;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Fields this parser reads; a second occurrence of one (other than To, Cc, References) is left to the full parser. */
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
/** `text/plain`, optionally with a US-ASCII or UTF-8 charset (RFC 2046 section 4.1.2). */
const PLAIN_TEXT =
  /^text\/plain\s*(?:;\s*charset\s*=\s*("?)(?:us-ascii|ascii|utf-8|utf8)\1\s*)?;?$/i;

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

export function parseSimpleMail(raw: Uint8Array): ParsedMail | undefined {
  const end = headerEnd(raw);
  if (end <= 0 || !crlfOnly(raw, end)) return undefined;
  let head: string;
  let body: string;
  try {
    head = utf8.decode(raw.subarray(0, end));
    body = utf8.decode(raw.subarray(end + 4));
  } catch {
    return undefined; // not UTF-8: the full parser decides what it is
  }

  const headers: { name: string; value: string }[] = [];
  /** Unfolded values by lower-case name, as mailparser reads them (libmime.decodeHeader). */
  const fields = new Map<string, string[]>();
  let folded: string | undefined;
  const finish = () => {
    if (folded === undefined) return;
    const colon = folded.indexOf(":");
    const key = folded.slice(0, colon).toLowerCase();
    const value = folded.slice(colon + 1).replace(/\r\n[ \t]*/g, " ").trim();
    const list = fields.get(key);
    if (list) list.push(value);
    else fields.set(key, [value]);
  };
  for (const line of head.split("\r\n")) {
    if (line[0] === " " || line[0] === "\t") {
      if (folded === undefined) return undefined;
      folded += "\r\n" + line;
      headers[headers.length - 1].value += " " + line.trim();
      continue;
    }
    finish();
    const colon = line.indexOf(":");
    if (colon <= 0 || !/^[!-9;-~]+$/.test(line.slice(0, colon))) return undefined;
    folded = line;
    headers.push({ name: line.slice(0, colon), value: line.slice(colon + 1).trim() });
  }
  finish();

  for (const [key, values] of fields) {
    if (FULL_PARSER.has(key) || (SINGLE.has(key) && values.length > 1)) return undefined;
    if ((SINGLE.has(key) || LISTS.has(key)) && values.some((v) => v.includes("=?"))) {
      return undefined;
    }
  }
  const one = (key: string) => fields.get(key)?.[0];

  const contentType = one("content-type");
  if (contentType !== undefined && !PLAIN_TEXT.test(contentType)) return undefined;
  const encoding = one("content-transfer-encoding");
  if (encoding !== undefined && !IDENTITY_ENCODINGS.has(encoding.toLowerCase())) return undefined;

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
  const text = body.replace(/\r?\n/g, "\n");
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
    text: text === "" ? undefined : text,
    html: undefined,
    attachments: [],
  };
}
