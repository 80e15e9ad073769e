/**
 * An Email's body in the JMAP forms of RFC 8621 section 4.1.4: the `bodyStructure` tree of
 * EmailBodyParts (partIds numbered as IMAP sections, RFC 3501 section 6.4.5; message/rfc822
 * parts are leaves), the textBody/htmlBody/attachments lists by the section's own algorithm,
 * and decoded `bodyValues` (RFC 2045 section 6 transfer encodings, then the part's charset),
 * truncated at a character boundary when asked. Built on the MIME part tree with byte offsets
 * (schemas/mime_structure.ts), so no MIME library is needed. Pure.
 */
import type { MimePart, MimeStructure } from "../../schemas/mime_structure.ts";
import { asText, decodeCharset, decodeWords, type RawField, rawFields } from "./headers.ts";

export interface BodyPart {
  partId: string | null;
  blobId: string | null;
  size: number;
  headers: { name: string; value: string }[];
  name: string | null;
  type: string;
  charset: string | null;
  disposition: string | null;
  cid: string | null;
  language: string[] | null;
  location: string | null;
  subParts: BodyPart[] | null;
  /** Not a JMAP property: where the part's bytes are. */
  _mime: MimePart;
  _fields: RawField[];
}

export const BODY_PART_PROPERTIES = [
  "partId",
  "blobId",
  "size",
  "headers",
  "name",
  "type",
  "charset",
  "disposition",
  "cid",
  "language",
  "location",
  "subParts",
] as const;
/** Section 4.2: what /get gives for body parts when `bodyProperties` is absent. */
export const DEFAULT_BODY_PROPERTIES = BODY_PART_PROPERTIES.filter((p) =>
  p !== "headers" && p !== "subParts"
);

/**
 * A parameter's value; an RFC 2231 extended one (`name*=charset'lang'%XX…`, continuations
 * already joined by the structure parser) decoded through its charset.
 */
export function param(params: [string, string][], name: string): string | undefined {
  const plain = params.find(([k]) => k.toLowerCase() === name)?.[1];
  if (plain !== undefined) return plain;
  const ext = params.find(([k]) => k.toLowerCase() === `${name}*`)?.[1];
  const m = ext?.match(/^([^']*)'[^']*'(.*)$/s);
  if (!m) return ext;
  const bytes: number[] = [];
  for (let i = 0; i < m[2].length; i++) {
    const c = m[2][i];
    if (c === "%" && /^[0-9A-Fa-f]{2}$/.test(m[2].slice(i + 1, i + 3))) {
      bytes.push(parseInt(m[2].slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(c.charCodeAt(0) & 0xff);
  }
  return decodeCharset(Uint8Array.from(bytes), m[1] || "us-ascii");
}

/** RFC 2045 section 6.7 quoted-printable (soft line breaks removed). */
export function decodeQuotedPrintable(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  let n = 0;
  const hex = (c: number) =>
    c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c !== 0x3d) {
      out[n++] = c;
      continue;
    }
    if (bytes[i + 1] === 0x0d && bytes[i + 2] === 0x0a) {
      i += 2;
      continue;
    }
    if (bytes[i + 1] === 0x0a) {
      i += 1;
      continue;
    }
    const hi = hex(bytes[i + 1]);
    const lo = hex(bytes[i + 2]);
    if (hi >= 0 && lo >= 0) {
      out[n++] = hi * 16 + lo;
      i += 2;
    } else out[n++] = c;
  }
  return out.slice(0, n);
}

/** RFC 2045 section 6.8 base64, ignoring characters outside the alphabet. */
export function decodeBase64(bytes: Uint8Array): Uint8Array {
  let text = "";
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9+/]/.test(c)) text += c;
  }
  text = text.slice(0, text.length - (text.length % 4 === 1 ? 1 : 0));
  while (text.length % 4 !== 0) text += "=";
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return new Uint8Array(0);
  }
}

/** A leaf part's content after its transfer encoding. */
export function decodedContent(raw: Uint8Array, part: MimePart): Uint8Array {
  const bytes = raw.subarray(part.bodyStart, part.bodyEnd);
  switch (part.encoding.toLowerCase()) {
    case "base64":
      return decodeBase64(bytes);
    case "quoted-printable":
      return decodeQuotedPrintable(bytes);
    default:
      return bytes;
  }
}

