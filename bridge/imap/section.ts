/**
 * BODY[section]<partial> extraction (RFC 3501 section 6.4.5) from a message's raw bytes and its
 * `MimeStructure`: part numbers through multiparts and into message/rfc822 parts, HEADER,
 * HEADER.FIELDS (.NOT) with folded lines kept byte-exact, TEXT, MIME, and the octet range of
 * a partial fetch. The whole message (`BODY[]`) is the stored bytes exactly.
 */
import type { MimePart, MimeStructure } from "../../schemas/mime_structure.ts";
import { findHeaderEnd } from "../../schemas/mime_header.ts";
import type { Section } from "./command.ts";

const isMultipart = (p: MimePart) => p.type.toLowerCase() === "multipart";

/** The part a non-empty part path names, or undefined when it does not exist. */
export function resolvePart(root: MimePart, path: number[]): MimePart | undefined {
  let node: MimePart | undefined = root;
  for (let i = 0; i < path.length && node; i++) {
    const n = path[i];
    // Past the first number, a message/rfc822 part's numbers refer to its encapsulated message.
    if (i > 0 && node.message) node = node.message.body;
    if (isMultipart(node)) node = node.parts[n - 1];
    else if (n !== 1) node = undefined;
  }
  return node;
}

/** The header and body ranges that HEADER/TEXT of a section address. */
function messageRange(
  structure: MimeStructure,
  path: number[],
): { part: MimePart; message: MimePart | undefined } | undefined {
  if (path.length === 0) return { part: structure.body, message: structure.body };
  const part = resolvePart(structure.body, path);
  if (!part) return undefined;
  return { part, message: part.message?.body };
}

/** The octets of `section` (before any partial), or undefined if the part does not exist. */
export function extractSection(
  raw: Uint8Array,
  structure: MimeStructure,
  section: Section,
): Uint8Array | undefined {
  const range = messageRange(structure, section.part);
  if (!range) return undefined;
  const { part, message } = range;
  if (section.text === "MIME") return raw.subarray(part.headerStart, part.bodyStart);
  if (section.text === undefined) {
    return section.part.length === 0 ? raw : raw.subarray(part.bodyStart, part.bodyEnd);
  }
  // HEADER, TEXT and HEADER.FIELDS address a message: the whole one or a message/rfc822 part.
  // Of any other part they are empty, as Dovecot answers.
  if (!message) return new Uint8Array();
  switch (section.text) {
    case "HEADER":
      return raw.subarray(message.headerStart, message.bodyStart);
    case "TEXT":
      return raw.subarray(message.bodyStart, message.bodyEnd);
    case "HEADER.FIELDS":
    case "HEADER.FIELDS.NOT":
      return headerFields(
        raw.subarray(message.headerStart, message.headerEnd),
        section.fields ?? [],
        section.text === "HEADER.FIELDS.NOT",
      );
  }
}

/**
 * A section of the whole message (no part number) straight from its bytes, without a
 * structure: `bytes` is the message or just its header block (enough for HEADER and
 * HEADER.FIELDS). Undefined for sections that need the part tree.
 */
export function topLevelSection(bytes: Uint8Array, section: Section): Uint8Array | undefined {
  if (section.part.length > 0) return undefined;
  // BODY[] (the whole message, what clients download) needs no look at the header.
  if (section.text === undefined) return bytes;
  const { fieldsEnd, bodyStart } = findHeaderEnd(bytes, 0, bytes.length);
  switch (section.text) {
    case undefined:
      return bytes;
    case "HEADER":
      return bytes.subarray(0, bodyStart);
    case "TEXT":
      return bytes.subarray(bodyStart);
    case "HEADER.FIELDS":
    case "HEADER.FIELDS.NOT":
      return headerFields(
        bytes.subarray(0, fieldsEnd),
        section.fields ?? [],
        section.text === "HEADER.FIELDS.NOT",
      );
    default:
      return undefined;
  }
}

/** The header lines (folded continuations included) whose name is (not) in `names`, then CRLF. */
export function headerFields(header: Uint8Array, names: string[], not: boolean): Uint8Array {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const out: Uint8Array[] = [];
  let size = 0;
  let i = 0;
  while (i < header.length) {
    // One field: up to a line end not followed by whitespace.
    let end = i;
    for (;;) {
      while (end < header.length && header[end] !== 0x0a) end++;
      if (end >= header.length) break;
      end++;
      if (end < header.length && (header[end] === 0x20 || header[end] === 0x09)) continue;
      break;
    }
    const field = header.subarray(i, end);
    const colon = field.indexOf(0x3a);
    const name = colon > 0 ? new TextDecoder().decode(field.subarray(0, colon)).trim() : "";
    if (name && wanted.has(name.toLowerCase()) !== not) {
      let bytes = field;
      if (bytes[bytes.length - 1] !== 0x0a) {
        bytes = new Uint8Array([...bytes, 0x0d, 0x0a]);
      }
      out.push(bytes);
      size += bytes.length;
    }
    i = end;
  }
  const result = new Uint8Array(size + 2);
  let o = 0;
  for (const b of out) {
    result.set(b, o);
    o += b.length;
  }
  result.set([0x0d, 0x0a], o);
  return result;
}

/** The `<start.length>` window of `bytes` (empty when start is past the end). */
export function applyPartial(
  bytes: Uint8Array,
  partial?: { start: number; length: number },
): Uint8Array {
  if (!partial) return bytes;
  if (partial.start >= bytes.length) return new Uint8Array();
  return bytes.subarray(partial.start, partial.start + partial.length);
}

/** The section as it is echoed in the FETCH response, e.g. `1.HEADER.FIELDS (FROM TO)`. */
export function sectionName(section: Section): string {
  const parts = section.part.join(".");
  if (!section.text) return parts;
  let text: string = section.text;
  if (section.fields) text += ` (${section.fields.map((f) => f.toUpperCase()).join(" ")})`;
  return parts ? `${parts}.${text}` : text;
}
