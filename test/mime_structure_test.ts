import { assert, assertEquals } from "./fixtures/assert.ts";
import { MimeStructure, parseMimeStructure } from "../schemas/mime_structure.ts";
import { parseAddressList, parseParamValue } from "../schemas/mime_header.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const crlf = (lines: string[]) => enc.encode(lines.join("\r\n"));
const slice = (raw: Uint8Array, s: number, e: number) => dec.decode(raw.subarray(s, e));

Deno.test("a single-part message: defaults, envelope, offsets, size and lines", () => {
  const raw = crlf([
    "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)",
    "From: Terry Gray <gray@cac.washington.edu>",
    "Subject: IMAP4rev1 WG mtg summary",
    "  and minutes",
    "To: imap@cac.washington.edu",
    "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>",
    "Message-Id: <B27397-0100000@cac.washington.edu>",
    "",
    "line one",
    "line two",
    "",
  ]);
  const s = parseMimeStructure(raw);
  assertEquals(s.envelope.date, "Wed, 17 Jul 1996 02:23:25 -0700 (PDT)");
  assertEquals(s.envelope.subject, "IMAP4rev1 WG mtg summary  and minutes");
  assertEquals(s.envelope.from, [
    { name: "Terry Gray", adl: null, mailbox: "gray", host: "cac.washington.edu" },
  ]);
  assertEquals(s.envelope.sender, null);
  assertEquals(s.envelope.cc, [
    { name: null, adl: null, mailbox: "minutes", host: "CNRI.Reston.VA.US" },
    { name: "John Klensin", adl: null, mailbox: "KLENSIN", host: "MIT.EDU" },
  ]);
  assertEquals(s.envelope.messageId, "<B27397-0100000@cac.washington.edu>");
  assertEquals([s.body.type, s.body.subtype, s.body.params], ["text", "plain", [[
    "charset",
    "us-ascii",
  ]]]);
  assertEquals(s.body.encoding, "7bit");
  assertEquals(slice(raw, s.body.bodyStart, s.body.bodyEnd), "line one\r\nline two\r\n");
  assertEquals(s.body.size, 20);
  assertEquals(s.body.lines, 2);
  assertEquals(slice(raw, s.body.headerEnd, s.body.bodyStart), "\r\n");
  assertEquals(s.size, raw.length);
  MimeStructure.parse(JSON.parse(JSON.stringify(s)));
});

Deno.test("nested multiparts: part ranges exclude the CRLF before each delimiter", () => {
  const raw = crlf([
    "Content-Type: multipart/mixed; boundary=outer",
    "",
    "preamble",
    "--outer",
    'Content-Type: multipart/alternative; boundary="inner"',
    "",
    "--inner",
    "Content-Type: text/plain; charset=utf-8",
    "",
    "plain",
    "--inner",
    "Content-Type: text/html",
    "",
    "<p>html</p>",
    "--inner--",
    "--outer",
    'Content-Type: application/pdf; name="a.pdf"',
    "Content-Disposition: attachment; filename=a.pdf",
    "Content-Transfer-Encoding: base64",
    "Content-ID: <pdf@x>",
    "Content-Description: the report",
    "Content-Language: en, de",
    "Content-Location: http://x.test/ a.pdf",
    "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==",
    "",
    "JVBERi0=",
    "--outer--",
    "epilogue",
  ]);
  const s = parseMimeStructure(raw);
  assertEquals(s.body.type, "multipart");
  assertEquals(s.body.parts.length, 2);
  const alt = s.body.parts[0];
  assertEquals([alt.subtype, alt.parts.length], ["alternative", 2]);
  assertEquals(slice(raw, alt.parts[0].bodyStart, alt.parts[0].bodyEnd), "plain");
  assertEquals(slice(raw, alt.parts[1].bodyStart, alt.parts[1].bodyEnd), "<p>html</p>");
  assertEquals(
    slice(raw, alt.parts[0].headerStart, alt.parts[0].headerEnd),
    "Content-Type: text/plain; charset=utf-8\r\n",
  );
  const pdf = s.body.parts[1];
  assertEquals(slice(raw, pdf.bodyStart, pdf.bodyEnd), "JVBERi0=");
  assertEquals(pdf.params, [["name", "a.pdf"]]);
  assertEquals(pdf.disposition, { type: "attachment", params: [["filename", "a.pdf"]] });
  assertEquals(pdf.encoding, "base64");
  assertEquals(pdf.id, "<pdf@x>");
  assertEquals(pdf.description, "the report");
  assertEquals(pdf.language, ["en", "de"]);
  assertEquals(pdf.location, "http://x.test/a.pdf");
  assertEquals(pdf.md5, "Q2hlY2sgSW50ZWdyaXR5IQ==");
});

