/**
 * SHARP/1.3 session transcripts (`C:` lines in, `S:` lines out) against the pure state machine
 * with a scripted backend: the whole exchange, every ERROR path with the reference server's
 * texts and codes (400, 413, 429, 451, 550), lock-step violations, bad JSON, and the hashcash
 * verdicts (missing, weak, stale, future, replayed, for another address).
 */
import { MemoryReplayTable, mintStamp } from "../bridge/sharp/hashcash.ts";
import { formatReply } from "../bridge/sharp/parse.ts";
import {
  type RecipientCheck,
  type SharpBackend,
  type SharpMail,
  SharpSession,
} from "../bridge/sharp/session.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";

const BITS = 8;

class ScriptedBackend implements SharpBackend {
  delivered: SharpMail[] = [];
  senders = new Map([["a.example", "192.0.2.1"]]);
  users = new Set(["bob@b.example"]);
  deliverResult: RecipientCheck = { ok: true };

  verifySender(domain: string, clientIp: string) {
    return Promise.resolve(
      this.senders.get(domain) === clientIp
        ? { ok: true as const }
        : { ok: false as const, reason: `${clientIp} is not a SHARP host of ${domain}` },
    );
  }

  checkRecipient(recipient: string): Promise<RecipientCheck> {
    const domain = recipient.split("@")[1];
    if (domain !== "b.example") {
      return Promise.resolve({
        ok: false,
        code: 451,
        message: `This server does not handle mail for ${domain}`,
      });
    }
    return Promise.resolve(
      this.users.has(recipient)
        ? { ok: true }
        : { ok: false, code: 550, message: "Recipient user not found" },
    );
  }

  deliver(mail: SharpMail): Promise<RecipientCheck> {
    if (this.deliverResult.ok) this.delivered.push(mail);
    return Promise.resolve(this.deliverResult);
  }
}

interface World {
  backend: ScriptedBackend;
  replay: MemoryReplayTable;
  session(ip?: string, now?: () => number): SharpSession;
}

function world(): World {
  const backend = new ScriptedBackend();
  const replay = new MemoryReplayTable();
  return {
    backend,
    replay,
    session: (ip = "192.0.2.1", now) =>
      new SharpSession({ minBits: BITS, replay, now }, backend, ip),
  };
}

/**
 * Runs a transcript: each `C:` line goes to the session (`C+:` marks a line that arrived before
 * the previous reply was written); the replies must equal the `S:` lines; the session must be
 * closed at the end exactly when the last reply is final.
 */
async function transcript(session: SharpSession, script: string): Promise<void> {
  const lines = script.trim().split("\n").map((l) => l.trim()).filter(Boolean);
  let pendingReply: string | undefined;
  const expected = lines.filter((l) => l.startsWith("S: ")).map((l) => l.slice(3));
  const actual: string[] = [];
  for (const line of lines) {
    if (line.startsWith("S: ")) continue;
    const early = line.startsWith("C+: ");
    const text = line.slice(early ? 4 : 3);
    if (early && pendingReply !== undefined) {
      // The previous reply is not written yet: the server tells the session first.
      const replaced = session.earlyInput();
      if (replaced) {
        actual[actual.length - 1] = formatReply(replaced).trimEnd();
        break;
      }
    }
    const reply = formatReply(await session.handleLine(text)).trimEnd();
    actual.push(reply);
    pendingReply = reply;
    if (session.closed) break;
  }
  assertEquals(actual, expected);
}

const hello = (id = "alice#a.example", protocol = "SHARP/1.3") =>
  JSON.stringify({ type: "HELLO", server_id: id, protocol });
const mailTo = (address: string, hashcash?: string) =>
  JSON.stringify({ type: "MAIL_TO", address, ...(hashcash ? { hashcash } : {}) });
const CONTENT = JSON.stringify({
  type: "EMAIL_CONTENT",
  subject: "Hi Bob",
  body: "Plain words.",
  content_type: "text/plain",
  html_body: null,
  attachments: ["a1b2"],
});

