import assert from "node:assert/strict";
import {
  base64DecodedSize,
  decodeBase64,
  decodeQuotedPrintable,
  encodeBase64LineBytes,
  encodeBase64Lines,
  encodeQuotedPrintable,
} from "./transfer.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("base64: junk skipped, padded segments restarted, dangling characters dropped", () => {
  assert.equal(dec(decodeBase64("SGVs\r\nbG8=")), "Hello");
  assert.equal(dec(decodeBase64("SGVs!!*bG8 =")), "Hello");
  // Every line padded on its own (some senders do this).
  assert.equal(dec(decodeBase64("SGk=\r\nIHRoZXJl\r\nIQ==")), "Hi there!");
  assert.equal(dec(decodeBase64("SGk")), "Hi");
  assert.equal(dec(decodeBase64("SGkh\u00e9Q")), "Hi!");
  assert.deepEqual(decodeBase64(""), new Uint8Array());
  for (const text of ["SGVs\r\nbG8=", "SGk=\r\nIHRoZXJl\r\nIQ==", "SGk", "SGkh\u00e9Q", "=a=="]) {
    const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
    assert.equal(base64DecodedSize(bytes), decodeBase64(bytes).byteLength, text);
  }
});

Deno.test("base64: 76-character lines (RFC 2045 section 6.8), round trip of every byte", () => {
  const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
  const text = encodeBase64Lines(bytes);
  for (const line of text.split("\r\n")) assert.ok(line.length <= 76);
  assert.equal(text.split("\r\n")[0].length, 76);
  assert.deepEqual(decodeBase64(text), bytes);
});

Deno.test("issue17#5: base64 lines written as bytes are the string form's bytes", () => {
  for (const length of [0, 1, 2, 3, 56, 57, 58, 114, 1000, 4096]) {
    const bytes = Uint8Array.from({ length }, (_, i) => (i * 7919) & 0xff);
    assert.deepEqual(encodeBase64LineBytes(bytes), enc(encodeBase64Lines(bytes)), `${length}`);
  }
});

Deno.test("quoted-printable: RFC 2045 section 6.7 rules, as readers apply them", () => {
  const cases: [string, string][] = [
    ["caf=C3=A9", "café"],
    ["soft=\r\nbreak", "softbreak"],
    ["soft=  \r\nbreak, space after the = sign", "softbreak, space after the = sign"],
    ["trailing   \r\nspace", "trailing\r\nspace"],
    ["=3D =3d =ZZ = alone", "= = =ZZ = alone"],
    ["ends with soft break=", "ends with soft break"],
    ["lf=\nonly", "lfonly"],
  ];
  for (const [input, want] of cases) {
    assert.equal(dec(decodeQuotedPrintable(enc(input))), want, input);
  }
});

Deno.test("quoted-printable: lines of at most 76, trailing space and = escaped, CRLF kept as breaks", () => {
  const text = "x".repeat(200) + " \r\nsum = 1 + 1\ttab \r\nGrüße\r";
  const qp = encodeQuotedPrintable(enc(text));
  for (const line of qp.split("\r\n")) assert.ok(line.length <= 76, line);
  assert.ok(qp.includes("=20\r\n"), "a space ending a line is encoded");
  assert.ok(qp.includes("sum =3D 1"));
  assert.ok(qp.endsWith("=0D"), "a lone CR is data");
  assert.equal(dec(decodeQuotedPrintable(enc(qp))), text);
});
