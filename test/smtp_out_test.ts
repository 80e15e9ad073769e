/**
 * Outbound SMTP end to end: POST /v1/emails → outbox → the bridge's worker claims through the
 * gateway's HTTP contract → MX from a fake DNS → a real socket to an SMTP sink on 127.0.0.1,
 * with STARTTLS and DKIM (verified by mailauth and by dkimpy). Then the unhappy paths: 4xx
 * retries with backoff, 5xx and expiry bounces (RFC 3464 reports in the sender's Inbox), null MX,
 * MTA-STS enforce, and connection reuse.
 */
import { Buffer } from "node:buffer";
import process from "node:process";
import { dkimVerify } from "mailauth";
import { simpleParser } from "mailparser";
import { mailauthResolver } from "../bridge/dns/resolver.ts";
import { openSmtpClient } from "../bridge/smtp_out/client.ts";
import { MtaStsResolver } from "../bridge/smtp_out/mta_sts.ts";
import { enqueueOutbound } from "../src/services/outbox.ts";
import { putBlob } from "../src/services/message_store.ts";
import { sha256Hex } from "../src/crypto.ts";
import { schema } from "../src/store/store.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, DOMAIN } from "./fixtures/app.ts";
import { HOSTNAME, startOutboundWorld } from "./fixtures/outbound.ts";

const BOB_REMOTE = "bob@remote.test";
const CAROL_REMOTE = "carol@remote.test";

/** dkimpy, through the interpreter of /usr/bin/dkimverify, with DNS answered from `records`. */
const DKIMPY = `
import dkim, json, sys
records = json.loads(sys.argv[1])
msg = sys.stdin.buffer.read()
def dnsfunc(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    value = records.get(name.rstrip("."))
    return value.encode() if value else None
d = dkim.DKIM(msg)
sigs = [h for h in d.headers if h[0].lower() == b"dkim-signature"]
for i in range(len(sigs)):
    ok = d.verify(idx=i, dnsfunc=dnsfunc)
    tags = dkim.util.parse_tag_value(sigs[i][1])
    print(tags[b"a"].decode(), "pass" if ok else "fail")
`;

async function dkimpyInterpreter(): Promise<string | undefined> {
  try {
    const head = (await Deno.readTextFile("/usr/bin/dkimverify")).split("\n")[0];
    return head.startsWith("#!") ? head.slice(2).trim().split(/\s+/)[0] : "python3";
  } catch {
    if (process.env.CI === "true") {
      throw new Error("CI: /usr/bin/dkimverify (python3-dkim) is required for this test");
    }
    return undefined;
  }
}

