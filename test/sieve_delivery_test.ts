/**
 * Sieve at delivery (issue 21 item 2): mail that arrives over a real SMTP socket is filed by the
 * account's active script; reject answers 550 at DATA for that recipient only (and a DSN when
 * other recipients took the message); redirect reaches another account and the remote
 * forwarding path; vacation answers once per sender per `:days`, never lists, robots, null
 * senders or auto-submitted mail; a script that fails at run time keeps the message; and a
 * delivery with all of that is still one write job of one round trip.
 */
import { eq } from "drizzle-orm";
import { assert, assertEquals, assertMatch } from "./fixtures/assert.ts";
import { ALICE, BOB, createTestGateway, type TestGateway } from "./fixtures/app.ts";
import { bridgeKey, python, startBridgeWorld } from "./fixtures/bridge.ts";
import { deliver } from "../src/services/delivery.ts";
import { schema } from "../src/store/store.ts";
import type { JobReport } from "../src/store/store.ts";
import { blobBytes } from "../src/services/blob_chunks.ts";
import { freshDatabaseUrl, storeTest } from "./fixtures/store.ts";
import { encodeMail, MAIL_MEDIA_TYPE } from "../schemas/bridge.ts";
import { pair } from "./fixtures/gateway_pair.ts";

const enc = new TextEncoder();

/** The stored bytes of a blob, as text. */
async function blobText(gw: TestGateway, sha256: string): Promise<string> {
  const db = gw.deps.store.db;
  const [row] = await db.select().from(schema.blobs).where(eq(schema.blobs.sha256, sha256));
  return new TextDecoder().decode(await blobBytes(db, row));
}

/** A gateway and bridge whose Alice has `script` as her active script. */
async function aliceWith(script: string) {
  const world = await startBridgeWorld();
  const alice = await world.gw.login(ALICE);
  await activate(world.gw, alice, script);
  return { world, gw: world.gw, alice, [Symbol.asyncDispose]: () => world.close() };
}

async function activate(gw: TestGateway, token: string, script: string) {
  const put = await gw.call("PUT", "/v1/sieve/scripts/main", { token, body: { script } });
  assertEquals(put.status, 200, await put.text());
  const act = await gw.call("PUT", "/v1/sieve/active", { token, body: { name: "main" } });
  assertEquals(act.status, 200);
}

/** `mailbox name → subjects` of an account's stored messages. */
async function filed(gw: TestGateway, address: string) {
  const db = gw.deps.store.db;
  const [account] = await db.select().from(schema.accounts).where(
    eq(schema.accounts.address, address),
  );
  const boxes = await db.select().from(schema.mailboxes).where(
    eq(schema.mailboxes.accountId, account.id),
  );
  const rows = await db.select().from(schema.messages).where(
    eq(schema.messages.accountId, account.id),
  );
  const out: Record<string, string[]> = {};
  for (const m of rows) {
    const box = boxes.find((b) => b.id === m.mailboxId)!.name;
    (out[box] ??= []).push(m.subject);
  }
  return { out, rows };
}

function mail(opts: {
  from?: string;
  to?: string;
  subject: string;
  extra?: string;
  id?: string;
}) {
  return enc.encode(
    `From: ${opts.from ?? "carol@example.org"}\r\nTo: ${opts.to ?? ALICE.address}\r\n` +
      `Subject: ${opts.subject}\r\nMessage-ID: ${
        opts.id ?? `<${crypto.randomUUID()}@example.org>`
      }\r\n` +
      `Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n${opts.extra ?? ""}\r\nbody of ${opts.subject}\r\n`,
  );
}

const SMTP_SEND = `
import smtplib, sys, json
port = int(sys.argv[1])
jobs = json.loads(sys.argv[2])
with smtplib.SMTP("127.0.0.1", port, local_hostname="mx.remote.example") as s:
    for job in jobs:
        msg = "From: zed@remote.example\\r\\nTo: %s\\r\\nSubject: %s\\r\\nMessage-ID: <%s@remote.example>\\r\\n\\r\\nhello\\r\\n" % (", ".join(job["to"]), job["subject"], job["subject"].replace(" ", "-").replace("[", "").replace("]", ""))
        try:
            refused = s.sendmail("zed@remote.example", job["to"], msg)
            print(job["subject"], "OK", json.dumps(refused))
        except smtplib.SMTPDataError as e:
            print(job["subject"], "DATA", e.smtp_code, e.smtp_error.decode())
        except smtplib.SMTPRecipientsRefused as e:
            print(job["subject"], "RCPT", json.dumps({k: v[0] for k, v in e.recipients.items()}))
`;

