/**
 * SHARP/1.3 codec and hashcash: line parsing and splitting (1 MiB cap, blank lines, CR),
 * addresses, reply formatting, and hashcash version-1 vectors (hashcash.org's published stamps and
 * one minted by Python's hashlib), every verification verdict, the replay table, and minting.
 */
import { createHash } from "node:crypto";
import {
  checkStamp,
  formatStampDate,
  leadingZeroBits,
  MemoryReplayTable,
  mintStamp,
  parseStampDate,
  verifyStamp,
} from "../bridge/sharp/hashcash.ts";
import {
  formatReply,
  isValidUsername,
  LineSplitter,
  MAX_LINE_BYTES,
  parseLine,
  parseReply,
  parseSharpAddress,
} from "../bridge/sharp/parse.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";

/** Python 3's stdlib as an independent implementation. */
async function python(script: string, args: string[]): Promise<string> {
  const out = await new Deno.Command("python3", { args: ["-c", script, ...args], stdout: "piped" })
    .output();
  assert(out.success, "python failed");
  return new TextDecoder().decode(out.stdout);
}

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("parse: the five commands, loose fields, unknown types, bad JSON", () => {
  assertEquals(parseLine('{"type":"HELLO","server_id":"alice#a.example","protocol":"SHARP/1.3"}'), {
    ok: true,
    command: { type: "HELLO", serverId: "alice#a.example", protocol: "SHARP/1.3" },
  });
  assertEquals(parseLine('{"type":"MAIL_TO","address":"bob#b.example","hashcash":"1:x"}\r'), {
    ok: true,
    command: { type: "MAIL_TO", address: "bob#b.example", hashcash: "1:x" },
  });
  assertEquals(parseLine('{"type":"MAIL_TO","address":"bob#b.example"}'), {
    ok: true,
    command: { type: "MAIL_TO", address: "bob#b.example" },
  });
  // Missing content_type means text/plain; unknown fields are ignored; null html is null.
  assertEquals(
    parseLine('{"type":"EMAIL_CONTENT","subject":"Hi","body":"x","html_body":null,"extra":1}'),
    {
      ok: true,
      command: {
        type: "EMAIL_CONTENT",
        content: {
          subject: "Hi",
          body: "x",
          contentType: "text/plain",
          htmlBody: null,
          attachments: [],
        },
      },
    },
  );
  assertEquals(parseLine('{"type":"DATA"}'), { ok: true, command: { type: "DATA" } });
  assertEquals(parseLine('{"type":"QUIT"}'), {
    ok: true,
    command: { type: "OTHER", name: "QUIT" },
  });
  for (const bad of ["{", "[1,2]", "null", '"HELLO"', "HELLO"]) {
    assertEquals(parseLine(bad), {
      ok: false,
      message: "Invalid message format or processing error",
    }, bad);
  }
});

Deno.test("replies: the reference server's wire form", () => {
  assertEquals(
    formatReply({ type: "OK", protocol: "SHARP/1.3" }),
    '{"type":"OK","protocol":"SHARP/1.3"}\n',
  );
  assertEquals(
    formatReply({ type: "ERROR", message: "Recipient user not found", code: 550 }),
    '{"type":"ERROR","message":"Recipient user not found","code":550}\n',
  );
  assertEquals(parseReply('{"type":"OK","message":"Email processed"}'), {
    type: "OK",
    message: "Email processed",
  });
  assertEquals(parseReply('{"type":"ERROR","message":"x","code":429}')?.type, "ERROR");
  assertEquals(parseReply("nonsense"), undefined);
});

Deno.test("addresses: user#domain, lower-cased, 1-20 character usernames", () => {
  assertEquals(parseSharpAddress("Bob#B.Example"), {
    ok: true,
    value: { username: "bob", domain: "b.example" },
  });
  assertEquals(parseSharpAddress("bob#b.example:5000"), {
    ok: true,
    value: { username: "bob", domain: "b.example", port: 5000 },
  });
  assertEquals(parseSharpAddress("bob@b.example").ok, false);
  assertEquals(parseSharpAddress("#b.example").ok, false);
  assert(isValidUsername("a.b-c_d!$%&'*/?=^@"));
  assert(!isValidUsername("x".repeat(21)));
  assert(!isValidUsername("bad space"));
  assert(!isValidUsername(""));
});

Deno.test("lines: split on LF, CR stripped, blank lines skipped, 1 MiB cap without waiting for LF", () => {
  const s = new LineSplitter();
  s.push(enc('{"a":1}\r\n\n  \r\n{"b"'));
  assertEquals(s.next(), { kind: "line", line: '{"a":1}' });
  assertEquals(s.next(), undefined);
  assert(s.pending);
  s.push(enc(":2}\n"));
  assertEquals(s.next(), { kind: "line", line: '{"b":2}' });
  assert(!s.pending);
  const big = new LineSplitter();
  big.push(new Uint8Array(MAX_LINE_BYTES).fill(0x61));
  assertEquals(big.next(), undefined, "exactly 1 MiB so far is not yet too long");
  big.push(enc("aa"));
  assertEquals(big.next(), { kind: "too_long" });
  const small = new LineSplitter(10, 20);
  assertEquals(small.push(new Uint8Array(21)), "overflow");
});

