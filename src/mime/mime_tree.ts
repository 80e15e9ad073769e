/**
 * The MIME part tree of a message (RFC 2045 section 5, RFC 2046 section 5): one line-by-line
 * pass over the bytes, splitting multiparts at their delimiter lines (5.1.1) and opening an
 * inline message/rfc822 part as a nested message (5.2.1). It reads damaged mail the way the
 * process host's splitter (mailsplit, under mailparser) does, so that both ports find the same
 * parts: a delimiter may carry trailing whitespace and extra CRs; a delimiter of any enclosing
 * multipart ends every part below it (an inner multipart that is never closed does not swallow
 * the rest); the line break before a delimiter belongs to the delimiter; a part whose header
 * block is cut off by a delimiter is dropped; a Content-Type-less part is text/plain, or typed
 * from its file name, or application/octet-stream when it is an attachment.
 *
 * Work is bounded: at most `maxParts` parts and `maxHeaderBytes` per header block (each line
 * counted as at least 64 bytes, so a block of short lines is bounded too); beyond either the
 * result is an error the caller turns into a degraded parse. Pure; never throws.
 */
import { decodeWords } from "./encoded_words.ts";
import { parseHeaderParams } from "./header_params.ts";
import { mediaTypeFor } from "./media_types.ts";

export interface MimeLimits {
  maxParts: number;
  maxHeaderBytes: number;
}

/** The process host's defaults (hosts/process/mime_node.ts, mailsplit's own). */
export const DEFAULT_LIMITS: MimeLimits = { maxParts: 1000, maxHeaderBytes: 1024 * 1024 };

/** One header line: lower-case name and the raw line (folds kept), as 8-bit characters. */
export interface RawField {
  key: string;
  line: string;
}

export interface MimeNode {
  parent?: MimeNode;
  /** The enclosing part whose delimiters also end this one. */
  owner?: MimeNode;
  root: boolean;
  fields: RawField[];
  /** Lower-case `type/subtype` (never empty once the headers are read). */
  contentType: string;
  charset?: string;
  /** Lower-case disposition type as written (`attachment`, `inline`, …), if any. */
  disposition?: string;
  filename?: string;
  /** Lower-case Content-Transfer-Encoding, "" when absent. */
  encoding: string;
  boundary?: Uint8Array;
  multipart: boolean;
  flowed: boolean;
  delSp: boolean;
  /** An inline message/rfc822 part whose content was read as a nested message. */
  messageNode: boolean;
  /** Byte ranges of the (still encoded) body. */
  body: [number, number][];
  children: MimeNode[];
  /** Internal: header block range and cost while it is read. */
  headerStart: number;
  headerEnd: number;
  headerCost: number;
  emitted: boolean;
}

export type SplitResult =
  | { ok: true; root: MimeNode; nodes: MimeNode[] }
  | { ok: false; reason: string };

const utf8Fatal = new TextDecoder("utf-8", { fatal: true });

/** 8-bit characters, one per byte (what the header grammar is written against). */
export function binaryString(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    out += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return out;
}

const binaryBytes = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

/** A header value's text: UTF-8 if it is valid UTF-8, else each byte as a character. */
export function headerText(binary: string): string {
  if (!/[\x80-\xff]/.test(binary)) return binary;
  try {
    return utf8Fatal.decode(binaryBytes(binary));
  } catch {
    return binary;
  }
}

/** RFC 5322 section 2.2.3 unfolding and the value after the first colon, trimmed. */
export function unfoldValue(line: string): string {
  const unfolded = line.replace(/(?:\r?\n|\r)[ \t]*/g, " ").trim();
  const m = unfolded.match(/^\s*([^:]+):(.*)$/s);
  return m ? m[2].trim() : "";
}

/** The header lines of a block: folds joined to their field, an mbox "From " line skipped. */
function headerLines(block: string): RawField[] {
  let end = block.length;
  while (end > 0 && (block.charCodeAt(end - 1) === 0x0a || block.charCodeAt(end - 1) === 0x0d)) {
    end--;
  }
  if (end === 0) return [];
  const raw = block.slice(0, end).split(/\r?\n/);
  const lines: RawField[] = [];
  let i = 1;
  let first = raw[0];
  while (i < raw.length && (raw[i][0] === " " || raw[i][0] === "\t")) first += "\r\n" + raw[i++];
  if (!/^From /i.test(first) && !/^POST /i.test(first)) {
    lines.push({
      key: first.slice(0, Math.max(first.indexOf(":"), 0)).toLowerCase().trim(),
      line: first,
    });
  }
  let keyPending = false;
  for (; i < raw.length; i++) {
    const line = raw[i];
    if ((line[0] === " " || line[0] === "\t") && lines.length > 0) {
      const entry = lines[lines.length - 1];
      if (keyPending) {
        const colon = line.indexOf(":");
        if (colon >= 0) {
          entry.key = (entry.line + "\r\n" + line.slice(0, colon)).toLowerCase().trim();
          keyPending = false;
        }
      }
      entry.line += "\r\n" + line;
    } else {
      const colon = line.indexOf(":");
      // A line without a colon has no name (mailsplit: substr(0, -1)); a fold may give it one.
      lines.push({ key: colon < 0 ? "" : line.slice(0, colon).toLowerCase().trim(), line });
      keyPending = colon < 0;
    }
  }
  return lines;
}

