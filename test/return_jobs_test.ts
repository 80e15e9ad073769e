/**
 * Issue 16 item 1 for mail that comes back (src/transactional/returns.ts): a DSN (RFC 3464) or an
 * ARF complaint (RFC 5965) is one write job — the recipient's status, the suppression, the
 * webhook deliveries and the timeline row the analytics count — of one round trip, and the same
 * report recorded twice, or by two gateways at once, changes things once. Every race runs between
 * two `Store`s on one database, on each engine (`storeTest`: the embedded file, remote libSQL over
 * Hrana/HTTP and over Hrana/WebSocket, Cloudflare D1 in workerd).
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, DOMAIN } from "./fixtures/app.ts";
import { storeTest } from "./fixtures/store.ts";
import { type Pair, pair } from "./fixtures/gateway_pair.ts";
import { arfReport, dsnReport } from "./fixtures/reports.ts";
import { ingestReturn } from "../src/transactional/returns.ts";

const enc = new TextEncoder();

interface Sent {
  p: Pair;
  token: string;
  emailId: string;
  /** The signed VERP return path the message went out with. */
  verp: string;
  /** The headers an ARF report quotes of the original. */
  headers: string;
}

/** Two gateways; Alice sends one message with VERP to `to`, with a webhook on every email event. */
async function sent(engine: Parameters<typeof pair>[0], to: string[]): Promise<Sent> {
  const p = await pair(engine);
  const token = await p.gw.login(ALICE);
  const admin = await p.gw.login(ADMIN);
  const verpOn = await p.gw.call("PATCH", `/v1/domains/${DOMAIN}/sending`, {
    token: admin,
    body: { verp: true },
  });
  assertEquals(verpOn.status, 200);
  await verpOn.body?.cancel();
  const hook = await p.gw.call("POST", "/v1/webhooks", {
    token,
    body: { url: "https://hooks.example.com/tx", events: ["email.*"] },
  });
  assertEquals(hook.status, 201);
  await hook.body?.cancel();
  const res = await p.gw.call("POST", "/v1/emails", {
    token,
    body: { from: ALICE.address, to, subject: "Order", text: "x", tags: ["t1"] },
  });
  assertEquals(res.status, 201, await res.clone().text());
  const { emailId } = await res.json();
  const row = (await p.sql.get<{ mail_from: string }>("SELECT mail_from FROM outbox LIMIT 1"))!;
  const message = (await p.sql.get<{ message_id_header: string }>(
    "SELECT message_id_header FROM tx_messages WHERE id = ?",
    [emailId],
  ))!;
  const headers = `From: ${ALICE.address}\r\nTo: ${to[0]}\r\nSubject: Order\r\n` +
    `X-Postern-Email-Id: ${emailId}\r\nMessage-ID: ${message.message_id_header}`;
  p.jobs.length = 0;
  return { p, token, emailId, verp: String(row.mail_from), headers };
}

/** What the store holds of the message's returns: events, suppressions, webhook deliveries. */
async function recorded(p: Pair, emailId: string) {
  const events = await p.sql.all<{ type: string; recipient: string }>(
    `SELECT type, recipient FROM tx_events WHERE message_id = ?
     AND type IN ('bounced', 'deferred', 'complained') ORDER BY recipient, type`,
    [emailId],
  );
  const suppressions = await p.sql.all<{ address: string; reason: string }>(
    "SELECT address, reason FROM tx_suppressions ORDER BY address",
  );
  const deliveries = await p.sql.all<{ event_type: string; payload: string }>(
    `SELECT event_type, payload FROM tx_webhook_deliveries
     WHERE event_type IN ('email.bounced', 'email.deferred', 'email.complained') ORDER BY id`,
  );
  const statuses = await p.sql.all<{ address: string; status: string }>(
    "SELECT address, status FROM tx_recipients WHERE message_id = ? ORDER BY address",
    [emailId],
  );
  return {
    events: events.map((e) => `${e.recipient} ${e.type}`),
    suppressions: suppressions.map((s) => `${s.address} ${s.reason}`),
    deliveries: deliveries.map((d) => `${JSON.parse(d.payload).data.to} ${d.event_type}`),
    payloads: deliveries.map((d) => JSON.parse(d.payload)),
    statuses: Object.fromEntries(statuses.map((s) => [s.address, s.status])),
  };
}

