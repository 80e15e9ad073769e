/**
 * The MIME part tree of a stored RFC 5322 message, with byte offsets into the raw bytes, in the
 * shape IMAP needs for BODYSTRUCTURE, ENVELOPE and BODY[section] (RFC 3501 sections 6.4.5,
 * 7.4.2): per part its header and body ranges, content type and parameters (RFC 2045 section
 * 5, RFC 2231 continuations joined, charsets kept raw), id, description, transfer encoding,
 * size, line count, disposition (RFC 2183), language (RFC 3066), location (RFC 2557), MD5
 * (RFC 1864), children of multiparts (RFC 2046 section 5.1) and the envelope and inner tree of
 * message/rfc822 parts (section 5.2.1). Header values are unfolded but otherwise raw:
 * encoded-words (RFC 2047) are not decoded. Pure, JSON-serialisable (the gateway stores one per
 * blob) and total: malformed mail yields a best-effort tree, never an exception.
 */
import { z } from "zod";
import {
  findHeaderEnd,
  type HeaderField,
  headerValue,
  parseAddressList,
  parseHeaderFields,
  parseParamValue,
} from "./mime_header.ts";

export const MimeAddress = z.object({
  name: z.string().nullable().meta({ description: "The display name (raw), or null." }),
  adl: z.string().nullable().meta({
    description: "The source route (obsolete; always null in practice).",
  }),
  mailbox: z.string().nullable().meta({ description: "The local part, or a group's name." }),
  host: z.string().nullable().meta({
    description: "The domain; null marks a group's start or end.",
  }),
}).meta({
  id: "MimeAddress",
  description: "An address in IMAP ENVELOPE form (RFC 3501 section 7.4.2): a group starts with " +
    "(null, null, group name, null) and ends with all four null.",
});
export type MimeAddress = z.infer<typeof MimeAddress>;

const AddressList = z.array(MimeAddress).nullable();

export const MimeEnvelope = z.object({
  date: z.string().nullable().meta({ description: "The Date header." }),
  subject: z.string().nullable().meta({ description: "The Subject header." }),
  from: AddressList.meta({ description: "The From addresses." }),
  sender: AddressList.meta({ description: "The Sender addresses." }),
  replyTo: AddressList.meta({ description: "The Reply-To addresses." }),
  to: AddressList.meta({ description: "The To addresses." }),
  cc: AddressList.meta({ description: "The Cc addresses." }),
  bcc: AddressList.meta({ description: "The Bcc addresses." }),
  inReplyTo: z.string().nullable().meta({ description: "The In-Reply-To header." }),
  messageId: z.string().nullable().meta({ description: "The Message-ID header." }),
}).meta({
  id: "MimeEnvelope",
  description: "Raw header values for IMAP ENVELOPE: unfolded, encoded-words not decoded, null " +
    "when the field is absent. Sender and Reply-To are not defaulted to From here.",
});
export type MimeEnvelope = z.infer<typeof MimeEnvelope>;

const Params = z.array(z.tuple([z.string(), z.string()]));

export interface MimePart {
  headerStart: number;
  headerEnd: number;
  bodyStart: number;
  bodyEnd: number;
  type: string;
  subtype: string;
  params: [string, string][];
  id: string | null;
  description: string | null;
  encoding: string;
  size: number;
  lines: number;
  md5: string | null;
  disposition: { type: string; params: [string, string][] } | null;
  language: string[] | null;
  location: string | null;
  parts: MimePart[];
  message: { envelope: MimeEnvelope; body: MimePart } | null;
}

