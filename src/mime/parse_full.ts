/**
 * The JSON form of any message (RFC 5322, MIME RFC 2045-2047, 2183, 2231, 3676), edge-safe:
 * the part tree from mime_tree.ts, each part's transfer encoding and charset undone, and the
 * result laid out as the process host's parser (mailparser) lays it out, so a message stored
 * by a Worker reads the same as one stored by `postern serve`:
 *
 * - Header fields: the first Subject, Message-ID, In-Reply-To, From, Reply-To and Date; every
 *   To, Cc and References, joined; encoded-words decoded; Message-IDs in angle brackets.
 * - `text` and `html`: every inline text/plain (and message/delivery-status) part and every
 *   text/html part in document order, joined ("\n" for text, "<br/>\n" for HTML). Inside a
 *   multipart/alternative only the parts themselves count; outside one, an HTML part also
 *   contributes its text when the message has text parts, and an HTML-only message gets its
 *   text from its HTML (html_text.ts). A message/rfc822 part sent inline is read as part of
 *   the message, its From/Subject/Date/To/Cc shown above its text (a forwarded message).
 * - `attachments`: every other leaf in document order, numbered from 0; what `attachment()`
 *   returns for the same index. A part typed application/octet-stream gets its type from its
 *   file name (media_types.ts).
 *
 * Differences from mailparser kept on purpose: a Date header that cannot be read gives no date
 * (mailparser puts the time of parsing there). Mail beyond the limits (mime_tree.ts) comes back
 * degraded (degraded.ts). Pure; never throws; work bounded by the limits and linear in size.
 */
import type { AttachmentContent, AttachmentInfo, ParsedMail } from "../../schemas/mail.ts";
import { type AddressEntry, flattenAddresses, readAddressEntries } from "./address_list.ts";
import { decodeCharset } from "./charset.ts";
import { degradedMail } from "./degraded.ts";
import { decodeWords } from "./encoded_words.ts";
import { parseHeaderBlock } from "./header_block.ts";
import { htmlToText, nestedDeeperThan } from "./html_text.ts";
import { decodeFlowed } from "./flowed.ts";
import { addressesHtml, addressesText, heEncode } from "./forward_header.ts";
import { mediaTypeFor } from "./media_types.ts";
import {
  DEFAULT_LIMITS,
  type MimeLimits,
  type MimeNode,
  splitMime,
  unfoldValue,
} from "./mime_tree.ts";
import { base64DecodedSize, decodeBase64, decodeQuotedPrintable } from "./transfer.ts";

/** HTML longer than this is not turned into text (mailparser's `maxHtmlLengthToParse`). */
const MAX_HTML_TO_TEXT = 5 * 1024 * 1024;
/** HTML nested deeper than this is not turned into text (mailparser's guard). */
const MAX_HTML_DEPTH = 1000;

const TEXT_TYPES = new Set(["text/plain", "text/html", "message/delivery-status"]);

const utf8 = new TextDecoder("utf-8");
const latin1Bytes = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);

/** Every value of a field: unfolded, read as UTF-8 (bad bytes replaced), trimmed. */
function values(node: MimeNode, key: string): string[] {
  return node.fields.filter((f) => f.key === key).map((f) =>
    utf8.decode(latin1Bytes(unfoldValue(f.line))).trim()
  );
}

/** mailparser's Message-ID form: angle brackets added where missing; empty is none. */
function messageIdForm(value: string): string | undefined {
  if (!value) return undefined;
  return `${value.startsWith("<") ? "" : "<"}${value}${value.endsWith(">") ? "" : ">"}`;
}

const idsIn = (text: string): string[] => text.match(/<[^<>\s]+>/g) ?? [];

/** The header fields of one part, read as mailparser reads them. */
export interface PartHeaders {
  subject?: string;
  messageId?: string;
  inReplyTo?: string;
  references: string[];
  from?: AddressEntry[];
  to?: AddressEntry[];
  cc?: AddressEntry[];
  bcc?: AddressEntry[];
  replyTo?: AddressEntry[];
  date?: Date;
  contentId?: string;
}

function readPartHeaders(node: MimeNode): PartHeaders {
  const firstOf = (key: string) => values(node, key)[0];
  const addresses = (key: string, all: boolean) => {
    const list = values(node, key);
    if (list.length === 0) return undefined;
    return (all ? list : list.slice(0, 1)).flatMap(readAddressEntries);
  };
  const subject = firstOf("subject");
  const messageId = firstOf("message-id");
  const inReplyTo = firstOf("in-reply-to");
  const dateText = firstOf("date");
  const date = dateText ? new Date(dateText) : undefined;
  return {
    subject: subject ? decodeWords(subject) || undefined : undefined,
    messageId: messageId ? messageIdForm(decodeWords(messageId)) : undefined,
    inReplyTo: inReplyTo ? messageIdForm(decodeWords(inReplyTo)) : undefined,
    references: values(node, "references").flatMap((v) =>
      decodeWords(v).split(/\s+/).map(messageIdForm).filter((id): id is string => !!id)
    ),
    from: addresses("from", false),
    to: addresses("to", true),
    cc: addresses("cc", true),
    bcc: addresses("bcc", true),
    replyTo: addresses("reply-to", false),
    date: date && !Number.isNaN(date.getTime()) ? date : undefined,
    contentId: firstOf("content-id") || undefined,
  };
}

