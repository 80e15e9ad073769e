/**
 * Delivery status notifications (bounces): the bytes of an RFC 3464 DSN inside an RFC 6522
 * multipart/report — a human-readable part, a message/delivery-status part (per-message fields,
 * then one block per recipient: Final-Recipient, Action, Status (RFC 3463), Remote-MTA,
 * Diagnostic-Code, Last-Attempt-Date) and the original header section as text/rfc822-headers.
 * Addresses that need UTF-8 use the `utf-8` address type and message/global-delivery-status
 * (RFC 6533). Pure: no I/O; everything from outside is sanitised so it cannot inject fields.
 */

export interface DsnRecipient {
  /** The recipient as given in RCPT TO. */
  finalRecipient: string;
  action: "failed" | "delayed";
  /** RFC 3463 status, e.g. "5.1.1", "4.4.7". */
  status: string;
  /** The server that answered, e.g. "mx.example.com" (a DNS name). */
  remoteMta?: string;
  /** The remote reply, e.g. "550 5.1.1 no such user", or what else went wrong. */
  diagnostic?: string;
  /** RFC 3464 diagnostic-type: "smtp" for a remote reply (default), else e.g. "X-Postern". */
  diagnosticType?: string;
  lastAttemptDate?: number;
}

export interface DsnInput {
  /** This server's host name (Reporting-MTA, the From address's domain). */
  reportingMta: string;
  /** The original envelope sender, who receives the DSN. */
  to: string;
  /** A unique Message-ID for the DSN, with angle brackets. */
  messageId: string;
  /** MIME boundary (random; must not occur in the parts). */
  boundary: string;
  date: number;
  /** When the original message was accepted. */
  arrivalDate?: number;
  recipients: DsnRecipient[];
  /** The original header section (bytes up to the empty line). */
  originalHeaders: Uint8Array;
  /** The original Message-ID, for In-Reply-To/References. */
  originalMessageId?: string;
}

const encoder = new TextEncoder();
const ENHANCED_STATUS = /^[245]\.\d{1,3}\.\d{1,3}$/;
const MESSAGE_ID = /^<[\x21-\x3b\x3d\x3f-\x7e]{1,250}>$/;

/** RFC 5322 section 3.3 date-time, in UTC. */
export function rfc5322Date(ms: number): string {
  const d = new Date(ms);
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const months = [
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
  ];
  const p = (n: number) => String(n).padStart(2, "0");
  return `${days[d.getUTCDay()]}, ${p(d.getUTCDate())} ${
    months[d.getUTCMonth()]
  } ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${
    p(d.getUTCSeconds())
  } +0000`;
}

/** One line of printable text: controls (CR and LF included) become spaces. */
function oneLine(text: string, ascii: boolean): string {
  // deno-lint-ignore no-control-regex
  let out = text.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  if (ascii) out = out.replace(/[^\x20-\x7e]/g, "?");
  return out;
}

