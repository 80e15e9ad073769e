/**
 * SHARP/1.3 end to end between two Posterns on loopback with a fake DNS: Alice on the first
 * (postern.test) writes to `bob#b.example` through the HTTP API; the first Postern's outbound
 * worker finds `_sharp._tcp.b.example`, mints a stamp and delivers over TCP to the second
 * Postern's SHARP listener, which verifies the sender's IP against `_sharp._tcp.postern.test`,
 * checks the stamp and hands the message to its gateway. Bob's message carries the
 * "unsigned, IP-verified" verdict; an unknown user bounces (550), a domain the peer does not
 * serve is retried (451), a domain without SHARP SRV stays on SMTP.
 */
import { eq } from "drizzle-orm";
import { createResolver } from "../bridge/dns/resolver.ts";
import { GatewayClient } from "../bridge/gateway_client.ts";
import { GatewaySharpBackend } from "../bridge/sharp/gateway_backend.ts";
import { sendSharp } from "../bridge/sharp/client.ts";
import { GatewayReplayTable } from "../bridge/sharp/gateway_replay.ts";
import { mintStamp } from "../bridge/sharp/hashcash.ts";
import { startSharpServer } from "../bridge/sharp/server.ts";
import { OutboxClient } from "../bridge/smtp_out/outbox_client.ts";
import { OutboundWorker } from "../bridge/smtp_out/worker.ts";
import { createAccount, createDomain } from "../src/services/accounts.ts";
import { schema } from "../src/store/store.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, createTestGateway } from "./fixtures/app.ts";
import { bridgeKey } from "./fixtures/bridge.ts";
import { startFakeDns } from "./fixtures/fake_dns.ts";

const BITS = 8;
const BOB_B = { address: "bob@b.example", password: "bob-b-password-1" };

Deno.test("e2e: mail for bob#b.example reaches Bob's Inbox on a second Postern over SHARP/1.3", async () => {
  const dns = await startFakeDns({
    "_sharp._tcp.postern.test": { SRV: ["10 5 5000 sharp.postern.test"] },
    "sharp.postern.test": { A: ["127.0.0.1"] },
    "sharp.b.example": { A: ["127.0.0.1"] },
  });
  const resolver = createResolver({ servers: [dns.server], timeoutMs: 2000, tries: 1 });
  const a = await createTestGateway({ hostname: "mail.postern.test" });
  const b = await createTestGateway({ hostname: "mx.b.example" });
  await createDomain(b.deps.store, "b.example");
  await createAccount(b.deps.store, BOB_B, {
    quotaBytes: b.deps.config.defaultQuotaBytes,
    nowMs: Date.now(),
  });
  const keyB = await bridgeKey(b);
  // Two bridges in front of the second gateway, sharing its table of spent stamps.
  const bridgeB = () =>
    startSharpServer({
      host: "127.0.0.1",
      port: 0,
      backend: new GatewaySharpBackend(
        new GatewayClient("http://gateway.internal", keyB, (r) => b.app.fetch(r)),
        resolver,
        "mx.b.example",
      ),
      minBits: BITS,
      replay: new GatewayReplayTable("http://gateway.internal", keyB, (r) => b.app.fetch(r)),
      maxConnections: 20,
      maxPerIp: 20,
      idleMs: 10_000,
      sessionMs: 30_000,
    });
  const listener = await bridgeB();
  const second = await bridgeB();
  // b.example and c.example point at the second Postern, which serves only b.example.
  dns.zone["_sharp._tcp.b.example"] = { SRV: [`10 5 ${listener.port} sharp.b.example`] };
  dns.zone["_sharp._tcp.c.example"] = { SRV: [`10 5 ${listener.port} sharp.b.example`] };
  const worker = new OutboundWorker({
    gateway: new OutboxClient("http://gateway.internal", await bridgeKey(a), (r) => a.app.fetch(r)),
    resolver,
    hostname: "mail.postern.test",
    port: 1, // SMTP is not reached in this test
    concurrency: 2,
    claimIntervalMs: 50,
    leaseSeconds: 60,
    logger: { log() {} },
    sharp: { hashcashBits: BITS },
  });
  try {
    assertEquals(await worker.routeFor("b.example"), "sharp");
    assertEquals(await worker.routeFor("nosharp.example"), "smtp");

    const alice = await a.login(ALICE);
    const sent = await a.call("POST", "/v1/emails", {
      token: alice,
      body: {
        from: ALICE.address,
        to: ["bob#b.example", "nobody#b.example", "carol#c.example"],
        subject: "Across SHARP",
        text: "Hello Bob, over SHARP/1.3.\n",
        html: "<p>Hello Bob, over <b>SHARP/1.3</b>.</p>",
      },
    });
    assertEquals(sent.status, 201, await sent.clone().text());
    assertEquals(await worker.runOnce(), 3);

    // Bob's Inbox on the second Postern: the message, From Alice, marked unsigned + IP-verified.
    const bob = await b.login(BOB_B);
    const list = await (await b.call("GET", "/v1/messages?limit=10", { token: bob })).json();
    const items = list.items ?? list.messages ?? list.data;
    assertEquals(items.length, 1, JSON.stringify(list));
    const detail = await (await b.call("GET", `/v1/messages/${items[0].id}`, { token: bob }))
      .json();
    assertEquals(detail.subject, "Across SHARP");
    assertEquals(detail.from.address, ALICE.address);
    assert(detail.text.includes("Hello Bob, over SHARP/1.3."), detail.text);
    assert(String(detail.html).includes("<b>SHARP/1.3</b>"), detail.html);
    assertEquals(detail.authentication.sharp.signed, false);
    assertEquals(detail.authentication.sharp.sender, "ip-verified");
    assertEquals(detail.authentication.sharp.version, "1.3");
    assertEquals(detail.authentication.clientIp, "127.0.0.1");
    const raw = await (await b.call("GET", `/v1/messages/${items[0].id}/raw`, { token: bob }))
      .text();
    // The receiving gateway's spam verdict (issue 21 item 1) on top, then the SHARP trace field.
    const traced = raw.replace(
      /^X-Spam-Status: [^\r]*\r\n(?:[ \t][^\r]*\r\n)*X-Spam-Score: \S+\r\n/,
      "",
    );
    assert(traced !== raw, raw.slice(0, 200));
    assert(
      /^Received: from alice#postern\.test \(\[127\.0\.0\.1\]\)/.test(traced),
      raw.slice(0, 200),
    );

    // The first Postern's outbox: sent; 550 → bounced to Alice; 451 → deferred for a retry.
    const rows = await a.deps.store.db.select().from(schema.outbox).orderBy(schema.outbox.id);
    const state = Object.fromEntries(rows.map((r) => [r.rcptTo, r.state]));
    assertEquals(state, {
      "bob@b.example": "sent",
      "nobody@b.example": "bounced",
      "carol@c.example": "deferred",
    });
    const carol = rows.find((r) => r.rcptTo === "carol@c.example")!;
    assert(String(carol.lastError ?? "").includes("451"), String(carol.lastError));

    // Nothing else arrived at the second Postern (the refused recipients stored nothing).
    const stored = await b.deps.store.db.select().from(schema.messages).where(
      eq(schema.messages.subject, "Across SHARP"),
    );
    assertEquals(stored.length, 1);

    // A stamp spent at one bridge is refused at the other (the table lives in the gateway).
    const stamp = await mintStamp("bob#b.example", BITS);
    const once = (port: number) =>
      sendSharp({
        host: "127.0.0.1",
        port,
        serverId: "alice#postern.test",
        to: "bob#b.example",
        hashcash: stamp,
        content: {
          subject: "Once",
          body: "x",
          contentType: "text/plain",
          htmlBody: null,
          attachments: [],
        },
      });
    assert((await once(listener.port)).ok);
    const replayed = await once(second.port);
    assertEquals(replayed.ok ? "ok" : [replayed.step, replayed.code, replayed.message], [
      "MAIL_TO",
      429,
      "Insufficient proof of work. Score: 3 (stamp already used)",
    ]);
  } finally {
    await worker.stop();
    await second.close();
    await listener.close();
    await dns.close();
    a.close();
    b.close();
  }
});

