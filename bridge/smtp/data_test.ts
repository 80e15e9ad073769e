import assert from "node:assert/strict";
import { BdatReader, DataReader } from "./data.ts";

const enc = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const dec = (b: Uint8Array) => String.fromCharCode(...b);

interface Case {
  input: string;
  message: string;
  /** Octets after the end-of-data line (left for the command reader). */
  rest?: string;
  bare?: boolean;
  done?: boolean;
  max?: number;
  tooLarge?: boolean;
}

const cases: [string, Case][] = [
  ["one line", { input: "hello\r\n.\r\n", message: "hello\r\n" }],
  ["empty message", { input: ".\r\n", message: "" }],
  ["empty line only", { input: "\r\n.\r\n", message: "\r\n" }],
  // RFC 5321 section 4.5.2: the sender doubles a leading dot, the receiver removes one.
  ["stuffed dot", { input: "..\r\n.\r\n", message: ".\r\n" }],
  ["stuffed dots", { input: "a\r\n..b\r\n...\r\n.\r\n", message: "a\r\n.b\r\n..\r\n" }],
  ["dot inside a line is kept", { input: "a.b\r\n x.\r\n.\r\n", message: "a.b\r\n x.\r\n" }],
  // Pipelined commands after the end belong to the command stream.
  ["rest after end", { input: "x\r\n.\r\nQUIT\r\n", message: "x\r\n", rest: "QUIT\r\n" }],
  ["no end yet", { input: "x\r\n.", message: "x\r\n", done: false }],
  ["no end yet (dot CR)", { input: "x\r\n.\r", message: "x\r\n", done: false }],
  ["8-bit octets pass", { input: "\xc3\xa9\xff\r\n.\r\n", message: "\xc3\xa9\xff\r\n" }],
  // SMTP smuggling: none of these ends the data, each marks it bare.
  ["LF.LF", { input: "a\n.\nb\r\n.\r\n", message: "a\n.\nb\r\n", bare: true }],
  ["CR.CR", { input: "a\r.\rb\r\n.\r\n", message: "a\r.\rb\r\n", bare: true }],
  ["LF.CRLF", { input: "a\n.\r\nb\r\n.\r\n", message: "a\n.\r\nb\r\n", bare: true }],
  ["CRLF.LF", { input: "a\r\n.\nb\r\n.\r\n", message: "a\r\n\nb\r\n", bare: true }],
  ["CRLF.CR x", { input: "a\r\n.\rb\r\n.\r\n", message: "a\r\n\rb\r\n", bare: true }],
  ["CR CRLF", { input: "a\r\r\n.\r\n", message: "a\r\r\n", bare: true }],
  ["bare LF mid-line", { input: "a\nb\r\n.\r\n", message: "a\nb\r\n", bare: true }],
  ["bare LF only, never ends", { input: "a\n.\n", message: "a\n.\n", bare: true, done: false }],
  // Runs of line octets are copied at once: across chunk ends and past the first buffer.
  ["a long line grows the buffer", {
    input: "x".repeat(8300) + "\r\n..y\r\nz\n.\r\n",
    message: "x".repeat(8300) + "\r\n.y\r\nz\n.\r\n",
    bare: true,
    done: false,
  }],
  // Runs of whole clean lines are copied at once: each rule still holds inside or after a run.
  ["clean lines, then a stuffed dot", {
    input: "ab\r\ncd\r\nef\r\n..g\r\nh\r\n.\r\n",
    message: "ab\r\ncd\r\nef\r\n.g\r\nh\r\n",
  }],
  ["clean lines, then an empty one", {
    input: "ab\r\ncd\r\n\r\nef\r\n.\r\n",
    message: "ab\r\ncd\r\n\r\nef\r\n",
  }],
  ["clean lines, then a bare LF", {
    input: "ab\r\ncd\r\ne\nf\r\n.\r\n",
    message: "ab\r\ncd\r\ne\nf\r\n",
    bare: true,
  }],
  ["clean lines, then a bare CR", {
    input: "ab\r\ncd\r\ne\rf\r\ng\r\n.\r\n",
    message: "ab\r\ncd\r\ne\rf\r\ng\r\n",
    bare: true,
  }],
  ["clean lines, then LF.LF", {
    input: "ab\r\ncd\n.\nx\r\n.\r\n",
    message: "ab\r\ncd\n.\nx\r\n",
    bare: true,
  }],
  // Size: content past the limit is read and counted but not kept.
  ["at the limit", { input: "0123456\r\n.\r\n", message: "0123456\r\n", max: 9 }],
  ["over the limit", {
    input: "0123456789abc\r\n.\r\n",
    message: "0123456789",
    max: 10,
    tooLarge: true,
  }],
];

