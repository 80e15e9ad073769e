/**
 * POP3 session transcripts (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH PLAIN) on the
 * pure session with a fake maildrop: `C:` lines go in, `S:` lines must come out exactly,
 * `[tls]` and `[close]` mark the session's other actions.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import type { LoginResult, Maildrop, Pop3Backend } from "../bridge/pop3/backend.ts";
import { dotStuff, topOf } from "../bridge/pop3/reply.ts";
import { type Pop3Config, Pop3Session, uidlOf } from "../bridge/pop3/session.ts";

const enc = new TextEncoder();
const MESSAGES = [
  "Subject: one\r\n\r\nfirst\r\n",
  "Subject: two\r\n\r\n.leading dot\r\nline 2\r\nline 3\r\n",
  "Subject: three\r\nX: y\r\n\r\nno final newline",
];

class FakeDrop implements Maildrop {
  uidValidity = 0x1234;
  messages = MESSAGES.map((m, i) => ({ uid: 10 + i, size: enc.encode(m).byteLength }));
  fetches: number[][] = [];
  commits: { deleted: number[]; retrieved: number[] }[] = [];
  closed = 0;
  failCommit = false;
  fetch(uids: number[]) {
    this.fetches.push(uids);
    return Promise.resolve(new Map(uids.map((u) => [u, enc.encode(MESSAGES[u - 10])])));
  }
  commit(deleted: number[], retrieved: number[]) {
    if (this.failCommit) return Promise.reject(new Error("gateway down"));
    this.commits.push({ deleted: deleted.sort(), retrieved: retrieved.sort() });
    return Promise.resolve();
  }
  close() {
    this.closed++;
    return Promise.resolve();
  }
}

class FakeBackend implements Pop3Backend {
  drop = new FakeDrop();
  logins: string[] = [];
  down = false;
  login(user: string, password: string): Promise<LoginResult> {
    this.logins.push(`${user}:${password}`);
    if (this.down) return Promise.reject(new Error("unreachable"));
    if (user === "locked") return Promise.resolve({ ok: false, reason: "locked" });
    return Promise.resolve(
      user === "alice@postern.test" && password === "open sesame"
        ? { ok: true, maildrop: this.drop }
        : { ok: false, reason: "invalid" },
    );
  }
}

const config: Pop3Config = {
  hostname: "pop.postern.test",
  tlsAvailable: true,
  tlsActive: false,
  allowPlaintextAuth: false,
};

async function run(session: Pop3Session, transcript: string) {
  const decoder = new TextDecoder();
  let pending: string[] = [];
  const out = (actions: { type: string; data?: string | Uint8Array }[]) => {
    for (const a of actions) {
      if (a.type === "send") {
        const text = typeof a.data === "string" ? a.data : decoder.decode(a.data);
        pending.push(...text.split("\r\n").slice(0, -1));
      } else if (a.type === "startTls") {
        pending.push("[tls]");
        out(session.tlsStarted());
      } else pending.push(`[${a.type}]`);
    }
  };
  out(session.greeting());
  for (const raw of transcript.split("\n").map((l) => l.trim()).filter(Boolean)) {
    if (raw.startsWith("C:")) {
      assertEquals(pending, [], "unexpected output before " + raw);
      out(await session.handleLine(raw.slice(3)));
    } else if (raw.startsWith("S:")) {
      assertEquals(pending.shift()?.trimEnd(), raw.slice(3), "expected " + raw);
    }
  }
  assertEquals(pending, [], "unread output");
  pending = [];
}

const plain = (s: string) => btoa(s);

Deno.test("POP3: STLS, USER/PASS, STAT, LIST, UIDL, RETR byte-stuffed, TOP, DELE, QUIT", async () => {
  const backend = new FakeBackend();
  const s = new Pop3Session(config, backend, "192.0.2.1");
  const [a, b, c] = MESSAGES.map((m) => enc.encode(m).byteLength);
  await run(
    s,
    `
    S: +OK pop.postern.test Postern POP3 ready
    C: CAPA
    S: +OK Capability list follows
    S: CAPA
    S: TOP
    S: UIDL
    S: RESP-CODES
    S: AUTH-RESP-CODE
    S: PIPELINING
    S: STLS
    S: IMPLEMENTATION Postern
    S: .
    C: USER alice@postern.test
    S: -ERR [AUTH] plaintext authentication disallowed on non-secure connections: use STLS
    C: stls
    S: +OK Begin TLS negotiation
    S: [tls]
    C: CAPA
    S: +OK Capability list follows
    S: CAPA
    S: TOP
    S: UIDL
    S: RESP-CODES
    S: AUTH-RESP-CODE
    S: PIPELINING
    S: USER
    S: SASL PLAIN
    S: IMPLEMENTATION Postern
    S: .
    C: PASS open sesame
    S: -ERR USER first
    C: USER alice@postern.test
    S: +OK
    C: PASS open sesame
    S: +OK 3 messages (${a + b + c} octets)
    C: STAT
    S: +OK 3 ${a + b + c}
    C: LIST
    S: +OK 3 messages (${a + b + c} octets)
    S: 1 ${a}
    S: 2 ${b}
    S: 3 ${c}
    S: .
    C: LIST 2
    S: +OK 2 ${b}
    C: UIDL
    S: +OK 3 messages (${a + b + c} octets)
    S: 1 0000000a00001234
    S: 2 0000000b00001234
    S: 3 0000000c00001234
    S: .
    C: RETR 2
    S: +OK ${b} octets
    S: Subject: two
    S:
    S: ..leading dot
    S: line 2
    S: line 3
    S: .
    C: TOP 2 1
    S: +OK
    S: Subject: two
    S:
    S: ..leading dot
    S: .
    C: RETR 3
    S: +OK ${c} octets
    S: Subject: three
    S: X: y
    S:
    S: no final newline
    S: .
    C: DELE 1
    S: +OK message 1 deleted
    C: RETR 1
    S: -ERR message 1 already deleted
    C: DELE 1
    S: -ERR message 1 already deleted
    C: STAT
    S: +OK 2 ${b + c}
    C: LIST 9
    S: -ERR no such message
    C: RSET
    S: +OK maildrop has 3 messages (${a + b + c} octets)
    C: DELE 3
    S: +OK message 3 deleted
    C: NOOP
    S: +OK
    C: USER bob
    S: -ERR already logged in
    C: QUIT
    S: +OK pop.postern.test signing off (2 messages left)
    S: [close]
  `,
  );
  // Deletions are applied once, at QUIT; RETR'd messages are reported for \\Seen.
  assertEquals(backend.drop.commits, [{ deleted: [12], retrieved: [11, 12] }]);
  assertEquals(backend.drop.closed, 1);
  // RETR 2 read ahead: message 3 came in the same call (TOP 2 after RETR 2 reads 2 again).
  assertEquals(backend.drop.fetches, [[11, 12], [11]]);
});

Deno.test("POP3: AUTH PLAIN with and without initial response, cancel, failures close", async () => {
  const backend = new FakeBackend();
  const s = new Pop3Session({ ...config, tlsActive: true }, backend, "192.0.2.1");
  await run(
    s,
    `
    S: +OK pop.postern.test Postern POP3 ready
    C: AUTH
    S: +OK
    S: PLAIN
    S: .
    C: AUTH CRAM-MD5
    S: -ERR unsupported authentication mechanism
    C: AUTH PLAIN
    S: +
    C: *
    S: -ERR authentication cancelled
    C: AUTH PLAIN
    S: +
    C: not-base64!
    S: -ERR malformed PLAIN response
    C: AUTH PLAIN ${plain("\0alice@postern.test\0wrong")}
    S: -ERR [AUTH] invalid username or password
    C: AUTH PLAIN ${plain("bob\0alice@postern.test\0open sesame")}
    S: -ERR [AUTH] invalid username or password
    C: AUTH PLAIN
    S: +
    C: ${plain("\0alice@postern.test\0open sesame")}
    S: +OK 3 messages (${MESSAGES.reduce((n, m) => n + enc.encode(m).byteLength, 0)} octets)
    C: STLS
    S: -ERR already logged in
  `,
  );
  assertEquals(backend.logins, ["alice@postern.test:wrong", "alice@postern.test:open sesame"]);
  const s2 = new Pop3Session({ ...config, allowPlaintextAuth: true }, backend, "192.0.2.1");
  await run(
    s2,
    `
    S: +OK pop.postern.test Postern POP3 ready
    C: USER a
    S: +OK
    C: PASS b
    S: -ERR [AUTH] invalid username or password
    C: USER a
    S: +OK
    C: PASS c
    S: -ERR [AUTH] invalid username or password
    C: USER a
    S: +OK
    C: PASS d
    S: -ERR [AUTH] invalid username or password
    S: [close]
  `,
  );
});

Deno.test("POP3: wrong state, bad input, gateway down, no deletion without QUIT", async () => {
  const backend = new FakeBackend();
  const s = new Pop3Session({ ...config, allowPlaintextAuth: true }, backend, "192.0.2.1");
  await run(
    s,
    `
    S: +OK pop.postern.test Postern POP3 ready
    C: STAT
    S: -ERR not in this state: log in first
    C: RETR 1
    S: -ERR not in this state: log in first
    C: XYZZY
    S: -ERR unknown command
    C: USER ${"x".repeat(300)}
    S: -ERR command line too long
    C: USER locked
    S: +OK
    C: PASS x
    S: -ERR [LOGIN-DELAY] too many failed logins, try again later
    C: USER alice@postern.test
    S: +OK
    C: PASS open sesame
    S: +OK 3 messages (${MESSAGES.reduce((n, m) => n + enc.encode(m).byteLength, 0)} octets)
    C: RETR 0
    S: -ERR no such message
    C: RETR -1
    S: -ERR no such message
    C: RETR 1 2
    S: -ERR wrong arguments
    C: TOP 1 x
    S: -ERR invalid line count
    C: TOP 1 0
    S: +OK
    S: Subject: one
    S:
    S: .
    C: DELE 2
    S: +OK message 2 deleted
  `,
  );
  await s.end();
  assertEquals(backend.drop.commits, []);
  assertEquals(backend.drop.closed, 1);

  const down = new FakeBackend();
  down.down = true;
  const s2 = new Pop3Session({ ...config, tlsActive: true }, down, "192.0.2.1");
  await run(
    s2,
    `
    S: +OK pop.postern.test Postern POP3 ready
    C: USER alice@postern.test
    S: +OK
    C: PASS open sesame
    S: -ERR [SYS/TEMP] service temporarily unavailable, try again later
  `,
  );

  const failing = new FakeBackend();
  failing.drop.failCommit = true;
  const s3 = new Pop3Session({ ...config, tlsActive: true }, failing, "192.0.2.1");
  await run(
    s3,
    `
    S: +OK pop.postern.test Postern POP3 ready
    C: USER alice@postern.test
    S: +OK
    C: PASS open sesame
    S: +OK 3 messages (${MESSAGES.reduce((n, m) => n + enc.encode(m).byteLength, 0)} octets)
    C: DELE 1
    S: +OK message 1 deleted
    C: QUIT
    S: -ERR [SYS/TEMP] some deleted messages not removed
    S: [close]
  `,
  );
});

Deno.test("POP3 codec: dot-stuffing is reversible and byte-exact, TOP cuts at lines", () => {
  const raw = enc.encode(".a\r\n..b\r\nc.\r\n.\r\nbare\n.lf\n");
  const stuffed = new TextDecoder().decode(dotStuff(raw));
  assertEquals(stuffed, "..a\r\n...b\r\nc.\r\n..\r\nbare\n..lf\n.\r\n");
  // Undo the stuffing as a client does: the original bytes come back exactly.
  const unstuffed = stuffed.slice(0, -3).split("\n").map((l) => l.startsWith(".") ? l.slice(1) : l)
    .join("\n");
  assertEquals(unstuffed, new TextDecoder().decode(raw));
  assertEquals(new TextDecoder().decode(dotStuff(enc.encode("x"))), "x\r\n.\r\n");
  const msg = enc.encode("A: 1\r\n\r\nl1\r\nl2\r\nl3\r\n");
  assertEquals(new TextDecoder().decode(topOf(msg, 2)), "A: 1\r\n\r\nl1\r\nl2\r\n");
  assertEquals(new TextDecoder().decode(topOf(msg, 0)), "A: 1\r\n\r\n");
  assertEquals(new TextDecoder().decode(topOf(msg, 99)), "A: 1\r\n\r\nl1\r\nl2\r\nl3\r\n");
  assertEquals(uidlOf(1, 0xabcdef), "0000000100abcdef");
  assert(uidlOf(0xffffffff, 0xffffffff).length === 16);
});

/** A maildrop of `n` small messages whose fetches can be held open or made to fail. */
class BigDrop implements Maildrop {
  uidValidity = 7;
  messages: { uid: number; size: number }[];
  fetches: number[][] = [];
  /** Fetches of these first UIDs fail (once each). */
  failFirst = new Set<number>();
  constructor(n: number) {
    this.messages = Array.from(
      { length: n },
      (_, i) => ({ uid: 100 + i, size: body(100 + i).length }),
    );
  }
  fetch(uids: number[]) {
    this.fetches.push(uids);
    if (this.failFirst.delete(uids[0])) return Promise.reject(new Error("gateway down"));
    return Promise.resolve(new Map(uids.map((u) => [u, enc.encode(body(u))])));
  }
  commit() {
    return Promise.resolve();
  }
  close() {
    return Promise.resolve();
  }
}

