/**
 * Unit tests of the spam pipeline's pure parts: blocklist query names and networks (RFC 5782),
 * the classifier's arithmetic, the content rules, the verdict and its header fields.
 */
import { assert, assertEquals } from "../../test/fixtures/assert.ts";
import type { ParsedMail } from "../../schemas/mail.ts";
import { bayesRule, chi2Q, classify, tokenProbability } from "./bayes.ts";
import { dnsblQuery, greyNetwork, inNetworks } from "./ip.ts";
import { authTests, contentTests, heloTests } from "./rules.ts";
import { tokenize } from "./tokenize.ts";
import { spamHeaderText, stripSpamFields, verdictOf } from "./verdict.ts";

const mail = (over: Partial<ParsedMail> = {}): ParsedMail => ({
  messageId: "<a@example.com>",
  references: [],
  subject: "Hello",
  from: { name: "Ann", address: "ann@example.com" },
  to: [],
  cc: [],
  replyTo: [],
  date: 1,
  headers: [{ name: "Date", value: "x" }, { name: "Content-Type", value: "text/plain" }],
  text: "Hi there",
  attachments: [],
  ...over,
});

Deno.test("issue21#1: DNSBL query names (RFC 5782 2.1, 2.4), greylisting networks, CIDR match", () => {
  assertEquals(dnsblQuery("192.0.2.99", "bl.test"), "99.2.0.192.bl.test");
  assertEquals(
    dnsblQuery("2001:db8:1:2::ab", "bl.test"),
    "b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test",
  );
  assertEquals(dnsblQuery("not an ip", "bl.test"), undefined);
  assertEquals(greyNetwork("192.0.2.99"), "192.0.2.0/24");
  assertEquals(greyNetwork("2001:db8:1:2::ab"), "2001:db8:1:2::/64");
  assert(inNetworks("127.0.0.1", ["127.0.0.0/8"]));
  assert(inNetworks("::1", ["::1/128"]));
  assert(!inNetworks("128.0.0.1", ["127.0.0.0/8", "::1/128"]));
  assert(inNetworks("10.1.2.3", ["10.1.2.3"]));
});

Deno.test("issue21#1: Robinson's probabilities and Fisher's combining", () => {
  assertEquals(tokenProbability({ spam: 0, ham: 0 }, 10, 10), 0.5);
  assert(tokenProbability({ spam: 10, ham: 0 }, 10, 10) > 0.95);
  assert(tokenProbability({ spam: 0, ham: 10 }, 10, 10) < 0.05);
  // One sighting says less than ten.
  assert(
    tokenProbability({ spam: 1, ham: 0 }, 10, 10) < tokenProbability({ spam: 10, ham: 0 }, 10, 10),
  );
  assertEquals(chi2Q(0, 4), 1);
  assert(Math.abs(chi2Q(2, 2) - Math.exp(-1)) < 1e-12);
  const counts = new Map([
    ["cheap", { spam: 9, ham: 0 }],
    ["pills", { spam: 8, ham: 1 }],
    ["lunch", { spam: 0, ham: 9 }],
    ["meeting", { spam: 1, ham: 8 }],
  ]);
  assert(classify(["cheap", "pills"], counts, 10, 10)! > 0.9);
  assert(classify(["lunch", "meeting"], counts, 10, 10)! < 0.1);
  assertEquals(classify(["unknown"], counts, 10, 10), undefined);
  assertEquals(bayesRule(0.9999).name, "BAYES_999");
  assertEquals(bayesRule(0.001).name, "BAYES_00");
  assert(bayesRule(0.001).score < 0);
});

Deno.test("issue21#1: the tokenizer is bounded and sees subject, body, links, header names", () => {
  const tokens = tokenize(mail({
    subject: "Cheap offer",
    text: "Visit https://shop.example.net/x now " + "word ".repeat(10) + "x".repeat(80),
    headers: [{ name: "X-Mailer", value: "Bulk Sender 9" }],
  }));
  for (
    const t of ["s:cheap", "url:example.net", "visit", "h:x-mailer", "x-mailer:bulk", "skip:x80"]
  ) {
    assert(tokens.includes(t), `${t} in ${tokens}`);
  }
  const many = tokenize(mail({ text: Array.from({ length: 5000 }, (_, i) => `w${i}x`).join(" ") }));
  assert(many.length <= 600, String(many.length));
});

