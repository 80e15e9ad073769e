/**
 * src/mime/parse_simple.ts against the full parser (mailparser, hosts/process/mime_node.ts): every message
 * the fast parser takes must come out exactly as the full parser gives it, and what it does not
 * understand it must leave to the full parser. The corpus is generated from many header and body
 * shapes (seeded, so a failure repeats) plus hand-written cases at the edges.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { createNodeMime } from "../hosts/process/mime_node.ts";
import { parseSimpleMail } from "../src/mime/parse_simple.ts";

/** mailparser alone (the port itself now tries the fast parser first). */
const mime = createNodeMime({ simpleFirst: false });
const enc = new TextEncoder();
const json = (v: unknown) => JSON.parse(JSON.stringify(v));

async function compare(message: string | Uint8Array) {
  const raw = typeof message === "string" ? enc.encode(message) : message;
  const fast = parseSimpleMail(raw);
  if (fast) assertEquals(json(fast), json(await mime.parse(raw)), new TextDecoder().decode(raw));
  return fast;
}

/** A small seeded generator (mulberry32). */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FROMS = [
  "a@edge.test",
  "<a@edge.test>",
  "Alice <alice@edge.test>",
  '"Alice Smith" <alice@edge.test>',
  '"Doe, John" <john@edge.test>',
  "A.B. Jones <ab@edge.test>",
  '"  spaced  " <s@edge.test>',
  "Alice  Smith <alice@edge.test>",
  "undisclosed-recipients:;",
  "a@edge.test (Alice)",
  "=?utf-8?q?Al=C3=AFce?= <alice@edge.test>",
  "Ålice <alice@edge.test>",
  "",
  "Bob <Bob.Mixed+Tag@Edge.Test>",
  "bob@xn--bcher-kva.example",
];
const TOS = [
  "rcpt@postern.localhost",
  "rcpt@postern.localhost, Bob <bob@postern.localhost>",
  '"Smith, Ann" <ann@postern.localhost>, carl@postern.localhost',
  "<rcpt@postern.localhost>,<two@postern.localhost>",
  "rcpt@postern.localhost,",
  "Team: a@postern.localhost, b@postern.localhost;",
];
const SUBJECTS = [
  "Hello",
  "",
  "Grüße aus Köln",
  "Re: [list] a subject\r\n\tfolded across lines",
  "trailing spaces   ",
  "=?utf-8?b?SGVsbG8=?=",
  "a: b: c",
];
const DATES = [
  "Sun, 29 Nov 2026 11:15:31 +0000",
  "Mon, 2 Feb 2026 08:00:00 -0800 (PST)",
  "29 Nov 2026 11:15 +0100",
  "not a date",
  "",
];
const IDS = ["<id1@edge.test>", "id2@edge.test", "", "<id3@edge.test> (comment)"];
const TYPES = [
  undefined,
  "text/plain",
  "text/plain; charset=utf-8",
  'text/plain; charset="US-ASCII"',
  "TEXT/PLAIN; CHARSET=UTF-8",
  "text/plain; format=flowed",
  "text/html; charset=utf-8",
  "text/plain; charset=iso-8859-1",
];
const ENCODINGS = [undefined, "7bit", "8BIT", "binary", "quoted-printable", "base64"];
const BODIES = [
  "Hello\r\nWorld\r\n",
  "",
  "Grüße\r\n",
  "no final line break",
  "bare\nLF\nlines\r\n",
  "a bare\rCR\r\n",
  "x".repeat(3000) + "\r\n",
  "line one\r\n\r\n\r\nafter blanks\r\n",
  "=41 not qp here\r\n",
];

