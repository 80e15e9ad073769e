/**
 * SHARP/1.3 content ⇄ RFC 5322: the message built from EMAIL_CONTENT (read back with mailparser:
 * From from server_id, To, Subject in RFC 2047 when needed, Date, Message-ID, text and HTML,
 * attachment keys listed in a header, no header injection), the EMAIL_CONTENT made from a stored
 * MIME message, and the mapping of SHARP/1.3 outcomes to outbox results.
 */
import { simpleParser } from "mailparser";
import { Buffer } from "node:buffer";
import { buildMessage, contentFromMessage } from "../bridge/sharp/message.ts";
import { sharpResult } from "../bridge/sharp/outbound.ts";
import type { SharpSendStep } from "../bridge/sharp/client.ts";
import type { SharpMail } from "../bridge/sharp/session.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { bareLineEnds } from "./fixtures/mail.ts";

const MAIL: SharpMail = {
  serverId: "Alice#a.example",
  from: "alice@a.example",
  to: "Bob#b.example",
  recipient: "bob@b.example",
  content: {
    subject: "Grüße\r\nBcc: eve@evil.example",
    body: "Plain text.",
    contentType: "text/plain",
    htmlBody: "<p>HTML</p>",
    attachments: ["uploads/a1.png", "b2 c3"],
  },
  clientIp: "192.0.2.1",
  hashcashBits: 18,
  receivedAt: new Date("2026-11-28T12:00:00Z"),
};

const parse = async (raw: Uint8Array) => await simpleParser(Buffer.from(raw));

Deno.test("message: EMAIL_CONTENT becomes an RFC 5322 message with our own Message-ID", async () => {
  const raw = await buildMessage(MAIL, "mx.b.example");
  const text = new TextDecoder().decode(raw);
  assert(text.startsWith("Received: from Alice#a.example ([192.0.2.1])\r\n"), text.slice(0, 80));
  assert(!/\r\nBcc:/i.test(text), "a CRLF in the subject does not make a header");
  const mail = await parse(raw);
  assertEquals(mail.from?.value[0].address, "alice@a.example");
  const to = Array.isArray(mail.to) ? mail.to[0] : mail.to;
  assertEquals(to?.value[0].address, "bob@b.example");
  assertEquals(mail.subject, "Grüße Bcc: eve@evil.example");
  assertEquals(mail.date?.toISOString(), "2026-11-28T12:00:00.000Z");
  assert(/^<[0-9a-f-]{36}@mx\.b\.example>$/.test(mail.messageId ?? ""), mail.messageId);
  assertEquals(mail.text?.trim(), "Plain text.");
  assertEquals(mail.html, "<p>HTML</p>");
  assertEquals(mail.headers.get("x-sharp-attachments"), "uploads/a1.png, b2c3");
  assertEquals(mail.headers.get("x-sharp-server-id"), "Alice#a.example");
  assertEquals(mail.attachments.length, 0, "keys are listed, never turned into parts");
});

Deno.test("message: content_type text/html without html_body is the HTML part", async () => {
  const raw = await buildMessage({
    ...MAIL,
    content: {
      subject: "H",
      body: "<h1>Only HTML</h1>",
      contentType: "text/html",
      htmlBody: null,
      attachments: [],
    },
  }, "mx.b.example");
  const mail = await parse(raw);
  assertEquals(String(mail.html).trim(), "<h1>Only HTML</h1>");
  assert(!/text\/plain/i.test(new TextDecoder().decode(raw)), "no text part is invented");
  assert(!mail.headers.has("x-sharp-attachments"));
});

Deno.test("message: a stored MIME message becomes EMAIL_CONTENT; attachments named, not sent", async () => {
  const raw = new TextEncoder().encode([
    "From: alice@postern.test",
    "To: bob@b.example",
    "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=",
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="b1"',
    "",
    "--b1",
    'Content-Type: multipart/alternative; boundary="b2"',
    "",
    "--b2",
    "Content-Type: text/plain; charset=utf-8",
    "",
    "Hello text",
    "--b2",
    "Content-Type: text/html; charset=utf-8",
    "",
    "<p>Hello html</p>",
    "--b2--",
    "--b1",
    'Content-Type: application/pdf; name="report.pdf"',
    'Content-Disposition: attachment; filename="report.pdf"',
    "Content-Transfer-Encoding: base64",
    "",
    "JVBERi0=",
    "--b1--",
    "",
  ].join("\r\n"));
  const { content, author } = await contentFromMessage(raw);
  assertEquals(author, "alice@postern.test");
  assertEquals(content.subject, "Grüße");
  assertEquals(content.body, "Hello text\n\n[Attachments not sent over SHARP/1.3: report.pdf]");
  assertEquals(content.htmlBody, "<p>Hello html</p>");
  assertEquals(content.contentType, "text/html");
  assertEquals(content.attachments, []);
});