const body = (uid: number) => `Subject: m${uid}\r\n\r\n.dot line ${uid}\r\n`;

async function retr(s: Pop3Session, n: number): Promise<string> {
  const [a] = await s.handleLine(`RETR ${n}`);
  assert(a.type === "send");
  return typeof a.data === "string" ? a.data : new TextDecoder().decode(a.data);
}

Deno.test("issue20#1: sequential POP3 RETRs cost one call per batch, each message byte-exact", async () => {
  const drop = new BigDrop(1200);
  const backend = { login: () => Promise.resolve({ ok: true as const, maildrop: drop }) };
  const s = new Pop3Session({ ...config, tlsActive: true }, backend, "192.0.2.1");
  await s.handleLine("USER a@postern.test");
  await s.handleLine("PASS x");
  for (let n = 1; n <= 1200; n++) {
    const uid = 100 + n - 1;
    const reply = await retr(s, n);
    const size = body(uid).length;
    // Byte-stuffed: the line starting "." goes out as "..".
    assertEquals(reply, `+OK ${size} octets\r\n${body(uid).replace("\n.", "\n..")}.\r\n`);
  }
  // 512 a call: every message fetched once, in 3 calls (not one per message).
  assertEquals(drop.fetches.map((f) => f.length), [512, 512, 176]);
  assertEquals(drop.fetches.flat(), drop.messages.map((m) => m.uid));
});

