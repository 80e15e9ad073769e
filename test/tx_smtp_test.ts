/**
 * Transactional mail over the bridge's SMTP listeners, driven by Python's smtplib on loopback:
 * an `Idempotency-Key` header field on the submission port (after STARTTLS and AUTH) sends once
 * per key — retries and concurrent duplicates get the first result — and never leaves Postern;
 * reports sent to a message's signed VERP return path are accepted at the MX only when the
 * signature verifies, go to the returns matcher instead of a mailbox, and become `bounced` and
 * `complained` events with suppression entries.
 */
import { blobBytes } from "../src/services/blob_chunks.ts";
import { eq } from "drizzle-orm";
import { schema } from "../src/store/store.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { GatewayClient } from "../bridge/gateway_client.ts";
import { ADMIN, ALICE, BOB, DOMAIN } from "./fixtures/app.ts";
import { arfReport, dsnReport } from "./fixtures/reports.ts";
import { python, startBridgeWorld } from "./fixtures/bridge.ts";

const IDEMPOTENT_CLIENT = `
import smtplib, ssl, sys, threading
port, user, password, cafile = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
RCPT = ["bob@postern.test", "far@away.example"]

def msg(subject, key, n):
    head = "From: %s\\r\\nTo: bob@postern.test, far@away.example\\r\\nSubject: %s\\r\\n" % (user, subject)
    head += "Message-ID: <%s.%d@app.example>\\r\\n" % (subject.replace(" ", "-"), n)
    if key:
        head += "Idempotency-Key: %s\\r\\n" % key
    return head + "\\r\\nattempt %d\\r\\n" % n

def session():
    s = smtplib.SMTP("127.0.0.1", port)
    s.starttls(context=ctx)
    s.login(user, password)
    return s

def send(m, rcpt=RCPT, barrier=None):
    s = session()
    try:
        s.mail(user)
        for r in rcpt:
            s.rcpt(r)
        if barrier:
            barrier.wait()
        code, text = s.data(m)
        return code, text.decode()
    except smtplib.SMTPDataError as e:
        return e.smtp_code, e.smtp_error.decode()
    finally:
        s.quit()

print("FIRST", *send(msg("Order 1", "order-1", 1)))
print("RETRY", *send(msg("Order 1", "order-1", 2)))

results = []
barrier = threading.Barrier(6)
def racer(i):
    results.append(send(msg("Race", "order-2", i), barrier=barrier))
threads = [threading.Thread(target=racer, args=(i,)) for i in range(6)]
for t in threads: t.start()
for t in threads: t.join()
print("RACE", sorted(code for code, _ in results), sum("already accepted" in t for _, t in results))

print("OTHER", *send(msg("Order 1", "order-1", 3), rcpt=["bob@postern.test"]))
print("PLAIN", *send(msg("Plain", None, 1)))
print("PLAIN", *send(msg("Plain", None, 2)))
print("DONE")
`;

Deno.test("submission: Idempotency-Key header sends once per key, also under concurrent duplicates", async () => {
  const world = await startBridgeWorld();
  try {
    const out = await python(IDEMPOTENT_CLIENT, [
      String(world.submissionPort),
      ALICE.address,
      ALICE.password,
      world.certFile,
    ]);
    assert(out.includes("DONE"), out);
    assert(/^FIRST 250 2\.0\.0 OK: stored$/m.test(out), out);
    assert(/^RETRY 250 2\.0\.0 OK: already accepted \(same Idempotency-Key\)/m.test(out), out);
    assert(out.includes("RACE [250, 250, 250, 250, 250, 250] 5"), out);
    assert(/^OTHER 554 5\.6\.0 .*different request body/m.test(out), out);
    assertEquals(out.match(/^PLAIN 250 2\.0\.0 OK: stored$/gm)?.length, 2, out);

    const db = world.gw.deps.store.db;
    const [bob] = await db.select().from(schema.accounts).where(
      eq(schema.accounts.address, BOB.address),
    );
    const bobMail = await db.select().from(schema.messages)
      .where(eq(schema.messages.accountId, bob.id)).orderBy(schema.messages.id);
    assertEquals(bobMail.map((m) => m.subject), ["Order 1", "Race", "Plain", "Plain"]);
    assert(bobMail[0].messageIdHeader?.includes("Order-1.1@"), "the first attempt is kept");
    const outbox = await db.select().from(schema.outbox).orderBy(schema.outbox.id);
    assertEquals(outbox.map((r) => r.rcptTo), Array(4).fill("far@away.example"));

    // The field is a request to Postern: neither the stored copy nor the relayed one holds it.
    const shas = [...bobMail.map((m) => m.blobSha256), ...outbox.map((r) => r.blobSha256)];
    for (const sha of shas) {
      const [blob] = await db.select().from(schema.blobs).where(eq(schema.blobs.sha256, sha));
      const raw = new TextDecoder().decode(await blobBytes(db, blob));
      assert(!/idempotency-key/i.test(raw), raw.slice(0, 400));
      assert(/^Subject: /m.test(raw) && /\r\n\r\nattempt \d\r\n$/.test(raw), raw);
    }
    const keys = await db.select().from(schema.txIdempotency);
    assertEquals(keys.map((k) => [k.scope, k.key]).sort(), [
      ["smtp", "order-1"],
      ["smtp", "order-2"],
    ]);
  } finally {
    await world.close();
  }
});