Deno.test("issue15#17: a received SHARP/1.3 message is stored with CRLF line ends only", async () => {
  for (
    const content of [
      { body: "one\ntwo\r\nthree\rfour\n", contentType: "text/plain", htmlBody: null },
      {
        body: "é\nü\n" + "x".repeat(100) + "\n",
        contentType: "text/plain",
        htmlBody: "<p>a</p>\n<p>b</p>",
      },
      { body: "<p>a</p>\n<p>b</p>\n", contentType: "text/html", htmlBody: null },
    ]
  ) {
    const raw = await buildMessage(
      { ...MAIL, content: { ...MAIL.content, ...content, attachments: [] } },
      "mx.b.example",
    );
    assertEquals(bareLineEnds(raw), [], new TextDecoder().decode(raw));
    const mail = await parse(raw);
    if (content.contentType === "text/plain") {
      assertEquals(mail.text?.split("\n")[0], content.body.split(/\r?\n|\r/)[0]);
    }
  }
});

Deno.test("issue15#16: the reference client's HTML (the same text in body and html_body) is HTML only", async () => {
  const html = "<p>Hi <b>there</b></p>";
  const raw = await buildMessage({
    ...MAIL,
    content: {
      subject: "H",
      body: html,
      contentType: "text/html",
      htmlBody: html,
      attachments: [],
    },
  }, "mx.b.example");
  const mail = await parse(raw);
  assertEquals(String(mail.html).trim(), html);
  assert(!/text\/plain/i.test(new TextDecoder().decode(raw)), "the HTML is no text part");
});

Deno.test("outbound: SHARP/1.3 outcomes as outbox results (sent / failed / deferred)", () => {
  const r = (code?: 400 | 413 | 429 | 451 | 550, step = "MAIL_TO" as const) =>
    sharpResult({ ok: false, step, ...(code ? { code } : {}), message: "m", transcript: [] }, "h");
  assertEquals(sharpResult({ ok: true, transcript: [] }, "h").outcome, "sent");
  const table = [
    [r(550), "failed", 550, "5.1.1"],
    [r(413), "failed", 552, "5.3.4"],
    [r(400), "failed", 554, "5.6.0"],
    [r(429), "deferred", 451, "4.7.0"],
    [r(451), "deferred", 451, "4.3.0"],
    [r(undefined), "deferred", undefined, "4.4.2"],
  ] as const;
  for (const [result, outcome, smtpCode, enhanced] of table) {
    assertEquals([result.outcome, result.smtpCode, result.enhanced], [outcome, smtpCode, enhanced]);
  }
  const hello = sharpResult(
    { ok: false, step: "HELLO", code: 400, message: "Sender verification failed", transcript: [] },
    "h",
  );
  assertEquals([hello.outcome, hello.enhanced], ["failed", "5.7.0"]);
  assertEquals(
    sharpResult({ ok: false, step: "connect", message: "refused", transcript: [] }, "h").enhanced,
    "4.4.1",
  );
});

Deno.test("issue15#8: SHARP/1.3 results carry their stage; only a 550 to MAIL_TO is 5.1.1", () => {
  const r = (step: SharpSendStep, code: 400 | 413 | 550) =>
    sharpResult({ ok: false, step, code, message: "m", transcript: [] }, "h");
  const table = [
    [r("HELLO", 400), "mail", "5.7.0"],
    [r("MAIL_TO", 550), "rcpt", "5.1.1"],
    [r("MAIL_TO", 400), "rcpt", "5.6.0"],
    [r("END_DATA", 550), "data", "5.0.0"],
    [r("HELLO", 550), "mail", "5.0.0"],
    [r("EMAIL_CONTENT", 413), "data", "5.3.4"],
  ] as const;
  for (const [result, stage, enhanced] of table) {
    assertEquals([result.outcome, result.stage, result.enhanced], ["failed", stage, enhanced]);
  }
});
