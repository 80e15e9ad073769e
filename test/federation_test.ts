/**
 * Signed federation between three gateways on loopback over real TLS, discovered through a test
 * DNS server: mail in every direction (one POST per message and domain, receipts stored, the
 * verdict in the message's JSON form), a peer that is down for a while, key rotation, routing
 * of the shared outbox between the federation worker and the bridge, and discovery's caching.
 */
import { blobBytes } from "../src/services/blob_chunks.ts";
import { eq } from "drizzle-orm";
import { compactVerify, createLocalJWKSet } from "jose";
import { runFederationOnce } from "../src/federation/worker.ts";
import { sendFederated } from "../src/federation/send.ts";
import { discover, forgetPeer } from "../src/federation/discovery.ts";
import { claimOutbox } from "../src/services/outbox_delivery.ts";
import { schema } from "../src/store/store.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { type Peer, startFederation } from "./fixtures/federation.ts";
import { startFederationWorker } from "../hosts/process/federation_runtime.ts";
import { silentLogger } from "../src/ports.ts";

async function send(from: Peer, to: string[], subject: string): Promise<void> {
  const res = await from.call("POST", "/v1/emails", {
    as: "alice",
    body: { from: `alice@${from.domain}`, to, subject, text: `${subject}\n` },
  });
  assertEquals(res.status, 201, await res.clone().text());
}

/** Subjects in `local`'s Inbox at `peer`, with each message's federation verdict. */
async function inbox(peer: Peer, local: string) {
  const [account] = await peer.deps.store.db.select().from(schema.accounts)
    .where(eq(schema.accounts.address, `${local}@${peer.domain}`));
  const rows = await peer.deps.store.db.select().from(schema.messages)
    .where(eq(schema.messages.accountId, account.id));
  const inboxRows = [];
  for (const row of rows) {
    const res = await peer.call("GET", `/v1/messages/${row.id}`, { as: local });
    const detail = await res.json();
    if (detail.authentication?.federation) {
      inboxRows.push({ subject: detail.subject, federation: detail.authentication.federation });
    }
  }
  return inboxRows.sort((a, b) => a.subject.localeCompare(b.subject));
}

async function outboxStates(peer: Peer): Promise<string[]> {
  const rows = await peer.deps.store.db.select().from(schema.outbox).orderBy(schema.outbox.id);
  return rows.map((r) => `${r.rcptTo} ${r.state}`);
}

Deno.test("federation: mail in every direction, one signed POST per message and domain", async () => {
  const fed = await startFederation(["alpha.test", "beta.test", "gamma.test"]);
  try {
    const [alpha, beta, gamma] = fed.peers;
    for (const from of fed.peers) {
      const others = fed.peers.filter((p) => p !== from);
      // Two recipients at the first peer (one written user#domain), one at the second.
      await send(from, [
        `bob@${others[0].domain}`,
        `carol#${others[0].domain}`,
        `bob@${others[1].domain}`,
      ], `from ${from.domain}`);
    }
    for (const peer of fed.peers) {
      const pass = await runFederationOnce(peer.deps, `w-${peer.domain}`);
      assertEquals(pass, { claimed: 3, sent: 3, deferred: 0, failed: 0 });
    }
    for (const peer of fed.peers) {
      assert((await outboxStates(peer)).every((s) => s.endsWith(" sent")));
      const receipts = await peer.deps.store.db.select().from(schema.federationReceipts);
      // One delivery (and receipt) per destination domain, carrying all its recipients.
      assertEquals(receipts.map((r) => JSON.parse(r.outboxIds).length).sort(), [1, 2]);
      const bobs = await inbox(peer, "bob");
      const senders = fed.peers.filter((p) => p !== peer).map((p) => p.domain);
      assertEquals(bobs.map((m) => m.subject), senders.map((d) => `from ${d}`));
      for (const m of bobs) {
        assertEquals(m.federation.result, "pass");
        assertEquals(m.federation.aligned, true);
        assertEquals(`from ${m.federation.signer}`, m.subject);
      }
    }
    assertEquals((await inbox(beta, "carol")).map((m) => m.subject), ["from alpha.test"]);
    assertEquals((await inbox(gamma, "carol")).map((m) => m.subject), []);
    assertEquals((await inbox(alpha, "carol")).map((m) => m.subject), [
      "from beta.test",
      "from gamma.test",
    ]);
    // Nothing more to do: every recipient was delivered exactly once.
    assertEquals((await runFederationOnce(alpha.deps, "w-again")).claimed, 0);
  } finally {
    await fed.close();
  }
});