/** The bodyStructure tree; `blobIdOf(partId)` names each leaf's bytes. */
export function bodyStructure(
  raw: Uint8Array,
  structure: MimeStructure,
  blobIdOf: (partId: string) => string,
): BodyPart {
  const build = (mime: MimePart, partId: string | null): BodyPart => {
    const type = `${mime.type}/${mime.subtype}`.toLowerCase();
    const multipart = mime.type.toLowerCase() === "multipart";
    const fields = rawFields(raw, mime.headerStart, mime.headerEnd);
    const filename = mime.disposition ? param(mime.disposition.params, "filename") : undefined;
    const name = filename ?? param(mime.params, "name");
    const charset = param(mime.params, "charset");
    const subParts = multipart
      ? mime.parts.map((p, i) => build(p, partId === null ? `${i + 1}` : `${partId}.${i + 1}`))
      : null;
    const cid = fields.find((f) => f.name.toLowerCase() === "content-id");
    return {
      partId: multipart ? null : partId ?? "1",
      blobId: multipart ? null : blobIdOf(partId ?? "1"),
      size: multipart ? 0 : decodedContent(raw, mime).byteLength,
      headers: fields.map((f) => ({ name: f.name, value: f.raw })),
      name: name === undefined ? null : decodeWords(name),
      type,
      charset: charset ?? (mime.type.toLowerCase() === "text" ? "us-ascii" : null),
      disposition: mime.disposition?.type.toLowerCase() ?? null,
      cid: cid ? asText(cid.raw).replace(/^<|>$/g, "") : null,
      language: mime.language,
      location: mime.location,
      subParts,
      _mime: mime,
      _fields: fields,
    };
  };
  // A multipart message's children are sections 1, 2…; a single-part message is section 1.
  return build(structure.body, null);
}

const isInlineMediaType = (type: string) =>
  type.startsWith("image/") || type.startsWith("audio/") || type.startsWith("video/");

/** Section 4.1.4's parseStructure, as the RFC gives it. */
export function bodyLists(root: BodyPart) {
  const textBody: BodyPart[] = [];
  const htmlBody: BodyPart[] = [];
  const attachments: BodyPart[] = [];
  const walk = (
    parts: BodyPart[],
    multipartType: string,
    inAlternative: boolean,
    htmlIn: BodyPart[] | null,
    textIn: BodyPart[] | null,
  ) => {
    let html = htmlIn;
    let text = textIn;
    const textLength = text ? text.length : -1;
    const htmlLength = html ? html.length : -1;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      const isMultipart = part.type.startsWith("multipart/");
      const isInline = part.disposition !== "attachment" &&
        (part.type === "text/plain" || part.type === "text/html" ||
          isInlineMediaType(part.type)) &&
        (i === 0 ||
          (multipartType !== "related" && (isInlineMediaType(part.type) || !part.name)));
      if (isMultipart) {
        const sub = part.type.split("/")[1];
        walk(part.subParts ?? [], sub, inAlternative || sub === "alternative", html, text);
      } else if (isInline) {
        if (multipartType === "alternative") {
          if (part.type === "text/plain") text?.push(part);
          else if (part.type === "text/html") html?.push(part);
          else attachments.push(part);
          continue;
        } else if (inAlternative) {
          if (part.type === "text/plain") html = null;
          if (part.type === "text/html") text = null;
        }
        text?.push(part);
        html?.push(part);
        if ((!text || !html) && isInlineMediaType(part.type)) attachments.push(part);
      } else {
        attachments.push(part);
      }
    }
    if (multipartType === "alternative" && text && html) {
      if (textLength === text.length && htmlLength !== html.length) {
        for (let i = htmlLength; i < html.length; i++) text.push(html[i]);
      }
      if (htmlLength === html.length && textLength !== text.length) {
        for (let i = textLength; i < text.length; i++) html.push(text[i]);
      }
    }
  };
  walk([root], "mixed", false, htmlBody, textBody);
  return { textBody, htmlBody, attachments };
}

export interface BodyValue {
  value: string;
  isEncodingProblem: boolean;
  isTruncated: boolean;
}

/** A text part's decoded value (section 4.1.4 `bodyValues`), cut at `maxBytes` of UTF-8. */
export function bodyValue(raw: Uint8Array, part: BodyPart, maxBytes: number): BodyValue {
  const bytes = decodedContent(raw, part._mime);
  let problem = false;
  let value: string;
  try {
    value = new TextDecoder((part.charset ?? "utf-8").toLowerCase(), { fatal: true })
      .decode(bytes);
  } catch {
    problem = true;
    value = decodeCharset(bytes, part.charset);
  }
  value = value.replace(/\r\n/g, "\n");
  let truncated = false;
  if (maxBytes > 0) {
    const encoded = new TextEncoder().encode(value);
    if (encoded.byteLength > maxBytes) {
      let cut = maxBytes;
      // Never split a UTF-8 sequence: back up to a lead byte.
      while (cut > 0 && (encoded[cut] & 0xc0) === 0x80) cut--;
      value = new TextDecoder().decode(encoded.subarray(0, cut));
      truncated = true;
    }
  }
  return { value, isEncodingProblem: problem, isTruncated: truncated };
}

/** Every part of the tree, depth first (to find one by partId). */
export function allParts(root: BodyPart): BodyPart[] {
  return [root, ...(root.subParts ?? []).flatMap(allParts)];
}