/** The first value of a field, unfolded, as text. */
function first(fields: RawField[], key: string): string {
  const field = fields.find((f) => f.key === key);
  return field ? unfoldValue(headerText(field.line)) : "";
}

/** RFC 2045 section 6.1: a comment is not part of the encoding token. */
function stripComments(value: string): string {
  if (!value.includes("(")) return value;
  const start = value.indexOf("(");
  const end = value.lastIndexOf(")");
  return end > start ? value.slice(0, start) + value.slice(end + 1) : value;
}

const encoder = new TextEncoder();

function readHeaders(node: MimeNode, raw: Uint8Array): void {
  const fields = headerLines(binaryString(raw.subarray(node.headerStart, node.headerEnd)));
  node.fields = fields;
  const disposition = parseHeaderParams(first(fields, "content-disposition"));
  let typeValue = fields.some((f) => f.key === "content-type") ? first(fields, "content-type") : "";
  if (!fields.some((f) => f.key === "content-type")) {
    const name = disposition.params.get("filename");
    const extension = name?.match(/(?:^|[^/])\.([^./]*)$/)?.[1];
    if (extension) typeValue = mediaTypeFor(extension);
    if (typeValue === "application/octet-stream" && extension) typeValue = mediaTypeFor(extension);
    if (!typeValue) {
      typeValue = /^attachment$/i.test(disposition.value)
        ? "application/octet-stream"
        : "text/plain";
    }
  }
  const type = parseHeaderParams(typeValue);
  node.encoding = stripComments(first(fields, "content-transfer-encoding")).toLowerCase().trim();
  node.contentType = type.value.toLowerCase().trim();
  node.charset = type.params.get("charset") || undefined;
  const dispositionType = disposition.value.toLowerCase().trim();
  node.disposition = dispositionType ? decodeWords(dispositionType) : undefined;
  const filenameParam = disposition.params.get("filename") ? "filename" : "name";
  const filename = disposition.params.get("filename") || type.params.get("name");
  if (filename) {
    const decoded = filenameParam === "filename"
      ? disposition.decoded.has("filename")
      : type.decoded.has("name");
    node.filename = decoded ? filename : decodeWords(filename);
  }
  if (
    node.contentType === "text/plain" &&
    type.params.get("format")?.toLowerCase().trim() === "flowed"
  ) {
    node.flowed = true;
    node.delSp = type.params.get("delsp")?.toLowerCase().trim() === "yes";
  }
  const slash = node.contentType.indexOf("/");
  node.multipart = slash > 0 && node.contentType.slice(0, slash) === "multipart" &&
    node.contentType.length > slash + 1;
  // A boundary is ASCII without trailing whitespace (RFC 2046 5.1.1 bchars); another is none.
  const boundary = (type.params.get("boundary") ?? "").trimEnd();
  node.boundary = boundary && !/[^\p{ASCII}]/u.test(boundary)
    ? encoder.encode(boundary)
    : undefined;
}

function newNode(parent: MimeNode | undefined, at: number): MimeNode {
  return {
    parent,
    owner: parent,
    root: !parent,
    fields: [],
    contentType: "",
    encoding: "",
    multipart: false,
    flowed: false,
    delSp: false,
    messageNode: false,
    body: [],
    children: [],
    headerStart: at,
    headerEnd: at,
    headerCost: 0,
    emitted: false,
  };
}

/** 1: a delimiter, 2: the close delimiter (RFC 2046 section 5.1.1), 0: neither. */
function compareBoundary(
  raw: Uint8Array,
  start: number,
  end: number,
  boundary: Uint8Array,
): number {
  const length = end - start;
  if (length < boundary.length + 3 || length > boundary.length + 1004) return 0;
  for (let i = 0; i < boundary.length; i++) if (raw[start + 2 + i] !== boundary[i]) return 0;
  let i = start + 2 + boundary.length;
  let result = 1;
  if (raw[i] === 0x2d) {
    if (raw[i + 1] !== 0x2d) return 0;
    result = 2;
    i += 2;
  }
  while (i < end && (raw[i] === 0x20 || raw[i] === 0x09)) i++;
  if (i === end) return result === 2 ? 2 : 0;
  while (i < end && raw[i] === 0x0d) i++;
  if (i < end && raw[i] === 0x0a) i++;
  return i === end ? result : 0;
}

