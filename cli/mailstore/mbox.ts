/**
 * The mboxrd format (the "From " line family described in RFC 4155, with mboxrd quoting): each
 * message starts with `From SENDER DATE` (asctime, UTC, the internal date), every body line
 * matching `>*From ` gains one `>` on write and loses one on read, and a blank line separates
 * messages. Flags travel as a leading `Status:`/`X-Status:`/`X-Keywords:` block that the writer
 * adds and the reader strips again, so the stored RFC 5322 bytes round-trip exactly. Pure: bytes
 * in, bytes out; problems (truncation, not an mbox) are returned, never thrown.
 */
import { flagsFromMboxStatus, type MailItem, mboxStatus } from "./flags.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const LF = 10;
const CR = 13;
const FROM = enc.encode("From ");

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** asctime(3) in UTC: `Thu Jan  4 09:45:05 2024`. */
export function asctime(ms: number): string {
  const d = new Date(ms);
  const p2 = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${
    String(d.getUTCDate()).padStart(2, " ")
  } ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

/** The date of a `From ` line (asctime, optionally with a zone after the time), or undefined. */
export function parseFromLineDate(line: string): number | undefined {
  const m =
    /(\w{3}) +(\d{1,2}) +(\d{1,2}):(\d{2})(?::(\d{2}))? +(?:([+-]\d{4}|[A-Z]{1,5}) +)?(\d{4})\s*$/
      .exec(line);
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[1]);
  if (month < 0) return undefined;
  const ms = Date.UTC(
    Number(m[7]),
    month,
    Number(m[2]),
    Number(m[3]),
    Number(m[4]),
    Number(m[5] ?? 0),
  );
  if (!Number.isFinite(ms)) return undefined;
  const zone = m[6] && /^[+-]\d{4}$/.test(m[6]) ? m[6] : undefined;
  if (!zone) return ms;
  const sign = zone[0] === "-" ? -1 : 1;
  return ms - sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3))) * 60_000;
}

function startsWithAt(bytes: Uint8Array, at: number, prefix: Uint8Array): boolean {
  if (at + prefix.length > bytes.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[at + i] !== prefix[i]) return false;
  return true;
}

/** True when the line at `at` is `>*From ` (the lines mboxrd quotes). */
function quotedFromAt(bytes: Uint8Array, at: number): boolean {
  let i = at;
  while (bytes[i] === 0x3e) i++;
  return startsWithAt(bytes, i, FROM);
}

/** Inserts one `>` before every line matching `>*From ` (mboxrd). */
export function quoteFromLines(raw: Uint8Array): Uint8Array {
  const at: number[] = [];
  for (let i = 0; i < raw.length; i = raw.indexOf(LF, i) + 1 || raw.length) {
    if (quotedFromAt(raw, i)) at.push(i);
  }
  if (at.length === 0) return raw;
  const out = new Uint8Array(raw.length + at.length);
  let from = 0;
  let to = 0;
  for (const p of at) {
    out.set(raw.subarray(from, p), to);
    to += p - from;
    out[to++] = 0x3e;
    from = p;
  }
  out.set(raw.subarray(from), to);
  return out;
}

/** Removes one `>` from every line matching `>+From ` (mboxrd). */
export function unquoteFromLines(body: Uint8Array): Uint8Array {
  const drop: number[] = [];
  for (let i = 0; i < body.length; i = body.indexOf(LF, i) + 1 || body.length) {
    if (body[i] === 0x3e && quotedFromAt(body, i)) drop.push(i);
  }
  if (drop.length === 0) return body;
  const out = new Uint8Array(body.length - drop.length);
  let from = 0;
  let to = 0;
  for (const p of drop) {
    out.set(body.subarray(from, p), to);
    to += p - from;
    from = p + 1;
  }
  out.set(body.subarray(from), to);
  return out;
}

/** One message as mboxrd bytes: From line, status block, quoted message, separator line. */
export function encodeMboxMessage(item: Omit<MailItem, "origin">, sender: string): Uint8Array {
  const raw = item.raw;
  const firstLf = raw.indexOf(LF);
  const eol = firstLf > 0 && raw[firstLf - 1] === CR ? "\r\n" : "\n";
  const s = mboxStatus(item.flags);
  const head =
    `From ${sender.replace(/\s/g, "") || "MAILER-DAEMON"} ${asctime(item.internalDate)}\n` +
    `Status: ${s.status}${eol}X-Status: ${s.xStatus}${eol}X-Keywords: ${s.keywords}${eol}`;
  const body = quoteFromLines(raw);
  const tail = raw.length > 0 && raw[raw.length - 1] === LF ? "\n" : "\n\n";
  const h = enc.encode(head);
  const t = enc.encode(tail);
  const out = new Uint8Array(h.length + body.length + t.length);
  out.set(h);
  out.set(body, h.length);
  out.set(t, h.length + body.length);
  return out;
}

export interface MboxParse {
  items: MailItem[];
  problems: string[];
}

/** Positions of message starts: `From ` at the file start or after a blank line. */
function messageStarts(bytes: Uint8Array): number[] {
  const starts: number[] = [];
  for (let i = 0; i < bytes.length; i = bytes.indexOf(LF, i) + 1 || bytes.length) {
    if (!startsWithAt(bytes, i, FROM)) continue;
    const blankBefore = i === 0 || (bytes[i - 1] === LF &&
      (bytes[i - 2] === LF || (bytes[i - 2] === CR && bytes[i - 3] === LF)));
    if (blankBefore) starts.push(i);
  }
  return starts;
}