Deno.test("message/rfc822 parts carry the inner envelope and tree, at absolute offsets", () => {
  const raw = crlf([
    "Content-Type: multipart/mixed; boundary=b",
    "",
    "--b",
    "Content-Type: message/rfc822",
    "",
    "Subject: inner",
    "From: A <a@x.test>",
    "Content-Type: multipart/mixed; boundary=c",
    "",
    "--c",
    "",
    "inner text",
    "--c--",
    "--b--",
  ]);
  const s = parseMimeStructure(raw);
  const m = s.body.parts[0];
  assertEquals([m.type, m.subtype], ["message", "rfc822"]);
  assert(m.message !== null);
  assertEquals(m.message.envelope.subject, "inner");
  assertEquals(m.message.envelope.from?.[0].mailbox, "a");
  assertEquals(m.message.body.headerStart, m.bodyStart);
  const leaf = m.message.body.parts[0];
  assertEquals(slice(raw, leaf.bodyStart, leaf.bodyEnd), "inner text");
  assertEquals(leaf.headerStart, leaf.headerEnd);
  assertEquals(m.lines, 7);
});

Deno.test("multipart/digest children default to message/rfc822", () => {
  const raw = crlf([
    "Content-Type: multipart/digest; boundary=d",
    "",
    "--d",
    "",
    "Subject: one",
    "",
    "x",
    "--d--",
  ]);
  const s = parseMimeStructure(raw);
  assertEquals([s.body.parts[0].type, s.body.parts[0].subtype], ["message", "rfc822"]);
  assertEquals(s.body.parts[0].message?.envelope.subject, "one");
});

Deno.test("broken boundaries: a missing close, a missing boundary, no delimiters", () => {
  const unclosed = parseMimeStructure(crlf([
    "Content-Type: multipart/mixed; boundary=b",
    "",
    "--b",
    "",
    "runs to the end",
  ]));
  assertEquals(unclosed.body.parts.length, 1);
  assertEquals(unclosed.body.parts[0].size, "runs to the end".length);

  const noParam = parseMimeStructure(crlf(["Content-Type: multipart/mixed", "", "text"]));
  assertEquals([noParam.body.type, noParam.body.subtype, noParam.body.parts], [
    "text",
    "plain",
    [],
  ]);

  const noDelims = parseMimeStructure(crlf([
    "Content-Type: multipart/mixed; boundary=zz",
    "",
    "--not-the-boundary",
  ]));
  assertEquals(noDelims.body.parts.length, 1);
  assertEquals(noDelims.body.parts[0].size, 0);

  // A boundary that is a prefix of a longer line is not a delimiter.
  const prefixed = parseMimeStructure(crlf([
    "Content-Type: multipart/mixed; boundary=ab",
    "",
    "--ab",
    "",
    "--abc is text",
    "--ab--",
  ]));
  assertEquals(prefixed.body.parts.length, 1);
  assertEquals(prefixed.body.parts[0].size, "--abc is text".length);
});

