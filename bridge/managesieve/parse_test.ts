import assert from "node:assert/strict";
import { badScriptName, literalAtEnd, tokenize } from "./parse.ts";
import { str } from "./reply.ts";

const enc = new TextEncoder();
const tok = (s: string | Uint8Array) => tokenize(typeof s === "string" ? enc.encode(s) : s);

Deno.test("issue21#2: ManageSieve parser reads atoms, quoted strings, literals and numbers", () => {
  assert.deepEqual(tok('havespace "a\\"b\\\\c" 123'), {
    ok: true,
    tokens: [
      { type: "atom", value: "HAVESPACE" },
      { type: "string", value: 'a"b\\c', literal: false },
      { type: "number", value: 123 },
    ],
  });
  // RFC 5804 section 4: {n+} and {n} literals, their octets in place after CRLF.
  const r = tok("PUTSCRIPT {4+}\r\nnäm {12}\r\nkeep;\r\nstop;");
  assert.ok(r.ok);
  assert.deepEqual(r.tokens.slice(1), [
    { type: "string", value: "näm", literal: true },
    { type: "string", value: "keep;\r\nstop;", literal: true },
  ]);
});

Deno.test("issue21#2: ManageSieve parser refuses malformed and oversized input", () => {
  for (
    const [bad, why] of [
      ['GETSCRIPT "open', "unterminated quoted string"],
      ['GETSCRIPT "a\\x"', "bad escape in quoted string"],
      [`GETSCRIPT "${"x".repeat(1025)}"`, "quoted string too long, use a literal"],
      ["GETSCRIPT {10+}\r\nshort", "literal is cut short"],
      ['GETSCRIPT  "a"', "unexpected space"],
      ['GETSCRIPT "a" ', "trailing space"],
      ['HAVESPACE "a" 99999999999', "number too large"],
      ["GET(SCRIPT", "unexpected character"],
    ]
  ) {
    assert.deepEqual(tok(bad), { ok: false, error: why }, bad);
  }
  // Bad UTF-8 in a quoted string and in a literal: refused, never replaced by U+FFFD.
  const badQuoted = new Uint8Array([...enc.encode('GETSCRIPT "'), 0xc3, 0x28, 0x22]);
  assert.deepEqual(tok(badQuoted), { ok: false, error: "string is not valid UTF-8" });
  const badLiteral = new Uint8Array([...enc.encode("GETSCRIPT {2+}\r\n"), 0xff, 0xfe]);
  assert.deepEqual(tok(badLiteral), { ok: false, error: "string is not valid UTF-8" });
});

Deno.test("issue21#2: ManageSieve literal announcements at a line's end", () => {
  assert.deepEqual(literalAtEnd(enc.encode('PUTSCRIPT "a" {42+}')), { size: 42, at: 14 });
  assert.deepEqual(literalAtEnd(enc.encode("X {7}")), { size: 7, at: 2 });
  assert.equal(literalAtEnd(enc.encode('GETSCRIPT "{7}"')), undefined);
  assert.equal(literalAtEnd(enc.encode("X {+}")), undefined);
  assert.equal(literalAtEnd(enc.encode("X {99999999999+}"))?.size, Infinity);
});

Deno.test("issue21#2: ManageSieve script names follow RFC 5804 section 1.6", () => {
  assert.equal(badScriptName("vacation rules"), undefined);
  assert.equal(badScriptName("Ferien ☀"), undefined);
  assert.ok(badScriptName(""));
  assert.ok(badScriptName("a\tb"));
  assert.ok(badScriptName("a\u0085b"));
  assert.ok(badScriptName("a\u2028b"));
  assert.ok(badScriptName("x".repeat(129)));
  assert.ok(badScriptName("e\u0301")); // not NFC
});

Deno.test("issue21#2: ManageSieve strings go out quoted, or as literals when they must", () => {
  assert.equal(str('say "hi"'), '"say \\"hi\\""');
  assert.equal(str("two\r\nlines"), "{10}\r\ntwo\r\nlines");
  assert.equal(str("ü".repeat(600)), `{1200}\r\n${"ü".repeat(600)}`);
});