/** Folds a field at spaces so no line exceeds 78 characters where possible (RFC 5322 2.1.1). */
export function foldField(name: string, value: string): string {
  const words = value.split(" ").filter((w) => w.length > 0);
  const lines: string[] = [];
  let line = `${name}:`;
  for (const word of words) {
    if (line.length + 1 + word.length > 78 && line.length > name.length + 1) {
      lines.push(line);
      line = ` ${word}`;
    } else line += ` ${word}`;
  }
  lines.push(line);
  return lines.join("\r\n");
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

function addressField(name: string, address: string): string {
  const clean = oneLine(address, false);
  // RFC 6533 section 3: a UTF-8 address takes the utf-8 address type.
  return foldField(name, isAscii(clean) ? `rfc822; ${clean}` : `utf-8; ${clean}`);
}

/** The header section of a message: everything before the first empty line, with its CRLF. */
export function headerSection(raw: Uint8Array, maxBytes = 64 * 1024): Uint8Array {
  let end = raw.byteLength;
  for (let i = 0; i < raw.byteLength; i++) {
    if (raw[i] !== 10) continue;
    if (raw[i + 1] === 10) {
      end = i + 1;
      break;
    }
    if (raw[i + 1] === 13 && raw[i + 2] === 10) {
      end = i + 1;
      break;
    }
  }
  if (end > maxBytes) {
    // Cut at a line end so the part stays a sequence of whole header lines.
    const lf = raw.subarray(0, maxBytes).lastIndexOf(10);
    end = lf >= 0 ? lf + 1 : 0;
  }
  return raw.subarray(0, end);
}

/** Normalises line ends to CRLF (bare LF in the original must not reach the wire). */
function crlf(bytes: Uint8Array): Uint8Array {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  const normal = text.replace(/\r?\n/g, "\r\n").replace(/\r(?!\n)/g, "\r\n");
  return encoder.encode(normal.endsWith("\r\n") || normal === "" ? normal : normal + "\r\n");
}

export function statusFor(code: number | undefined, enhanced: string | undefined): string {
  if (enhanced && ENHANCED_STATUS.test(enhanced)) return enhanced;
  if (code && code >= 500) return "5.0.0";
  if (code && code >= 400) return "4.0.0";
  return "5.0.0";
}

function humanText(input: DsnInput): string {
  const lines = [
    `This is the mail system at ${oneLine(input.reportingMta, true)}.`,
    "",
    "Your message could not be delivered to the recipients below. This is a permanent",
    "error; the message will not be retried.",
    "",
  ];
  for (const r of input.recipients) {
    lines.push(`<${oneLine(r.finalRecipient, false)}>:`);
    const why = r.diagnostic
      ? oneLine(r.diagnostic, false)
      : r.status.startsWith("4.4.7")
      ? "delivery kept failing until the message expired"
      : `status ${r.status}`;
    lines.push(`    ${r.remoteMta ? `${oneLine(r.remoteMta, true)} said: ` : ""}${why}`, "");
  }
  lines.push("The headers of your message are attached.", "");
  return lines.join("\r\n");
}

/** Builds the DSN's RFC 5322 bytes (CRLF line ends). */
export function buildDsn(input: DsnInput): Uint8Array {
  const utf8Addresses = input.recipients.some((r) => !isAscii(r.finalRecipient)) ||
    !isAscii(input.to);
  const b = input.boundary;
  const mta = oneLine(input.reportingMta, true);
  const head: string[] = [
    `From: Mail Delivery System <MAILER-DAEMON@${mta}>`,
    `To: <${oneLine(input.to, false)}>`,
    "Subject: Undelivered Mail Returned to Sender",
    `Date: ${rfc5322Date(input.date)}`,
    `Message-ID: ${input.messageId}`,
  ];
  if (input.originalMessageId && MESSAGE_ID.test(input.originalMessageId)) {
    head.push(`In-Reply-To: ${input.originalMessageId}`, `References: ${input.originalMessageId}`);
  }
  head.push(
    // RFC 3834 section 5: notifications are auto-replied, so responders stay silent.
    "Auto-Submitted: auto-replied",
    "MIME-Version: 1.0",
    `Content-Type: multipart/report; report-type=delivery-status;\r\n boundary="${b}"`,
    "",
    "This is a MIME-encapsulated delivery status notification.",
    "",
  );

  const text = humanText(input);
  const textPart = [
    `--${b}`,
    "Content-Description: Notification",
    `Content-Type: text/plain; charset=${isAscii(text) ? "us-ascii" : "utf-8"}`,
    `Content-Transfer-Encoding: ${isAscii(text) ? "7bit" : "8bit"}`,
    "",
    text,
  ];

  // RFC 3464 section 2.2: per-message fields, then a blank line before each recipient block.
  const status: string[] = [`Reporting-MTA: dns; ${mta}`];
  if (input.arrivalDate) status.push(`Arrival-Date: ${rfc5322Date(input.arrivalDate)}`);
  for (const r of input.recipients) {
    status.push("", addressField("Final-Recipient", r.finalRecipient));
    status.push(`Action: ${r.action}`);
    status.push(`Status: ${ENHANCED_STATUS.test(r.status) ? r.status : "5.0.0"}`);
    if (r.remoteMta) status.push(`Remote-MTA: dns; ${oneLine(r.remoteMta, true)}`);
    if (r.diagnostic) {
      const type = /^[A-Za-z][\w-]{0,30}$/.test(r.diagnosticType ?? "") ? r.diagnosticType : "smtp";
      status.push(
        foldField("Diagnostic-Code", `${type}; ${oneLine(r.diagnostic, !utf8Addresses)}`),
      );
    }
    if (r.lastAttemptDate) status.push(`Last-Attempt-Date: ${rfc5322Date(r.lastAttemptDate)}`);
  }
  const statusPart = [
    `--${b}`,
    "Content-Description: Delivery report",
    `Content-Type: message/${utf8Addresses ? "global-" : ""}delivery-status`,
    "",
    ...status,
    "",
  ];

  const headers = crlf(headerSection(input.originalHeaders));
  const eightBit = headers.some((byte) => byte > 0x7f);
  const headersPart = [
    `--${b}`,
    "Content-Description: Undelivered message headers",
    "Content-Type: text/rfc822-headers",
    ...(eightBit ? ["Content-Transfer-Encoding: 8bit"] : []),
    "",
    "",
  ];

  const before = encoder.encode(
    [...head, ...textPart, ...statusPart, ...headersPart].join("\r\n"),
  );
  const after = encoder.encode(`\r\n--${b}--\r\n`);
  const out = new Uint8Array(before.byteLength + headers.byteLength + after.byteLength);
  out.set(before, 0);
  out.set(headers, before.byteLength);
  out.set(after, before.byteLength + headers.byteLength);
  return out;
}
