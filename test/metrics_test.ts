/**
 * `GET /metrics` (issue 19 item 5): Prometheus text format, behind an administrator's session or
 * a `metrics` API key; counters move with the work (HTTP, inbound mail, store jobs) and the
 * queue gauges read the store.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, createTestGateway, expectProblem } from "./fixtures/app.ts";
import { encodeMail, MAIL_MEDIA_TYPE } from "../schemas/bridge.ts";

/** Every sample line of the exposition format: name, optional labels, a number. */
const SAMPLE =
  /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/;

function parse(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const type = line.match(/^# TYPE (\S+) (counter|gauge|histogram)$/);
    if (type) {
      typed.add(type[1]);
      continue;
    }
    if (line.startsWith("# HELP ")) continue;
    assert(SAMPLE.test(line), `not a sample line: ${line}`);
    const space = line.lastIndexOf(" ");
    const name = line.slice(0, space);
    const family = name.replace(/\{.*$/, "").replace(/_(bucket|sum|count)$/, "");
    assert(typed.has(family) || typed.has(name.replace(/\{.*$/, "")), `no # TYPE for ${name}`);
    samples.set(name, Number(line.slice(space + 1)));
  }
  return samples;
}

Deno.test("issue19#5: /metrics speaks Prometheus text and counts mail in and out, delivery latency and the queue", async () => {
  const gw = await createTestGateway();
  try {
    const admin = await gw.login(ADMIN);
    const key = (await (await gw.call("POST", "/v1/api-keys", {
      token: admin,
      body: { name: "bridge", scopes: ["bridge"] },
    })).json()).key as string;
    const raw = "From: zed@remote.example\r\nTo: alice@postern.test\r\nSubject: m\r\n\r\nhi\r\n";
    const inbound = await gw.app.request("/v1/bridge/inbound", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": MAIL_MEDIA_TYPE },
      body: encodeMail(
        { mailFrom: "zed@remote.example", recipients: [ALICE.address], clientIp: "192.0.2.1" },
        new TextEncoder().encode(raw),
      ),
    });
    assertEquals(inbound.status, 200, await inbound.clone().text());
    const alice = await gw.login(ALICE);
    const sent = await gw.call("POST", "/v1/emails", {
      token: alice,
      body: { from: ALICE.address, to: ["far@away.example"], subject: "out", text: "x" },
    });
    assertEquals(sent.status, 201, await sent.clone().text());

    // A bridge delivers one of two queued copies: messages out and delivery latency are counted.
    const again = await gw.call("POST", "/v1/emails", {
      token: alice,
      body: { from: ALICE.address, to: ["near@away.example"], subject: "out 2", text: "x" },
    });
    assertEquals(again.status, 201, await again.clone().text());
    const claim = await (await gw.call("POST", "/v1/bridge/outbox/claim", {
      token: key,
      body: { worker: "w1", limit: 1, leaseSeconds: 60 },
    })).json();
    const [item] = claim.groups.flatMap((g: { items: { id: number }[] }) => g.items);
    const result = await gw.call("POST", `/v1/bridge/outbox/${item.id}/result`, {
      token: key,
      body: { worker: "w1", outcome: "sent", message: "250 ok" },
    });
    assertEquals(result.status, 200, await result.clone().text());

    const res = await gw.call("GET", "/metrics", { token: admin });
    assertEquals(res.status, 200);
    assert(res.headers.get("content-type")!.startsWith("text/plain; version=0.0.4"));
    const m = parse(await res.text());
    assertEquals(m.get('postern_messages_delivered_total{outcome="sent"}'), 1);
    assertEquals(m.get('postern_delivery_latency_seconds_count{outcome="sent"}'), 1);
    assert(m.has('postern_delivery_latency_seconds_bucket{outcome="sent",le="+Inf"}'));
    assertEquals(m.get('postern_messages_received_total{result="delivered",source="smtp"}'), 1);
    assertEquals(m.get('postern_outbox_recipients{state="queued"}'), 1);
    assert((m.get('postern_store_jobs_total{kind="batch"}') ?? 0) >= 2, "store jobs counted");
    assert((m.get('postern_http_requests_total{method="POST",status="2xx"}') ?? 0) >= 3);
    assert(m.has('postern_http_request_duration_seconds_bucket{method="POST",le="+Inf"}'));
    assert(m.has("postern_store_probe_seconds"));
    // Store latency: every write job (the sends, the inbound delivery, the result) is timed.
    assert((m.get("postern_store_job_duration_seconds_count") ?? 0) >= 4, "store jobs timed");
    assert(m.has('postern_store_job_duration_seconds_bucket{le="+Inf"}'));
    assertEquals(m.get("postern_metrics_collect_errors"), 0);
  } finally {
    gw.close();
  }
});

Deno.test("issue19#5: /metrics needs an administrator or a metrics key; users cannot mint one", async () => {
  const gw = await createTestGateway();
  try {
    await expectProblem(await gw.call("GET", "/metrics", {}), 401, "unauthorized");
    const alice = await gw.login(ALICE);
    await expectProblem(
      await gw.call("GET", "/metrics", { token: alice }),
      403,
      "insufficient_scope",
    );
    const mint = await gw.call("POST", "/v1/api-keys", {
      token: alice,
      body: { name: "scraper", scopes: ["metrics"] },
    });
    await expectProblem(mint, 403, "forbidden");

    const admin = await gw.login(ADMIN);
    const created = await gw.call("POST", "/v1/api-keys", {
      token: admin,
      body: { name: "scraper", scopes: ["metrics"] },
    });
    assertEquals(created.status, 201);
    const scraper = (await created.json()).key as string;
    const res = await gw.call("GET", "/metrics", { token: scraper });
    assertEquals(res.status, 200);
    await res.body?.cancel();
    // The scraper's key reads metrics and nothing else.
    await expectProblem(
      await gw.call("GET", "/v1/mailboxes", { token: scraper }),
      403,
      "insufficient_scope",
    );
  } finally {
    gw.close();
  }
});