// hashcash.org's own examples (SHA-1 starts with 20 zero bits), and one Python minted.
const VECTORS = [
  { stamp: "1:20:060408:adam@cypherspace.org::1QTjaYd7niiQA/sc:ePa", bits: 20 },
  { stamp: "1:20:040806:foo::65f460d0726f420d:13a6b8", bits: 20 },
  { stamp: "1:16:251128120000:bob#b.example::c2hhcnB0ZXN0:9949", bits: 17 },
];

Deno.test("hashcash: published vectors have their zero bits", () => {
  for (const v of VECTORS) {
    assertEquals(leadingZeroBits(createHash("sha1").update(v.stamp).digest()), v.bits, v.stamp);
  }
  assertEquals(leadingZeroBits(new Uint8Array([0, 0, 0x0f])), 20);
  assertEquals(leadingZeroBits(new Uint8Array([0x80])), 0);
  assertEquals(parseStampDate("060408")?.toISOString(), "2006-04-08T00:00:00.000Z");
  assertEquals(parseStampDate("251128120000")?.toISOString(), "2025-11-28T12:00:00.000Z");
  assertEquals(parseStampDate("251328120000"), undefined);
  assertEquals(formatStampDate(new Date("2025-11-28T12:00:05Z")), "251128120005");
});

Deno.test("hashcash: every verdict, in the reference server's order", () => {
  const stamp = VECTORS[2].stamp;
  const at = Date.UTC(2025, 10, 28, 12, 0, 0);
  const check = (
    s: string | undefined,
    o: Partial<{ resource: string; minBits: number; now: number }> = {},
  ) => checkStamp(s, { resource: "bob#b.example", minBits: 16, now: at, ...o });
  const good = check(stamp);
  assert(good.ok && good.bits === 16);
  assertEquals(check(undefined), { ok: false, problem: "missing" });
  assertEquals(check("1:16:251128120000:bob#b.example"), { ok: false, problem: "malformed" });
  assertEquals(check("2" + stamp.slice(1)), { ok: false, problem: "malformed" });
  assertEquals(check(stamp, { resource: "Bob#b.example" }), { ok: false, problem: "resource" });
  assertEquals(check(stamp, { now: at - 3 * 60_000 }), { ok: false, problem: "future" });
  assert(check(stamp, { now: at - 60_000 }).ok, "one minute ahead is tolerated");
  assertEquals(check(stamp, { now: at + 24 * 3600_000 + 1000 }), { ok: false, problem: "stale" });
  assert(check(stamp, { now: at + 23 * 3600_000 }).ok);
  assertEquals(check(stamp, { minBits: 18 }), { ok: false, problem: "weak" });
  // Claiming more bits than the hash has.
  assertEquals(check(stamp.replace("1:16:", "1:24:")), { ok: false, problem: "invalid" });
  assertEquals(check(stamp.replace(":9949", ":994a")), { ok: false, problem: "invalid" });
});

Deno.test("hashcash: each stamp is accepted once; expired entries are pruned", async () => {
  const replay = new MemoryReplayTable();
  const stamp = VECTORS[2].stamp;
  const now = Date.UTC(2025, 10, 28, 12, 0, 0);
  const opts = { resource: "bob#b.example", minBits: 16, now, replay };
  assert((await verifyStamp(stamp, opts)).ok);
  assertEquals(await verifyStamp(stamp, opts), { ok: false, problem: "replayed" });
  assertEquals(await verifyStamp(stamp, { ...opts, now: now + 1000 }), {
    ok: false,
    problem: "replayed",
  });
  replay.prune(now + 24 * 3600_000 + 1);
  assertEquals(replay.size, 0);
});

Deno.test("hashcash: minted stamps verify here and in Python's hashlib", async () => {
  const now = new Date();
  const stamp = await mintStamp("bob#b.example", 12, { now });
  assert(stamp.startsWith(`1:12:${formatStampDate(now)}:bob#b.example::`), stamp);
  assert(checkStamp(stamp, { resource: "bob#b.example", minBits: 12, now: now.getTime() }).ok);
  const out = await python(
    "import hashlib,sys; h=int(hashlib.sha1(sys.argv[1].encode()).hexdigest(),16); print(h>>(160-12))",
    [stamp],
  );
  assertEquals(out.trim(), "0");
  let failed = false;
  try {
    await mintStamp("bob#b.example", 30, { maxTries: 10 });
  } catch {
    failed = true;
  }
  assert(failed, "the loop is bounded");
  let colon = false;
  try {
    await mintStamp("bob#b.example:5000", 1);
  } catch {
    colon = true;
  }
  assert(colon, "a resource with ':' cannot be stamped");
});