Deno.test("federation: a peer down for a while gets everything once back, once", async () => {
  const fed = await startFederation(["alpha.test", "beta.test"]);
  try {
    const [alpha, beta] = fed.peers;
    await beta.stop();
    for (const n of [1, 2, 3]) await send(alpha, ["bob@beta.test", "carol@beta.test"], `m${n}`);
    const down = await runFederationOnce(alpha.deps, "w1");
    assertEquals(down, { claimed: 6, sent: 0, deferred: 6, failed: 0 });
    // Retries wait (backoff): nothing is due yet.
    assertEquals((await runFederationOnce(alpha.deps, "w1")).claimed, 0);
    // …and the bridge never takes these rows for SMTP.
    const bridge = await claimOutbox(alpha.deps, { worker: "b", limit: 50, leaseSeconds: 60 });
    assertEquals(bridge.groups, []);

    beta.start();
    // Time passes: the retries fall due.
    await alpha.deps.store.db.update(schema.outbox).set({ nextAttemptAt: Date.now() - 1 });
    const back = await runFederationOnce(alpha.deps, "w2");
    assertEquals(back, { claimed: 6, sent: 6, deferred: 0, failed: 0 });
    assertEquals((await runFederationOnce(alpha.deps, "w2")).claimed, 0);
    assertEquals((await inbox(beta, "bob")).map((m) => m.subject), ["m1", "m2", "m3"]);
    assertEquals((await inbox(beta, "carol")).map((m) => m.subject), ["m1", "m2", "m3"]);
    const rows = await alpha.deps.store.db.select().from(schema.outbox);
    assertEquals(rows.map((r) => [r.state, r.attempts]), rows.map(() => ["sent", 2]));
  } finally {
    await fed.close();
  }
});

Deno.test("federation: the outbox splits between the federation worker and the bridge", async () => {
  const fed = await startFederation(["alpha.test", "beta.test"]);
  try {
    const [alpha] = fed.peers;
    await send(alpha, ["bob@beta.test", "someone@smtp.test"], "split");
    const bridge = await claimOutbox(alpha.deps, { worker: "b", limit: 50, leaseSeconds: 60 });
    assertEquals(bridge.groups.map((g) => g.domain), ["smtp.test"]);
    const pass = await runFederationOnce(alpha.deps, "f");
    assertEquals(pass, { claimed: 1, sent: 1, deferred: 0, failed: 0 });
    const peers = await alpha.deps.store.db.select().from(schema.federationPeers)
      .orderBy(schema.federationPeers.domain);
    assertEquals(peers.map((p) => [p.domain, p.status]), [["beta.test", "peer"], [
      "smtp.test",
      "none",
    ]]);
  } finally {
    await fed.close();
  }
});