Deno.test("issue21#2: a Sieve script files mail delivered over a real SMTP socket", async () => {
  await using w = await aliceWith(`require ["fileinto", "imap4flags"];
if header :contains "subject" "[list]" {
  fileinto :flags "\\\\Flagged" "Lists";
} elsif header :contains "subject" "lost" {
  fileinto "No Such Folder";
}`);
  const { world, gw, alice } = w;
  const box = await gw.call("POST", "/v1/mailboxes", { token: alice, body: { name: "Lists" } });
  assertEquals(box.status, 201);
  const jobs = [
    { to: [ALICE.address], subject: "[list] weekly" },
    { to: [ALICE.address], subject: "personal" },
    { to: [ALICE.address], subject: "lost one" },
  ];
  const out = await python(SMTP_SEND, [String(world.mxPort), JSON.stringify(jobs)]);
  assertEquals(out.trim().split("\n").map((l) => l.split(" OK")[0]), [
    "[list] weekly",
    "personal",
    "lost one",
  ]);
  const { out: boxes, rows } = await filed(gw, ALICE.address);
  assertEquals(boxes["Lists"], ["[list] weekly"]);
  // An unknown mailbox keeps the message in the Inbox: never lost.
  assertEquals(boxes["INBOX"]?.sort() ?? boxes["Inbox"]?.sort(), ["lost one", "personal"]);
  assertEquals(rows.find((m) => m.subject === "[list] weekly")!.flagged, true);
  assertEquals(rows.find((m) => m.subject === "personal")!.flagged, false);
});

Deno.test("issue21#2: Sieve reject gives 550 at DATA for that recipient only, a DSN when others took it", async () => {
  await using w = await aliceWith(`require "reject";
if address :domain "from" "remote.example" { reject "I do not take mail from remote.example"; }`);
  const { world, gw } = w;
  const jobs = [
    { to: [ALICE.address], subject: "alone" },
    { to: [BOB.address], subject: "bob only" },
    { to: [ALICE.address, BOB.address], subject: "both" },
  ];
  const out = await python(SMTP_SEND, [String(world.mxPort), JSON.stringify(jobs)]);
  const lines = out.trim().split("\n");
  assert(/^alone DATA 550 5\.7\.1 I do not take mail from remote\.example/.test(lines[0]), out);
  assert(/^bob only OK/.test(lines[1]), out);
  assert(/^both OK/.test(lines[2]), out);
  assertEquals((await filed(gw, ALICE.address)).rows.length, 0);
  assertEquals((await filed(gw, BOB.address)).rows.map((m) => m.subject).sort(), [
    "bob only",
    "both",
  ]);
  // RFC 5429 section 2.1: the session said 250 for "both", so Alice's refusal goes as a DSN.
  const queued = await gw.deps.store.db.select().from(schema.outbox);
  assertEquals(queued.map((r) => [r.rcptTo, r.mailFrom]), [["zed@remote.example", ""]]);
  const dsn = await blobText(gw, queued[0].blobSha256);
  assert(
    /multipart\/report/.test(dsn) && /Final-Recipient: rfc822; ?alice@postern\.test/i.test(dsn),
    dsn,
  );
  assert(/I do not take mail from remote\.example/.test(dsn));
});

Deno.test("issue21#2: Sieve redirect reaches another account and the remote path; one round trip", async () => {
  await using w = await aliceWith(`require ["vacation", "copy", "fileinto"];
redirect "${BOB.address}";
redirect :copy "far@remote.example";
vacation :days 1 "Away";`);
  const { gw } = w;
  const jobs: JobReport[] = [];
  gw.deps.store.onJob = (j) => jobs.push(j);
  const results = await deliver(gw.deps, {
    raw: mail({ subject: "forward me" }),
    mailFrom: "carol@example.org",
    recipients: [ALICE.address],
    source: "smtp",
  });
  assertEquals(results.map((r) => r.status), ["forwarded"]);
  assertEquals(jobs.map((j) => j.roundTrips), [1], "the delivery is one write job");
  assertEquals((await filed(gw, ALICE.address)).rows.length, 0);
  assertEquals((await filed(gw, BOB.address)).rows.map((m) => m.subject), ["forward me"]);
  const queued = await gw.deps.store.db.select().from(schema.outbox);
  const byRcpt = Object.fromEntries(queued.map((r) => [r.rcptTo, r.mailFrom]));
  // The redirect leaves with an SRS sender of the forwarding domain (issue21#3: SPF passes at the
  // next hop, and a bounce finds its way back to Carol); the vacation reply has none.
  assertMatch(byRcpt["far@remote.example"], /^SRS0=[^=]+=[^=]+=example\.org=carol@postern\.test$/);
  assertEquals(byRcpt["carol@example.org"], "");
});

