import assert from "node:assert/strict";
import { charsetLabel, decodeCharset } from "./charset.ts";

Deno.test("charsets: the labels mail programs write, decoded with TextDecoder", () => {
  const cases: [string, number[], string][] = [
    ["ISO-8859-2", [0x50, 0xf3, 0xb3], "Pół"],
    ["win-1251", [0xcf, 0xf0, 0xe8], "При"],
    ["koi8-r", [0xf0, 0xd2, 0xc9], "При"],
    ["Shift_JIS", [0x82, 0xb1, 0x82, 0xf1], "こん"],
    ["ks_c_5601-1987", [0xbe, 0xc8], "안"],
    ["latin1", [0x63, 0x61, 0x66, 0xe9], "café"],
    ["utf8", [0xc3, 0xa9], "é"],
  ];
  for (const [charset, bytes, want] of cases) {
    assert.deepEqual(decodeCharset(new Uint8Array(bytes), charset), { text: want }, charset);
  }
  assert.equal(charsetLabel("UTF-8*en"), "utf-8");
});

Deno.test("charsets: unknown and refused ones are read as UTF-8 and flagged", () => {
  const bytes = new TextEncoder().encode("+ADw-script+AD4- é");
  assert.deepEqual(decodeCharset(bytes, "utf-7"), {
    text: "+ADw-script+AD4- é",
    fallback: "utf-7",
  });
  assert.deepEqual(decodeCharset(bytes, "x-no-such"), {
    text: "+ADw-script+AD4- é",
    fallback: "x-no-such",
  });
  // windows-1252's undefined bytes are replaced, as iconv replaces them.
  assert.equal(decodeCharset(new Uint8Array([0x80, 0x81]), "windows-1252").text, "€\ufffd");
});