/** A leaf's body bytes, still encoded (one view when the body is one range, as it nearly always is). */
function encodedBody(raw: Uint8Array, node: MimeNode): Uint8Array {
  let size = 0;
  for (const [s, e] of node.body) size += e - s;
  let bytes: Uint8Array;
  if (node.body.length === 1) bytes = raw.subarray(node.body[0][0], node.body[0][1]);
  else {
    bytes = new Uint8Array(size);
    let at = 0;
    for (const [s, e] of node.body) {
      bytes.set(raw.subarray(s, e), at);
      at += e - s;
    }
  }
  return bytes;
}

/** A leaf's body with its transfer encoding undone. */
export function decodedBody(raw: Uint8Array, node: MimeNode): Uint8Array {
  const bytes = encodedBody(raw, node);
  if (node.encoding === "base64") return decodeBase64(bytes);
  if (node.encoding === "quoted-printable") return decodeQuotedPrintable(bytes);
  return bytes;
}

/**
 * A leaf's decoded size. Base64 (nearly every attachment) is counted, not decoded: a Worker has
 * 128 MB, and a 25 MB message's attachment decoded just to be measured would take a fifth of it.
 */
function decodedSize(raw: Uint8Array, node: MimeNode): number {
  if (node.encoding === "base64") return base64DecodedSize(encodedBody(raw, node));
  return decodedBody(raw, node).byteLength;
}

/** A text part's content as a string with LF line ends. */
function textContent(raw: Uint8Array, node: MimeNode): string {
  let bytes = decodedBody(raw, node);
  if (node.flowed) {
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    bytes = latin1Bytes(decodeFlowed(binary, node.delSp));
  }
  return decodeCharset(bytes, node.charset).text.replace(/\r?\n/g, "\n");
}

interface Walk {
  nodes: MimeNode[];
  /** Attachment leaves in order. */
  attachments: MimeNode[];
  text: Map<MimeNode, string>;
  hasText: boolean;
  hasHtml: boolean;
}

/** Sorts the leaves into text parts and attachments, as mailparser's createNode does. */
function walk(raw: Uint8Array, nodes: MimeNode[], withText: boolean): Walk {
  const out: Walk = { nodes, attachments: [], text: new Map(), hasText: false, hasHtml: false };
  for (const node of nodes) {
    // mailparser takes any multipart/ type for a container (mailsplit needs a subtype to split).
    if (node.contentType.startsWith("multipart/")) continue;
    if (node.contentType === "message/rfc822" && node.messageNode) continue;
    const type = node.contentType || (node.root ? "text/plain" : "");
    let disposition = node.disposition;
    if (disposition && disposition !== "attachment" && disposition !== "inline") {
      disposition = "attachment";
    }
    const normal = !disposition && !TEXT_TYPES.has(type) ? "attachment" : disposition || "inline";
    if (!TEXT_TYPES.has(type) || normal !== "inline") {
      out.attachments.push(node);
      continue;
    }
    if (type === "text/html") out.hasHtml = true;
    else out.hasText = true;
    if (withText) out.text.set(node, textContent(raw, node));
  }
  return out;
}