Deno.test("issue21#1: content, authentication and HELO rules have stable names", () => {
  const names = (tests: { name: string }[]) => tests.map((t) => t.name).sort();
  assertEquals(names(contentTests(mail())), []);
  assertEquals(
    names(contentTests(mail({
      messageId: undefined,
      date: undefined,
      headers: [{ name: "Content-Type", value: "text/html" }],
      subject: "FREE MONEY FOR YOU!!!",
      from: { name: "security@paypal.com", address: "x@evil.example" },
      text: "",
      html: '<a href="http://bit.ly/abc">https://www.paypal.com/</a> http://192.0.2.1/x ' +
        "click here, act now, 100% free",
      attachments: [{
        index: 0,
        filename: "invoice.pdf.exe",
        contentType: "application/octet-stream",
        size: 1,
        disposition: "attachment",
      }],
    }))),
    [
      "ATTACH_EXECUTABLE",
      "BODY_SPAM_PHRASES",
      "FROM_DISPLAY_FORGED",
      "HTML_LINK_MISMATCH",
      "MIME_HTML_ONLY",
      "MISSING_DATE",
      "MISSING_MID",
      "SUBJ_ALL_CAPS",
      "SUBJ_EXCLAIM",
      "URI_NUMERIC_IP",
      "URI_SHORTENER",
    ],
  );
  assertEquals(
    names(
      authTests({ spf: { result: "fail" }, dmarc: { result: "fail" }, dkim: [{ result: "fail" }] }),
    ),
    ["DKIM_INVALID", "DMARC_FAIL", "SPF_FAIL"],
  );
  assertEquals(names(authTests({ federation: { result: "pass" } })), ["SIGNED_FEDERATION"]);
  assertEquals(names(heloTests("localhost")), ["HELO_NO_DOT"]);
  assertEquals(names(heloTests("[192.0.2.1]")), ["HELO_IP_LITERAL"]);
  assertEquals(names(heloTests("mail.example.com")), []);
});

Deno.test("issue21#1: the verdict's action, the known-sender cap, and the X-Spam fields", () => {
  const t = { junk: 5, reject: 10 };
  assertEquals(verdictOf([{ name: "A", score: 4.96 }], t).action, "junk"); // rounded to 5.0
  assertEquals(verdictOf([{ name: "A", score: 1 }], t).action, "deliver");
  assertEquals(verdictOf([{ name: "A", score: 12 }], t).action, "reject");
  assertEquals(verdictOf([{ name: "A", score: 12 }], t, true).action, "junk");
  const many = Array.from({ length: 20 }, (_, i) => ({ name: `SOME_LONG_RULE_${i}`, score: 1 }));
  const head = spamHeaderText(verdictOf(many, t));
  assert(head.startsWith("X-Spam-Status: Yes, score=20.0 required=5.0 tests=SOME_LONG_RULE_0,"));
  for (const line of head.split("\r\n")) assert(line.length <= 78, line);
  assert(head.endsWith("X-Spam-Score: 20.0\r\n"), head);
  const enc = new TextEncoder(), dec = new TextDecoder();
  const raw = enc.encode(
    "A: 1\r\nX-Spam-Status: No,\r\n score=-5\r\nx-spam-flag: NO\r\nB: 2\r\n\r\nX-Spam-Status: body\r\n",
  );
  assertEquals(dec.decode(stripSpamFields(raw)), "A: 1\r\nB: 2\r\n\r\nX-Spam-Status: body\r\n");
  const clean = enc.encode("A: 1\r\n\r\nbody");
  assertEquals(stripSpamFields(clean), clean);
});