Deno.test("outbound: delivered over SMTP with STARTTLS, one transaction, both DKIM signatures valid", async () => {
  const world = await startOutboundWorld();
  try {
    const res = await world.send([BOB_REMOTE, CAROL_REMOTE], "Across the Internet");
    assertEquals(res.status, 201, await res.clone().text());
    const worker = world.worker();
    assertEquals(await worker.runOnce(), 2);

    assertEquals(world.sink.backend.received.length, 1, "one transaction for both recipients");
    const got = world.sink.backend.received[0];
    assertEquals(got.mailFrom, ALICE.address);
    assertEquals(got.rcptTo.sort(), [BOB_REMOTE, CAROL_REMOTE]);
    assert(got.tls, "STARTTLS was used (self-signed certificate, opportunistic)");
    assertEquals(got.helo, HOSTNAME);
    assert(/Subject: Across the Internet/.test(got.text));

    const rows = await world.rows();
    assertEquals(rows.map((r) => r.state), ["sent", "sent"]);
    assertEquals(rows.map((r) => r.attempts), [1, 1]);
    const events = await world.gw.deps.store.db.select().from(schema.events);
    assertEquals(events.filter((e) => e.type === "outbox.sent").length, 2);

    // mailauth, against the fake DNS that publishes the domain's keys.
    const verdict = await dkimVerify(Buffer.from(got.raw), {
      resolver: mailauthResolver(world.resolver) as never,
    });
    const byAlgo = Object.fromEntries(
      verdict.results.map((r) => [r.algo, [r.signingDomain, r.status.result]]),
    );
    assertEquals(byAlgo, {
      "rsa-sha256": [DOMAIN, "pass"],
      "ed25519-sha256": [DOMAIN, "pass"],
    });

    // dkimpy (python3-dkim), fed the same DNS records.
    const python = await dkimpyInterpreter();
    if (python) {
      const records: Record<string, string> = {};
      for (const [name, node] of Object.entries(world.dns.zone)) {
        if (name.includes("._domainkey.")) records[name] = String(node.TXT![0]);
      }
      const child = new Deno.Command(python, {
        args: ["-c", DKIMPY, JSON.stringify(records)],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(got.raw);
      await writer.close();
      const out = await child.output();
      const text = new TextDecoder().decode(out.stdout);
      assert(out.success, new TextDecoder().decode(out.stderr));
      assertEquals(text.trim().split("\n").sort(), ["ed25519-sha256 pass", "rsa-sha256 pass"]);
    }
  } finally {
    await world.close();
  }
});

Deno.test("outbound: 4xx defers with backoff, and a later claim delivers", async () => {
  const world = await startOutboundWorld();
  try {
    world.sink.backend.rcptReplies.set(BOB_REMOTE, {
      code: 451,
      enhanced: "4.7.1",
      text: "greylisted, try later",
    });
    await world.send([BOB_REMOTE]);
    const worker = world.worker();
    const before = world.gw.deps.clock.now();
    assertEquals(await worker.runOnce(), 1);
    let [row] = await world.rows();
    assertEquals(row.state, "deferred");
    assertEquals(row.attempts, 1);
    assert(row.lastError?.includes("451 4.7.1 greylisted"), row.lastError ?? "");
    const wait = row.nextAttemptAt - before;
    assert(wait >= 48_000 && wait <= 72_500, `first retry after 1 min ± 20 %, got ${wait} ms`);
    assertEquals(await worker.runOnce(), 0, "not due yet");
    assertEquals(world.sink.backend.received.length, 0);

    world.sink.backend.rcptReplies.clear();
    world.advance(75_000);
    assertEquals(await worker.runOnce(), 1);
    [row] = await world.rows();
    assertEquals(row.state, "sent");
    assertEquals(row.attempts, 2);
    assertEquals(world.sink.backend.received.length, 1);
  } finally {
    await world.close();
  }
});

/** A DSN's parts: the multipart/report type from mailparser, the parts split on the boundary. */
async function parseDsn(raw: string) {
  const parsed = await simpleParser(Buffer.from(raw));
  const contentType = parsed.headers.get("content-type") as {
    value: string;
    params: Record<string, string>;
  };
  const parts = raw.split(`--${contentType.params.boundary}`).slice(1, -1).map((part) => {
    const split = part.indexOf("\r\n\r\n");
    return { head: part.slice(0, split), body: part.slice(split + 4) };
  });
  const part = (type: string) =>
    parts.find((p) => new RegExp(`^Content-Type: ${type}\\b`, "mi").test(p.head))?.body ?? "";
  return {
    contentType,
    partTypes: parts.map((p) => p.head.match(/^Content-Type: ([^;\s]+)/mi)?.[1]),
    status: part("message/delivery-status"),
    headers: part("text/rfc822-headers"),
  };
}

Deno.test("outbound: 5xx bounces at once with an RFC 3464 report in the sender's Inbox", async () => {
  const world = await startOutboundWorld();
  try {
    world.sink.backend.rcptReplies.set(BOB_REMOTE, {
      code: 550,
      enhanced: "5.1.1",
      text: "no such user here",
    });
    await world.send([BOB_REMOTE, CAROL_REMOTE], "Doomed half");
    assertEquals(await world.worker().runOnce(), 2);
    const rows = await world.rows();
    const state = Object.fromEntries(rows.map((r) => [r.rcptTo, r.state]));
    assertEquals(state, { [BOB_REMOTE]: "bounced", [CAROL_REMOTE]: "sent" });
    assertEquals(world.sink.backend.received[0].rcptTo, [CAROL_REMOTE]);

    const inbox = await world.inbox(ALICE.address);
    assertEquals(inbox.length, 1, "one DSN for the refused recipient");
    const dsn = await parseDsn(inbox[0]);
    assertEquals(dsn.contentType.value, "multipart/report");
    assertEquals(dsn.contentType.params["report-type"], "delivery-status");
    assertEquals(dsn.partTypes, ["text/plain", "message/delivery-status", "text/rfc822-headers"]);
    assert(/^Reporting-MTA: dns; mail\.postern\.test$/m.test(dsn.status), dsn.status);
    assert(/^Final-Recipient: rfc822; bob@remote\.test$/m.test(dsn.status), dsn.status);
    assert(/^Action: failed$/m.test(dsn.status), dsn.status);
    assert(/^Status: 5\.1\.1$/m.test(dsn.status), dsn.status);
    assert(/^Remote-MTA: dns; mx\.remote\.test$/m.test(dsn.status), dsn.status);
    assert(/^Diagnostic-Code: smtp; 550 5\.1\.1 no such user here$/m.test(dsn.status), dsn.status);
    assert(/^Subject: Doomed half$/m.test(dsn.headers), "the original headers are attached");
    assert(/^From: Mail Delivery System <MAILER-DAEMON@mail\.postern\.test>$/m.test(inbox[0]));
    assert(/^Auto-Submitted: auto-replied$/m.test(inbox[0]));
    const events = await world.gw.deps.store.db.select().from(schema.events);
    const bounced = events.find((e) => e.type === "outbox.bounced");
    assertEquals(JSON.parse(bounced!.data).status, "5.1.1");
  } finally {
    await world.close();
  }
});

Deno.test("outbound: a message refused after DATA bounces every recipient of it", async () => {
  const world = await startOutboundWorld();
  try {
    world.sink.backend.dataReply = { code: 554, enhanced: "5.6.0", text: "content rejected" };
    await world.send([BOB_REMOTE]);
    await world.worker().runOnce();
    assertEquals((await world.rows()).map((r) => r.state), ["bounced"]);
    const dsn = await parseDsn((await world.inbox(ALICE.address))[0]);
    assert(/^Status: 5\.6\.0$/m.test(dsn.status), dsn.status);
  } finally {
    await world.close();
  }
});

Deno.test("outbound: a recipient still deferred at its expiry bounces with 4.4.7", async () => {
  const world = await startOutboundWorld({ config: { outboxExpiryHours: 1 } });
  try {
    world.sink.backend.rcptReplies.set(BOB_REMOTE, {
      code: 452,
      enhanced: "4.2.2",
      text: "mailbox full",
    });
    await world.send([BOB_REMOTE]);
    const worker = world.worker();
    await worker.runOnce();
    assertEquals((await world.rows())[0].state, "deferred");
    world.advance(2 * 3_600_000);
    assertEquals(await worker.runOnce(), 0, "an expired row is bounced, not handed out");
    const [row] = await world.rows();
    assertEquals(row.state, "bounced");
    const dsn = await parseDsn((await world.inbox(ALICE.address))[0]);
    assert(/^Status: 4\.4\.7$/m.test(dsn.status), dsn.status);
    assert(/^Action: failed$/m.test(dsn.status), dsn.status);
    assert(/452 4\.2\.2 mailbox full/.test(dsn.status), "the last error is the diagnostic");
  } finally {
    await world.close();
  }
});

Deno.test("outbound: a deferral reported after the expiry bounces", async () => {
  const world = await startOutboundWorld({ config: { outboxExpiryHours: 1 } });
  try {
    await world.send([BOB_REMOTE]);
    const claim = await world.outbox.claim({ worker: "w1", limit: 10, leaseSeconds: 60 });
    const id = claim.groups[0].items[0].id;
    world.advance(3_600_000 + 1000);
    const result = await world.outbox.result(id, {
      worker: "w1",
      outcome: "deferred",
      smtpCode: 421,
      enhanced: "4.4.2",
      message: "connection dropped",
    });
    assertEquals(result.state, "bounced");
    assertEquals(result.bounced, true);
    const dsn = await parseDsn((await world.inbox(ALICE.address))[0]);
    assert(/^Status: 4\.4\.7$/m.test(dsn.status), dsn.status);
  } finally {
    await world.close();
  }
});

Deno.test("outbound: a null MX (RFC 7505) bounces at once with 5.1.10, without connecting", async () => {
  const world = await startOutboundWorld();
  try {
    await world.send(["someone@nullmx.test"]);
    await world.worker().runOnce();
    assertEquals((await world.rows()).map((r) => r.state), ["bounced"]);
    assertEquals(world.sink.backend.received.length, 0);
    const dsn = await parseDsn((await world.inbox(ALICE.address))[0]);
    assert(/^Status: 5\.1\.10$/m.test(dsn.status), dsn.status);
    assert(/^Final-Recipient: rfc822; someone@nullmx\.test$/m.test(dsn.status), dsn.status);
  } finally {
    await world.close();
  }
});

Deno.test("outbound: no MX falls back to the domain's A record; NXDOMAIN bounces", async () => {
  const world = await startOutboundWorld();
  try {
    await world.send(["someone@nomx.test", "ghost@nowhere.test"]);
    await world.worker().runOnce();
    const state = Object.fromEntries((await world.rows()).map((r) => [r.rcptTo, r.state]));
    assertEquals(state, { "someone@nomx.test": "sent", "ghost@nowhere.test": "bounced" });
    assertEquals(world.sink.backend.received.map((r) => r.rcptTo), [["someone@nomx.test"]]);
    const dsn = await parseDsn((await world.inbox(ALICE.address))[0]);
    assert(/^Status: 5\.1\.2$/m.test(dsn.status), dsn.status);
  } finally {
    await world.close();
  }
});

Deno.test("outbound: a bounce is never bounced (null reverse-path)", async () => {
  const world = await startOutboundWorld();
  try {
    world.sink.backend.rcptReplies.set(BOB_REMOTE, { code: 550, enhanced: "5.1.1", text: "no" });
    const raw = new TextEncoder().encode(
      "From: MAILER-DAEMON@postern.test\r\nTo: bob@remote.test\r\nSubject: a DSN\r\n\r\nx\r\n",
    );
    const sha = await sha256Hex(raw);
    await world.gw.deps.store.write(async (tx) => {
      await putBlob(tx, raw, sha);
      await enqueueOutbound(tx, world.gw.deps, {
        accountId: null,
        blobSha256: sha,
        mailFrom: "",
        recipients: [BOB_REMOTE],
        now: world.gw.deps.clock.now(),
      });
    });
    await world.worker().runOnce();
    assertEquals((await world.rows()).map((r) => r.state), ["failed"]);
    const all = await world.gw.deps.store.db.select().from(schema.messages);
    assertEquals(all.length, 0, "no DSN was generated anywhere");
  } finally {
    await world.close();
  }
});

Deno.test("outbound: one connection carries several messages to the same destination", async () => {
  const world = await startOutboundWorld();
  try {
    await world.send([BOB_REMOTE], "first");
    await world.send([CAROL_REMOTE], "second");
    await world.send(["dave@remote.test"], "third");
    let connects = 0;
    const worker = world.worker({
      connect: (o) => {
        connects++;
        return openSmtpClient(o);
      },
    });
    assertEquals(await worker.runOnce(), 3);
    assertEquals(world.sink.backend.received.length, 3);
    assertEquals(connects, 1);
    assertEquals((await world.rows()).map((r) => r.state), ["sent", "sent", "sent"]);
  } finally {
    await world.close();
  }
});

Deno.test("outbound: MTA-STS enforce needs a matching MX and a valid certificate", async () => {
  const world = await startOutboundWorld({
    sinkCert: "ca",
    zone: { "_mta-sts.remote.test": { TXT: ["v=STSv1; id=20250101"] } },
  });
  try {
    let policy = "version: STSv1\nmode: enforce\nmx: mail.other.test\nmax_age: 86400\n";
    const fetched: string[] = [];
    const fetcher = (domain: string) => {
      fetched.push(domain);
      return Promise.resolve(policy);
    };
    await world.send([BOB_REMOTE]);

    // 1. The policy names another host: nothing is sent, the row waits.
    await world.worker({ mtaSts: new MtaStsResolver(world.resolver, fetcher) }).runOnce();
    let [row] = await world.rows();
    assertEquals(row.state, "deferred");
    assert(row.lastError?.includes("MTA-STS"), row.lastError ?? "");
    assertEquals(fetched, ["remote.test"]);
    assertEquals(world.sink.backend.received.length, 0);

    // 2. A matching policy, but the certificate is not trusted: still deferred.
    policy = "version: STSv1\nmode: enforce\nmx: *.remote.test\nmax_age: 86400\n";
    world.dns.zone["_mta-sts.remote.test"] = { TXT: ["v=STSv1; id=20250102"] };
    world.advance(3_600_000);
    await world.worker({ mtaSts: new MtaStsResolver(world.resolver, fetcher) }).runOnce();
    [row] = await world.rows();
    assertEquals(row.state, "deferred");
    assertEquals(row.attempts, 2);
    assert(/certificate|self.signed|verify/i.test(row.lastError ?? ""), row.lastError ?? "");
    assertEquals(world.sink.backend.received.length, 0);

    // 3. The certificate's CA is trusted: delivered over verified TLS.
    world.advance(3_600_000);
    await world.worker({
      mtaSts: new MtaStsResolver(world.resolver, fetcher),
      ca: [world.ca],
    }).runOnce();
    [row] = await world.rows();
    assertEquals(row.state, "sent");
    assertEquals(world.sink.backend.received.length, 1);
    assert(world.sink.backend.received[0].tls);
  } finally {
    await world.close();
  }
});

Deno.test("outbound: without MTA-STS a self-signed or failing certificate does not stop delivery", async () => {
  const world = await startOutboundWorld({ sinkCert: "self" });
  try {
    const policy = "version: STSv1\nmode: testing\nmx: mail.other.test\nmax_age: 86400\n";
    world.dns.zone["_mta-sts.remote.test"] = { TXT: ["v=STSv1; id=1"] };
    await world.send([BOB_REMOTE]);
    await world.worker({
      mtaSts: new MtaStsResolver(world.resolver, () => Promise.resolve(policy)),
    }).runOnce();
    assertEquals((await world.rows()).map((r) => r.state), ["sent"]);
    assert(
      world.sink.backend.received[0].tls,
      "opportunistic TLS accepts a self-signed certificate",
    );
  } finally {
    await world.close();
  }
});

Deno.test("outbound: the worker loop runs, delivers, and stops", async () => {
  const world = await startOutboundWorld();
  try {
    const worker = world.worker({ claimIntervalMs: 20 });
    worker.start();
    await world.send([BOB_REMOTE]);
    for (let i = 0; i < 200 && world.sink.backend.received.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    await worker.stop();
    assertEquals(world.sink.backend.received.length, 1);
    assertEquals((await world.rows())[0].state, "sent", "stop() waits for the results");
  } finally {
    await world.close();
  }
});

Deno.test("outbound: an unreachable MX is skipped for the next by preference", async () => {
  const world = await startOutboundWorld({
    zone: {
      "multi.test": { MX: ["20 mx.remote.test", "10 dead.multi.test"] },
      "dead.multi.test": { A: ["127.0.0.2"] },
    },
  });
  try {
    const tried: string[] = [];
    await world.send(["x@multi.test"]);
    await world.worker({
      connect: (o) => {
        tried.push(`${o.mxName} ${o.address}`);
        return openSmtpClient(o);
      },
    }).runOnce();
    assertEquals(tried, ["dead.multi.test 127.0.0.2", "mx.remote.test 127.0.0.1"]);
    const [row] = await world.rows();
    assertEquals(row.state, "sent");
    assertEquals(world.sink.backend.received[0].rcptTo, ["x@multi.test"]);
  } finally {
    await world.close();
  }
});

Deno.test("outbound: a server without STARTTLS gets plaintext, unless MTA-STS enforces TLS", async () => {
  const world = await startOutboundWorld({ sinkCert: "none" });
  try {
    await world.send([BOB_REMOTE]);
    await world.worker().runOnce();
    assertEquals((await world.rows()).map((r) => r.state), ["sent"]);
    assertEquals(world.sink.backend.received[0].tls, false);

    world.dns.zone["_mta-sts.remote.test"] = { TXT: ["v=STSv1; id=e1"] };
    const policy = "version: STSv1\nmode: enforce\nmx: mx.remote.test\nmax_age: 86400\n";
    await world.send([CAROL_REMOTE]);
    await world.worker({
      mtaSts: new MtaStsResolver(world.resolver, () => Promise.resolve(policy)),
      ca: [world.ca],
    }).runOnce();
    const rows = await world.rows();
    assertEquals(rows.map((r) => r.state), ["sent", "deferred"]);
    assert(/STARTTLS|TLS/i.test(rows[1].lastError ?? ""), rows[1].lastError ?? "");
    assertEquals(world.sink.backend.received.length, 1);
  } finally {
    await world.close();
  }
});
