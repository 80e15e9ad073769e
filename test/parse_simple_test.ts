/**
 * src/mime/parse_simple.ts against the full parser (mailparser, hosts/process/mime_node.ts): every message
 * the fast parser takes must come out exactly as the full parser gives it, and what it does not
 * understand it must leave to the full parser. The corpus is generated from many header and body
 * shapes (seeded, so a failure repeats) plus hand-written cases at the edges.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { createNodeMime } from "../hosts/process/mime_node.ts";
import { parseSimpleMail } from "../src/mime/parse_simple.ts";
import { alternative, build, QP_BODIES, random } from "./fixtures/mime_corpus.ts";

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

Deno.test("the fast parser gives the full parser's result for every message it takes", async () => {
  const r = random(20261129);
  let taken = 0;
  const total = 1500;
  for (let i = 0; i < total; i++) if (await compare(build(r))) taken++;
  // Both outcomes occur often: the corpus exercises the fast path and the hand-over.
  assert(taken > total * 0.1 && taken < total * 0.9, `took ${taken} of ${total}`);
});

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