Deno.test("transcript: the whole exchange; the message handed over with IP and stamp bits", async () => {
  const w = world();
  const stamp = await mintStamp("bob#b.example", BITS);
  const s = w.session();
  await transcript(
    s,
    `
    C: ${hello()}
    S: {"type":"OK","protocol":"SHARP/1.3"}
    C: ${mailTo("bob#b.example", stamp)}
    S: {"type":"OK"}
    C: {"type":"DATA"}
    S: {"type":"OK"}
    C: ${CONTENT}
    S: {"type":"OK","message":"Email content received"}
    C: {"type":"END_DATA"}
    S: {"type":"OK","message":"Email processed"}
  `,
  );
  assert(s.closed);
  assertEquals(w.backend.delivered.length, 1);
  const mail = w.backend.delivered[0];
  assertEquals(
    { from: mail.from, to: mail.to, recipient: mail.recipient, ip: mail.clientIp },
    { from: "alice@a.example", to: "bob#b.example", recipient: "bob@b.example", ip: "192.0.2.1" },
  );
  assertEquals(mail.content.subject, "Hi Bob");
  assertEquals(mail.content.attachments, ["a1b2"]);
  assert(mail.hashcashBits >= BITS);
});

Deno.test("transcript: EMAIL_CONTENT and END_DATA written together (as the reference sender does)", async () => {
  const w = world();
  await transcript(
    w.session(),
    `
    C: ${hello()}
    S: {"type":"OK","protocol":"SHARP/1.3"}
    C: ${mailTo("bob#b.example", await mintStamp("bob#b.example", BITS))}
    S: {"type":"OK"}
    C: {"type":"DATA"}
    S: {"type":"OK"}
    C: ${CONTENT}
    S: {"type":"OK","message":"Email content received"}
    C+: {"type":"END_DATA"}
    S: {"type":"OK","message":"Email processed"}
  `,
  );
  assertEquals(w.backend.delivered.length, 1);
});

Deno.test("transcript: lock-step violations get the reference server's Expected HELLO / MAIL_TO", async () => {
  const w = world();
  const stamp = await mintStamp("bob#b.example", BITS);
  await transcript(
    w.session(),
    `
    C: ${hello()}
    C+: ${mailTo("bob#b.example", stamp)}
    S: {"type":"ERROR","message":"Expected HELLO","code":400}
  `,
  );
  const second = w.session();
  await transcript(
    second,
    `
    C: ${hello()}
    S: {"type":"OK","protocol":"SHARP/1.3"}
    C: ${mailTo("bob#b.example", stamp)}
    C+: {"type":"DATA"}
    S: {"type":"ERROR","message":"Expected MAIL_TO","code":400}
  `,
  );
  second.finish();
});

Deno.test("transcript: out-of-order commands and bad JSON (400)", async () => {
  const w = world();
  const cases: [string, string][] = [
    [`C: {"type":"DATA"}`, "Expected HELLO"],
    [`C: {not json`, "Invalid message format or processing error"],
    [`C: [1,2,3]`, "Invalid message format or processing error"],
    [
      `C: ${hello()}\nS: {"type":"OK","protocol":"SHARP/1.3"}\nC: {"type":"DATA"}`,
      "Expected MAIL_TO",
    ],
    [
      `C: ${hello()}\nS: {"type":"OK","protocol":"SHARP/1.3"}\nC: ${
        mailTo("bob#b.example", await mintStamp("bob#b.example", BITS))
      }\nS: {"type":"OK"}\nC: {"type":"END_DATA"}`,
      "Expected DATA",
    ],
    [
      `C: ${hello()}\nS: {"type":"OK","protocol":"SHARP/1.3"}\nC: ${
        mailTo("bob#b.example", await mintStamp("bob#b.example", BITS))
      }\nS: {"type":"OK"}\nC: {"type":"DATA"}\nS: {"type":"OK"}\nC: {"type":"QUIT"}`,
      "Expected EMAIL_CONTENT or END_DATA",
    ],
  ];
  for (const [script, message] of cases) {
    await transcript(
      w.session(),
      `${script}\nS: ${JSON.stringify({ type: "ERROR", message, code: 400 })}`,
    );
  }
  assertEquals(w.backend.delivered.length, 0);
});