export const MimePart: z.ZodType<MimePart> = z.object({
  headerStart: z.number().int().meta({ description: "Offset of the part's first header byte." }),
  headerEnd: z.number().int().meta({
    description: "Offset just past the header fields (before the empty line).",
  }),
  bodyStart: z.number().int().meta({ description: "Offset of the first body byte." }),
  bodyEnd: z.number().int().meta({ description: "Offset just past the last body byte." }),
  type: z.string().meta({ description: "The media type, lower case (e.g. `text`)." }),
  subtype: z.string().meta({ description: "The media subtype, lower case (e.g. `plain`)." }),
  params: Params.meta({ description: "Parameters in order, as [name, value] pairs." }),
  id: z.string().nullable().meta({ description: "Content-ID." }),
  description: z.string().nullable().meta({ description: "Content-Description." }),
  encoding: z.string().meta({ description: "Content-Transfer-Encoding (default `7bit`)." }),
  size: z.number().int().meta({ description: "Body size in octets." }),
  lines: z.number().int().meta({ description: "Body line count (text/* and message/rfc822)." }),
  md5: z.string().nullable().meta({ description: "Content-MD5." }),
  disposition: z.object({
    type: z.string().meta({ description: "`attachment`, `inline`, …" }),
    params: Params.meta({ description: "Its parameters as [name, value] pairs." }),
  }).nullable().meta({ description: "Content-Disposition, if any." }),
  language: z.array(z.string()).nullable().meta({ description: "Content-Language tags." }),
  location: z.string().nullable().meta({ description: "Content-Location." }),
  get parts() {
    return z.array(MimePart).meta({ description: "The children of a multipart." });
  },
  get message() {
    return z.object({ envelope: MimeEnvelope, body: MimePart }).nullable().meta({
      description: "For message/rfc822: the enclosed message's envelope and body.",
    });
  },
}).meta({
  id: "MimePart",
  description:
    "One MIME part (RFC 2045/2046) as IMAP BODYSTRUCTURE describes it; a multipart holds its children.",
});

export const MimeStructure = z.object({
  envelope: MimeEnvelope,
  body: MimePart,
  size: z.number().int().meta({ description: "Size of the whole message in octets." }),
}).meta({
  id: "MimeStructure",
  description: "The MIME part tree of a stored message with byte offsets into its raw bytes.",
});
export type MimeStructure = z.infer<typeof MimeStructure>;

// Nesting deeper than this is treated as an opaque leaf; so is any part past the part budget.
const MAX_DEPTH = 64;
const MAX_PARTS = 10_000;

/** The part tree and envelope of `raw`. Never throws. */
export function parseMimeStructure(raw: Uint8Array): MimeStructure {
  const budget = { parts: 0 };
  const { fields, part } = parsePart(raw, 0, raw.length, false, 0, budget);
  return { envelope: envelopeOf(fields), body: part, size: raw.length };
}

function envelopeOf(fields: HeaderField[]): MimeEnvelope {
  const text = (name: string) => headerValue(fields, name) ?? null;
  const addresses = (name: string) => {
    const v = headerValue(fields, name);
    if (v === undefined) return null;
    const list = parseAddressList(v);
    return list.length > 0 ? list : null;
  };
  return {
    date: text("date"),
    subject: text("subject"),
    from: addresses("from"),
    sender: addresses("sender"),
    replyTo: addresses("reply-to"),
    to: addresses("to"),
    cc: addresses("cc"),
    bcc: addresses("bcc"),
    inReplyTo: text("in-reply-to"),
    messageId: text("message-id"),
  };
}

function countLines(raw: Uint8Array, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) if (raw[i] === 0x0a) n++;
  return n;
}

