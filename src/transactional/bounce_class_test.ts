import { assertEquals } from "../../test/fixtures/assert.ts";
import { type BounceCategory, classifyBounce, type DeliveryFailure } from "./bounce_class.ts";

// [what the remote said, expected category, suppress?]
const TABLE: [string, DeliveryFailure, BounceCategory, boolean][] = [
  // RFC 3463 X.1.x at RCPT TO: the recipient's address.
  ["550 5.1.1 at RCPT", { stage: "rcpt", smtpCode: 550, enhanced: "5.1.1" }, "recipient", true],
  ["550 5.1.0 at RCPT", { stage: "rcpt", smtpCode: 550, enhanced: "5.1.0" }, "recipient", true],
  ["553 5.1.3 at RCPT", { stage: "rcpt", smtpCode: 553, enhanced: "5.1.3" }, "recipient", true],
  ["551 5.1.6 at RCPT", { stage: "rcpt", smtpCode: 551, enhanced: "5.1.6" }, "recipient", true],
  ["550 5.2.1 disabled", { stage: "rcpt", smtpCode: 550, enhanced: "5.2.1" }, "recipient", true],
  [
    "550 5.1.2 bad system",
    { stage: "rcpt", smtpCode: 550, enhanced: "5.1.2" },
    "destination",
    false,
  ],
  ["550 5.1.4 ambiguous", { stage: "rcpt", smtpCode: 550, enhanced: "5.1.4" }, "mailbox", false],
  ["553 5.1.7 bad sender", { stage: "rcpt", smtpCode: 553, enhanced: "5.1.7" }, "sender", false],
  ["550 5.1.8 sender sys", { stage: "rcpt", smtpCode: 550, enhanced: "5.1.8" }, "sender", false],
  ["552 5.2.2 full", { stage: "rcpt", smtpCode: 552, enhanced: "5.2.2" }, "mailbox", false],
  ["552 5.2.3 too long", { stage: "rcpt", smtpCode: 552, enhanced: "5.2.3" }, "content", false],
  ["550 5.7.1 blocked", { stage: "rcpt", smtpCode: 550, enhanced: "5.7.1" }, "policy", false],
  ["550 5.7.26 DMARC", { stage: "rcpt", smtpCode: 550, enhanced: "5.7.26" }, "policy", false],
  ["554 5.4.4 no route", { stage: "rcpt", smtpCode: 554, enhanced: "5.4.4" }, "destination", false],
  ["550 5.3.0 system", { stage: "rcpt", smtpCode: 550, enhanced: "5.3.0" }, "system", false],
  ["501 5.5.4 syntax", { stage: "rcpt", smtpCode: 501, enhanced: "5.5.4" }, "protocol", false],
  // Without an enhanced code (or with X.0.0): the basic code at RCPT.
  ["550 at RCPT", { stage: "rcpt", smtpCode: 550, text: "No such user here" }, "recipient", true],
  [
    "550 5.0.0 at RCPT",
    { stage: "rcpt", smtpCode: 550, enhanced: "5.0.0", text: "User unknown" },
    "recipient",
    true,
  ],
  ["551 at RCPT", { stage: "rcpt", smtpCode: 551, text: "User not local" }, "recipient", true],
  [
    "553 at RCPT",
    { stage: "rcpt", smtpCode: 553, text: "Mailbox name not allowed" },
    "recipient",
    true,
  ],
  [
    "550 policy at RCPT",
    { stage: "rcpt", smtpCode: 550, text: "Client host rejected: your IP is blacklisted" },
    "policy",
    false,
  ],
  ["552 at RCPT", { stage: "rcpt", smtpCode: 552, text: "Mailbox full" }, "mailbox", false],
  ["554 at RCPT", { stage: "rcpt", smtpCode: 554, text: "Transaction failed" }, "unknown", false],
  ["500 at RCPT", { stage: "rcpt", smtpCode: 500, text: "Syntax error" }, "protocol", false],
  // DATA: the whole transaction, whatever the code.
  ["500 to DATA", { stage: "data", smtpCode: 500, text: "Error: internal" }, "protocol", false],
  ["550 to DATA", { stage: "data", smtpCode: 550, text: "Rejected" }, "unknown", false],
  ["552 to DATA", { stage: "data", smtpCode: 552, text: "Too big" }, "content", false],
  ["554 5.6.0 to DATA", { stage: "data", smtpCode: 554, enhanced: "5.6.0" }, "content", false],
  ["550 5.1.1 to DATA", { stage: "data", smtpCode: 550, enhanced: "5.1.1" }, "recipient", false],
  // MAIL FROM: the sender.
  ["550 5.1.1 to MAIL", { stage: "mail", smtpCode: 550, enhanced: "5.1.1" }, "sender", false],
  ["553 to MAIL", { stage: "mail", smtpCode: 553, text: "Sender rejected" }, "sender", false],
  // Greeting/EHLO and our own DNS lookup of the recipient domain.
  ["554 greeting", { stage: "connect", smtpCode: 554, text: "No service" }, "unknown", false],
  ["521 greeting", { stage: "connect", smtpCode: 521, text: "No mail here" }, "destination", false],
  ["NXDOMAIN", { stage: "dns", enhanced: "5.1.2" }, "destination", false],
  ["null MX", { stage: "dns", enhanced: "5.1.10" }, "destination", false],
  // RFC 3464 DSNs: the per-recipient Status field.
  ["DSN 5.1.1", { stage: "dsn", enhanced: "5.1.1" }, "recipient", true],
  ["DSN 5.2.2", { stage: "dsn", enhanced: "5.2.2" }, "mailbox", false],
  ["DSN 5.7.1", { stage: "dsn", enhanced: "5.7.1" }, "policy", false],
  ["DSN 5.0.0", { stage: "dsn", enhanced: "5.0.0" }, "unknown", false],
  ["DSN 4.4.7", { stage: "dsn", enhanced: "4.4.7" }, "transient", false],
  // An older bridge (no stage): only an explicit enhanced code can speak of the mailbox.
  ["no stage 5.1.1", { smtpCode: 550, enhanced: "5.1.1" }, "recipient", true],
  ["no stage 550", { smtpCode: 550, text: "User unknown" }, "unknown", false],
  // Not permanent.
  ["450 4.2.1", { stage: "rcpt", smtpCode: 450, enhanced: "4.2.1" }, "transient", false],
  ["421 at connect", { stage: "connect", smtpCode: 421 }, "transient", false],
  ["no code at all", { stage: "data" }, "unknown", false],
];

for (const [name, failure, category, suppress] of TABLE) {
  Deno.test(`issue15#8: classifyBounce — ${name} → ${category}${suppress ? ", suppress" : ""}`, () => {
    assertEquals(classifyBounce(failure), { category, suppress });
  });
}