function check(name: string, c: Case, chunks: Uint8Array[]) {
  const reader = new DataReader(c.max ?? 1 << 20);
  let rest = "";
  for (const chunk of chunks) {
    const consumed = reader.feed(chunk);
    rest += dec(chunk.subarray(consumed));
  }
  assert.equal(dec(reader.message()), c.message, `${name}: message`);
  assert.equal(reader.done, c.done ?? true, `${name}: done`);
  assert.equal(rest, c.rest ?? "", `${name}: rest`);
  assert.equal(reader.bareLineEnding, c.bare ?? false, `${name}: bare`);
  assert.equal(reader.tooLarge, c.tooLarge ?? false, `${name}: tooLarge`);
}

for (const [name, c] of cases) {
  Deno.test(`DATA reader: ${name}`, () => {
    const bytes = enc(c.input);
    check(name, c, [bytes]);
    // The same result whatever the chunking: every split point, and octet by octet.
    for (let i = 0; i <= bytes.length; i++) {
      check(`${name} split at ${i}`, c, [bytes.subarray(0, i), bytes.subarray(i)]);
    }
    check(`${name} octet by octet`, c, [...bytes].map((b) => Uint8Array.of(b)));
  });
}

Deno.test("DATA reader: runs of lines read as one chunk give what octet-by-octet reading gives", () => {
  // A fixed pseudo-random sequence (a run is reproducible) over the octets the rules turn on.
  let seed = 20;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pieces = ["ab", "x", ".", "..", "\r\n", "\r\n", "\r\n", "\r", "\n", "\r\n."];
  for (let n = 0; n < 500; n++) {
    const text = Array.from({ length: 3 + Math.floor(next() * 30) }, () =>
      pieces[Math.floor(next() * pieces.length)]).join("") + "\r\n.\r\n";
    const bytes = enc(text);
    const whole = new DataReader(1 << 20);
    const consumed = whole.feed(bytes);
    const octets = new DataReader(1 << 20);
    let used = 0;
    for (const b of bytes) {
      if (octets.done) {
        break;
      }
      used += octets.feed(Uint8Array.of(b));
    }
    const input = JSON.stringify(text);
    assert.equal(dec(whole.message()), dec(octets.message()), `message of ${input}`);
    assert.equal(consumed, used, `octets consumed of ${input}`);
    assert.equal(whole.bareLineEnding, octets.bareLineEnding, `bare of ${input}`);
    assert.equal(whole.done, octets.done, `done of ${input}`);
  }
});

Deno.test("DATA reader: a 10 MB line is counted, not buffered, and the end still found", () => {
  const reader = new DataReader(1000);
  const chunk = new Uint8Array(1024 * 1024).fill(0x78);
  for (let i = 0; i < 10; i++) assert.equal(reader.feed(chunk), chunk.length);
  assert.equal(reader.done, false);
  assert.equal(reader.tooLarge, true);
  assert.equal(reader.size, 10 * 1024 * 1024);
  assert.equal(reader.feed(enc("\r\n.\r\nNOOP")), 5);
  assert.equal(reader.done, true);
  assert.equal(reader.message().length, 1000);
  assert.equal(reader.feed(enc("more")), 0, "nothing is consumed after the end");
});

Deno.test("BDAT reader: consumes exactly the chunk, across chunks, within the limit", () => {
  const reader = new BdatReader(8);
  reader.begin(5);
  assert.equal(reader.feed(enc("ab")), 2);
  assert.equal(reader.remaining, 3);
  assert.equal(reader.feed(enc("c\nd\r\nBDAT")), 3, "the octets after the chunk are left");
  assert.equal(reader.remaining, 0);
  assert.equal(reader.feed(enc("x")), 0);
  reader.begin(4);
  assert.equal(reader.feed(enc("wxyz")), 4);
  assert.equal(reader.size, 9);
  assert.equal(reader.tooLarge, true);
  assert.equal(dec(reader.message()), "abc\ndwxy");
  const fits = new BdatReader(3);
  fits.begin(3);
  fits.feed(enc("\0\r."));
  assert.equal(fits.tooLarge, false);
  assert.equal(dec(fits.message()), "\0\r.");
});
