/**
 * The MIME port `postern serve` uses (hosts/process/mime_thread.ts: the edge port here, and on a
 * worker thread for large messages): the same results on either thread as mailparser's port
 * gives, and the digests it remembers are the SHA-256 of exactly the bytes the delivery path
 * then hashes (src/crypto.ts finds them instead).
 */
import { createNodeMime } from "../hosts/process/mime_node.ts";
import { createThreadedMime, HANDOFF_BYTES } from "../hosts/process/mime_thread.ts";
import { sha256 } from "hash-wasm";
import { knownSha256, sha256Hex } from "../src/crypto.ts";
import { assertEquals } from "./fixtures/assert.ts";

const input = {
  from: { name: "Alice", address: "alice@example.org" },
  to: [{ name: "", address: "bob@example.org" }],
  cc: [],
  bcc: [],
  replyTo: [],
  subject: "Grüße",
  text: "Hello, Bob.\n",
  messageId: "<thread-test@example.org>",
  date: new Date("2026-11-29T10:00:00Z"),
  headers: [],
  attachments: [],
};

Deno.test("MIME worker: composes and parses like the main thread; its digests are the bytes'", async () => {
  const threaded = createThreadedMime(undefined, { handoffBytes: 0 }); // everything to the worker
  try {
    const raw = await threaded.compose(input);
    assertEquals(knownSha256(raw), await sha256(raw), "the worker hashed the composed bytes");
    assertEquals(await sha256Hex(raw), knownSha256(raw));
    const parsed = await threaded.parse(raw);
    assertEquals(parsed, await createNodeMime().parse(raw));
    assertEquals(parsed.subject, "Grüße");

    // A view into a larger buffer is parsed (and hashed) as just its own bytes.
    const framed = new Uint8Array(raw.byteLength + 20);
    framed.set(raw, 10);
    const view = framed.subarray(10, 10 + raw.byteLength);
    assertEquals((await threaded.parse(view)).messageId, "<thread-test@example.org>");
    assertEquals(knownSha256(view), await sha256(raw));
  } finally {
    threaded.close();
  }
});

Deno.test("MIME port: a plain message is read on this thread, its digest remembered", async () => {
  const threaded = createThreadedMime();
  try {
    const text = "From: <a@example.org>\r\nTo: <b@example.org>\r\nSubject: plain\r\n\r\nHello.\r\n";
    const raw = new TextEncoder().encode(text);
    const framed = new Uint8Array(raw.byteLength + 20);
    framed.set(raw, 7);
    for (const bytes of [raw, framed.subarray(7, 7 + raw.byteLength)]) {
      assertEquals((await threaded.parse(bytes)).subject, "plain");
      assertEquals(knownSha256(bytes), await sha256(raw));
    }
  } finally {
    threaded.close();
  }
});

Deno.test("issue15#9: the MIME worker applies the configured limits and degrades instead of failing", async () => {
  // Twelve parts against a limit of ten: mailparser refuses, the port reads only the header.
  let raw = "From: Bomb <bomb@example.org>\r\nTo: b@example.org\r\nSubject: parts\r\n" +
    'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="x"\r\n\r\n';
  for (let i = 0; i < 12; i++) raw += `--x\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n`;
  raw += "--x--\r\n";
  const limits = { maxParts: 10, maxHeaderBytes: 1024 * 1024 };
  const here = createThreadedMime(limits), worker = createThreadedMime(limits, { handoffBytes: 0 });
  try {
    for (const threaded of [here, worker]) {
      const parsed = await threaded.parse(new TextEncoder().encode(raw));
      assertEquals(parsed.degraded, "more than 10 MIME parts");
      assertEquals(parsed.subject, "parts");
      assertEquals(parsed.from, { name: "Bomb", address: "bomb@example.org" });
    }
    // The default limits read it whole.
    assertEquals((await createNodeMime().parse(new TextEncoder().encode(raw))).degraded, undefined);
    assertEquals(
      (await createThreadedMime().parse(new TextEncoder().encode(raw))).degraded,
      undefined,
    );
  } finally {
    here.close();
    worker.close();
  }
});

Deno.test("issue20: small mail is parsed and composed on this thread, larger mail on the worker, same results", async () => {
  const threaded = createThreadedMime();
  const worker = createThreadedMime(undefined, { handoffBytes: 0 });
  try {
    const small = await threaded.compose({
      ...input,
      attachments: [{
        filename: "a.bin",
        contentType: "application/octet-stream",
        content: new Uint8Array(100),
      }],
    });
    assertEquals(knownSha256(small), await sha256(small), "composed here, digest remembered");
    const content = new Uint8Array(HANDOFF_BYTES + 1).map((_, i) => i & 0xff);
    const large = await threaded.compose({
      ...input,
      attachments: [{ filename: "b.bin", contentType: "application/octet-stream", content }],
    });
    assertEquals(knownSha256(large), await sha256(large), "composed by the worker, digest sent");
    for (const raw of [small, large]) {
      const parsed = await threaded.parse(raw);
      assertEquals(parsed, await worker.parse(raw));
      // As stored (JSON): mailparser's port writes `contentId: undefined`, the edge port omits it.
      const json = (value: unknown) => JSON.parse(JSON.stringify(value));
      assertEquals(json(parsed), json(await createNodeMime().parse(raw)));
      assertEquals(knownSha256(raw), await sha256(raw));
    }
    assertEquals((await threaded.attachment(large, 0))?.content, content);
  } finally {
    threaded.close();
    worker.close();
  }
});
