/** The mboxrd codec on known bytes: quoting, separators, the status block, dates, truncation. */
import { assertEquals, assertMatch } from "../../test/fixtures/assert.ts";
import {
  asctime,
  encodeMboxMessage,
  parseFromLineDate,
  parseMbox,
  quoteFromLines,
  unquoteFromLines,
} from "./mbox.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("mboxrd quoting adds one > to >*From lines and removes it again", () => {
  const raw = "Subject: x\n\nFrom a\n>From b\n>>From c\nNot From\nFrom\n";
  const quoted = dec.decode(quoteFromLines(enc.encode(raw)));
  assertEquals(quoted, "Subject: x\n\n>From a\n>>From b\n>>>From c\nNot From\nFrom\n");
  assertEquals(dec.decode(unquoteFromLines(enc.encode(quoted))), raw);
});

Deno.test("asctime and From-line dates agree, zones included", () => {
  const ms = Date.UTC(2024, 0, 4, 9, 45, 5);
  assertEquals(asctime(ms), "Thu Jan  4 09:45:05 2024");
  assertEquals(parseFromLineDate(`From x@y ${asctime(ms)}`), ms);
  assertEquals(parseFromLineDate("From x@y Thu Jan  4 10:45:05 +0100 2024"), ms);
  assertEquals(parseFromLineDate("From x@y yesterday"), undefined);
});

Deno.test("encode then parse: exact bytes, flags and date; a foreign Status header is read", () => {
  const raw = enc.encode("Subject: a\r\n\r\nFrom here\r\n\r\nFrom there\r\n");
  const item = {
    raw,
    internalDate: Date.UTC(2024, 1, 2, 3, 4, 5),
    flags: ["\\Seen", "\\Flagged", "$Work"],
  };
  const file = new Uint8Array([...encodeMboxMessage(item, "a@b"), ...encodeMboxMessage(item, "")]);
  assertEquals(
    dec.decode(file).slice(0, 78),
    "From a@b Fri Feb  2 03:04:05 2024\nStatus: RO\r\nX-Status: F\r\nX-Keywords: $Work\r\n",
  );
  const parsed = parseMbox(file, "t.mbox");
  assertEquals(parsed.problems, []);
  assertEquals(parsed.items.length, 2);
  for (const got of parsed.items) {
    assertEquals(got.raw, raw);
    assertEquals(got.internalDate, item.internalDate);
    assertEquals(got.flags.sort(), ["$Work", "\\Flagged", "\\Seen"]);
  }
  const foreign = parseMbox(
    enc.encode("From x Thu Jan  4 09:45:05 2024\nSubject: y\nStatus: RO\nX-Status: A\n\nbody\n\n"),
    "f",
  );
  assertEquals(foreign.items[0].flags.sort(), ["\\Answered", "\\Seen"]);
  assertEquals(dec.decode(foreign.items[0].raw), "Subject: y\nStatus: RO\nX-Status: A\n\nbody\n");
});

Deno.test("truncated and foreign files are reported, not guessed", () => {
  const msg =
    'From x Thu Jan  4 09:45:05 2024\nContent-Type: multipart/mixed; boundary="b"\n\n--b\n\nhi\n--b--\n\n';
  assertEquals(parseMbox(enc.encode(msg), "ok").problems, []);
  const cut = enc.encode(msg.slice(0, msg.indexOf("--b--")));
  assertMatch(parseMbox(cut, "cut").problems.join("\n"), /closing MIME boundary is missing/);
  assertMatch(parseMbox(enc.encode(msg.slice(0, 40)), "mid").problems.join("\n"), /truncated/);
  assertMatch(parseMbox(enc.encode("Subject: no\n\nx\n"), "plain").problems[0], /not an mbox file/);
});
