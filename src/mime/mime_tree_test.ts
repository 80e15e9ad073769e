import assert from "node:assert/strict";
import { splitMime } from "./mime_tree.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function tree(message: string) {
  const raw = enc(message);
  const split = splitMime(raw);
  assert.ok(split.ok);
  return split.nodes.map((n) => ({
    type: n.contentType,
    body: n.body.map(([s, e]) => dec(raw.subarray(s, e))).join(""),
    depth: (() => {
      let d = 0;
      for (let p = n.parent; p; p = p.parent) d++;
      return d;
    })(),
  }));
}

Deno.test("RFC 2046 5.1.1: delimiters own the line break before them; padding and CRs allowed", () => {
  const parts = tree(
    'Content-Type: multipart/mixed; boundary="b"\r\n\r\npreamble\r\n--b \t\r\n\r\none\r\n\r\n' +
      "--b\r\r\nContent-Type: text/html\r\n\r\n<p>two</p>\r\n--b--\r\nepilogue\r\n",
  );
  assert.deepEqual(parts, [
    { type: "multipart/mixed", body: "", depth: 0 },
    { type: "text/plain", body: "one\r\n", depth: 1 },
    { type: "text/html", body: "<p>two</p>", depth: 1 },
  ]);
});

Deno.test("an outer delimiter ends an inner multipart that was never closed", () => {
  const parts = tree(
    "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/alternative; " +
      "boundary=i\r\n\r\n--i\r\n\r\nunclosed\r\n--o\r\nContent-Type: image/gif\r\n\r\nGIF\r\n--o--\r\n",
  );
  assert.deepEqual(parts.map((p) => [p.type, p.body, p.depth]), [
    ["multipart/mixed", "", 0],
    ["multipart/alternative", "", 1],
    ["text/plain", "unclosed", 2],
    ["image/gif", "GIF", 1],
  ]);
});

Deno.test("RFC 2046 5.2.1: an inline message/rfc822 part is read as a nested message", () => {
  const parts = tree(
    "Content-Type: multipart/mixed; boundary=f\r\n\r\n--f\r\nContent-Type: message/rfc822\r\n" +
      "Content-Disposition: inline\r\n\r\nSubject: inner\r\n\r\nbody\r\n--f--\r\n",
  );
  assert.deepEqual(parts.map((p) => [p.type, p.body, p.depth]), [
    ["multipart/mixed", "", 0],
    ["message/rfc822", "", 1],
    ["text/plain", "body", 2],
  ]);
});

Deno.test("limits: parts and header bytes beyond them are refused with a reason", () => {
  const many = "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + "--b\r\n\r\nx\r\n".repeat(20);
  assert.deepEqual(splitMime(enc(many), { maxParts: 10, maxHeaderBytes: 1 << 20 }), {
    ok: false,
    reason: "more than 10 MIME parts",
  });
  // Each header line counts as at least 64 bytes: 100 short lines are 6400.
  const lines = "X-A: 1\r\n".repeat(100) + "\r\nbody";
  assert.deepEqual(splitMime(enc(lines), { maxParts: 10, maxHeaderBytes: 4096 }), {
    ok: false,
    reason: "a MIME header block over 4096 bytes",
  });
  assert.ok(splitMime(enc(lines), { maxParts: 10, maxHeaderBytes: 8192 }).ok);
});