function build(r: () => number): string {
  // Two times in three from the first four entries (mostly plain), else from all of them.
  const pick = <T>(list: T[]) =>
    list[Math.floor(r() * (r() < 0.67 ? Math.min(4, list.length) : list.length))];
  const lines: string[] = [];
  lines.push(`Received: from a.example (a.example [192.0.2.1])\r\n\tby b.example; ${pick(DATES)}`);
  if (r() < 0.9) lines.push(`From: ${pick(FROMS)}`);
  if (r() < 0.9) lines.push(`To: ${pick(TOS)}`);
  if (r() < 0.2) lines.push(`To: ${pick(TOS)}`);
  if (r() < 0.3) lines.push(`Cc: ${pick(TOS)}`);
  if (r() < 0.2) lines.push(`Reply-To: ${pick(FROMS)}`);
  if (r() < 0.9) lines.push(`Subject: ${pick(SUBJECTS)}`);
  if (r() < 0.8) lines.push(`Date: ${pick(DATES)}`);
  if (r() < 0.8) lines.push(`Message-ID: ${pick(IDS)}`);
  if (r() < 0.3) lines.push(`In-Reply-To: ${pick(IDS)}`);
  if (r() < 0.3) lines.push(`References: ${pick(IDS)}\r\n ${pick(IDS)} ${pick(IDS)}`);
  if (r() < 0.1) lines.push(`References: ${pick(IDS)}`);
  if (r() < 0.5) lines.push("MIME-Version: 1.0");
  const type = pick(TYPES);
  if (type) lines.push(`Content-Type: ${type}`);
  const encoding = pick(ENCODINGS);
  if (encoding) lines.push(`Content-Transfer-Encoding: ${encoding}`);
  if (r() < 0.3) lines.push("X-Mailer: bench 1.0");
  return lines.join("\r\n") + "\r\n\r\n" + pick(BODIES);
}

Deno.test("the fast parser gives the full parser's result for every message it takes", async () => {
  const r = random(20261129);
  let taken = 0;
  const total = 1500;
  for (let i = 0; i < total; i++) if (await compare(build(r))) taken++;
  // Both outcomes occur often: the corpus exercises the fast path and the hand-over.
  assert(taken > total * 0.1 && taken < total * 0.9, `took ${taken} of ${total}`);
});

/** A multipart/alternative message with boundary b1: parts as [type, content, extra header]. */
function alternative(...parts: [string, string, string?][]): string {
  const body = parts.map(([type, content, extra]) =>
    `--b1\r\nContent-Type: ${type}${extra ? `\r\n${extra}` : ""}\r\n\r\n${content}\r\n`
  ).join("");
  return `From: a@edge.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="b1"\r\n\r\n${body}--b1--\r\n`;
}

const QP_BODIES = [
  "caf=C3=A9 au lait\r\n",
  "soft=\r\nbreak and trailing space   \r\nnext\r\n",
  "=3D equals, =3d lower, =ZZ kept, = alone\r\n",
  "ends with soft break=",
  "tab\t\r\n=E2=82=AC euro\r\n",
  "==\r\ndouble\r\n",
];

Deno.test("multipart/alternative and quoted-printable come out as the full parser gives them", async () => {
  const r = random(7);
  let taken = 0;
  for (let i = 0; i < 300; i++) {
    const pick = <T>(list: T[]) => list[Math.floor(r() * list.length)];
    const qp = (text: string) =>
      r() < 0.5
        ? [text, undefined]
        : [pick(QP_BODIES), "Content-Transfer-Encoding: quoted-printable"];
    const [plain, plainCte] = qp(pick(["Hello\r\nWorld", "Grüße", "", "line\r\n\r\nafter blank"]));
    const [html, htmlCte] = qp(
      pick(["<p>Hello</p>", "<p>Grüße</p>", "", "<div>\r\n<b>x</b>\r\n</div>"]),
    );
    const plainType = pick([
      "text/plain",
      "text/plain; charset=utf-8",
      'text/plain; charset="UTF-8"',
    ]);
    const htmlType = pick(["text/html", "text/html; charset=utf-8", "text/html; charset=us-ascii"]);
    const partList: [string, string, string?][] = [[plainType, plain!, plainCte], [
      htmlType,
      html!,
      htmlCte,
    ]];
    if (r() < 0.3) partList.reverse();
    let message = alternative(...partList);
    if (r() < 0.3) {
      message = message.replace(
        "\r\n\r\n--b1",
        "\r\n\r\nThis is a multi-part message in MIME format.\r\n--b1",
      );
    }
    if (r() < 0.3) message += "epilogue text\r\n";
    if (r() < 0.3) message = message.replace('boundary="b1"', "boundary=b1");
    if (await compare(message)) taken++;
    const single =
      `From: a@edge.test\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${
        pick(QP_BODIES)
      }`;
    if (await compare(single)) taken++;
  }
  assert(taken > 450, `took ${taken} of 600`);
});

