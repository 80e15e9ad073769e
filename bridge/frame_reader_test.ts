import assert from "node:assert/strict";
import { frameHead } from "../schemas/mail_access.ts";
import { readFrames } from "./frame_reader.ts";

const enc = new TextEncoder();
const messages = new Map<number, Uint8Array>([
  [3, enc.encode("Subject: a\r\n\r\nshort\r\n")],
  [7, new Uint8Array(0)],
  [9, enc.encode("x".repeat(5000))],
  [12, enc.encode("Subject: last\r\n\r\nbody\r\n")],
]);
const body = (() => {
  const parts = [...messages].flatMap(([uid, bytes]) => [frameHead(uid, bytes.byteLength), bytes]);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
})();

/** The body cut into chunks of `size` octets (the last one shorter). */
function streamOf(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}

Deno.test("readFrames answers every message, whole or cut anywhere across chunks", async () => {
  for (const size of [1, 3, 7, 8, 9, 13, 100, 4999, 5008, body.byteLength]) {
    const got = await readFrames(streamOf(body, size));
    assert.deepEqual(got, messages, `chunks of ${size}`);
    assert.deepEqual([...got!.keys()], [3, 7, 9, 12], `order, chunks of ${size}`);
  }
});

Deno.test("readFrames refuses a body that ends inside a frame, head or bytes", async () => {
  for (const cut of [3, 8 + 10, body.byteLength - 1]) {
    assert.equal(await readFrames(streamOf(body.subarray(0, cut), 4)), undefined, `cut at ${cut}`);
  }
  assert.deepEqual(await readFrames(null), new Map());
});