Deno.test("gateway: spent stamps are shared, bridge scope only, never given back", async () => {
  const gw = await createTestGateway();
  try {
    const key = await bridgeKey(gw);
    const body = { stamp: "1:8:251128120000:bob#b.example::r:1", expiresAt: Date.now() + 60_000 };
    const alice = await gw.login(ALICE);
    assertEquals((await gw.call("POST", "/v1/bridge/sharp/stamps", { body })).status, 401);
    const denied = await gw.call("POST", "/v1/bridge/sharp/stamps", { token: alice, body });
    assertEquals(denied.status, 403);
    const claim = async () =>
      await (await gw.call("POST", "/v1/bridge/sharp/stamps", { token: key, body })).json();
    assertEquals(await claim(), { fresh: true });
    assertEquals(await claim(), { fresh: false });
    // issue15#6: there is no way to give a stamp back.
    const released = await gw.call("POST", "/v1/bridge/sharp/stamps/release", {
      token: key,
      body: { stamp: body.stamp },
    });
    assertEquals(released.status, 404);
    await released.body?.cancel();
    assertEquals(await claim(), { fresh: false });
    // An expired entry no longer blocks its stamp.
    const old = { stamp: "1:8:251128120000:bob#b.example::r:2", expiresAt: Date.now() - 1 };
    await gw.call("POST", "/v1/bridge/sharp/stamps", { token: key, body: old });
    const again = await gw.call("POST", "/v1/bridge/sharp/stamps", { token: key, body: old });
    assertEquals(await again.json(), { fresh: true });
    const bad = await gw.call("POST", "/v1/bridge/sharp/stamps", {
      token: key,
      body: { stamp: "", expiresAt: -1 },
    });
    assertEquals(bad.status, 422);
  } finally {
    gw.close();
  }
});
