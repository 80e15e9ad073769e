/**
 * Hostile HTTP input against the real listener (hosts/process/serve.ts on this runtime) and the app with a
 * bearer token: methods the Fetch standard forbids, a client naming its own address, NUL and
 * FTS5 syntax in search text.
 */
import { assert, assertEquals } from "../fixtures/assert.ts";
import { listen } from "../../hosts/process/serve.ts";
import { withAccessLog } from "../../src/http/access_log.ts";
import { rawSql } from "../../src/store/store.ts";
import { ALICE } from "../fixtures/app.ts";
import { mailWorld, seedMessage } from "../fixtures/mail.ts";

/** One raw HTTP/1.1 exchange; returns the status line and headers. */
async function rawRequest(port: number, head: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(head));
    const buf = new Uint8Array(4096);
    let text = "";
    while (!text.includes("\r\n\r\n")) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return text;
  } finally {
    conn.close();
  }
}

Deno.test("issue15#11: TRACE, TRACK and CONNECT get 501 from the listener, never a 500 or a stack trace", async () => {
  await using w = await mailWorld();
  const errors: unknown[] = [];
  const listener = await listen((r) => w.gw.app.fetch(r), {
    hostname: "127.0.0.1",
    port: 0,
    onError: (e) => errors.push(e),
  });
  try {
    for (
      const head of [
        "TRACE / HTTP/1.1\r\nHost: x\r\n\r\n",
        "TRACK /v1/messages HTTP/1.1\r\nHost: x\r\n\r\n",
        "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n",
        "trace / HTTP/1.1\r\nHost: x\r\n\r\n",
      ]
    ) {
      const answer = await rawRequest(listener.port, head);
      const status = answer.split("\r\n")[0];
      assert(/^HTTP\/1\.1 (501|405|400)/.test(status), `${head.split(" ")[0]}: ${status}`);
    }
    assertEquals(errors.map(String), []);
    // Ordinary methods still reach the app.
    const res = await fetch(`http://127.0.0.1:${listener.port}/v1/search?q=x`);
    assertEquals(res.status, 401);
    await res.body?.cancel();
  } finally {
    await listener.shutdown(100);
  }
});

Deno.test("issue16: over the listener, the socket's address is the client's IP, never an x-postern-peer header the client sent", async () => {
  await using w = await mailWorld();
  const logged: Record<string, unknown>[] = [];
  const logger = {
    log: (_l: string, _e: string, fields?: Record<string, unknown>) =>
      void logged.push(fields ?? {}),
  };
  const listener = await listen(withAccessLog(logger, (r) => w.gw.app.fetch(r)), {
    hostname: "127.0.0.1",
    port: 0,
  });
  const ips = async () =>
    (await rawSql(w.gw.deps.store.db).all<{ ip: string }>("SELECT ip FROM sessions ORDER BY rowid"))
      .map((r) => r.ip);
  const before = (await ips()).length; // mailWorld's own sign-ins
  try {
    // Its body sent as the stream it is (not rebuilt by the listener) still reaches the route.
    const res = await fetch(`http://127.0.0.1:${listener.port}/v1/auth/login`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-postern-peer": "203.0.113.9",
        "x-forwarded-for": "198.51.100.7",
      },
      body: JSON.stringify(ALICE),
    });
    assertEquals(res.status, 200);
    await res.body?.cancel();
    // The session records where the sign-in came from (trustProxy is off by default).
    assertEquals((await ips()).slice(before), ["127.0.0.1"]);
    assertEquals(logged.map((f) => f.ip), ["127.0.0.1"]);
  } finally {
    await listener.shutdown(100);
  }
  // In-process callers (the bridge, the CLI, these tests) have no socket: the header names it.
  const res = await w.gw.call("POST", "/v1/auth/login", {
    body: ALICE,
    headers: { "x-postern-peer": "192.0.2.44" },
  });
  assertEquals(res.status, 200);
  await res.body?.cancel();
  assertEquals((await ips()).slice(before), ["127.0.0.1", "192.0.2.44"]);
});

Deno.test("issue15#11: search text with NUL and FTS5 syntax answers 200 with literal matches", async () => {
  await using w = await mailWorld();
  const hit = await seedMessage(w.gw, { subject: 'a b NEAR( quote"d', text: "star* minus -x" });
  const inputs = [
    "a\u0000b",
    "\u0000",
    '"unbalanced',
    'un"balanced"',
    "NEAR(",
    "NEAR(a b, 1)",
    "*",
    "a*",
    "-",
    "-x",
    "subject:a",
    "{subject}: a",
    "a OR b",
    "NOT a",
    "x".repeat(500),
    "a ".repeat(250),
  ];
  for (const q of inputs) {
    const res = await w.call("GET", `/v1/search?q=${encodeURIComponent(q)}`, { token: w.alice });
    assertEquals(res.status, 200, JSON.stringify(q));
    await res.body?.cancel();
  }
  const found = await w.json("GET", `/v1/search?q=${encodeURIComponent("a\u0000b")}`, {
    token: w.alice,
  });
  assertEquals(found.items.map((m: { id: number }) => m.id), [hit.id]);
  // Over the limit: a clear client error, never a 500.
  const long = await w.call("GET", `/v1/search?q=${"x".repeat(501)}`, { token: w.alice });
  assertEquals(long.status, 422);
  assertEquals(long.headers.get("content-type"), "application/problem+json");
  await long.body?.cancel();
});
