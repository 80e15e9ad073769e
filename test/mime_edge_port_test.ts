/**
 * Issue 17 item 2: the edge MIME port (src/mime/edge_port.ts, Web APIs only) against the process
 * host's port (mailparser and nodemailer, hosts/process/mime_node.ts), side by side:
 *
 * - parse: the seed messages, the generated corpus of test/parse_simple_test.ts, hand-written
 *   MIME (nested multiparts, forwarded messages, charsets, encoded-words, RFC 2231 names, broken
 *   base64, unclosed multiparts) and the hostile corpus must give the same JSON form;
 * - compose: every composition shape (text, HTML, both, attachments, inline images, non-ASCII
 *   names and file names, long lines, custom headers, threading fields) composed by the edge
 *   port and parsed by mailparser must read as the same message nodemailer composes, and
 *   nodemailer's output parsed by the edge port as mailparser reads it;
 * - attachment(): the same bytes for every attachment index.
 *
 * Differences kept on purpose (`normalize` below), each with its reason:
 * 1. An unreadable Date header gives no `date`; mailparser puts the time of parsing there.
 * 2. `text` made from HTML (a message without a text part) is compared ignoring whitespace:
 *    html-to-text wraps at 80 columns and html_text.ts does not wrap.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { alternative, build, QP_BODIES, random } from "./fixtures/mime_corpus.ts";
import { SEED_DIR } from "./fixtures/dovecot.ts";
import { multipartWithAttachment } from "./fixtures/large_mail.ts";
import { createNodeMime } from "../hosts/process/mime_node.ts";
import { edgeMimePort } from "../src/mime/edge_port.ts";
import type { ComposeInput, ParsedMail } from "../schemas/mail.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const node = createNodeMime({ simpleFirst: false });
const edge = edgeMimePort({ simpleFirst: false });

/** Whether `text` looks like it came from HTML (the message has HTML and no text/plain part). */
const fromHtml = (raw: Uint8Array) => !/content-type:\s*text\/plain/i.test(dec.decode(raw));

function normalize(parsed: ParsedMail, raw: Uint8Array, other: ParsedMail): unknown {
  const out = JSON.parse(JSON.stringify(parsed));
  // Difference 1: mailparser's parse-time date for an unreadable Date header.
  if (out.date !== undefined && other.date === undefined) delete out.date;
  // Difference 2: text derived from HTML, compared ignoring whitespace.
  if (typeof out.text === "string" && out.html !== undefined && fromHtml(raw)) {
    out.text = out.text.replace(/\s+/g, "");
  }
  return out;
}

interface Mismatch {
  label: string;
  node: unknown;
  edge: unknown;
}

async function compareParse(label: string, message: string | Uint8Array, out: Mismatch[]) {
  const raw = typeof message === "string" ? enc.encode(message) : message;
  const a = await node.parse(raw);
  const b = await edge.parse(raw);
  const na = normalize(a, raw, b);
  const nb = normalize(b, raw, a);
  if (JSON.stringify(na) !== JSON.stringify(nb)) out.push({ label, node: na, edge: nb });
  for (let i = 0; i < a.attachments.length; i++) {
    const x = await node.attachment(raw, i);
    const y = await edge.attachment(raw, i);
    if (
      x?.filename !== y?.filename || x?.contentType !== y?.contentType ||
      x?.content.join() !== y?.content.join()
    ) out.push({ label: `${label} attachment ${i}`, node: x, edge: y });
  }
  return b;
}

function report(out: Mismatch[]) {
  const shown = out.slice(0, 5).map((m) =>
    `--- ${m.label}\nmailparser: ${JSON.stringify(m.node)}\nedge:       ${JSON.stringify(m.edge)}`
  );
  assertEquals(out.length, 0, `${out.length} mismatches\n${shown.join("\n")}`);
}

Deno.test("issue17#2: the seed messages parse the same on the edge port as with mailparser", async () => {
  const out: Mismatch[] = [];
  for (const entry of [...Deno.readDirSync(SEED_DIR)].filter((e) => e.name.endsWith(".eml"))) {
    const text = await Deno.readTextFile(`${SEED_DIR}${entry.name}`);
    await compareParse(entry.name, text.replace(/\r?\n/g, "\r\n"), out);
    await compareParse(`${entry.name} (LF)`, text, out);
  }
  report(out);
});

Deno.test("issue17#2: the generated header and body corpus parses the same as with mailparser", async () => {
  const out: Mismatch[] = [];
  const r = random(20261129);
  for (let i = 0; i < 1500; i++) {
    const message = build(r);
    await compareParse(message.slice(0, 400), message, out);
  }
  report(out);
});

Deno.test("issue17#2: multipart/alternative and quoted-printable parse the same as with mailparser", async () => {
  const out: Mismatch[] = [];
  const r = random(7);
  const pick = <T>(list: T[]) => list[Math.floor(r() * list.length)];
  for (let i = 0; i < 200; i++) {
    const cte = "Content-Transfer-Encoding: quoted-printable";
    const plain: [string, string, string?] = r() < 0.5
      ? ["text/plain; charset=utf-8", pick(["Hello\r\nWorld", "Grüße", "", "a\r\n\r\nb"])]
      : ["text/plain", pick(QP_BODIES), cte];
    const html: [string, string, string?] = r() < 0.5
      ? ["text/html", pick(["<p>Hello</p>", "<p>Grüße</p>", "", "<div>\r\n<b>x</b>\r\n</div>"])]
      : ["text/html; charset=utf-8", pick(QP_BODIES), cte];
    const parts = r() < 0.3 ? [html, plain] : [plain, html];
    let message = alternative(...parts);
    if (r() < 0.3) message = message.replace("\r\n\r\n--b1", "\r\n\r\npreamble\r\n--b1");
    if (r() < 0.3) message += "epilogue\r\n";
    await compareParse(message, message, out);
  }
  report(out);
});