function parsePart(
  raw: Uint8Array,
  start: number,
  end: number,
  inDigest: boolean,
  depth: number,
  budget: { parts: number },
): { fields: HeaderField[]; part: MimePart } {
  budget.parts++;
  const { fieldsEnd, bodyStart } = findHeaderEnd(raw, start, end);
  const fields = parseHeaderFields(raw, start, fieldsEnd);
  const ctValue = headerValue(fields, "content-type");
  const ct = ctValue !== undefined ? parseParamValue(ctValue, true) : undefined;
  let type: string;
  let subtype: string;
  let params: [string, string][];
  if (ct && ct.type !== "" && ct.subtype !== "") {
    ({ type, subtype, params } = ct);
  } else if (inDigest) {
    // RFC 2046 section 5.1.5: the default in a multipart/digest is message/rfc822.
    [type, subtype, params] = ["message", "rfc822", []];
  } else {
    // RFC 2045 section 5.2: the default is text/plain; charset=us-ascii.
    [type, subtype, params] = ["text", "plain", [["charset", "us-ascii"]]];
  }
  const lowerType = type.toLowerCase();
  const lowerSub = subtype.toLowerCase();
  const boundary = params.find(([n]) => n.toLowerCase() === "boundary")?.[1];
  if (lowerType === "multipart" && !boundary) {
    // A multipart without a boundary cannot be split; treat it as plain text, as Dovecot does.
    [type, subtype, params] = ["text", "plain", [["charset", "us-ascii"]]];
  }
  const disp = headerValue(fields, "content-disposition");
  const dispParsed = disp !== undefined ? parseParamValue(disp, false) : undefined;
  const lang = headerValue(fields, "content-language");
  const part: MimePart = {
    headerStart: start,
    headerEnd: fieldsEnd,
    bodyStart,
    bodyEnd: end,
    type,
    subtype,
    params,
    id: headerValue(fields, "content-id") ?? null,
    description: headerValue(fields, "content-description") ?? null,
    encoding: headerValue(fields, "content-transfer-encoding")?.trim() || "7bit",
    size: end - bodyStart,
    lines: countLines(raw, bodyStart, end),
    md5: headerValue(fields, "content-md5") ?? null,
    disposition: dispParsed && dispParsed.type !== ""
      ? { type: dispParsed.type, params: dispParsed.params }
      : null,
    language: lang !== undefined
      ? lang.split(",").map((s) => s.replace(/\([^)]*\)/g, "").trim()).filter((s) => s)
      : null,
    location: headerValue(fields, "content-location")?.replace(/\s+/g, "") ?? null,
    parts: [],
    message: null,
  };
  if (part.language?.length === 0) part.language = null;
  if (depth >= MAX_DEPTH || budget.parts >= MAX_PARTS) return { fields, part };

  if (type.toLowerCase() === "multipart" && boundary) {
    const digest = lowerSub === "digest";
    for (const [s, e] of splitMultipart(raw, bodyStart, end, boundary)) {
      if (budget.parts >= MAX_PARTS) break;
      part.parts.push(parsePart(raw, s, e, digest, depth + 1, budget).part);
    }
    if (part.parts.length === 0) {
      // RFC 3501's body-type-mpart needs at least one part: report an empty text part.
      part.parts.push(parsePart(raw, end, end, false, depth + 1, budget).part);
    }
  } else if (lowerType === "message" && lowerSub === "rfc822") {
    const inner = parsePart(raw, bodyStart, end, false, depth + 1, budget);
    part.message = { envelope: envelopeOf(inner.fields), body: inner.part };
  }
  return { fields, part };
}

/**
 * The [start, end) ranges of the body parts of a multipart body (RFC 2046 section 5.1.1). A
 * delimiter line is "--boundary" at the start of a line followed by optional whitespace; the
 * line break before it belongs to the delimiter. A missing close delimiter ends the last part
 * at the end of the body.
 */
export function splitMultipart(
  raw: Uint8Array,
  start: number,
  end: number,
  boundary: string,
): [number, number][] {
  const delim = new TextEncoder().encode(`--${boundary}`);
  const ranges: [number, number][] = [];
  let partStart = -1;
  let lineStart = start;
  while (lineStart < end) {
    let lineEnd = lineStart;
    while (lineEnd < end && raw[lineEnd] !== 0x0a) lineEnd++;
    const kind = delimiterKind(raw, lineStart, lineEnd, delim);
    if (kind !== "none") {
      if (partStart >= 0) {
        // Drop the CRLF (or LF) that precedes the delimiter, unless the part is empty.
        let e = lineStart;
        if (e > partStart && raw[e - 1] === 0x0a) e--;
        if (e > partStart && raw[e - 1] === 0x0d) e--;
        ranges.push([partStart, e]);
      }
      if (kind === "close") return ranges;
      partStart = Math.min(lineEnd + 1, end);
    }
    lineStart = lineEnd + 1;
  }
  if (partStart >= 0) ranges.push([partStart, end]);
  return ranges;
}

function delimiterKind(
  raw: Uint8Array,
  lineStart: number,
  lineEnd: number,
  delim: Uint8Array,
): "none" | "part" | "close" {
  if (lineEnd - lineStart < delim.length) return "none";
  for (let k = 0; k < delim.length; k++) if (raw[lineStart + k] !== delim[k]) return "none";
  let i = lineStart + delim.length;
  if (raw[i] === 0x2d && raw[i + 1] === 0x2d && i + 1 < lineEnd) return "close";
  // Transport padding (RFC 2046 section 5.1.1) may follow the boundary.
  for (; i < lineEnd; i++) {
    if (raw[i] !== 0x20 && raw[i] !== 0x09 && raw[i] !== 0x0d) return "none";
  }
  return "part";
}
