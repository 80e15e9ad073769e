/**
 * Hostile SHARP/1.3 input against the real interfaces: raw JSON lines over TCP to the bridge's
 * listener (real gateway behind it: recipient checks, the shared spent-stamp table, hand-in and
 * storage), and HTTP sends with a bearer token. Issue 15 items 6 and 17:
 *
 * - user enumeration without proof of work: every MAIL_TO without a good stamp gets the same
 *   429 line, whoever the recipient (a user, no user, a domain not served here);
 * - stamp replay: a stamp that passed once is refused in any later session, on another bridge,
 *   through another gateway connection on the same store (as a second process would), even
 *   when the first session delivered nothing or probed a user that does not exist;
 * - bare LF / bare CR in EMAIL_CONTENT: the stored message has CRLF line ends only;
 * - addresses SHARP/1.3 cannot carry, sent through the HTTP API: 422 problem+json.
 */
import { createConnection } from "node:net";
import { createResolver } from "../../bridge/dns/resolver.ts";
import { GatewayClient } from "../../bridge/gateway_client.ts";
import { GatewaySharpBackend } from "../../bridge/sharp/gateway_backend.ts";
import { GatewayReplayTable } from "../../bridge/sharp/gateway_replay.ts";
import { mintStamp } from "../../bridge/sharp/hashcash.ts";
import { startSharpServer } from "../../bridge/sharp/server.ts";
import type { TcpListener } from "../../bridge/net/tcp_server.ts";
import { buildDeps } from "../../hosts/process/deps_node.ts";
import { openStore } from "../../hosts/process/open_store.ts";
import { createApp } from "../../src/app.ts";
import { silentLogger } from "../../src/ports.ts";
import { countStamps } from "../../src/services/sharp_stamps.ts";
import { rawSql, schema } from "../../src/store/store.ts";
import { assert, assertEquals } from "../fixtures/assert.ts";
import { bareLineEnds } from "../fixtures/mail.ts";
import { ALICE, BOB, createTestGateway, type TestGateway } from "../fixtures/app.ts";
import { bridgeKey } from "../fixtures/bridge.ts";
import { type FakeDns, startFakeDns } from "../fixtures/fake_dns.ts";

const BITS = 8;
const MASTER_KEY = "test-master-key-0123456789abcdef0123"; // test/fixtures/app.ts

interface World {
  gw: TestGateway;
  dns: FakeDns;
  /** Two bridges: the first on the test gateway, the second on another connection to its store. */
  ports: [number, number];
  close(): Promise<void>;
}

async function world(): Promise<World> {
  const dns = await startFakeDns({
    "_sharp._tcp.a.example": { SRV: ["10 5 5000 sharp.a.example"] },
    "sharp.a.example": { A: ["127.0.0.1"] },
  });
  const resolver = createResolver({ servers: [dns.server], timeoutMs: 2000, tries: 1 });
  const gw = await createTestGateway();
  const key = await bridgeKey(gw);
  // A second gateway on the same database file, as a second `postern` process would be.
  const db = await rawSql(gw.deps.store.db).all<{ file: string }>("PRAGMA database_list");
  const store2 = await openStore(`file:${db[0].file}`);
  const app2 = createApp(await buildDeps(gw.deps.config, store2, MASTER_KEY, silentLogger));
  const listeners: TcpListener[] = [];
  for (const fetcher of [(r: Request) => gw.app.fetch(r), (r: Request) => app2.fetch(r)]) {
    listeners.push(
      await startSharpServer({
        host: "127.0.0.1",
        port: 0,
        backend: new GatewaySharpBackend(
          new GatewayClient("http://gateway.internal", key, fetcher),
          resolver,
          "mx.postern.test",
        ),
        minBits: BITS,
        replay: new GatewayReplayTable("http://gateway.internal", key, fetcher),
        maxConnections: 20,
        maxPerIp: 20,
        idleMs: 10_000,
        sessionMs: 30_000,
      }),
    );
  }
  return {
    gw,
    dns,
    ports: [listeners[0].port, listeners[1].port],
    async close() {
      for (const l of listeners) await l.close();
      await dns.close();
      store2.close();
      gw.close();
    },
  };
}

/**
 * One connection, lock-step: writes each line after the reply to the one before; returns the
 * replies. `hangUp` closes the connection after that many replies without finishing.
 */
