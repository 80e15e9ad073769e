import assert from "node:assert/strict";
import { buildDsn, foldField, headerSection, rfc5322Date, statusFor } from "./dsn.ts";

const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const enc = (s: string) => new TextEncoder().encode(s);

const base = {
  reportingMta: "mail.example.org",
  to: "alice@example.org",
  messageId: "<dsn1@mail.example.org>",
  boundary: "b0undary",
  date: Date.UTC(2025, 0, 2, 3, 4, 5),
  arrivalDate: Date.UTC(2025, 0, 1, 0, 0, 0),
  originalMessageId: "<orig@example.org>",
  originalHeaders: enc("From: alice@example.org\nSubject: Hi\n\nthe body is not included\n"),
};

Deno.test("DSN: multipart/report with the three RFC 6522 parts and RFC 3464 fields", () => {
  const raw = dec(buildDsn({
    ...base,
    recipients: [{
      finalRecipient: "bob@remote.test",
      action: "failed",
      status: "5.1.1",
      remoteMta: "mx.remote.test",
      diagnostic: "550 5.1.1 no such user",
      lastAttemptDate: Date.UTC(2025, 0, 2, 3, 4, 0),
    }],
  }));
  assert.ok(
    raw.includes(
      '\r\nContent-Type: multipart/report; report-type=delivery-status;\r\n boundary="b0undary"\r\n',
    ),
  );
  assert.ok(!/[^\r]\n/.test(raw), "CRLF line ends only");
  assert.ok(raw.includes("In-Reply-To: <orig@example.org>\r\n"));
  assert.ok(raw.includes("Date: Thu, 02 Jan 2025 03:04:05 +0000\r\n"));
  const status = raw.split("--b0undary")[2];
  assert.equal(
    status,
    [
      "\r\nContent-Description: Delivery report",
      "Content-Type: message/delivery-status",
      "",
      "Reporting-MTA: dns; mail.example.org",
      "Arrival-Date: Wed, 01 Jan 2025 00:00:00 +0000",
      "",
      "Final-Recipient: rfc822; bob@remote.test",
      "Action: failed",
      "Status: 5.1.1",
      "Remote-MTA: dns; mx.remote.test",
      "Diagnostic-Code: smtp; 550 5.1.1 no such user",
      "Last-Attempt-Date: Thu, 02 Jan 2025 03:04:00 +0000",
      "",
      "",
    ].join("\r\n"),
  );
  const headers = raw.split("--b0undary")[3];
  assert.ok(headers.endsWith("\r\nFrom: alice@example.org\r\nSubject: Hi\r\n\r\n"), headers);
  assert.ok(!raw.includes("the body is not included"));
  assert.ok(raw.endsWith("--b0undary--\r\n"));
});

Deno.test("DSN: remote text cannot inject fields; UTF-8 addresses use RFC 6533 types", () => {
  const raw = dec(buildDsn({
    ...base,
    recipients: [{
      finalRecipient: "jösé@exämple.test",
      action: "failed",
      status: "not a status",
      diagnostic: "550 bad\r\nX-Injected: yes",
      diagnosticType: "bad type;",
    }],
  }));
  assert.ok(!/^X-Injected/m.test(raw));
  assert.ok(raw.includes("Diagnostic-Code: smtp; 550 bad X-Injected: yes"));
  assert.ok(raw.includes("Status: 5.0.0"));
  assert.ok(raw.includes("Content-Type: message/global-delivery-status"));
  assert.ok(raw.includes("Final-Recipient: utf-8; jösé@exämple.test"));
});

Deno.test("DSN helpers: header section, folding, status fallback, dates", () => {
  assert.equal(dec(headerSection(enc("A: 1\r\nB: 2\r\n\r\nbody"))), "A: 1\r\nB: 2\r\n");
  assert.equal(dec(headerSection(enc("A: 1\nB: 2\n\nbody"))), "A: 1\nB: 2\n");
  assert.equal(dec(headerSection(enc("A: 1\r\nB: 2\r\n"))), "A: 1\r\nB: 2\r\n");
  assert.equal(dec(headerSection(enc("A: 1\r\nB: 2\r\nC: 3\r\n"), 12)), "A: 1\r\nB: 2\r\n");
  const folded = foldField("Diagnostic-Code", "smtp; " + "word ".repeat(40).trim());
  assert.ok(folded.split("\r\n").every((l) => l.length <= 78));
  assert.ok(folded.split("\r\n").slice(1).every((l) => l.startsWith(" ")));
  assert.equal(statusFor(550, undefined), "5.0.0");
  assert.equal(statusFor(451, undefined), "4.0.0");
  assert.equal(statusFor(550, "5.7.1"), "5.7.1");
  assert.equal(rfc5322Date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
});