storeTest(
  "issue16#1: the same DSN at two gateways at once: one bounce, one suppression, one webhook, one round trip per job",
  async (engine) => {
    const s = await sent(engine, ["gone@remote.test", "full@remote.test", "slow@remote.test"]);
    const { p, verp, emailId } = s;
    const gone = enc.encode(dsnReport(verp, "gone@remote.test"));
    // Three handlings of one report at once (a retried SMTP transaction, two MX bridges).
    const outcomes = await Promise.all(
      [p.a, p.b, p.a].map((deps) => ingestReturn(deps, gone, [verp])),
    );
    for (const o of outcomes) {
      assertEquals([o.kind, o.emailId], ["dsn", emailId]);
      assertEquals(o.events.map((e) => [e.recipient, e.type, e.status]), [
        ["gone@remote.test", "bounced", "5.1.1"],
      ]);
    }
    assertEquals(p.jobs.map((j) => [j.kind, j.roundTrips]), Array(3).fill(["batch", 1]));
    // A mailbox full (5.2.2) fails the message only; a delay changes the status, nothing else.
    const full = dsnReport(verp, "full@remote.test", "", "5.2.2", "552 5.2.2 Mailbox full");
    const slow = dsnReport(verp, "slow@remote.test", "", "4.4.1", "451 4.4.1 try later")
      .replace("Action: failed", "Action: delayed");
    await Promise.all([
      ingestReturn(p.b, enc.encode(full), [verp]),
      ingestReturn(p.a, enc.encode(slow), [verp]),
    ]);
    // The same report again, later: still read, nothing recorded twice; the whole report,
    // finding its message included, is one round trip to the store.
    const before = p.b.store.roundTrips;
    const again = await ingestReturn(p.b, gone, [verp]);
    assertEquals(again.events.length, 1);
    assertEquals(p.b.store.roundTrips - before, 1);
    assert(p.jobs.every((j) => j.roundTrips === 1), JSON.stringify(p.jobs));
    const r = await recorded(p, emailId);
    assertEquals(r.events, [
      "full@remote.test bounced",
      "gone@remote.test bounced",
      "slow@remote.test deferred",
    ]);
    assertEquals(r.suppressions, ["gone@remote.test bounce"]);
    assertEquals(r.deliveries.sort(), [
      "full@remote.test email.bounced",
      "gone@remote.test email.bounced",
      "slow@remote.test email.deferred",
    ]);
    assertEquals(r.statuses, {
      "full@remote.test": "bounced",
      "gone@remote.test": "bounced",
      "slow@remote.test": "deferred",
    });
    const bounce = r.payloads.find((x) => x.data.to === "gone@remote.test");
    assertEquals(bounce.type, "email.bounced");
    assertEquals(
      [bounce.data.emailId, bounce.data.status, bounce.data.source, bounce.data.suppressed],
      [emailId, "5.1.1", "dsn", true],
    );
    assertEquals(bounce.data.tags, ["t1"]);
    // The analytics count the timeline: one bounce per bounced recipient, however many copies.
    const stats = await (await p.gw.call("GET", "/v1/analytics?groupBy=tag", { token: s.token }))
      .json();
    assertEquals(stats.rows.map((x: { key: string; bounced: number }) => [x.key, x.bounced]), [
      ["t1", 2],
    ]);
    // The suppression holds for the next send to that address.
    const blocked = await p.gw.call("POST", "/v1/emails", {
      token: s.token,
      body: { from: ALICE.address, to: ["gone@remote.test"], text: "again" },
    });
    assertEquals(blocked.status, 422);
    await blocked.body?.cancel();
    p.close();
  },
);

storeTest(
  "issue16#1: an ARF complaint at two gateways at once: one complained event, suppression and webhook; strangers and forgeries change nothing",
  async (engine) => {
    const s = await sent(engine, ["angry@remote.test", "calm@remote.test"]);
    const { p, emailId, headers, verp } = s;
    const report = enc.encode(arfReport("angry@remote.test", headers));
    const outcomes = await Promise.all([p.a, p.b].map((deps) => ingestReturn(deps, report)));
    for (const o of outcomes) {
      assertEquals([o.kind, o.emailId], ["arf", emailId]);
      assertEquals(o.events.map((e) => [e.recipient, e.type]), [[
        "angry@remote.test",
        "complained",
      ]]);
    }
    assertEquals(p.jobs.map((j) => j.roundTrips), [1, 1]);
    // A report about an address the message was not sent to: read, matched, nothing recorded.
    const stranger = await ingestReturn(p.a, enc.encode(dsnReport(verp, "ceo@remote.test")), [
      verp,
    ]);
    assertEquals([stranger.emailId, stranger.events], [emailId, []]);
    // The original's Message-ID does not match its email id: no message, nothing written.
    const tampered = headers.replace(/^Message-ID: .*$/mi, "Message-ID: <other@x>");
    const forged = await ingestReturn(p.b, enc.encode(arfReport("calm@remote.test", tampered)));
    assertEquals([forged.emailId, forged.events], [undefined, []]);
    // Nor does a forged return path name one (its MAC is checked before the job).
    const badMac = verp.replace(/\.[0-9a-f]{16}@/, ".0000000000000000@");
    const unsigned = await ingestReturn(p.a, enc.encode(dsnReport(badMac, "calm@remote.test")), [
      badMac,
    ]);
    assertEquals([unsigned.emailId, unsigned.events], [undefined, []]);
    const r = await recorded(p, emailId);
    assertEquals(r.events, ["angry@remote.test complained"]);
    assertEquals(r.suppressions, ["angry@remote.test complaint"]);
    assertEquals(r.deliveries, ["angry@remote.test email.complained"]);
    assertEquals(r.payloads[0].data.feedbackType, "abuse");
    assertEquals(r.statuses["angry@remote.test"], "complained");
    assertEquals(r.statuses["calm@remote.test"], "queued");
    p.close();
  },
);
