import assert from "node:assert/strict";
import { decodeXtext, parseCommand, type ParseOptions, type SmtpCommand } from "./parse.ts";

const addr = (local: string, domain: string) => ({ local, domain, address: `${local}@${domain}` });

// Accepted commands, many from the RFCs' own examples.
const accepted: [string, SmtpCommand, ParseOptions?][] = [
  // RFC 5321 appendix D.1
  ["EHLO bar.com", { verb: "EHLO", domain: "bar.com" }],
  ["MAIL FROM:<Smith@bar.com>", {
    verb: "MAIL",
    from: addr("Smith", "bar.com"),
    params: { smtputf8: false },
  }],
  ["RCPT TO:<Jones@foo.com>", { verb: "RCPT", to: addr("Jones", "foo.com"), params: {} }],
  ["DATA", { verb: "DATA" }],
  ["QUIT", { verb: "QUIT" }],
  // RFC 5321 section 3.6.1 / appendix C: a source route is accepted and dropped.
  ["RCPT TO:<@hosta.int,@jkl.org:userc@d.bar.org>", {
    verb: "RCPT",
    to: addr("userc", "d.bar.org"),
    params: {},
  }],
  // RFC 5321 section 3.5.3 example
  ["VRFY Crispin", { verb: "VRFY", argument: "Crispin" }],
  ["HELO [192.0.2.1]", { verb: "HELO", domain: "[192.0.2.1]" }],
  ["helo Mixed.Case.test", { verb: "HELO", domain: "Mixed.Case.test" }],
  ["mail from:<>", { verb: "MAIL", from: null, params: { smtputf8: false } }],
  ["MAIL FROM: <a@b.test>", {
    verb: "MAIL",
    from: addr("a", "b.test"),
    params: { smtputf8: false },
  }],
  // RFC 1870 section 5 example
  ["MAIL FROM:<ned@thor.innosoft.com> SIZE=500000", {
    verb: "MAIL",
    from: addr("ned", "thor.innosoft.com"),
    params: { smtputf8: false, size: 500000 },
  }],
  // RFC 3461 section 4 examples
  ["MAIL FROM:<Alice@Wonderland.example.com> RET=HDRS ENVID=QQ314159", {
    verb: "MAIL",
    from: addr("Alice", "wonderland.example.com"),
    params: { smtputf8: false, ret: "HDRS", envid: "QQ314159" },
  }],
  ["RCPT TO:<Dana@Ivory.example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Dana@Ivory.example.net", {
    verb: "RCPT",
    to: addr("Dana", "ivory.example.net"),
    params: {
      notify: ["SUCCESS", "FAILURE"],
      orcpt: { addrType: "rfc822", address: "Dana@Ivory.example.net" },
    },
  }],
  ["RCPT TO:<a@b.test> notify=never", {
    verb: "RCPT",
    to: addr("a", "b.test"),
    params: { notify: ["NEVER"] },
  }],
  ["MAIL FROM:<a@b.test> BODY=binarymime SMTPUTF8 AUTH=<>", {
    verb: "MAIL",
    from: addr("a", "b.test"),
    params: { smtputf8: true, body: "BINARYMIME", auth: null },
  }],
  ["MAIL FROM:<a@b.test> AUTH=e+3Dmc2@example.com", {
    verb: "MAIL",
    from: addr("a", "b.test"),
    params: { smtputf8: false, auth: "e=mc2@example.com" },
  }],
  // RFC 6531: UTF-8 paths with SMTPUTF8.
  ["MAIL FROM:<jöran@bücher.test> SMTPUTF8", {
    verb: "MAIL",
    from: addr("jöran", "bücher.test"),
    params: { smtputf8: true },
  }],
  ["RCPT TO:<δοκιμή@παράδειγμα.test>", {
    verb: "RCPT",
    to: addr("δοκιμή", "παράδειγμα.test"),
    params: {},
  }, { smtputf8: true }],
  ['RCPT TO:<"odd >local"@b.test>', {
    verb: "RCPT",
    to: addr('"odd >local"', "b.test"),
    params: {},
  }],
  ["RCPT TO:<Postmaster>", {
    verb: "RCPT",
    to: addr("postmaster", "mx.test"),
    params: {},
  }, { postmasterDomain: "mx.test" }],
  // RFC 3030 section 4.2 example
  ["BDAT 86 LAST", { verb: "BDAT", size: 86, last: true }],
  ["BDAT 69", { verb: "BDAT", size: 69, last: false }],
  ["bdat 0 last", { verb: "BDAT", size: 0, last: true }],
  ["AUTH PLAIN", { verb: "AUTH", mechanism: "PLAIN" }],
  // RFC 4954 section 4 example
  ["AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=", {
    verb: "AUTH",
    mechanism: "PLAIN",
    initialResponse: "dGVzdAB0ZXN0ADEyMzQ=",
  }],
  ["AUTH login =", { verb: "AUTH", mechanism: "LOGIN", initialResponse: "=" }],
  ["NOOP whatever", { verb: "NOOP" }],
  ["HELP MAIL", { verb: "HELP", topic: "MAIL" }],
  ["RSET\r\n", { verb: "RSET" }],
  ["STARTTLS ", { verb: "STARTTLS" }],
];