/** Splits `raw` into its part tree. */
export function splitMime(raw: Uint8Array, limits: MimeLimits = DEFAULT_LIMITS): SplitResult {
  let count = 1;
  let node = newNode(undefined, 0);
  const root = node;
  const nodes: MimeNode[] = [];
  let head = true;
  let inEpilogue = false;
  let owner: MimeNode | undefined;

  /**
   * The part whose body is still being read. mailparser feeds body lines to the part it read
   * last, and stops at the first delimiter line: a leaf that carries a boundary parameter (a
   * damaged Content-Type) gets no body back after its "children" close.
   */
  let reading: MimeNode | undefined;
  const emit = (n: MimeNode) => {
    if (n.emitted) return;
    n.emitted = true;
    reading = n;
    readHeaders(n, raw);
    nodes.push(n);
    if (n.parent) n.parent.children.push(n);
  };
  const open = (parent: MimeNode | undefined, at: number) => {
    node = newNode(parent, at);
    count++;
    head = true;
    inEpilogue = false;
  };
  /**
   * The line break before a delimiter belongs to it: cut it off the part's body. mailsplit keeps
   * a body that is nothing but one line break when the next part follows (not at the close
   * delimiter); so does this, to read such parts as the process host does.
   */
  const trimBody = (keepLoneBreak: boolean) => {
    const last = node.body[node.body.length - 1];
    if (!last || !node.parent) return;
    const [s, e0] = last;
    let e = e0;
    if (e > s && raw[e - 1] === 0x0a) e--;
    if (e > s && raw[e - 1] === 0x0d) e--;
    if (e > s) node.body[node.body.length - 1] = [s, e];
    else if (!(keepLoneBreak && node.body.length === 1)) node.body.pop();
  };
  const checkBoundary = (start: number, end: number): number => {
    let s = start;
    if (raw[s] === 0x0d || raw[s] === 0x0a) {
      s++;
      if (raw[start] === 0x0d && raw[start + 1] === 0x0a) s++;
    }
    if (end - start < 4 || raw[s] !== 0x2d || raw[s + 1] !== 0x2d) return 0;
    let kind: number;
    if (!inEpilogue && node.boundary && (kind = compareBoundary(raw, s, end, node.boundary))) {
      return kind;
    }
    for (let o = node.owner; o; o = o.owner) {
      if (o.boundary && (kind = compareBoundary(raw, s, end, o.boundary))) {
        owner = o;
        return kind + 2;
      }
    }
    return 0;
  };

  const headerLine = (start: number, end: number, final: boolean): string | undefined => {
    const length = end - start;
    const endsBlock = (length === 1 && raw[start] === 0x0a) ||
      (length === 2 && raw[start] === 0x0d && raw[start + 1] === 0x0a);
    if (node.headerCost === 0 && node.headerEnd === node.headerStart) node.headerStart = start;
    node.headerEnd = end;
    node.headerCost += endsBlock ? length : Math.max(length, 64);
    if (node.headerCost > limits.maxHeaderBytes) {
      return `a MIME header block over ${limits.maxHeaderBytes} bytes`;
    }
    if (!final && !endsBlock) return undefined;
    const current = node;
    emit(current);
    const identity = !current.encoding || ["7bit", "8bit", "binary"].includes(current.encoding);
    if (current.contentType === "message/rfc822" && identity && current.disposition === "inline") {
      current.messageNode = true;
      open(current, end);
      // The nested message still ends at a delimiter of the part that holds it.
      if (current.parent) node.owner = current.parent;
    } else head = false;
    return undefined;
  };

  let pos = 0;
  for (;;) {
    if (count > limits.maxParts) {
      return { ok: false, reason: `more than ${limits.maxParts} MIME parts` };
    }
    if (pos >= raw.length) {
      // End of input: a header block still open is read as it is. (When the input ends without
      // a line break, its last line was the final one already, and a part it opened is not
      // read: mailsplit ends there.)
      if (head && (raw.length === 0 || raw[raw.length - 1] === 0x0a)) {
        const error = headerLine(raw.length, raw.length, true);
        if (error) return { ok: false, reason: error };
      }
      break;
    }
    const lf = raw.indexOf(0x0a, pos);
    const end = lf < 0 ? raw.length : lf + 1;
    const start = pos;
    pos = end;
    const kind = checkBoundary(start, end);
    if (kind) {
      reading = undefined;
      if (kind === 1) {
        trimBody(true);
        open(node, end);
      } else if (kind === 3) {
        trimBody(true);
        open(owner, end);
      } else if (kind === 4) {
        trimBody(false);
        if (head && node.headerEnd > node.headerStart && !node.emitted) emit(node);
        if (owner) {
          node = owner;
          inEpilogue = true;
        }
        head = false;
      }
      continue;
    }
    if (head) {
      const error = headerLine(start, end, end === raw.length && lf < 0);
      if (error) return { ok: false, reason: error };
      continue;
    }
    if (!node.multipart && node === reading) {
      const last = node.body[node.body.length - 1];
      if (last && last[1] === start) last[1] = end;
      else node.body.push([start, end]);
    }
  }
  return { ok: true, root, nodes };
}