Deno.test("issue21#2: Sieve vacation answers once per sender per :days, never lists or robots", async () => {
  await using w = await aliceWith(`require "vacation";
vacation :days 2 :subject "Out of office" "I am away until Monday.";`);
  const { gw } = w;
  let now = Date.UTC(2026, 11, 7, 12);
  gw.deps.clock = { now: () => now };
  const send = async (raw: Uint8Array, mailFrom = "carol@example.org") => {
    const [r] = await deliver(gw.deps, {
      raw,
      mailFrom,
      recipients: [ALICE.address],
      source: "smtp",
    });
    assertEquals(r.status, "delivered");
  };
  const replies = async () =>
    (await gw.deps.store.db.select().from(schema.outbox)).map((r) => r.rcptTo);

  await send(mail({ subject: "first", id: "<first@example.org>" }));
  assertEquals(await replies(), ["carol@example.org"]);
  const [row] = await gw.deps.store.db.select().from(schema.outbox);
  assertEquals(row.mailFrom, "");
  const reply = await blobText(gw, row.blobSha256);
  assert(/^Auto-Submitted: auto-replied\r$/m.test(reply), reply);
  assert(/^In-Reply-To: <first@example\.org>\r$/m.test(reply), reply);
  assert(/^References: <first@example\.org>\r$/m.test(reply), reply);
  assert(/^Subject: Out of office\r$/m.test(reply), reply);
  assert(/^From: <alice@postern\.test>\r$/m.test(reply), reply);
  assert(/^To: <carol@example\.org>\r$/m.test(reply), reply);
  assert(reply.includes("I am away until Monday."), reply);

  // The same sender within :days: no second reply.
  await send(mail({ subject: "second" }));
  assertEquals(await replies(), ["carol@example.org"]);
  // Never: a list, bulk, auto-submitted, a robot, a null sender, mail not addressed to Alice.
  await send(
    mail({ from: "dave@example.org", subject: "list", extra: "List-Id: <x.lists.example>\r\n" }),
    "dave@example.org",
  );
  await send(
    mail({ from: "dave@example.org", subject: "bulk", extra: "Precedence: bulk\r\n" }),
    "dave@example.org",
  );
  await send(
    mail({
      from: "dave@example.org",
      subject: "auto",
      extra: "Auto-Submitted: auto-generated\r\n",
    }),
    "dave@example.org",
  );
  await send(
    mail({ from: "owner-list@example.org", subject: "owner" }),
    "owner-list@example.org",
  );
  await send(
    mail({ from: "MAILER-DAEMON@example.org", subject: "daemon" }),
    "MAILER-DAEMON@example.org",
  );
  await send(mail({ subject: "bounce" }), "");
  await send(
    mail({ from: "erin@example.org", to: "someone@else.example", subject: "bcc" }),
    "erin@example.org",
  );
  assertEquals(await replies(), ["carol@example.org"]);
  // Another sender is answered; Auto-Submitted: no is a person.
  await send(
    mail({ from: "dave@example.org", subject: "hi", extra: "Auto-Submitted: no\r\n" }),
    "dave@example.org",
  );
  assertEquals((await replies()).sort(), ["carol@example.org", "dave@example.org"]);
  // After :days, Carol is answered again.
  now += 2 * 86_400_000 + 1000;
  await send(mail({ subject: "third" }));
  assertEquals((await replies()).filter((r) => r === "carol@example.org").length, 2);
  // Every message was stored all along (vacation never cancels the keep).
  assertEquals((await filed(gw, ALICE.address)).rows.length, 11);
  // A sender of our own domains gets the reply in their Inbox, not through the outbox.
  await send(mail({ from: BOB.address, subject: "from bob" }), BOB.address);
  assertEquals((await filed(gw, BOB.address)).rows.map((m) => m.subject), ["Out of office"]);
  assert(!(await replies()).includes(BOB.address));
});

