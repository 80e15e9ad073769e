/**
 * The send API's own composer (src/mime/compose.ts), checked by reading its output back with mailparser
 * (the parser the server uses for received mail) and by the wire rules it promises.
 */
import { createNodeMime } from "../hosts/process/mime_node.ts";
import type { ComposeInput } from "../schemas/mail.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { composeSimple, encodedWords, quotedPrintable } from "../src/mime/compose.ts";
import { rfc5322Date } from "../src/mime/dsn.ts";

const base: ComposeInput = {
  from: { name: "Shop", address: "shop@example.org" },
  to: [{ name: "", address: "bob@example.net" }],
  cc: [],
  bcc: [{ name: "", address: "hidden@example.net" }],
  replyTo: [],
  subject: "Your receipt",
  text: "Thanks!\n",
  messageId: "<r1@example.org>",
  date: new Date("2026-11-29T09:05:07Z"),
  headers: [],
  attachments: [],
};

const cases: [string, Partial<ComposeInput>][] = [
  ["plain ASCII", {}],
  ["UTF-8 everywhere", {
    from: { name: "Bücherstube Zoë", address: "shop@example.org" },
    to: [{ name: 'Jürgen "JJ" Müller', address: "j@example.net" }, {
      name: "李小龍",
      address: "li@example.net",
    }],
    cc: [{ name: "O'Brien, Pat", address: "pat@example.net" }],
    replyTo: [{ name: "Support", address: "help@example.org" }],
    subject: "Ihre Bestellung — Größe XL, 🚀 versandt ".repeat(4).trim(),
    text:
      "Grüße aus Köln!\n\nZeile mit Leerzeichen am Ende   \nTab\tim Text\n= Gleichheitszeichen =\n",
    headers: [{ name: "X-Campaign", value: "Frühjahr 2026" }, { name: "X-Plain", value: "a b" }],
  }],
  ["text and HTML", {
    text: "Hello\r\nWorld",
    html: "<p>Hello <b>World</b> — ünïcödé</p>\n",
    inReplyTo: "<prev@example.net>",
    references: ["<a@example.net>", "<b@example.net>", "<prev@example.net>"],
  }],
  ["HTML only, a line longer than 998", { text: undefined, html: `<p>${"x".repeat(3000)}</p>` }],
  ["no body at all", { text: undefined }],
];

Deno.test("compose: what mailparser reads back is what was composed", async () => {
  const mime = createNodeMime();
  for (const [name, change] of cases) {
    const input = { ...base, ...change };
    const raw = composeSimple(input, "=_postern_test-boundary");
    const text = new TextDecoder().decode(raw);
    // 7-bit clean (no raw UTF-8: addresses here are ASCII), CRLF only, lines within 998 octets.
    // deno-lint-ignore no-control-regex -- any ASCII byte is fine; only 8-bit data is not
    assert(/^[\x00-\x7f]*$/.test(text), `${name}: 8-bit data`);
    assert(!/[^\r]\n|\r[^\n]/.test(text), `${name}: a bare LF or CR`);
    assert(text.split("\r\n").every((l) => l.length <= 998), `${name}: a line over 998`);
    assert(!/^bcc:/im.test(text), `${name}: Bcc must not be written`);
    const parsed = await mime.parse(raw);
    assertEquals(parsed.subject, input.subject, name);
    assertEquals(parsed.from, input.from, name);
    assertEquals(parsed.to, input.to, name);
    assertEquals(parsed.cc, input.cc, name);
    assertEquals(parsed.replyTo, input.replyTo, name);
    assertEquals(parsed.messageId, input.messageId, name);
    assertEquals(parsed.inReplyTo, input.inReplyTo, name);
    assertEquals(parsed.references, input.references ?? [], name);
    assertEquals(parsed.date, input.date.getTime(), name);
    const lf = (s: string | undefined) => s?.replace(/\r\n/g, "\n").replace(/\n$/, "");
    if (input.text !== undefined) assertEquals(lf(parsed.text), lf(input.text), name);
    if (input.html !== undefined) assertEquals(lf(parsed.html), lf(input.html), name);
    for (const h of input.headers) {
      const got = parsed.headers.find((x) => x.name.toLowerCase() === h.name.toLowerCase());
      assert(got, `${name}: ${h.name} missing`);
    }
    assertEquals(parsed.attachments, [], name);
  }
});

Deno.test("compose: encoded-words stay within 75 characters and never split a character", () => {
  const words = encodedWords("Größe 🚀".repeat(20));
  assert(words.length > 1);
  for (const w of words) {
    assert(w.length <= 75, w);
    const bytes = Uint8Array.from(atob(w.slice(10, -2)), (c) => c.charCodeAt(0));
    new TextDecoder("utf-8", { fatal: true }).decode(bytes); // throws on a split sequence
  }
  assertEquals(encodedWords(""), ["=?UTF-8?B??="]);
});

Deno.test("compose: quoted-printable keeps lines within 76 and encodes trailing blanks", () => {
  const out = quotedPrintable(["a".repeat(200) + " ", "é=\t"]);
  for (const line of out.split("\r\n")) assert(line.length <= 76, line);
  assert(out.endsWith("=C3=A9=3D=09"), out);
  assert(out.split("\r\n")[2].endsWith("=20"), out);
  // The Date field comes from the DSN writer's rfc5322Date (two-digit day, RFC 5322 section 3.3).
  assertEquals(rfc5322Date(Date.parse("2026-01-05T03:04:05Z")), "Mon, 05 Jan 2026 03:04:05 +0000");
});
