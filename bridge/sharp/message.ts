/**
 * SHARP/1.3 content ⇄ RFC 5322 messages. Inbound: EMAIL_CONTENT becomes a MIME message (RFC 5322
 * and RFC 2045-2049, composed by nodemailer's MailComposer) with From from HELLO's `server_id`
 * (`user#domain` → `user@domain`), To, Subject, Date and a Message-ID of our own (SHARP carries
 * none), text and/or HTML; the sender's attachment keys cannot be fetched by anyone else, so they
 * are listed in an `X-Sharp-Attachments` header, never turned into parts. The stored bytes use
 * CRLF line ends only (RFC 5322 section 2.3: CR and LF appear only together), whatever line
 * ends the sender's JSON strings had. Outbound: a stored message (mailparser) becomes the subject,
 * text and HTML of an EMAIL_CONTENT; its attachments cannot travel over SHARP/1.3, so their
 * names are noted at the end of the text. A message with HTML goes as `content_type: text/html`
 * with the HTML in `html_body` (the reference client renders HTML only then) and the text in
 * `body`; without HTML, as `text/plain`. SHARP strings have no line terminator of their own: the
 * CRLF that ends the last line of a single-part MIME body is not part of the text.
 */
import { Buffer } from "node:buffer";
import type { EmailContent } from "./parse.ts";
import type { SharpMail } from "./session.ts";

const loadComposer = async () => (await import("nodemailer/lib/mail-composer/index.js")).default;

/** RFC 5322 section 2.1.1: keep header values on one short line (no CR/LF from the wire). */
const oneLine = (s: string, max = 998) => s.replace(/[\r\n\t]+/g, " ").slice(0, max);

/** RFC 5321 section 4.4 trace field for mail that arrived over SHARP/1.3. */
export function sharpReceivedField(mail: SharpMail, hostname: string): string {
  const id = crypto.randomUUID().replaceAll("-", "").slice(0, 16);
  const helo = oneLine(mail.serverId, 200).replace(/[^\x21-\x7e]/g, "") || "unknown";
  return `Received: from ${helo} ([${mail.clientIp}])\r\n\tby ${hostname} (Postern) with SHARP/1.3 id ${id}\r\n\tfor <${mail.recipient}>;\r\n\t${
    mail.receivedAt.toUTCString().replace("GMT", "+0000")
  }\r\n`;
}

/** Every line break (CRLF, bare LF, bare CR) as CRLF. */
const crlf = (s: string) => s.replace(/\r\n|\r|\n/g, "\r\n");

/** The RFC 5322 bytes for a received SHARP/1.3 message. */
export async function buildMessage(mail: SharpMail, hostname: string): Promise<Uint8Array> {
  const { content } = mail;
  const isHtml = /^text\/html\b/i.test(content.contentType);
  const html = content.htmlBody ?? (isHtml ? content.body : undefined);
  // The reference web client sends its HTML twice (body and html_body): no text part then.
  const text = !isHtml || (content.htmlBody && content.body !== content.htmlBody)
    ? content.body
    : undefined;
  const headers: { key: string; value: string }[] = [
    { key: "X-Sharp-Server-Id", value: oneLine(mail.serverId, 320) },
  ];
  if (content.attachments.length) {
    headers.push({
      key: "X-Sharp-Attachments",
      value: oneLine(content.attachments.map((k) => k.replace(/[,\s]/g, "")).join(", "), 4000),
    });
  }
  const MailComposer = await loadComposer();
  const composer = new MailComposer({
    from: { name: "", address: mail.from },
    to: [{ name: "", address: mail.recipient }],
    subject: oneLine(content.subject),
    text: text === undefined ? undefined : crlf(text),
    html: html === undefined ? undefined : crlf(html),
    date: mail.receivedAt,
    messageId: `<${crypto.randomUUID()}@${hostname}>`,
    headers,
  });
  const built: Buffer = await composer.compile().build();
  const trace = new TextEncoder().encode(sharpReceivedField(mail, hostname));
  const out = new Uint8Array(trace.byteLength + built.byteLength);
  out.set(trace);
  out.set(new Uint8Array(built.buffer, built.byteOffset, built.byteLength), trace.byteLength);
  return out;
}

/** What a stored message becomes on the SHARP/1.3 wire. */
export interface OutgoingSharp {
  content: EmailContent;
  /** The first From address (the author), when the message has one. */
  author?: string;
}

/** One line break less at the end: the last line's terminator, not part of the text. */
const unterminated = (s: string) => s.replace(/\r?\n$/, "");

/** The EMAIL_CONTENT (and the author) for a stored RFC 5322 message. */
export async function contentFromMessage(raw: Uint8Array): Promise<OutgoingSharp> {
  const { simpleParser } = await import("mailparser");
  const mail = await simpleParser(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), {
    skipImageLinks: true,
    skipTextToHtml: true,
    skipTextLinks: true,
  });
  // In a multipart message the CRLF before a boundary belongs to the boundary (RFC 2046 section
  // 5.1.1) and mailparser drops it; a single-part body keeps its last CRLF, which only ends the
  // line: dropped here, or every message would gain a newline on its way.
  const type = mail.headers.get("content-type") as { value?: string } | undefined;
  const single = !type?.value || !/^multipart\//i.test(type.value);
  const trim = (s: string) => (single ? unterminated(s) : s);
  let body = trim(mail.text ?? "");
  const names = (mail.attachments ?? []).map((a) => a.filename ?? a.contentType);
  if (names.length) {
    body += `\n\n[Attachments not sent over SHARP/1.3: ${names.join(", ")}]`;
  }
  const html = typeof mail.html === "string" && mail.html ? trim(mail.html) : null;
  return {
    content: {
      subject: mail.subject ?? "",
      body,
      contentType: html ? "text/html" : "text/plain",
      htmlBody: html,
      attachments: [],
    },
    ...(mail.from?.value[0]?.address ? { author: mail.from.value[0].address } : {}),
  };
}