Deno.test("transcript: HELLO refusals — version, server_id, sender verification by IP (400)", async () => {
  const w = world();
  const cases: [SharpSession, string, string][] = [
    [w.session(), hello("alice#a.example", "SHARP/1.2"), "Unsupported protocol version: SHARP/1.2"],
    [
      w.session(),
      '{"type":"HELLO","server_id":"alice#a.example"}',
      "Unsupported protocol version: undefined",
    ],
    [
      w.session(),
      hello("alice@a.example"),
      "Sender verification failed: Invalid SHARP address format",
    ],
    [w.session(), hello("a".repeat(21) + "#a.example"), "Invalid username format in server_id."],
    [
      w.session("198.51.100.7"),
      hello(),
      "Sender verification failed: 198.51.100.7 is not a SHARP host of a.example",
    ],
  ];
  for (const [session, line, message] of cases) {
    await transcript(
      session,
      `C: ${line}\nS: ${JSON.stringify({ type: "ERROR", message, code: 400 })}`,
    );
  }
});

Deno.test("transcript: MAIL_TO refusals in order — syntax 400, stamp 429, domain 451, user 550", async () => {
  const w = world();
  const refuse = async (line: string, message: string, code: number) =>
    await transcript(
      w.session(),
      `
      C: ${hello()}
      S: {"type":"OK","protocol":"SHARP/1.3"}
      C: ${line}
      S: ${JSON.stringify({ type: "ERROR", message, code })}
    `,
    );
  await refuse(
    mailTo("bob@b.example"),
    "Invalid recipient address format: Invalid SHARP address format",
    400,
  );
  await refuse(mailTo("b d#b.example"), "Invalid username format in recipient address.", 400);
  // The stamp before the domain and the user: learning either costs a stamp (issue15#6).
  await refuse(mailTo("bob#c.example"), "Missing X-Hashcash header or hashcash field", 429);
  await refuse(
    mailTo("bob#c.example", await mintStamp("bob#c.example", BITS)),
    "This server does not handle mail for c.example",
    451,
  );
  await refuse(
    mailTo("carol#b.example", await mintStamp("carol#b.example", BITS)),
    "Recipient user not found",
    550,
  );
});

Deno.test("transcript: hashcash weak, stale, future, for another address, replayed (429)", async () => {
  const w = world();
  const now = Date.now();
  const cases: [string, string][] = [
    [await mintStamp("bob#b.example", 4), "too few bits"],
    [
      await mintStamp("bob#b.example", BITS, { now: new Date(now - 25 * 3600_000) }),
      "stamp older than 24 hours",
    ],
    [
      await mintStamp("bob#b.example", BITS, { now: new Date(now + 5 * 60_000) }),
      "stamp dated in the future",
    ],
    [await mintStamp("Bob#b.example", BITS), "stamp is for another address"],
    ["1:8:251128120000:bob#b.example::x", "malformed stamp"],
  ];
  for (const [stamp, why] of cases) {
    await transcript(
      w.session(),
      `
      C: ${hello()}
      S: {"type":"OK","protocol":"SHARP/1.3"}
      C: ${mailTo("bob#b.example", stamp)}
      S: ${
        JSON.stringify({
          type: "ERROR",
          message: `Insufficient proof of work. Score: 3 (${why})`,
          code: 429,
        })
      }
    `,
    );
  }
  // A stamp that paid for a delivered message cannot be used again.
  const stamp = await mintStamp("bob#b.example", BITS);
  const full = async () => {
    const s = w.session();
    await s.handleLine(hello());
    const r = await s.handleLine(mailTo("bob#b.example", stamp));
    if (r.type === "OK") {
      await s.handleLine('{"type":"DATA"}');
      await s.handleLine(CONTENT);
      return await s.handleLine('{"type":"END_DATA"}');
    }
    return r;
  };
  assertEquals(await full(), { type: "OK", message: "Email processed" });
  assertEquals(await full(), {
    type: "ERROR",
    message: "Insufficient proof of work. Score: 3 (stamp already used)",
    code: 429,
  });
});