async function session(port: number, lines: string[], hangUp = Infinity): Promise<string[]> {
  const socket = createConnection({ host: "127.0.0.1", port });
  socket.on("error", () => {});
  const replies: string[] = [];
  let buf = "";
  let wake: (() => void) | undefined;
  let closed = false;
  socket.on("data", (d: Uint8Array) => {
    buf += new TextDecoder().decode(d);
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      replies.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
    wake?.();
  });
  const done = new Promise<void>((resolve) =>
    socket.on("close", () => {
      closed = true;
      wake?.();
      resolve();
    })
  );
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  for (const line of lines) {
    if (closed || replies.length >= hangUp) break;
    const before = replies.length;
    socket.write(line + "\n");
    while (replies.length === before && !closed) {
      await new Promise<void>((resolve) => (wake = resolve));
    }
  }
  socket.destroy();
  await done;
  return replies;
}

const HELLO = JSON.stringify({
  type: "HELLO",
  server_id: "mallory#a.example",
  protocol: "SHARP/1.3",
});
const mailTo = (address: string, hashcash?: string) =>
  JSON.stringify({ type: "MAIL_TO", address, ...(hashcash ? { hashcash } : {}) });
const OK_HELLO = '{"type":"OK","protocol":"SHARP/1.3"}';

Deno.test("hostile issue15#6: MAIL_TO without a good stamp tells nothing about the recipient", async () => {
  const w = await world();
  try {
    const probes = ["bob#postern.test", "nobody#postern.test", "bob#elsewhere.example"];
    const stamps = async (to: string) => [
      undefined,
      "",
      "garbage",
      "1:8:251128120000:" + to + "::x", // malformed
      await mintStamp("alice#postern.test", BITS), // for another address
      (await mintStamp(to, 1)).replace(/^1:1:/, "1:20:"), // claims bits it has not
      await mintStamp(to, 2), // too weak
      await mintStamp(to, BITS, { now: new Date(Date.now() - 25 * 3600_000) }), // stale
    ];
    const answers: string[][] = [];
    for (const to of probes) {
      const row: string[] = [];
      for (const stamp of await stamps(to)) {
        const replies = await session(w.ports[0], [HELLO, mailTo(to, stamp)]);
        assertEquals(replies[0], OK_HELLO);
        assert(replies[1].includes('"code":429'), replies[1]);
        row.push(replies[1].replace(/\(stamp is for another address\)/, "(another)"));
      }
      answers.push(row);
    }
    assertEquals(answers[1], answers[0], "no user: the same answers as a user");
    assertEquals(answers[2], answers[0], "a domain not served here: the same answers");
    assertEquals(await countStamps(w.gw.deps.store, Date.now()), 0, "nothing was spent");
  } finally {
    await w.close();
  }
});

Deno.test("hostile issue15#6: a stamp that passed once is refused in every later session", async () => {
  const w = await world();
  try {
    const used =
      '{"type":"ERROR","message":"Insufficient proof of work. Score: 3 (stamp already used)","code":429}';
    // MAIL_TO accepted, then the client hangs up without DATA: nothing delivered.
    const stamp = await mintStamp("bob#postern.test", BITS);
    assertEquals(await session(w.ports[0], [HELLO, mailTo("bob#postern.test", stamp)], 2), [
      OK_HELLO,
      '{"type":"OK"}',
    ]);
    assertEquals(await countStamps(w.gw.deps.store, Date.now()), 1, "spent in the store");
    // Again on the same bridge, on the other bridge (another gateway connection), many times.
    for (const port of [w.ports[0], w.ports[1], w.ports[1], w.ports[0]]) {
      assertEquals(await session(port, [HELLO, mailTo("bob#postern.test", stamp)]), [
        OK_HELLO,
        used,
      ]);
    }
    // A probe for a user that does not exist costs its stamp too.
    const probe = await mintStamp("nobody#postern.test", BITS);
    assertEquals(await session(w.ports[1], [HELLO, mailTo("nobody#postern.test", probe)]), [
      OK_HELLO,
      '{"type":"ERROR","message":"Recipient user not found","code":550}',
    ]);
    assertEquals(await session(w.ports[0], [HELLO, mailTo("nobody#postern.test", probe)]), [
      OK_HELLO,
      used,
    ]);
    // A session refused after DATA (an unknown command) does not give its stamp back either.
    const third = await mintStamp("bob#postern.test", BITS);
    const refused = await session(w.ports[0], [
      HELLO,
      mailTo("bob#postern.test", third),
      '{"type":"DATA"}',
      '{"type":"QUIT"}',
    ]);
    assertEquals(
      refused.at(-1),
      '{"type":"ERROR","message":"Expected EMAIL_CONTENT or END_DATA","code":400}',
    );
    assertEquals(await session(w.ports[1], [HELLO, mailTo("bob#postern.test", third)]), [
      OK_HELLO,
      used,
    ]);
  } finally {
    await w.close();
  }
});