/** `text` and `html` as mailparser's getTextContent assembles them. */
function assembleText(root: MimeNode, w: Walk): { text?: string; html?: string } {
  const text: string[] = [];
  const html: string[] = [];
  const visit = (node: MimeNode, alternative: boolean) => {
    if (node.parent?.contentType === "message/rfc822") {
      const h = readPartHeaders(node);
      const meta: [string, string, string][] = [];
      if (h.from) meta.push(["From", addressesText(h.from), addressesHtml(h.from)]);
      if (h.subject) meta.push(["Subject", h.subject, `<strong>${heEncode(h.subject)}</strong>`]);
      const dateText = values(node, "date")[0];
      if (dateText) {
        // mailparser shows the time of parsing for a date it cannot read.
        const date = h.date ?? new Date();
        meta.push(["Date", date.toUTCString(), date.toUTCString()]);
      }
      if (h.to) meta.push(["To", addressesText(h.to), addressesHtml(h.to)]);
      if (h.cc) meta.push(["Cc", addressesText(h.cc), addressesHtml(h.cc)]);
      if (h.bcc) meta.push(["Bcc", addressesText(h.bcc), addressesHtml(h.bcc)]);
      if (w.hasHtml) {
        html.push(
          '<table class="mp_head">' +
            meta.map(([k, , v]) =>
              `<tr><td class="mp_head_key">${
                heEncode(k)
              }:</td><td class="mp_head_value">${v}<td></tr>`
            ).join("\n") + "<table>",
        );
      }
      if (w.hasText) text.push("\n" + meta.map(([k, v]) => `${k}: ${v}`).join("\n") + "\n");
    }
    const content = w.text.get(node);
    if (content) {
      if (node.contentType === "text/html") {
        if ((!alternative && w.hasText) || (node.root && !w.hasText)) {
          // Too long or too deeply nested HTML gives no text (mailparser's limits, kept).
          const convertible = content.length <= MAX_HTML_TO_TEXT &&
            !nestedDeeperThan(content, MAX_HTML_DEPTH);
          text.push(convertible ? htmlToText(content) : "");
        }
        html.push(content);
      } else {
        text.push(content);
        // mailparser's text-to-HTML conversion is off in Postern (skipTextToHtml): "".
        if (!alternative && w.hasHtml) html.push("");
      }
    }
    const inAlternative = alternative || node.contentType === "multipart/alternative";
    for (const child of node.children) visit(child, inAlternative);
  };
  visit(root, false);
  const joinedHtml = html.join("<br/>\n");
  return {
    text: text.length ? text.join("\n") : undefined,
    html: joinedHtml || undefined,
  };
}

function attachmentInfo(raw: Uint8Array, node: MimeNode, index: number): AttachmentInfo {
  const contentId = readPartHeaders(node).contentId;
  return {
    index,
    filename: node.filename ?? `attachment-${index + 1}`,
    contentType: attachmentType(node),
    size: decodedSize(raw, node),
    ...(contentId ? { contentId } : {}),
    disposition: node.disposition === "inline" ? "inline" : "attachment",
  };
}

function attachmentType(node: MimeNode): string {
  // An empty Content-Type: text/plain for the message itself, octet-stream for a part (where
  // mailparser reports `false`), and no guessing from the file name in either case.
  if (!node.contentType) return node.root ? "text/plain" : "application/octet-stream";
  const type = node.contentType;
  return type === "application/octet-stream" && node.filename ? mediaTypeFor(node.filename) : type;
}

/** The JSON form of `raw`; degraded beyond the limits, never a throw. */
export function parseFullMail(raw: Uint8Array, limits: MimeLimits = DEFAULT_LIMITS): ParsedMail {
  let split;
  try {
    split = splitMime(raw, limits);
  } catch (error) {
    return degradedMail(raw, `the MIME parser failed: ${String(error).slice(0, 200)}`);
  }
  if (!split.ok) return degradedMail(raw, split.reason);
  try {
    const { root, nodes } = split;
    const w = walk(raw, nodes, true);
    const h = readPartHeaders(root);
    const content = assembleText(root, w);
    const parsed: ParsedMail = {
      messageId: h.messageId,
      inReplyTo: idsIn(h.inReplyTo ?? "")[0],
      references: idsIn(h.references.join(" ")),
      subject: h.subject ?? "",
      from: flattenAddresses(h.from ?? [])[0],
      to: flattenAddresses(h.to ?? []),
      cc: flattenAddresses(h.cc ?? []),
      replyTo: flattenAddresses(h.replyTo ?? []),
      date: h.date?.getTime(),
      headers: parseHeaderBlock(raw),
      text: content.text,
      html: content.html,
      attachments: w.attachments.map((node, index) => attachmentInfo(raw, node, index)),
    };
    if (parsed.headers.length === 0) {
      // As mailparser's fallback: its decoded fields, those with a value.
      parsed.headers = root.fields.map((f) => ({
        name: f.key,
        value: utf8.decode(latin1Bytes(unfoldValue(f.line))).trim(),
      })).filter((f) => f.value);
    }
    return parsed;
  } catch (error) {
    return degradedMail(raw, `the MIME parser failed: ${String(error).slice(0, 200)}`);
  }
}

/** The decoded content of attachment `index` (as `parseFullMail` numbers them). */
export function attachmentContent(
  raw: Uint8Array,
  index: number,
  limits: MimeLimits = DEFAULT_LIMITS,
): AttachmentContent | undefined {
  const split = splitMime(raw, limits);
  if (!split.ok) return undefined;
  const node = walk(raw, split.nodes, false).attachments[index];
  if (!node) return undefined;
  return {
    filename: node.filename ?? `attachment-${index + 1}`,
    contentType: attachmentType(node),
    // A copy only where the content is still a view of the message (identity encodings).
    content: node.encoding === "base64" || node.encoding === "quoted-printable"
      ? decodedBody(raw, node)
      : decodedBody(raw, node).slice(),
  };
}