Deno.test("transcript: a failed hand-in answers its code; 413 for long lines", async () => {
  const w = world();
  w.backend.deliverResult = { ok: false, code: 451, message: "Temporary failure, try again later" };
  const stamp = await mintStamp("bob#b.example", BITS);
  const s = w.session();
  await transcript(
    s,
    `
    C: ${hello()}
    S: {"type":"OK","protocol":"SHARP/1.3"}
    C: ${mailTo("bob#b.example", stamp)}
    S: {"type":"OK"}
    C: {"type":"DATA"}
    S: {"type":"OK"}
    C: {"type":"END_DATA"}
    S: {"type":"ERROR","message":"Temporary failure, try again later","code":451}
  `,
  );
  s.finish();
  const t = w.session();
  assertEquals(t.lineTooLong(), { type: "ERROR", message: "Message too large", code: 413 });
  assert(t.closed);
  assertEquals(w.session().overflow(), {
    type: "ERROR",
    message: "Maximum message size exceeded",
    code: 400,
  });
});

Deno.test("issue15#6: without a good stamp every recipient gets the same 429 (no user enumeration)", async () => {
  const w = world();
  const answer = async (line: string) => {
    const s = w.session();
    await s.handleLine(hello());
    return await s.handleLine(line);
  };
  const missing = {
    type: "ERROR",
    message: "Missing X-Hashcash header or hashcash field",
    code: 429,
  } as const;
  // A user that exists, one that does not, a domain not served here: one answer for all.
  assertEquals(await answer(mailTo("bob#b.example")), missing);
  assertEquals(await answer(mailTo("carol#b.example")), missing);
  assertEquals(await answer(mailTo("bob#c.example")), missing);
  const weak = (to: string) => mintStamp(to, 2).then((s) => s.replace(/^1:2:/, "1:30:"));
  for (const to of ["bob#b.example", "carol#b.example", "bob#c.example"]) {
    assertEquals(await answer(mailTo(to, await weak(to))), {
      type: "ERROR",
      message: "Insufficient proof of work. Score: 3 (stamp does not have its bits)",
      code: 429,
    });
  }
  // Only a paid-for probe learns whether the user exists, and the stamp is spent by it.
  const stamp = await mintStamp("carol#b.example", BITS);
  assertEquals(await answer(mailTo("carol#b.example", stamp)), {
    type: "ERROR",
    message: "Recipient user not found",
    code: 550,
  });
  assertEquals(await answer(mailTo("carol#b.example", stamp)), {
    type: "ERROR",
    message: "Insufficient proof of work. Score: 3 (stamp already used)",
    code: 429,
  });
});

Deno.test("issue15#6: a stamp spent in a session that delivered nothing stays spent", async () => {
  const w = world();
  const stamp = await mintStamp("bob#b.example", BITS);
  const used = {
    type: "ERROR",
    message: "Insufficient proof of work. Score: 3 (stamp already used)",
    code: 429,
  } as const;
  const mailToReply = async () => {
    const s = w.session();
    await s.handleLine(hello());
    const reply = await s.handleLine(mailTo("bob#b.example", stamp));
    if (reply.type === "OK") assertEquals(await s.handleLine('{"type":"DATA"}'), { type: "OK" });
    s.finish(); // the client goes away without END_DATA
    return reply;
  };
  assertEquals(await mailToReply(), { type: "OK" });
  for (let i = 0; i < 3; i++) assertEquals(await mailToReply(), used);
  // A failed hand-in does not give a stamp back either.
  w.backend.deliverResult = { ok: false, code: 451, message: "Temporary failure, try again later" };
  const other = await mintStamp("bob#b.example", BITS);
  const s = w.session();
  for (const line of [hello(), mailTo("bob#b.example", other), '{"type":"DATA"}']) {
    await s.handleLine(line);
  }
  assertEquals((await s.handleLine('{"type":"END_DATA"}')).type, "ERROR");
  s.finish();
  const again = w.session();
  await again.handleLine(hello());
  assertEquals(await again.handleLine(mailTo("bob#b.example", other)), used);
  assertEquals(w.backend.delivered.length, 0);
  assertEquals(w.replay.claim(stamp, Date.now() + 1000, Date.now()), false);
});