Deno.test("submission: concurrent duplicate hand-ins with one Idempotency-Key commit exactly one send", async () => {
  const world = await startBridgeWorld();
  try {
    const gw = world.gw;
    const admin = await gw.login(ADMIN);
    const { key } = await (await gw.call("POST", "/v1/api-keys", {
      token: admin,
      body: { name: "bridge-2", scopes: ["bridge"] },
    })).json();
    const client = new GatewayClient("http://gateway.internal", key, (r) => gw.app.fetch(r));
    const message = (n: number) =>
      new TextEncoder().encode(
        `From: ${ALICE.address}\r\nTo: far@away.example\r\nSubject: Dup\r\n` +
          `Message-ID: <dup.${n}@app.example>\r\nIdempotency-Key: invoice-9\r\n\r\n${n}\r\n`,
      );
    // All start in one tick: every one passes the first (unlocked) check before any commits.
    const answers = await Promise.all(Array.from({ length: 8 }, (_, n) =>
      client.submission({
        mailFrom: ALICE.address,
        recipients: ["far@away.example"],
        authenticatedAs: ALICE.address,
        clientIp: "127.0.0.1",
      }, message(n))));
    assertEquals(answers.filter((a) => !a.replayed).length, 1, "one first result");
    for (const a of answers) {
      assertEquals(a.results, [{ recipient: "far@away.example", status: "queued" }]);
    }
    const outbox = await gw.deps.store.db.select().from(schema.outbox);
    assertEquals(outbox.length, 1, "exactly one send");
  } finally {
    await world.close();
  }
});

const MX_RETURNS = `
import smtplib, sys
port = int(sys.argv[1])
verp, forged, dsn, arf = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
with smtplib.SMTP("127.0.0.1", port, local_hostname="mx.remote.test") as s:
    for rcpt in (forged, "bounces@postern.test"):
        try:
            s.sendmail("", [rcpt], dsn)
            print("ACCEPTED", rcpt)
        except smtplib.SMTPRecipientsRefused as e:
            print("REFUSED", e.recipients[rcpt][0])
    s.sendmail("", [verp], dsn)
    print("DSN accepted")
    s.sendmail("fbl@isp.example", [verp.upper().replace("@POSTERN.TEST", "@postern.test")], arf)
    print("ARF accepted")
print("DONE")
`;

Deno.test("MX: reports to a signed VERP return path become bounced/complained events, not mail", async () => {
  const world = await startBridgeWorld();
  try {
    const gw = world.gw;
    const token = await gw.login(ALICE);
    // The domain's settings and suppression list are its administrators' (issue 15 item 4).
    const admin = await gw.login(ADMIN);
    await gw.call("PATCH", `/v1/domains/${DOMAIN}/sending`, { token: admin, body: { verp: true } });
    const sent = await (await gw.call("POST", "/v1/emails", {
      token,
      body: { from: ALICE.address, to: ["gone@remote.test", "angry@remote.test"], text: "x" },
    })).json();
    const db = gw.deps.store.db;
    const [row] = await db.select().from(schema.outbox).limit(1);
    const verp = row.mailFrom;
    assert(/^bounces\+em_[0-9a-f]{24}\.[0-9a-f]{16}@postern\.test$/.test(verp), verp);
    const forged = verp.replace(/[0-9a-f]@/, (m) => (m[0] === "0" ? "1@" : "0@"));
    const stored = (await db.select().from(schema.messages)).length;

    const out = await python(MX_RETURNS, [
      String(world.mxPort),
      verp,
      forged,
      dsnReport(verp, "gone@remote.test"),
      arfReport(
        "angry@remote.test",
        [
          `From: ${ALICE.address}`,
          `To: angry@remote.test`,
          `Message-ID: ${sent.messageId}`,
          `X-Postern-Email-Id: ${sent.emailId}`,
        ].join("\r\n"),
      ),
    ]);
    assertEquals(out.match(/^REFUSED 550$/gm)?.length, 2, `forged and plain bounces@\n${out}`);
    assert(out.includes("DSN accepted") && out.includes("ARF accepted") && out.includes("DONE"));

    const view = await (await gw.call("GET", `/v1/emails/${sent.emailId}`, { token })).json();
    const status = Object.fromEntries(
      view.recipients.map((r: { address: string; status: string }) => [r.address, r.status]),
    );
    assertEquals(status, { "gone@remote.test": "bounced", "angry@remote.test": "complained" });
    const bounce = view.events.find((e: { type: string }) => e.type === "bounced");
    assertEquals([bounce.data.source, bounce.data.status], ["dsn", "5.1.1"]);
    const list =
      (await (await gw.call("GET", `/v1/domains/${DOMAIN}/suppressions`, { token: admin }))
        .json()).suppressions.map((s: { address: string; reason: string }) => [s.address, s.reason])
        .sort();
    assertEquals(list, [["angry@remote.test", "complaint"], ["gone@remote.test", "bounce"]]);
    assertEquals((await db.select().from(schema.messages)).length, stored, "no mailbox got them");
  } finally {
    await world.close();
  }
});