Deno.test("bare LF line ends and 8-bit bodies", () => {
  const raw = new Uint8Array([
    ...enc.encode("Subject: caf\u00e9\nContent-Type: text/plain; charset=iso-8859-1\n\n"),
    0x63,
    0x61,
    0x66,
    0xe9,
    0x0a,
    0xff,
    0x0a,
  ]);
  const s = parseMimeStructure(raw);
  assertEquals(s.envelope.subject, "caf\u00e9");
  assertEquals(s.body.size, 7);
  assertEquals(s.body.lines, 2);
  assertEquals(raw[s.body.bodyStart], 0x63);
});

Deno.test("RFC 2231 parameters: continuations joined, charsets kept raw", () => {
  const ct = parseParamValue(
    `application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20; ` +
      `title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2="isn't it!"; name*0="a"; name*1="b.txt"`,
    true,
  );
  assertEquals(ct.type, "application");
  assertEquals(ct.params, [
    ["title*", "us-ascii'en'This%20is%20even%20more%20%2A%2A%2Afun%2A%2A%2A%20isn't it!"],
    ["name", "ab.txt"],
  ]);
  const single = parseParamValue(`attachment; filename*=UTF-8''%E2%82%AC.txt`, false);
  assertEquals(single, {
    type: "attachment",
    subtype: "",
    params: [["filename*", "UTF-8''%E2%82%AC.txt"]],
  });
  // Comments and odd spacing (RFC 2045 section 5.1)
  assertEquals(parseParamValue(`text/plain (a comment) ; charset = "utf-8"`, true).params, [[
    "charset",
    "utf-8",
  ]]);
});

Deno.test("address lists: groups, routes, quoted locals, encoded words kept", () => {
  assertEquals(parseAddressList("A Group:Ed Jones <c@a.test>,joe@where.test;, x@y.test"), [
    { name: null, adl: null, mailbox: "A Group", host: null },
    { name: "Ed Jones", adl: null, mailbox: "c", host: "a.test" },
    { name: null, adl: null, mailbox: "joe", host: "where.test" },
    { name: null, adl: null, mailbox: null, host: null },
    { name: null, adl: null, mailbox: "x", host: "y.test" },
  ]);
  assertEquals(parseAddressList("undisclosed-recipients:;"), [
    { name: null, adl: null, mailbox: "undisclosed-recipients", host: null },
    { name: null, adl: null, mailbox: null, host: null },
  ]);
  assertEquals(parseAddressList("<@a.test,@b.test:u@c.test>"), [
    { name: null, adl: "@a.test,@b.test", mailbox: "u", host: "c.test" },
  ]);
  assertEquals(parseAddressList(`=?utf-8?q?J=C3=B6rg?= <"j rg"@x.test>`), [
    { name: "=?utf-8?q?J=C3=B6rg?=", adl: null, mailbox: `"j rg"`, host: "x.test" },
  ]);
  assertEquals(parseAddressList("joe (comment)"), [
    { name: null, adl: null, mailbox: "joe", host: "MISSING_DOMAIN" },
  ]);
});

Deno.test("malformed input never throws", () => {
  const samples = [
    "",
    "\r\n",
    "no header colon\r\n\r\nbody",
    "Content-Type: /\r\n\r\n",
    'Content-Type: multipart/mixed; boundary="\r\n\r\n--\r\n',
    'To: <<<>>>,,,;;;:::"unterminated\r\nFrom: (((\r\n\r\n',
    "Content-Type: message/rfc822\r\n\r\n",
    "Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n--a\r\n--a--",
  ];
  for (const text of samples) {
    const s = parseMimeStructure(enc.encode(text));
    MimeStructure.parse(s);
  }
  // Deep nesting is cut off rather than recursing without bound.
  let deep = "";
  for (let i = 0; i < 500; i++) deep += `Content-Type: message/rfc822\r\n\r\n`;
  const s = parseMimeStructure(enc.encode(deep));
  assert(s.body.message !== null);
  // Random bytes
  const rnd = new Uint8Array(4096);
  for (let r = 0; r < 20; r++) {
    crypto.getRandomValues(rnd);
    MimeStructure.parse(parseMimeStructure(rnd));
  }
});