Deno.test("hostile issue15#17: bare LF and bare CR in EMAIL_CONTENT are stored as CRLF", async () => {
  const w = await world();
  try {
    const bodies = [
      { body: "one\ntwo\rthree\r\n\n\nfour", content_type: "text/plain", html_body: null },
      { body: "text\n", content_type: "text/html", html_body: "<p>a</p>\n\r<p>b</p>\r" },
      { body: "<p>x</p>\n<p>y</p>", content_type: "text/html", html_body: null },
      { body: "é\n" + "ü".repeat(200) + "\n\r", content_type: "text/plain", html_body: null },
    ];
    for (const [i, content] of bodies.entries()) {
      const replies = await session(w.ports[i % 2], [
        HELLO,
        mailTo("bob#postern.test", await mintStamp("bob#postern.test", BITS)),
        '{"type":"DATA"}',
        JSON.stringify({
          type: "EMAIL_CONTENT",
          subject: `bare ${i}\nX-Evil: 1`,
          attachments: [],
          ...content,
        }),
        '{"type":"END_DATA"}',
      ]);
      assertEquals(replies.at(-1), '{"type":"OK","message":"Email processed"}');
    }
    const bob = await w.gw.login(BOB);
    const list = await (await w.gw.call("GET", "/v1/messages?limit=10", { token: bob })).json();
    const items: { id: number }[] = list.items ?? list.messages ?? list.data;
    assertEquals(items.length, bodies.length);
    for (const item of items) {
      const res = await w.gw.call("GET", `/v1/messages/${item.id}/raw`, { token: bob });
      const raw = new Uint8Array(await res.arrayBuffer());
      assertEquals(bareLineEnds(raw), [], new TextDecoder().decode(raw));
      assert(!/\r\nX-Evil:/.test(new TextDecoder().decode(raw)), "no header from the subject");
    }
  } finally {
    await w.close();
  }
});

Deno.test("hostile issue15#17: HTTP sends to addresses SHARP/1.3 cannot carry → 422", async () => {
  const gw = await createTestGateway();
  gw.deps.routes = { sharp: (domain) => Promise.resolve(domain.endsWith("sharp.example")) };
  try {
    const token = await gw.login(ALICE);
    const hostile = [
      "first.last+tag@sharp.example",
      "user~home@sharp.example",
      "twenty-one-characters@sharp.example",
      '"quoted name"@sharp.example',
      "bob#x@sharp.example",
      "üñí@sharp.example",
      "a+b@mx.sharp.example",
    ];
    const codes: string[] = [];
    for (const to of hostile) {
      const res = await gw.call("POST", "/v1/emails", {
        token,
        body: { from: ALICE.address, to: [to], subject: "x", text: "x" },
      });
      const body = await res.json();
      assertEquals(res.status, 422, `${to}: ${JSON.stringify(body)}`);
      assertEquals(res.headers.get("content-type"), "application/problem+json");
      assert(body.detail.includes("SHARP/1.3"), body.detail);
      codes.push(body.code);
    }
    assertEquals(codes, hostile.map(() => "sharp_unsupported_recipient"));
    // Mixed: one good, one bad recipient → the whole send is refused, nothing queued.
    const mixed = await gw.call("POST", "/v1/emails", {
      token,
      body: {
        from: ALICE.address,
        to: ["bob@sharp.example"],
        cc: ["x+y@sharp.example"],
        subject: "x",
        text: "x",
      },
    });
    assertEquals(mixed.status, 422);
    await mixed.body?.cancel();
    assertEquals(await gw.deps.store.db.select().from(schema.outbox), []);
  } finally {
    gw.close();
  }
});