Deno.test("discovery: cached, negatively cached, and SSRF-safe unless allowed", async () => {
  const fed = await startFederation(["alpha.test", "beta.test"]);
  try {
    const [alpha, beta] = fed.peers;
    const first = await discover(alpha.deps, "beta.test");
    assertEquals(first.status, "peer");
    assertEquals(first.document?.delivery, `https://127.0.0.1:${beta.port}/v1/federation/deliver`);
    const asked = () => fed.dns.queries.filter((q) => q.name === "_sharp.nowhere.test").length;
    assertEquals((await discover(alpha.deps, "nowhere.test")).status, "none");
    assertEquals((await discover(alpha.deps, "nowhere.test")).status, "none");
    forgetPeer(alpha.deps, "nowhere.test");
    // The store remembers the negative answer too (another process would see it).
    assertEquals((await discover(alpha.deps, "nowhere.test")).status, "none");
    assertEquals(asked(), 1);

    // The same lookups without the loopback permission are refused before any fetch.
    alpha.deps.config = { ...alpha.deps.config, federationAllowPrivate: false };
    const refused = await discover(alpha.deps, "beta.test", true);
    assertEquals(refused.status, "error");
    assert(/127\.0\.0\.1 is a non-public address/.test(refused.detail ?? ""), refused.detail);
    fed.dns.zone["direct.test"] = { A: ["10.1.2.3"] };
    const direct = await discover(alpha.deps, "direct.test", true);
    assertEquals(direct.status, "none");
    assert(/non-public/.test(direct.detail ?? ""), direct.detail);

    // The document and the keys are published, and the wire objects as JSON Schema.
    const doc = await alpha.call("GET", "/.well-known/sharp?domain=alpha.test");
    assertEquals(
      (await doc.json()).jwks.endsWith("/.well-known/sharp/jwks?domain=alpha.test"),
      true,
    );
    const jwks = await (await alpha.call("GET", "/.well-known/sharp/jwks?domain=alpha.test"))
      .json();
    assertEquals(jwks.keys.map((k: { kty: string; crv: string }) => [k.kty, k.crv]), [[
      "OKP",
      "Ed25519",
    ]]);
    assertEquals((await alpha.call("GET", "/.well-known/sharp?domain=other.test")).status, 404);
    const schemaRes = await alpha.call("GET", "/schemas/FederationEnvelope.json");
    assertEquals(schemaRes.status, 200);
    const published = await schemaRes.json();
    assert(published.$defs.FederationEnvelope.required.includes("nonce"));
  } finally {
    await fed.close();
  }
});

Deno.test("federation: a recipient the peer refuses bounces through the outbox", async () => {
  const fed = await startFederation(["alpha.test", "beta.test"]);
  try {
    const [alpha] = fed.peers;
    await send(alpha, ["bob@beta.test", "nobody@beta.test"], "partly");
    const pass = await runFederationOnce(alpha.deps, "w");
    assertEquals(pass, { claimed: 2, sent: 1, deferred: 0, failed: 1 });
    assertEquals(await outboxStates(alpha), ["bob@beta.test sent", "nobody@beta.test bounced"]);
    // The receipt names both outcomes; the DSN reaches Alice's Inbox.
    const [receipt] = await alpha.deps.store.db.select().from(schema.federationReceipts);
    assertEquals(JSON.parse(receipt.results).map((r: { status: string }) => r.status), [
      "accepted",
      "rejected",
    ]);
    const [alice] = await alpha.deps.store.db.select().from(schema.accounts)
      .where(eq(schema.accounts.address, "alice@alpha.test"));
    const mail = await alpha.deps.store.db.select().from(schema.messages)
      .where(eq(schema.messages.accountId, alice.id));
    const dsn = mail.find((m) => m.fromAddress.toLowerCase().startsWith("mailer-daemon@"));
    assert(dsn, "a delivery status notification arrived");
    const raw = await alpha.deps.store.db.select().from(schema.blobs)
      .where(eq(schema.blobs.sha256, dsn.blobSha256));
    const text = new TextDecoder().decode(await blobBytes(alpha.deps.store.db, raw[0]));
    assert(text.includes("Status: 5.1.1") && text.includes("nobody@beta.test"), text);
  } finally {
    await fed.close();
  }
});

