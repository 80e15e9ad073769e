/**
 * Webhooks end to end: a receiver on a loopback socket verifies the Standard Webhooks
 * signature of every request (written here from the spec, not with Postern's code), fails the
 * first attempts and sees the retries (same webhook-id, after the backoff); secret rotation
 * signs with both secrets during the overlap; the delivery log and manual replay; inbound mail
 * as `email.received`; private targets refused unless allowed.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, BOB, createTestGateway, expectProblem } from "./fixtures/app.ts";
import { startTxWorker } from "../src/transactional/worker.ts";
import { startFakeDns } from "./fixtures/fake_dns.ts";

interface Received {
  id: string;
  timestamp: string;
  signatures: string[];
  body: string;
  type: string;
}

async function verify(secret: string, r: Received): Promise<boolean> {
  const key = await crypto.subtle.importKey(
    "raw",
    Uint8Array.from(atob(secret.slice("whsec_".length)), (c) => c.charCodeAt(0)),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(
    await crypto.subtle.sign(
      "HMAC",
      key,
      new TextEncoder().encode(`${r.id}.${r.timestamp}.${r.body}`),
    ),
  );
  const expected = `v1,${btoa(String.fromCharCode(...mac))}`;
  return r.signatures.includes(expected);
}

function receiver(failFirst: number) {
  const received: Received[] = [];
  const seen = new Map<string, number>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.text();
    const id = req.headers.get("webhook-id") ?? "";
    received.push({
      id,
      timestamp: req.headers.get("webhook-timestamp") ?? "",
      signatures: (req.headers.get("webhook-signature") ?? "").split(" "),
      body,
      type: JSON.parse(body).type,
    });
    const n = (seen.get(id) ?? 0) + 1;
    seen.set(id, n);
    return new Response(n <= failFirst ? "not yet" : "ok", { status: n <= failFirst ? 500 : 200 });
  });
  return { received, url: `http://127.0.0.1:${server.addr.port}/hook`, server };
}

Deno.test("webhooks: signed, retried with backoff, rotated with overlap, logged, replayed", async () => {
  const gw = await createTestGateway({ webhookAllowPrivate: true });
  const rx = receiver(1);
  let now = Date.now();
  gw.deps.clock = { now: () => now };
  const worker = startTxWorker(gw.deps, { intervalMs: 1000, timer: false });
  try {
    const token = await gw.login(ALICE);
    const created = await gw.call("POST", "/v1/webhooks", {
      token,
      body: { url: rx.url, events: ["email.queued", "email.delivered"] },
    });
    assertEquals(created.status, 201, await created.clone().text());
    const { webhook, secret } = await created.json();
    assert(/^whsec_[A-Za-z0-9+/=]+$/.test(secret));

    const sent = await (await gw.call("POST", "/v1/emails", {
      token,
      body: { from: ALICE.address, to: [BOB.address], text: "x", metadata: { order: "7" } },
    })).json();
    await worker.tick();
    assertEquals(rx.received.length, 2, "both events tried once");
    let log = (await (await gw.call("GET", `/v1/webhooks/${webhook.id}/deliveries`, { token }))
      .json()).deliveries;
    assertEquals(log.map((d: { state: string }) => d.state), ["pending", "pending"]);
    assertEquals(log[0].lastStatus, 500);

    await worker.tick();
    assertEquals(rx.received.length, 2, "no retry before the backoff");
    now += 6_000;
    await worker.tick();
    assertEquals(rx.received.length, 4, "retried after 5 s");
    for (const r of rx.received) assert(await verify(secret, r), `signature of ${r.type}`);
    const ids = rx.received.map((r) => r.id);
    assertEquals(new Set(ids).size, 2, "a retry keeps its webhook-id");
    const delivered = JSON.parse(rx.received.find((r) => r.type === "email.delivered")!.body);
    assertEquals(delivered.data.emailId, sent.emailId);
    assertEquals(delivered.data.to, BOB.address);
    assertEquals(delivered.data.metadata, { order: "7" });
    log = (await (await gw.call("GET", `/v1/webhooks/${webhook.id}/deliveries`, { token }))
      .json()).deliveries;
    assertEquals(log.map((d: { state: string; attempts: number }) => [d.state, d.attempts]), [
      ["succeeded", 2],
      ["succeeded", 2],
    ]);

    // Rotation: during the overlap both the new and the old secret sign.
    const rotated = await (await gw.call("POST", `/v1/webhooks/${webhook.id}/rotate`, {
      token,
      body: { overlapSeconds: 3600 },
    })).json();
    assert(rotated.secret !== secret);
    const replay = await gw.call(
      "POST",
      `/v1/webhooks/${webhook.id}/deliveries/${log[0].id}/replay`,
      { token },
    );
    assertEquals(replay.status, 200);
    await worker.tick();
    const last = rx.received[rx.received.length - 1];
    assertEquals(rx.received.length, 5, "replayed once");
    assertEquals(last.signatures.length, 2);
    assert(await verify(rotated.secret, last) && await verify(secret, last));
    now += 2 * 3600_000;
    const later = await gw.login(ALICE); // the first access token has expired by now
    await gw.call("POST", `/v1/webhooks/${webhook.id}/deliveries/${log[0].id}/replay`, {
      token: later,
    });
    await worker.tick();
    const after = rx.received[rx.received.length - 1];
    assertEquals(after.signatures.length, 1, "the old secret stops after the overlap");
    assert(!(await verify(secret, after)) && await verify(rotated.secret, after));

    const bob = await gw.login(BOB);
    const foreign = await gw.call("GET", `/v1/webhooks/${webhook.id}/deliveries`, { token: bob });
    assertEquals(foreign.status, 404);
  } finally {
    await worker.close();
    await rx.server.shutdown();
    gw.close();
  }
});

Deno.test("webhooks: a failing endpoint is retried on the schedule for about 3 days, then failed", async () => {
  const gw = await createTestGateway({ webhookAllowPrivate: true });
  const rx = receiver(1000);
  let now = Date.now();
  gw.deps.clock = { now: () => now };
  const worker = startTxWorker(gw.deps, { intervalMs: 1000, timer: false });
  try {
    const token = await gw.login(ALICE);
    const { webhook } = await (await gw.call("POST", "/v1/webhooks", {
      token,
      body: { url: rx.url, events: ["email.queued"] },
    })).json();
    await gw.call("POST", "/v1/emails", {
      token,
      body: { from: ALICE.address, to: ["x@remote.test"], text: "x" },
    });
    const start = now;
    const log = async () => {
      const fresh = await gw.login(ALICE); // time moves by hours: a new access token each time
      const res = await gw.call("GET", `/v1/webhooks/${webhook.id}/deliveries`, { token: fresh });
      return (await res.json()).deliveries[0];
    };
    for (let i = 0; i < 15; i++) {
      await worker.tick();
      const d = await log();
      if (d.state !== "pending") break;
      now = Date.parse(d.nextAttemptAt);
    }
    const d = await log();
    assertEquals([d.state, d.attempts], ["failed", 10]);
    assertEquals(rx.received.length, 10);
    const span = now - start;
    assert(span > 2.9 * 86_400_000 && span < 3.1 * 86_400_000, `retried for ${span / 3600_000} h`);
  } finally {
    await worker.close();
    await rx.server.shutdown();
    gw.close();
  }
});

Deno.test("webhooks: inbound mail arrives as email.received with the parsed message", async () => {
  const gw = await createTestGateway({ webhookAllowPrivate: true });
  const rx = receiver(0);
  const worker = startTxWorker(gw.deps, { intervalMs: 1000, timer: false });
  try {
    const bob = await gw.login(BOB);
    const { secret } = await (await gw.call("POST", "/v1/webhooks", {
      token: bob,
      body: { url: rx.url, events: ["email.received"], includeRaw: true },
    })).json();
    const alice = await gw.login(ALICE);
    await gw.call("POST", "/v1/emails", {
      token: alice,
      body: { from: ALICE.address, to: [BOB.address], subject: "Inbound", text: "Body text" },
    });
    await worker.tick();
    assertEquals(rx.received.map((r) => r.type), ["email.received"]);
    assert(await verify(secret, rx.received[0]));
    const data = JSON.parse(rx.received[0].body).data;
    assertEquals([data.subject, data.mailbox, data.from.address], [
      "Inbound",
      "inbox",
      ALICE.address,
    ]);
    assertEquals(data.text.trim(), "Body text");
    assert(atob(data.raw).includes("Subject: Inbound"));
    await worker.tick();
    assertEquals(rx.received.length, 1, "posted once");
  } finally {
    await worker.close();
    await rx.server.shutdown();
    gw.close();
  }
});

Deno.test("issue19#5: an endpoint with events: [] receives email.received too (none means all)", async () => {
  const gw = await createTestGateway({ webhookAllowPrivate: true });
  const rx = receiver(0);
  const worker = startTxWorker(gw.deps, { intervalMs: 1000, timer: false });
  try {
    const bob = await gw.login(BOB);
    const created = await gw.call("POST", "/v1/webhooks", {
      token: bob,
      body: { url: rx.url, events: [] },
    });
    assertEquals(created.status, 201);
    const alice = await gw.login(ALICE);
    await gw.call("POST", "/v1/emails", {
      token: alice,
      body: { from: ALICE.address, to: [BOB.address], subject: "All events", text: "x" },
    });
    await worker.tick();
    assertEquals(rx.received.map((r) => r.type), ["email.received"]);

    // The sender's own endpoint with events: [] hears its sending events and its inbound mail.
    const mine = receiver(0);
    try {
      const hook = await gw.call("POST", "/v1/webhooks", {
        token: alice,
        body: { url: mine.url, events: [] },
      });
      assertEquals(hook.status, 201);
      await gw.call("POST", "/v1/emails", {
        token: alice,
        body: { from: ALICE.address, to: [BOB.address], subject: "Sent side", text: "x" },
      });
      await gw.call("POST", "/v1/emails", {
        token: bob,
        body: { from: BOB.address, to: [ALICE.address], subject: "Back to Alice", text: "x" },
      });
      await worker.tick();
      const types = new Set(mine.received.map((r) => r.type));
      assert(types.has("email.delivered"), [...types].join());
      assert(types.has("email.received"), [...types].join());
    } finally {
      await mine.server.shutdown();
    }
  } finally {
    await worker.close();
    await rx.server.shutdown();
    gw.close();
  }
});

Deno.test("issue19#5: an endpoint can be updated, paused, and sent a signed test event", async () => {
  const gw = await createTestGateway({ webhookAllowPrivate: true });
  const rx = receiver(0);
  const other = receiver(0);
  const worker = startTxWorker(gw.deps, { intervalMs: 1000, timer: false });
  try {
    const bob = await gw.login(BOB);
    const { webhook, secret } = await (await gw.call("POST", "/v1/webhooks", {
      token: bob,
      body: { url: other.url, events: ["email.delivered"] },
    })).json();
    const patched = await gw.call("PATCH", `/v1/webhooks/${webhook.id}`, {
      token: bob,
      body: { url: rx.url, events: ["email.received"], includeRaw: true },
    });
    assertEquals(patched.status, 200);
    const view = await patched.json();
    assertEquals([view.url, view.events, view.includeRaw], [rx.url, ["email.received"], true]);

    const test = await gw.call("POST", `/v1/webhooks/${webhook.id}/test`, { token: bob });
    assertEquals(test.status, 202);
    assertEquals((await test.json()).eventType, "webhook.test");
    await worker.tick();
    assertEquals(rx.received.map((r) => r.type), ["webhook.test"]);
    assert(await verify(secret, rx.received[0]), "signed with the endpoint's secret");
    assertEquals(other.received.length, 0, "the old URL is not posted to");

    // Paused: inbound mail queues nothing for it.
    await gw.call("PATCH", `/v1/webhooks/${webhook.id}`, { token: bob, body: { active: false } });
    const alice = await gw.login(ALICE);
    await gw.call("POST", "/v1/emails", {
      token: alice,
      body: { from: ALICE.address, to: [BOB.address], subject: "While paused", text: "x" },
    });
    await worker.tick();
    assertEquals(rx.received.length, 1);

    await expectProblem(
      await gw.call("PATCH", `/v1/webhooks/${webhook.id}`, { token: bob, body: {} }),
      422,
      "validation_failed",
    );
    await expectProblem(
      await gw.call("PATCH", `/v1/webhooks/${webhook.id}`, {
        token: alice,
        body: { active: true },
      }),
      404,
      "not_found",
    );
    await expectProblem(
      await gw.call("POST", `/v1/webhooks/${webhook.id}/test`, { token: alice }),
      404,
      "not_found",
    );
  } finally {
    await worker.close();
    await rx.server.shutdown();
    await other.server.shutdown();
    gw.close();
  }
});

Deno.test("webhooks: loopback and private targets are refused unless allowed", async () => {
  const gw = await createTestGateway();
  try {
    const token = await gw.login(ALICE);
    for (
      const url of [
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://10.1.2.3/",
        "http://[::1]/",
        "http://169.254.169.254/latest",
        "ftp://example.com/",
      ]
    ) {
      const res = await gw.call("POST", "/v1/webhooks", { token, body: { url } });
      await expectProblem(res, 422, "validation_failed");
    }
    const ok = await gw.call("POST", "/v1/webhooks", {
      token,
      body: { url: "https://hooks.example.com/postern" },
    });
    assertEquals(ok.status, 201);
    // An update is checked the same way: no moving an endpoint onto a private address.
    const { webhook } = await ok.json();
    const moved = await gw.call("PATCH", `/v1/webhooks/${webhook.id}`, {
      token,
      body: { url: "http://169.254.169.254/latest" },
    });
    await expectProblem(moved, 422, "validation_failed");
  } finally {
    gw.close();
  }
});

Deno.test("webhooks: a public name that resolves to a private address is not posted to", async () => {
  const dns = await startFakeDns({ "hooks.example.com": { A: ["10.0.0.5"] } });
  const gw = await createTestGateway({ dnsServers: dns.server });
  const worker = startTxWorker(gw.deps, { intervalMs: 1000, timer: false });
  try {
    const token = await gw.login(ALICE);
    const { webhook } = await (await gw.call("POST", "/v1/webhooks", {
      token,
      body: { url: "https://hooks.example.com/x", events: ["email.queued"] },
    })).json();
    await gw.call("POST", "/v1/emails", {
      token,
      body: { from: ALICE.address, to: ["x@remote.test"], text: "x" },
    });
    await worker.tick();
    const [d] = (await (await gw.call("GET", `/v1/webhooks/${webhook.id}/deliveries`, { token }))
      .json()).deliveries;
    assertEquals([d.state, d.attempts, d.lastStatus], ["pending", 1, null]);
    assert(d.lastError.includes("resolves to a non-public address (10.0.0.5"), d.lastError);
  } finally {
    await worker.close();
    await dns.close();
    gw.close();
  }
});