for (const [line, command, options] of accepted) {
  Deno.test(`parse accepts ${JSON.stringify(line)}`, () => {
    assert.deepEqual(parseCommand(line, options), { ok: true, command });
  });
}

// Refused commands and the exact reply each earns.
const refused: [string, string, ParseOptions?][] = [
  ["", "500 5.5.1"],
  ["FOO bar", "500 5.5.1"],
  ["MAIL\0 FROM:<a@b.test>", "500 5.5.2"],
  ["NOOP\r", "501 5.5.4"],
  ["NOOP a\rb", "501 5.5.4"],
  ["EHLO", "501 5.5.4"],
  ["EHLO a b", "501 5.5.4"],
  ["MAIL TO:<a@b.test>", "501 5.5.4"],
  ["MAIL FROM:a@b.test", "501 5.1.7"],
  ["MAIL FROM:<a@b.test", "501 5.1.7"],
  ["MAIL FROM:<a b@b.test>", "501 5.1.7"],
  ["MAIL FROM:<a#b.test>", "501 5.1.7"], // SHARP's form is not an SMTP path
  ["MAIL FROM:<@x:a@b.test", "501 5.1.7"],
  ["MAIL FROM:<@x,y:a@b.test>", "501 5.1.7"],
  ["MAIL FROM:<a@b.test> SIZE=big", "501 5.5.4"],
  ["MAIL FROM:<a@b.test> SIZE=1 SIZE=2", "501 5.5.4"],
  ["MAIL FROM:<a@b.test> BODY=9BIT", "501 5.5.4"],
  ["MAIL FROM:<a@b.test> SMTPUTF8=yes", "501 5.5.4"],
  ["MAIL FROM:<a@b.test> RET=ALL", "501 5.5.4"],
  ["MAIL FROM:<a@b.test> ENVID=a+zz", "501 5.5.4"],
  ["MAIL FROM:<a@b.test> ENVID=" + "x".repeat(101), "501 5.5.4"],
  ["MAIL FROM:<a@b.test> X-FOO=1", "555 5.5.4"],
  ["MAIL FROM:<a@b.test>SIZE=1", "501 5.5.4"],
  ["MAIL FROM:<jöran@b.test>", "553 5.6.7"],
  ["MAIL FROM:<a@b.test> ENVID=ö", "553 5.6.7"],
  ["RCPT TO:<>", "501 5.1.3"],
  ["RCPT TO:<Postmaster>", "501 5.1.3"],
  ["RCPT TO:<a..b@b.test>", "501 5.1.3"],
  ["RCPT TO:<a@nodot>", "501 5.1.3"],
  ["RCPT TO:<a@[192.0.2.1]>", "501 5.1.3"],
  ["RCPT TO:<jöran@b.test>", "553 5.6.7"],
  ["RCPT TO:<a@b.test> NOTIFY=NEVER,SUCCESS", "501 5.5.4"],
  ["RCPT TO:<a@b.test> NOTIFY=DELAY,DELAY", "501 5.5.4"],
  ["RCPT TO:<a@b.test> ORCPT=rfc822", "501 5.5.4"],
  ["RCPT TO:<a@b.test> SIZE=1", "555 5.5.4"],
  [`RCPT TO:<${"a".repeat(65)}@b.test>`, "501 5.1.3"],
  ["DATA now", "501 5.5.4"],
  ["VRFY", "501 5.5.4"],
  ["BDAT", "501 5.5.4"],
  ["BDAT -1", "501 5.5.4"],
  ["BDAT 1 LASTLY", "501 5.5.4"],
  ["BDAT 1234567890123456", "501 5.5.4"],
  ["AUTH PLAIN not-base64!", "501 5.5.4"],
  ["AUTH ABCDEFGHIJKLMNOPQRSTU", "501 5.5.4"],
  // RFC 5321 section 4.5.3.1.4: 512 octets including CRLF.
  ["NOOP " + "x".repeat(506), "500 5.5.2"],
  ["EHLO " + "é".repeat(254), "500 5.5.2"],
  ["X".repeat(20_000), "500 5.5.2"],
  ["AUTH PLAIN " + "A".repeat(12288), "500 5.5.2"],
];

