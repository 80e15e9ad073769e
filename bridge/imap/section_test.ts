import { assertEquals } from "../../test/fixtures/assert.ts";
import { parseMimeStructure } from "../../schemas/mime_structure.ts";
import { bodyStructure, envelope } from "./bodystructure.ts";
import { astring, dateTime, nstring } from "./encode.ts";
import { applyPartial, extractSection, sectionName } from "./section.ts";
import type { Section } from "./command.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

// The part layout of RFC 3501 section 6.4.5's example (abridged): 1, 2, 3 (message/rfc822 with
// 3.1, 3.2), 4 (multipart/mixed with 4.1 and 4.2, a message/rfc822 holding 4.2.1 and 4.2.2).
const RAW = enc.encode([
  "Subject: top",
  "Content-Type: MULTIPART/MIXED; boundary=x",
  "",
  "--x",
  "Content-Type: text/plain",
  "",
  "part 1",
  "--x",
  "Content-Type: application/octet-stream",
  "",
  "part 2",
  "--x",
  "Content-Type: message/rfc822",
  "",
  "Subject: three",
  "From: =?utf-8?q?Z=C3=BC?= <z@x.test>",
  "Content-Type: multipart/alternative; boundary=y",
  "",
  "--y",
  "",
  "part 3.1",
  "--y",
  "Content-Type: text/html",
  "",
  "part 3.2",
  "--y--",
  "--x",
  "Content-Type: multipart/mixed; boundary=z",
  "",
  "--z",
  "Content-Type: image/gif",
  "",
  "part 4.1",
  "--z",
  "Content-Type: message/rfc822",
  "",
  "Subject: four-two",
  "Content-Type: multipart/mixed; boundary=w",
  "",
  "--w",
  "",
  "part 4.2.1",
  "--w",
  "Content-Type: multipart/alternative; boundary=v",
  "",
  "--v",
  "",
  "part 4.2.2.1",
  "--v",
  "Content-Type: text/richtext",
  "",
  "part 4.2.2.2",
  "--v--",
  "--w--",
  "--z--",
  "--x--",
  "",
].join("\r\n"));
const S = parseMimeStructure(RAW);

const get = (section: Section) => {
  const b = extractSection(RAW, S, section);
  return b === undefined ? undefined : dec.decode(b);
};

Deno.test("section part numbers follow RFC 3501 section 6.4.5", () => {
  assertEquals(get({ part: [1] }), "part 1");
  assertEquals(get({ part: [2] }), "part 2");
  assertEquals(get({ part: [3], text: "HEADER" })?.startsWith("Subject: three\r\n"), true);
  assertEquals(get({ part: [3, 1] }), "part 3.1");
  assertEquals(get({ part: [3, 2] }), "part 3.2");
  assertEquals(get({ part: [4, 1] }), "part 4.1");
  assertEquals(get({ part: [4, 2, 1] }), "part 4.2.1");
  assertEquals(get({ part: [4, 2, 2, 1] }), "part 4.2.2.1");
  assertEquals(get({ part: [4, 2, 2, 2] }), "part 4.2.2.2");
  assertEquals(get({ part: [4, 2, 2, 2], text: "MIME" }), "Content-Type: text/richtext\r\n\r\n");
  assertEquals(
    get({ part: [4, 2], text: "HEADER.FIELDS", fields: ["subject"] }),
    [
      "Subject: four-two",
      "",
      "",
    ].join("\r\n"),
  );
  assertEquals(get({ part: [5] }), undefined);
  assertEquals(get({ part: [1, 2] }), undefined);
  assertEquals(get({ part: [] }), dec.decode(RAW));
  assertEquals(
    get({ part: [], text: "HEADER.FIELDS.NOT", fields: ["Content-Type"] }),
    "Subject: top\r\n\r\n",
  );
  assertEquals(get({ part: [], text: "TEXT" })?.startsWith("--x\r\n"), true);
});

Deno.test("folded header lines are kept whole; partial windows", () => {
  const raw = enc.encode("To: a@x.test,\r\n  b@x.test\r\nSubject: s\r\nX-A: 1\r\n\r\nbody");
  const s = parseMimeStructure(raw);
  const h = extractSection(raw, s, { part: [], text: "HEADER.FIELDS", fields: ["TO", "X-A"] })!;
  assertEquals(dec.decode(h), "To: a@x.test,\r\n  b@x.test\r\nX-A: 1\r\n\r\n");
  assertEquals(dec.decode(applyPartial(raw, { start: 4, length: 3 })), "a@x");
  assertEquals(applyPartial(raw, { start: 1000, length: 3 }).length, 0);
  assertEquals(
    sectionName({ part: [1, 2], text: "HEADER.FIELDS", fields: ["to", "cc"] }),
    "1.2.HEADER.FIELDS (TO CC)",
  );
  assertEquals(sectionName({ part: [] }), "");
});

Deno.test("BODYSTRUCTURE of nested multiparts and message/rfc822", () => {
  const three = bodyStructure(S.body.parts[2], true);
  const from = '(("=?utf-8?q?Z=C3=BC?=" NIL "z" "x.test"))';
  assertEquals(
    three,
    `("message" "rfc822" NIL NIL NIL "7bit" 169 (NIL "three" ${from} ${from} ${from} ` +
      "NIL NIL NIL NIL NIL) " +
      '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 8 0 NIL NIL NIL NIL)' +
      '("text" "html" NIL NIL NIL "7bit" 8 0 NIL NIL NIL NIL) "alternative" ("boundary" "y") ' +
      "NIL NIL NIL) 11 NIL NIL NIL NIL)",
  );
  const body = bodyStructure(S.body, false);
  assertEquals(body.startsWith('(("text" "plain" NIL NIL NIL "7bit" 6 0)("application"'), true);
  assertEquals(body.endsWith(' "MIXED")'), true);
});

Deno.test("ENVELOPE defaults and string encoding", () => {
  const s = parseMimeStructure(enc.encode('From: a@b.test\r\nSubject: "q" \\\r\n\r\n'));
  assertEquals(
    envelope(s.envelope),
    '(NIL "\\"q\\" \\\\" ((NIL NIL "a" "b.test")) ((NIL NIL "a" "b.test")) ' +
      '((NIL NIL "a" "b.test")) NIL NIL NIL NIL NIL)',
  );
  assertEquals(nstring(null), "NIL");
  assertEquals(nstring("caf\u00e9"), "{5}\r\ncaf\u00e9");
  assertEquals(astring("INBOX"), "INBOX");
  assertEquals(astring("NIL"), '"NIL"');
  assertEquals(astring("a b"), '"a b"');
  assertEquals(dateTime(Date.UTC(1996, 6, 17, 9, 44, 25)), '"17-Jul-1996 09:44:25 +0000"');
});
