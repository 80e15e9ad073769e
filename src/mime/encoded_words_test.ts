import assert from "node:assert/strict";
import { decodeWords, encodedWords, parameter } from "./encoded_words.ts";
import { parseHeaderParams } from "./header_params.ts";

Deno.test("RFC 2047 section 8: the examples decode as the RFC says", () => {
  const cases: [string, string][] = [
    ["=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>", "Keith Moore <moore@cs.utk.edu>"],
    ["=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>", "Keld Jørn Simonsen <keld@dkuug.dk>"],
    [
      "=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>",
      "André Pirard <PIRARD@vm1.ulg.ac.be>",
    ],
    [
      "=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?= " +
      "=?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
      "If you can read this you understand the example.",
    ],
    ["(=?ISO-8859-1?Q?a?=)", "(a)"],
    ["(=?ISO-8859-1?Q?a?= b)", "(a b)"],
    ["(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)"],
    ["(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(ab)"],
    ["(=?ISO-8859-1?Q?a_b?=)", "(a b)"],
    ["(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)"],
  ];
  for (const [input, want] of cases) assert.equal(decodeWords(input), want, input);
});

Deno.test("encoded-words: a UTF-8 character split across two words is joined; broken words stay", () => {
  // "é" is C3 A9, cut between two words (section 6.2 forbids it; senders do it anyway).
  assert.equal(decodeWords("=?utf-8?q?caf=C3?= =?utf-8?q?=A9?="), "café");
  assert.equal(decodeWords("=?UTF-8?B?w6Q=?= =?UTF-8?B?w7Y=?="), "äö");
  assert.equal(decodeWords("=?utf-8?b?broken"), "=?utf-8?b?broken");
  assert.equal(decodeWords("=?bogus?x?word?="), "=?bogus?x?word?=");
  // RFC 2231 section 5: a language after the charset.
  assert.equal(decodeWords("=?US-ASCII*EN?Q?Keith_Moore?="), "Keith Moore");
});

Deno.test("encoded-words: written words are at most 75 characters and never split a character", () => {
  const text = "Grüße aus Köln — 日本語のテキスト ".repeat(5);
  const words = encodedWords(text);
  for (const word of words) assert.ok(word.length <= 75, word);
  assert.equal(decodeWords(words.join(" ")), text);
});

Deno.test("RFC 2231: the section 3-4 examples, and parameters written back read the same", () => {
  const stuff = parseHeaderParams(
    "application/x-stuff; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A",
  );
  assert.equal(stuff.params.get("title"), "This is ***fun***");
  const more = parseHeaderParams(
    "application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20; " +
      `title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2="isn't it!"`,
  );
  assert.equal(more.params.get("title"), "This is even more ***fun*** isn't it!");
  const url = parseHeaderParams(
    'message/external-body; access-type=URL; URL*0="ftp://"; URL*1="cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"',
  );
  assert.equal(url.params.get("url"), "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar");
  for (
    const name of [
      "résumé naïve très long nom de fichier avec accents.pdf",
      'a"b;c',
      "plain.txt",
      "日本語.txt",
    ]
  ) {
    const back = parseHeaderParams(`attachment; ${parameter("filename", name).join("; ")}`);
    assert.equal(back.params.get("filename"), name);
  }
});

Deno.test("structured values: comments, duplicates and junk after a quoted string (libmime's reading)", () => {
  const v = parseHeaderParams('multipart/mixed; boundary="b"junk; boundary=c (comment)');
  assert.equal(v.value, "multipart/mixed");
  assert.equal(v.params.get("boundary"), "b");
  assert.equal(
    parseHeaderParams("attachment; filename=Invoice(1).pdf").params.get("filename"),
    "Invoice(1).pdf",
  );
  assert.equal(parseHeaderParams("text/plain (plain text); charset=utf-8").value, "text/plain");
  // The extended form overrides the plain one (RFC 6266 section 4.3), in either order.
  const both = parseHeaderParams("attachment; filename*=utf-8''%E2%9C%93.txt; filename=check.txt");
  assert.equal(both.params.get("filename"), "✓.txt");
});