Deno.test("issue21#2: a Sieve runtime error keeps the message in the Inbox", async () => {
  // Valid Sieve that conflicts when it runs (RFC 5429 section 2.1: reject with fileinto).
  await using w = await aliceWith(`require ["reject", "fileinto"]; fileinto "Junk"; reject "no";`);
  const { gw } = w;
  const lines: string[] = [];
  gw.deps.logger = {
    log: (_level, event, data) => lines.push(`${event} ${JSON.stringify(data)}`),
  };
  const [r] = await deliver(gw.deps, {
    raw: mail({ subject: "kept" }),
    mailFrom: "carol@example.org",
    recipients: [ALICE.address],
    source: "smtp",
  });
  assertEquals(r.status, "delivered");
  const { out } = await filed(gw, ALICE.address);
  assertEquals(Object.values(out), [["kept"]]);
  assert(Object.keys(out)[0].toUpperCase() === "INBOX", JSON.stringify(out));
  assert(
    lines.some((l) => l.startsWith("sieve.runtime_error") && l.includes("reject")),
    lines.join("\n"),
  );
});

storeTest(
  "issue21#2: Sieve on two gateways of one store: a script change is seen at once, vacation answers once, one round trip each",
  async (engine) => {
    const p = await pair(engine);
    try {
      const alice = await p.gw.login(ALICE);
      const boxes = await p.gw.call("POST", "/v1/mailboxes", {
        token: alice,
        body: { name: "First" },
      });
      assertEquals(boxes.status, 201);
      await p.gw.call("POST", "/v1/mailboxes", { token: alice, body: { name: "Second" } });
      const at = (deps: typeof p.a, subject: string) =>
        deliver(deps, {
          raw: mail({ subject }),
          mailFrom: "carol@example.org",
          recipients: [ALICE.address],
          source: "smtp",
        });
      await activate(p.gw, alice, 'require "fileinto"; fileinto "First";');
      await at(p.b, "one");
      // Changed through gateway A: gateway B, which compiled the old one, files by the new one.
      await p.gw.call("PUT", "/v1/sieve/scripts/main", {
        token: alice,
        body: { script: 'require ["fileinto", "vacation"]; fileinto "Second"; vacation "away";' },
      });
      p.jobs.length = 0;
      await Promise.all(Array.from({ length: 6 }, (_, i) => at(i % 2 ? p.a : p.b, `m${i}`)));
      assertEquals(p.jobs.map((j) => j.roundTrips), Array(6).fill(1));
      const rows = await p.sql.all<{ subject: string; name: string }>(
        `SELECT m.subject, b.name FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
         WHERE m.account_id = ? ORDER BY m.id`,
        [p.account],
      );
      assertEquals(rows.map((r) => [r.subject, r.name])[0], ["one", "First"]);
      assertEquals(rows.slice(1).map((r) => r.name), Array(6).fill("Second"));
      // Six messages of one sender at once, on two gateways: one vacation reply.
      const replies = await p.sql.all<{ rcpt_to: string }>("SELECT rcpt_to FROM outbox");
      assertEquals(replies.map((r) => r.rcpt_to), ["carol@example.org"]);
    } finally {
      p.close();
    }
  },
);

storeTest(
  "issue21#2: a script activated in one gateway files the next hand-in at another whose caches are warm",
  async (engine) => {
    const url = await freshDatabaseUrl(engine);
    const a = await createTestGateway({}, url);
    const b = await createTestGateway({}, url, { seed: false });
    try {
      const key = await bridgeKey(b);
      let n = 0;
      const handIn = async () => {
        const res = await b.app.request("/v1/bridge/inbound", {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": MAIL_MEDIA_TYPE },
          body: encodeMail(
            {
              mailFrom: "zed@remote.example",
              recipients: [ALICE.address],
              clientIp: "198.51.100.7",
              helo: "mx.remote.example",
            },
            mail({ subject: `in ${++n}` }),
          ),
        });
        assertEquals(res.status, 200, await res.text());
      };
      const alice = await a.login(ALICE);
      await a.call("POST", "/v1/mailboxes", { token: alice, body: { name: "Filed" } });
      // B remembers that Alice has no script; then only Sieve's own tables change.
      await handIn();
      await handIn();
      await activate(a, alice, 'require "fileinto"; fileinto "Filed";');
      await handIn();
      const { out } = await filed(a, ALICE.address);
      assertEquals(out["Filed"], ["in 3"]);
    } finally {
      a.close();
      b.close();
    }
  },
);