for (const [line, expected, options] of refused) {
  Deno.test(`parse refuses ${JSON.stringify(line.slice(0, 60))} with ${expected}`, () => {
    const result = parseCommand(line, options);
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.equal(`${result.reply.code} ${result.reply.enhanced}`, expected);
  });
}

Deno.test("parse: length limits are per command and counted in octets", () => {
  assert.equal(parseCommand("NOOP " + "x".repeat(505)).ok, true); // 510 + CRLF = 512
  assert.equal(parseCommand("NOOP " + "x".repeat(506)).ok, false);
  assert.equal(parseCommand("NOOP " + "é".repeat(252)).ok, true); // 509 octets
  assert.equal(parseCommand("NOOP " + "é".repeat(253)).ok, false); // 511 octets
  // MAIL and RCPT get the room their extensions add (RFC 1870, 3461, 4954).
  const envid = "x".repeat(100);
  const auth = "y".repeat(400);
  const mail = `MAIL FROM:<${"l".repeat(60)}@b.test> SIZE=1 RET=FULL ENVID=${envid} AUTH=${auth}`;
  assert.ok(mail.length > 512);
  assert.equal(parseCommand(mail).ok, true);
  const orcpt = "ORCPT=rfc822;" + "o".repeat(450);
  assert.equal(parseCommand(`RCPT TO:<a@b.test> ${orcpt}`).ok, true);
  assert.equal(parseCommand(`RCPT TO:<a@b.test> ${orcpt}${"o".repeat(600)}`).ok, false);
  assert.equal(parseCommand("AUTH PLAIN " + "A".repeat(12000)).ok, true);
});

Deno.test("parse: an unreadable BDAT asks for the connection to close", () => {
  const result = parseCommand("BDAT x");
  assert.equal(!result.ok && result.close, true);
  const other = parseCommand("DATA x");
  assert.equal(!other.ok && other.close, undefined);
});

Deno.test("xtext decoding (RFC 3461 section 4)", () => {
  assert.equal(decodeXtext("a+2Bb+3Dc"), "a+b=c");
  assert.equal(decodeXtext("plain"), "plain");
  assert.equal(decodeXtext("a+2"), undefined);
  assert.equal(decodeXtext("a=b"), undefined);
});
