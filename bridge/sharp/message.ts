/**
 * SHARP/1.3 content ⇄ RFC 5322 messages. Inbound: EMAIL_CONTENT becomes a MIME message (RFC 5322
 * and RFC 2045-2049, composed by nodemailer's MailComposer) with From from HELLO's `server_id`
 * (`user#domain` → `user@domain`), To, Subject, Date and a Message-ID of our own (SHARP carries
 * none), text and/or HTML; the sender's attachment keys cannot be fetched by anyone else, so they
 * are listed in an `X-Sharp-Attachments` header, never turned into parts. Outbound: a stored
 * message (mailparser) becomes the subject, text and HTML of an EMAIL_CONTENT; its attachments
 * cannot travel over SHARP/1.3, so their names are noted at the end of the text.
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

/** The RFC 5322 bytes for a received SHARP/1.3 message. */
export async function buildMessage(mail: SharpMail, hostname: string): Promise<Uint8Array> {
  const { content } = mail;
  const html = content.htmlBody ??
    (/^text\/html\b/i.test(content.contentType) ? content.body : undefined);
  const text = content.htmlBody || !/^text\/html\b/i.test(content.contentType)
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
    text: text ?? undefined,
    html: html ?? undefined,
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

/** The EMAIL_CONTENT for a stored RFC 5322 message. */
export async function contentFromMessage(raw: Uint8Array): Promise<EmailContent> {
  const { simpleParser } = await import("mailparser");
  const mail = await simpleParser(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), {
    skipImageLinks: true,
    skipTextToHtml: true,
    skipTextLinks: true,
  });
  let body = mail.text ?? "";
  const names = (mail.attachments ?? []).map((a) => a.filename ?? a.contentType);
  if (names.length) {
    body += `\n\n[Attachments not sent over SHARP/1.3: ${names.join(", ")}]\n`;
  }
  const html = typeof mail.html === "string" && mail.html ? mail.html : null;
  return {
    subject: mail.subject ?? "",
    body,
    contentType: html && !mail.text ? "text/html" : "text/plain",
    htmlBody: html,
    attachments: [],
  };
}
