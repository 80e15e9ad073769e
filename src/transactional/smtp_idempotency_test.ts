import { assertEquals } from "../../test/fixtures/assert.ts";
import { submissionKey, takeIdempotencyField } from "./smtp_idempotency.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("smtp idempotency: the field is removed with its folds; every other byte is kept", () => {
  const raw = "Received: from x\r\n\tby y; Sun, 1 Jan 2026 00:00:00 +0000\r\n" +
    "From: a@b.test\r\nidempotency-KEY :\r\n  order-\r\n\t42\r\nSubject: s\xe9\r\n\r\n" +
    "Idempotency-Key: in the body stays\r\n";
  const taken = takeIdempotencyField(enc(raw));
  assertEquals(taken.values, ["order- 42"]);
  assertEquals(
    dec(taken.raw),
    "Received: from x\r\n\tby y; Sun, 1 Jan 2026 00:00:00 +0000\r\n" +
      "From: a@b.test\r\nSubject: s\xe9\r\n\r\nIdempotency-Key: in the body stays\r\n",
  );
});

Deno.test("smtp idempotency: LF-only, several fields, a look-alike name, none at all", () => {
  const lf = takeIdempotencyField(enc("Idempotency-Key: k1\nX: 1\nIdempotency-Key: k2\n\nbody"));
  assertEquals([lf.values, dec(lf.raw)], [["k1", "k2"], "X: 1\n\nbody"]);
  const alike = enc("Idempotency-Keys: no\r\nIdempotency-Ke: no\r\n\r\n");
  const none = takeIdempotencyField(alike);
  assertEquals(none.values, []);
  assertEquals(none.raw, alike, "the same bytes");
});

Deno.test("smtp idempotency: the key is bound to the envelope, not to recipient order or case", async () => {
  const a = await submissionKey("k", "A@b.test", ["x@y.test", "Z@y.test"]);
  const b = await submissionKey("k", "a@b.test", ["z@y.test", "x@y.test", "x@y.test"]);
  const c = await submissionKey("k", "a@b.test", ["x@y.test"]);
  assertEquals([a.scope, a.hash === b.hash, a.hash === c.hash], ["smtp", true, false]);
});