Deno.test("issue20#1: a failed POP3 fetch is a temporary error, the next RETR fetches again; STAT totals follow DELE and RSET", async () => {
  const drop = new BigDrop(100);
  drop.failFirst.add(100);
  const backend = { login: () => Promise.resolve({ ok: true as const, maildrop: drop }) };
  const s = new Pop3Session({ ...config, tlsActive: true }, backend, "192.0.2.1");
  await s.handleLine("USER a@postern.test");
  await s.handleLine("PASS x");
  assertEquals(
    await retr(s, 1),
    "-ERR [SYS/TEMP] service temporarily unavailable, try again later\r\n",
  );
  for (let n = 1; n <= 100; n++) {
    assert((await retr(s, n)).startsWith(`+OK ${body(99 + n).length} `));
  }
  assertEquals(drop.fetches.map((f) => f[0]), [100, 100]);
  // DELE keeps STAT's totals exact without walking the maildrop again; RSET restores them.
  const total = drop.messages.reduce((n, m) => n + m.size, 0);
  await s.handleLine("DELE 2");
  const [stat] = await s.handleLine("STAT");
  assertEquals(stat, { type: "send", data: `+OK 99 ${total - drop.messages[1].size}\r\n` });
  const [list] = await s.handleLine("LIST");
  assert(typeof list.type === "string" && list.type === "send");
  assert(
    String(list.data).startsWith(`+OK 99 messages (${total - drop.messages[1].size} octets)\r\n1 `),
  );
  assert(!String(list.data).includes("\r\n2 "));
  await s.handleLine("RSET");
  assertEquals((await s.handleLine("STAT"))[0], { type: "send", data: `+OK 100 ${total}\r\n` });
});