Deno.test("federation: a worker that dies after posting is retried, and nothing is doubled", async () => {
  const fed = await startFederation(["alpha.test", "beta.test"]);
  try {
    const [alpha, beta] = fed.peers;
    await send(alpha, ["bob@beta.test"], "crash");
    // Worker A claims the row and delivers it, then dies before recording the result.
    const claim = await claimOutbox(alpha.deps, {
      worker: "dead",
      limit: 10,
      leaseSeconds: 60,
      route: "federation",
    });
    const [item] = claim.groups[0].items;
    const [blob] = await alpha.deps.store.db.select().from(schema.blobs)
      .where(eq(schema.blobs.sha256, item.blobSha256));
    const peer = await discover(alpha.deps, "beta.test");
    const first = await sendFederated(alpha.deps, peer.document!, {
      domain: "beta.test",
      mailFrom: item.mailFrom,
      recipients: [item.rcptTo],
      raw: await blobBytes(alpha.deps.store.db, blob),
      messageId: item.messageId ?? "",
    });
    assert(first.ok);
    // While the lease holds nobody else takes the row; once it lapses, worker B does.
    assertEquals((await runFederationOnce(alpha.deps, "live")).claimed, 0);
    await alpha.deps.store.db.update(schema.outbox).set({ leaseUntil: Date.now() - 1 });
    assertEquals(await runFederationOnce(alpha.deps, "live"), {
      claimed: 1,
      sent: 1,
      deferred: 0,
      failed: 0,
    });
    // The peer recognised the same message: one copy in the mailbox.
    assertEquals((await inbox(beta, "bob")).map((m) => m.subject), ["crash"]);
  } finally {
    await fed.close();
  }
});

Deno.test("federation: the sender fetches its signed receipts; other accounts cannot", async () => {
  const fed = await startFederation(["alpha.test", "beta.test"]);
  try {
    const [alpha, beta] = fed.peers;
    const sent = await alpha.call("POST", "/v1/emails", {
      as: "alice",
      body: { from: "alice@alpha.test", to: ["bob@beta.test"], subject: "proof", text: "x\n" },
    });
    assertEquals(sent.status, 201);
    const { messageId } = await sent.json();
    await runFederationOnce(alpha.deps, "w-receipts");
    const query = `/v1/federation/receipts?messageId=${encodeURIComponent(messageId)}`;
    const mine = await (await alpha.call("GET", query, { as: "alice" })).json();
    assertEquals(mine.items.length, 1);
    const [stored] = mine.items;
    assertEquals(stored.domain, "beta.test");
    assertEquals(stored.results.map((r: { status: string }) => r.status), ["accepted"]);
    // The receipt is beta.test's signature over the delivery: anyone can check it.
    const jwks = await (await beta.call("GET", "/.well-known/sharp/jwks?domain=beta.test")).json();
    const { payload } = await compactVerify(stored.receipt, createLocalJWKSet(jwks));
    const claims = JSON.parse(new TextDecoder().decode(payload));
    assertEquals(claims.iss, "beta.test");
    // Another account of the same gateway finds nothing; nor does a guessed Message-ID.
    assertEquals((await (await alpha.call("GET", query, { as: "bob" })).json()).items, []);
    const none = await alpha.call("GET", "/v1/federation/receipts?messageId=%3Cx%40y%3E", {
      as: "alice",
    });
    assertEquals((await none.json()).items, []);
  } finally {
    await fed.close();
  }
});

Deno.test("issue20#f: a send wakes the federation worker, which does not wait for its poll", async () => {
  const fed = await startFederation(["alpha.test", "beta.test"]);
  // An hour between polls: after its first (empty) pass, only the wake-up can carry the mail.
  const worker = startFederationWorker(fed.peers[0].deps, silentLogger, { intervalMs: 3_600_000 });
  try {
    const [alpha, beta] = fed.peers;
    await new Promise((r) => setTimeout(r, 50)); // the first pass finds nothing to do
    await send(alpha, ["bob@beta.test"], "woken");
    let states: string[] = [];
    for (let i = 0; i < 400; i++) {
      states = await outboxStates(alpha);
      if (states.every((s) => s.endsWith(" sent"))) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assertEquals(states, ["bob@beta.test sent"]);
    assertEquals((await inbox(beta, "bob")).map((m) => m.subject), ["woken"]);
    // Its receipt was stored by the same job as the result.
    const receipts = await alpha.deps.store.db.select().from(schema.federationReceipts);
    assertEquals(receipts.length, 1);
  } finally {
    await worker.close();
    await fed.close();
  }
});