Deno.test("the fast parser takes the plain message smtp-source and most MTAs send", async () => {
  const message = "Received: from bench.test ([127.0.0.1])\r\n\tby mx.example (Postern);\r\n" +
    "From: <a@edge.test>\r\nTo: <rcpt@postern.localhost>\r\n" +
    "Date: Sun, 29 Nov 2026 11:15:31 +0000 (UTC)\r\nMessage-Id: <20261129111531.1@bench.test>\r\n" +
    "Subject: test\r\n\r\n" + "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\n".repeat(100);
  const parsed = await compare(message);
  if (!parsed) throw new Error("the plain message went to the full parser");
  assertEquals(parsed.to, [{ name: "", address: "rcpt@postern.localhost" }]);
  assertEquals(parsed.messageId, "<20261129111531.1@bench.test>");
  assertEquals(parsed.headers[0].value.includes("\r\n"), false);
});

Deno.test("the fast parser leaves structured and encoded messages to the full parser", async () => {
  const cases = [
    // multipart
    'From: a@edge.test\r\nContent-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n',
    // attachment disposition on a text part
    "From: a@edge.test\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\nx\r\n",
    // base64 (quoted-printable is read here, see below)
    "From: a@edge.test\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n",
    // quoted-printable that decodes to bytes that are not UTF-8, or is not 7-bit
    "Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9\r\n",
    "Content-Transfer-Encoding: quoted-printable\r\n\r\ncafé\r\n",
    // RFC 2047 words, groups, comments
    "Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\nx\r\n",
    "To: team: a@edge.test;\r\n\r\nx\r\n",
    "From: a@edge.test (Alice)\r\n\r\nx\r\n",
    // bare LF in the header section, a line that is not a field, no body separator
    "From: a@edge.test\nSubject: x\n\nbody\n",
    "From: a@edge.test\r\nnot a field\r\n\r\nx\r\n",
    "From: a@edge.test\r\nSubject: no body",
    // an unreadable date (mailparser puts the parse time there), a repeated single field
    "Date: yesterday\r\n\r\nx\r\n",
    "Subject: one\r\nSubject: two\r\n\r\nx\r\n",
    // other charsets
    "Content-Type: text/plain; charset=iso-8859-1\r\n\r\nx\r\n",
    // multipart/alternative that is not one text/plain and one text/html
    alternative(["text/plain", "a"], ["text/plain", "b"]),
    alternative(["text/plain", "a"], ["text/html", "<p>b</p>"], ["image/png", "x"]),
    alternative(["text/plain", "a"]),
    alternative(["text/plain", "a"], ["text/html", "<p>b</p>", "Content-Disposition: inline"]),
    alternative(["text/plain", "a"], [
      "text/html",
      "<p>b</p>",
      "Content-Transfer-Encoding: base64",
    ]),
    // an unterminated multipart, a delimiter with transport padding
    alternative(["text/plain", "a"], ["text/html", "<p>b</p>"]).replace("--b1--\r\n", ""),
    alternative(["text/plain", "a"], ["text/html", "<p>b</p>"]).replace(
      "--b1\r\nContent-Type: text/html",
      "--b1  \r\nContent-Type: text/html",
    ),
  ];
  for (const message of cases) assertEquals(await compare(message), undefined, message);
  // A large message goes to the full parser (on its worker thread).
  assertEquals(await compare("Subject: big\r\n\r\n" + "x".repeat(300 * 1024)), undefined);
  // Bytes that are not UTF-8 in the body.
  const latin1 = new Uint8Array([...enc.encode("Subject: x\r\n\r\ncaf"), 0xe9, 13, 10]);
  assertEquals(await compare(latin1), undefined);
});

Deno.test("the Dovecot seed messages: those the fast parser takes match the full parser", async () => {
  const { SEED_DIR } = await import("./fixtures/dovecot.ts");
  const taken: string[] = [];
  for await (const entry of Deno.readDir(SEED_DIR)) {
    if (!entry.name.endsWith(".eml")) continue;
    // Stored with LF line ends; on the wire (SMTP, IMAP APPEND) they are CRLF.
    const text = await Deno.readTextFile(`${SEED_DIR}${entry.name}`);
    if (await compare(text.replace(/\r?\n/g, "\r\n"))) taken.push(entry.name);
  }
  // The plain and the alternative (quoted-printable) message are read here; the others have an
  // attachment, encoded-words or a message/rfc822 part.
  assertEquals(taken.sort(), ["01-plain.eml", "02-alternative.eml"]);
});