/** A header field line `Name: value` at `at`; returns [name, value, next line start]. */
function headerLine(bytes: Uint8Array, at: number): [string, string, number] | undefined {
  const end = bytes.indexOf(LF, at);
  if (end < 0) return undefined;
  const line = dec.decode(bytes.subarray(at, end)).replace(/\r$/, "");
  const m = /^([!-9;-~]+):\s?(.*)$/.exec(line);
  return m ? [m[1], m[2], end + 1] : undefined;
}

/** The end of the header block (index after the blank line), or -1 when there is none. */
export function headerEnd(raw: Uint8Array): number {
  for (let i = 0; i < raw.length; i = raw.indexOf(LF, i) + 1 || raw.length) {
    if (raw[i] === LF) return i + 1;
    if (raw[i] === CR && raw[i + 1] === LF) return i + 2;
  }
  return -1;
}

/** The value of the first header field `name` (unfolded), or undefined. */
export function headerValue(raw: Uint8Array, name: string): string | undefined {
  const end = headerEnd(raw);
  const text = dec.decode(raw.subarray(0, end < 0 ? Math.min(raw.length, 65536) : end));
  const m = new RegExp(`^${name}:[ \\t]*(.*(?:\\r?\\n[ \\t].*)*)`, "im").exec(text);
  return m ? m[1].replace(/\r?\n[ \t]/g, " ").trim() : undefined;
}

/** A problem with the message's form, or undefined (truncation shows up here). */
export function messageProblem(raw: Uint8Array, last: boolean): string | undefined {
  if (raw.length === 0) return "empty message";
  if (!headerLine(raw, 0)) return "does not start with a header field";
  if (headerEnd(raw) < 0) return "the header never ends (truncated?)";
  if (last) {
    const type = headerValue(raw, "Content-Type") ?? "";
    const b = /boundary="?([^";]+)"?/i.exec(type);
    if (/^multipart\//i.test(type) && b && !dec.decode(raw).includes(`--${b[1]}--`)) {
      return `the closing MIME boundary is missing (truncated)`;
    }
  }
  return undefined;
}

/** Splits an mboxrd file into messages; `name` labels problems. */
export function parseMbox(bytes: Uint8Array, name: string): MboxParse {
  const problems: string[] = [];
  if (bytes.length === 0) return { items: [], problems: [] }; // an empty mailbox
  if (!startsWithAt(bytes, 0, FROM)) {
    return { items: [], problems: [`${name}: not an mbox file (no "From " line at the start)`] };
  }
  if (bytes[bytes.length - 1] !== LF) {
    problems.push(`${name}: truncated (the file ends in the middle of a line)`);
  }
  const starts = messageStarts(bytes);
  const items: MailItem[] = [];
  starts.forEach((start, n) => {
    const stop = n + 1 < starts.length ? starts[n + 1] : bytes.length;
    const origin = `${name}: message ${n + 1} (byte ${start})`;
    const lineEnd = bytes.indexOf(LF, start);
    const fromLine = dec.decode(bytes.subarray(start, lineEnd < 0 ? stop : lineEnd));
    let chunk = bytes.subarray(lineEnd < 0 ? stop : lineEnd + 1, stop);
    // The separator line: CRLF in a CRLF file ("\r\n\r\n"), else one LF.
    const k = chunk.length;
    if (
      k >= 4 && chunk[k - 4] === CR && chunk[k - 3] === LF && chunk[k - 2] === CR &&
      chunk[k - 1] === LF
    ) {
      chunk = chunk.subarray(0, k - 2);
    } else if (k >= 1 && chunk[k - 1] === LF) chunk = chunk.subarray(0, k - 1);
    let raw = unquoteFromLines(chunk);
    let flags: string[];
    const block = statusBlock(raw);
    if (block) {
      raw = raw.subarray(block.end);
      flags = flagsFromMboxStatus(block.status, block.xStatus, block.keywords);
    } else {
      flags = flagsFromMboxStatus(
        headerValue(raw, "Status"),
        headerValue(raw, "X-Status"),
        headerValue(raw, "X-Keywords"),
      );
    }
    const problem = messageProblem(raw, n === starts.length - 1);
    if (problem) problems.push(`${origin}: ${problem}`);
    const date = parseFromLineDate(fromLine) ?? Date.parse(headerValue(raw, "Date") ?? "");
    if (!Number.isFinite(date)) problems.push(`${origin}: no date in the "From " line`);
    items.push({ raw, internalDate: Math.floor(date / 1000) * 1000, flags, origin });
  });
  return { items, problems };
}

/** The writer's leading `Status`/`X-Status`/`X-Keywords` lines, in that order, when present. */
function statusBlock(raw: Uint8Array) {
  const a = headerLine(raw, 0);
  if (!a || a[0] !== "Status") return undefined;
  const b = headerLine(raw, a[2]);
  if (!b || b[0] !== "X-Status") return undefined;
  const c = headerLine(raw, b[2]);
  if (!c || c[0] !== "X-Keywords") return undefined;
  return { status: a[1], xStatus: b[1], keywords: c[1], end: c[2] };
}
