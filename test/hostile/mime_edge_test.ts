/**
 * Hostile and malformed MIME against the edge MIME port (src/mime/edge_port.ts): the bombs of
 * test/fixtures/mime_bombs.ts come back degraded with the same reason and header fields as from
 * the process host's port (mailparser), nesting and part counts just inside the limits are read
 * the same as mailparser reads them, and a seeded corpus of damaged messages (cut, spliced,
 * bytes flipped, boundaries repeated, junk in encodings) never throws and always gives a form
 * the ParsedMail schema accepts, whose size is bounded by the input's, and whose subject,
 * threading fields, recipients and attachments are mailparser's. Figures (time per hostile
 * message) are printed, never asserted.
 */
import { assert, assertEquals } from "../fixtures/assert.ts";
import { BOMBS, nested } from "../fixtures/mime_bombs.ts";
import { build, HAND_WRITTEN, random, randomMime } from "../fixtures/mime_corpus.ts";
import { createNodeMime } from "../../hosts/process/mime_node.ts";
import { edgeMimePort } from "../../src/mime/edge_port.ts";
import { ParsedMail } from "../../schemas/mail.ts";

const enc = new TextEncoder();
const edge = edgeMimePort({ simpleFirst: false });
const node = createNodeMime({ simpleFirst: false });

Deno.test("issue17#2: MIME bombs come back degraded from the edge port, as from mailparser", async () => {
  for (const [subject, make] of BOMBS) {
    const raw = enc.encode(make());
    const started = performance.now();
    const parsed = await edge.parse(raw);
    console.log(`${subject}: ${(performance.now() - started).toFixed(1)} ms on the edge port`);
    const reference = await node.parse(raw);
    assert(parsed.degraded, subject);
    assertEquals(parsed, reference, subject);
  }
});

Deno.test("issue17#2: just inside the limits (999 levels, 999 parts) the edge port reads what mailparser reads", async () => {
  const wide = "From: a@x.test\r\nContent-Type: multipart/mixed; boundary=w\r\n\r\n" +
    Array.from(
      { length: 998 },
      (_, i) => `--w\r\nContent-Type: application/octet-stream; name=p${i}.bin\r\n\r\n${i}\r\n`,
    ).join("") +
    "--w--\r\n";
  for (const message of [nested(998), wide]) {
    const raw = enc.encode(message);
    const parsed = await edge.parse(raw);
    assertEquals(parsed.degraded, undefined);
    assertEquals(JSON.stringify(parsed), JSON.stringify(await node.parse(raw)));
  }
  // One part more is degraded on both.
  const over = await edge.parse(enc.encode(nested(1000)));
  assertEquals(over.degraded, "more than 1000 MIME parts");
});

/** Damage done to a message: one of the ways real mail and attackers break MIME. */
function damage(message: Uint8Array, r: () => number): Uint8Array {
  const bytes = message.slice();
  const at = Math.floor(r() * bytes.length);
  switch (Math.floor(r() * 7)) {
    case 0: // cut short anywhere
      return bytes.subarray(0, at);
    case 1: // bytes flipped
      for (let i = 0; i < 8; i++) bytes[Math.floor(r() * bytes.length)] ^= 1 << Math.floor(r() * 8);
      return bytes;
    case 2: // a span repeated (boundary lines, headers twice)
      return new Uint8Array([
        ...bytes.subarray(0, at),
        ...bytes.subarray(at / 2, at),
        ...bytes.subarray(at),
      ]);
    case 3: // line ends turned into bare CR or LF
      return bytes.map((b) => (b === 13 && r() < 0.5 ? 10 : b === 10 && r() < 0.3 ? 13 : b));
    case 4: // junk and 8-bit bytes in the middle
      return new Uint8Array([
        ...bytes.subarray(0, at),
        ...enc.encode("=?x?Q?=ZZ?= --\r\n=\r\n"),
        0xff,
        0,
        ...bytes.subarray(at),
      ]);
    case 5: // a run of "--" lines
      return new Uint8Array([
        ...bytes.subarray(0, at),
        ...enc.encode("\r\n--\r\n--b\r\n--m--\r\n".repeat(50)),
        ...bytes.subarray(at),
      ]);
    default: // a very long line
      return new Uint8Array([
        ...bytes.subarray(0, at),
        ...new Uint8Array(200_000).fill(0x41),
        ...bytes.subarray(at),
      ]);
  }
}

Deno.test("issue17#2: damaged MIME never makes the edge port throw, and its form stays valid and bounded", async () => {
  const r = random(1717);
  const seeds: Uint8Array[] = HAND_WRITTEN.map(([, m]) => typeof m === "string" ? enc.encode(m) : m)
    .filter((m) => m.byteLength < 100_000);
  for (let i = 0; i < 50; i++) seeds.push(enc.encode(build(r)), randomMime(r));
  let worst = 0;
  let total = 0;
  let exact = 0;
  for (let round = 0; round < 600; round++) {
    const raw = damage(seeds[round % seeds.length], r);
    const started = performance.now();
    const parsed = await edge.parse(raw);
    for (let i = 0; i < Math.min(parsed.attachments.length, 3); i++) await edge.attachment(raw, i);
    const took = performance.now() - started;
    worst = Math.max(worst, took);
    total += took;
    ParsedMail.parse(parsed);
    // What comes out is never much larger than what went in (text decoding can widen bytes).
    assert(JSON.stringify(parsed).length < raw.byteLength * 8 + 4096, `round ${round}`);
    // The fields mail is filed and threaded by, and the attachments, agree with mailparser;
    // display text read out of garbage (an unclosed quote in From, HTML cut inside a tag) may not.
    const reference = await node.parse(raw);
    const filed = (p: ParsedMail) =>
      JSON.stringify([
        p.subject,
        p.messageId,
        p.inReplyTo,
        p.references,
        p.to,
        p.cc,
        p.replyTo,
        p.degraded,
        p.attachments.map((a) => ({
          ...a,
          contentType: a.contentType || "application/octet-stream",
        })),
      ]);
    assertEquals(filed(parsed), filed(reference), `round ${round}`);
    const exactly = (p: ParsedMail) =>
      JSON.stringify({ ...p, date: undefined, attachments: undefined });
    if (exactly(parsed) === exactly(reference)) exact++;
  }
  console.log(
    `600 damaged messages: ${(total / 600).toFixed(2)} ms each on average, worst ${
      worst.toFixed(1)
    } ms; ${exact} read exactly as mailparser reads them (apart from Date and attachment types)`,
  );
});

Deno.test("issue17#2: a message mailparser never answers for gets an answer from the edge port", async () => {
  // The whole message is an inline message/rfc822 part that ends inside its own header block:
  // mailparser's promise never settles on it (the process host's MIME thread would wait for
  // ever; noted in the report, hosts/ is not changed here). The edge port reads the headers.
  const raw = enc.encode(
    "From: a@x.test\r\nSubject: cut\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline",
  );
  const parsed = await edge.parse(raw);
  assertEquals([parsed.subject, parsed.from?.address, parsed.attachments], ["cut", "a@x.test", []]);
  assertEquals(await edge.attachment(raw, 0), undefined);
});
