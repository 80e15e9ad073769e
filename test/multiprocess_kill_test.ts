/**
 * Several gateways and bridges on one store, with crashes (issue 16 item 5): three
 * `postern gateway` processes and two `postern bridge --gateway URL` processes share one
 * embedded database file. SMTP clients deliver inbound mail to both bridges' MX ports (trying
 * the other MX host when one fails, as MTAs do); HTTP clients send to a remote domain through a
 * small load balancer in front of the gateways (retrying with the same Idempotency-Key); the
 * bridges deliver that mail to an SMTP sink found through a fake DNS. Mid-load one gateway and
 * one bridge are killed with SIGKILL.
 *
 * The guarantees asserted (README, "Several gateways and bridges on one store"):
 * - inbound: every message answered 250 is stored exactly once (a client's retry of a message
 *   whose 250 was lost is recognised by Message-ID and digest);
 * - HTTP: every send answered 2xx exists exactly once, with one outbox row, which ends `sent`;
 * - outbound: every queued message reaches the remote server at least once and each bridge
 *   hands it over at most once. A second copy is possible only for a message the killed bridge
 *   was delivering when it died (it had the remote's 250 but could not record it; SMTP has no
 *   way to take a message back), so every duplicate has one copy from the killed bridge, and
 *   there are no more duplicates than rows that bridge could hold at once.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { freePort } from "./fixtures/postfix.ts";
import { startFakeDns } from "./fixtures/fake_dns.ts";
import { startSmtpSink } from "./fixtures/smtp_sink.ts";
import { LISTENERS_OFF, listeningPort } from "./fixtures/serve_env.ts";
import { cliRun } from "./import_fixture.ts";
import { openSmtpClient } from "../bridge/smtp_out/client.ts";
import { openStore } from "../hosts/process/open_store.ts";
import { rawSql } from "../src/store/store.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const ROOT = new URL("../", import.meta.url).pathname;
const ADMIN = "admin@postern.localhost";
const MASTER_KEY = "multiprocess-kill-master-key-0123456789";
/** Messages per kind of load: inbound over SMTP, outbound over HTTP. */
const INBOUND = 160;
const OUTBOUND = 80;
/** Outbound connections per bridge; a bridge claims up to ten rows per connection at once. */
const CONCURRENCY = 2;
const LEASE_SECONDS = 5;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(check: () => Promise<boolean>, what: string, tries = 400): Promise<void> {
  for (let i = 0; i < tries; i++) {
    try {
      if (await check()) return;
    } catch { /* not yet */ }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface Child {
  name: string;
  process: Deno.ChildProcess;
  port: number;
  killed: boolean;
}

function spawn(args: string[], env: Record<string, string>) {
  const base = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("POSTERN_")),
  );
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    cwd: ROOT,
    env: { ...base, NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

/**
 * The front of the gateways: forwards each request to the next live gateway, and to another
 * one when the connection fails (nginx's `proxy_next_upstream error`). A request that a
 * gateway took and died on is retried elsewhere too: every write it can carry is idempotent
 * (deliveries by Message-ID and digest, sends by Idempotency-Key, outbox results by lease).
 */
function startBalancer(gateways: Child[]) {
  let next = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = req.body ? new Uint8Array(await req.arrayBuffer()) : undefined;
    const url = new URL(req.url);
    for (let i = 0; i < gateways.length * 2; i++) {
      const gw = gateways[next++ % gateways.length];
      try {
        const res = await fetch(`http://127.0.0.1:${gw.port}${url.pathname}${url.search}`, {
          method: req.method,
          headers: req.headers,
          body,
        });
        return new Response(await res.arrayBuffer(), { status: res.status, headers: res.headers });
      } catch { /* that gateway is gone: the next one */ }
    }
    return new Response("no gateway", { status: 502 });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

/** One inbound message, offered to the bridges' MX ports in turn until one answers 250. */
async function deliverInbound(bridges: Child[], n: number, acked: Set<string>): Promise<void> {
  const messageId = `<in-${n}@client.example>`;
  const raw = new TextEncoder().encode(
    `From: zed@client.example\r\nTo: ${ADMIN}\r\nSubject: inbound ${n}\r\n` +
      `Message-ID: ${messageId}\r\nDate: ${new Date().toUTCString()}\r\n\r\nmessage ${n}\r\n`,
  );
  for (let attempt = 0; attempt < 200; attempt++) {
    const bridge = bridges[(n + attempt) % bridges.length];
    try {
      const client = await openSmtpClient({
        address: "127.0.0.1",
        port: bridge.port,
        mxName: "mx.postern.localhost",
        clientName: "client.example",
        tls: "opportunistic",
        connectTimeoutMs: 5000,
        greetingTimeoutMs: 10_000,
        socketTimeoutMs: 20_000,
      });
      try {
        const [reply] = await client.send("zed@client.example", [ADMIN], raw);
        if (reply.accepted) {
          acked.add(messageId);
          return;
        }
      } finally {
        client.close();
      }
    } catch { /* connection refused or broken: the outcome is unknown, so send again */ }
    await sleep(100);
  }
}

/** One send through the balancer, retried with the same Idempotency-Key until it is answered. */
async function sendOutbound(
  api: string,
  key: string,
  n: number,
  acked: Set<string>,
): Promise<void> {
  const subject = `outbound ${n}`;
  for (let attempt = 0; attempt < 200; attempt++) {
    try {
      const res = await fetch(`${api}/v1/emails`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${key}`,
          "content-type": "application/json",
          "idempotency-key": `send-${n}`,
        },
        body: JSON.stringify({
          from: ADMIN,
          to: [`user${n}@remote.test`],
          subject,
          text: `body ${n}`,
        }),
      });
      await res.body?.cancel();
      if (res.ok) {
        acked.add(subject);
        return;
      }
    } catch { /* the balancer itself is always up; its 502 and a gateway's 5xx are retried */ }
    await sleep(100);
  }
}

/** Runs `tasks` with at most `width` at a time. */
async function pool(width: number, count: number, task: (n: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

Deno.test("issue16#5: 3 gateways and 2 bridges on one store, one of each killed mid-load: nothing lost, nothing doubled", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-nproc-" });
  const common = {
    POSTERN_DATA_DIR: `${dir}/data`,
    POSTERN_ADMIN_PASSWORD: "admin-password-for-tests",
    POSTERN_MASTER_KEY: MASTER_KEY,
    POSTERN_LOG_LEVEL: "info",
  };
  const init = await cliRun(["init"], common);
  assertEquals(init.code, 0, init.stderr);
  const key = async (scope: string) => {
    const r = await cliRun(
      ["apikey", "create", ADMIN, "--name", scope, "--scope", scope, "--json"],
      common,
    );
    assertEquals(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).key as string;
  };
  const bridgeKey = await key("bridge");
  const sendKey = await key("send");

  const sink = await startSmtpSink({ hostname: "mx.remote.test" });
  // The remote server keeps a message, then takes a moment to say 250: a bridge killed in that
  // moment has handed the message over without learning it, the case SMTP cannot settle.
  const keep = sink.backend.deliver.bind(sink.backend);
  sink.backend.deliver = async (envelope, raw) => {
    const reply = await keep(envelope, raw);
    await sleep(100);
    return reply;
  };
  const dns = await startFakeDns({
    "remote.test": { MX: ["10 mx.remote.test"] },
    "mx.remote.test": { A: ["127.0.0.1"] },
  });
  const gateways: Child[] = [];
  const bridges: Child[] = [];
  const drains: Promise<void>[] = [];
  let balancer: ReturnType<typeof startBalancer> | undefined;
  try {
    for (let i = 1; i <= 3; i++) {
      const process = spawn(["gateway", "--port", "0"], { ...LISTENERS_OFF, ...common });
      const { port, log, drain } = await listeningPort(process.stderr);
      assert(port, `gateway ${i} did not start:\n${log}`);
      drains.push(drain());
      gateways.push({ name: `gateway${i}`, process, port, killed: false });
    }
    balancer = startBalancer(gateways);
    for (let i = 1; i <= 2; i++) {
      const port = freePort();
      const process = spawn(["bridge", "--gateway", balancer.url], {
        ...LISTENERS_OFF,
        POSTERN_DATA_DIR: `${dir}/bridge${i}`,
        POSTERN_LOG_LEVEL: "warn",
        POSTERN_HOSTNAME: `bridge${i}.postern.localhost`,
        POSTERN_BRIDGE_API_KEY: bridgeKey,
        POSTERN_SMTP_PORT: String(port),
        POSTERN_SMTP_EARLY_TALKER_MS: "0",
        POSTERN_OUTBOUND_PORT: String(sink.port),
        POSTERN_OUTBOUND_CONCURRENCY: String(CONCURRENCY),
        POSTERN_OUTBOUND_CLAIM_INTERVAL_MS: "200",
        POSTERN_OUTBOUND_LEASE_SECONDS: String(LEASE_SECONDS),
        POSTERN_DNS_SERVERS: dns.server,
      });
      drains.push(process.stderr.pipeTo(new WritableStream()).catch(() => {}));
      bridges.push({ name: `bridge${i}`, process, port, killed: false });
    }
    for (const b of bridges) {
      await waitFor(async () => {
        (await Deno.connect({ hostname: "127.0.0.1", port: b.port })).close();
        return true;
      }, `${b.name}'s MX port`);
    }

    const inboundAcked = new Set<string>();
    const outboundAcked = new Set<string>();
    const send = (n: number) => sendOutbound(balancer!.url, sendKey, n, outboundAcked);
    const inbound = pool(4, INBOUND, (n) => deliverInbound(bridges, n, inboundAcked));
    // Half the sends before the kill, half after: the bridges are busy with both when it comes.
    await pool(3, OUTBOUND / 2, send);
    const fromBridge1 = () =>
      sink.backend.received.filter((r) => r.helo === "bridge1.postern.localhost").length;
    // (Bridge 1 is busy delivering by then, unless bridge 2 happened to claim everything.)
    const outboundUnderWay = () =>
      fromBridge1() >= 5 || sink.backend.received.length >= OUTBOUND / 2;
    await waitFor(
      () => Promise.resolve(inboundAcked.size >= INBOUND / 3 && outboundUnderWay()),
      "a third of the load",
      600,
    );
    // Mid-load: a gateway and a bridge die without a chance to finish anything.
    for (const victim of [gateways[0], bridges[0]]) {
      victim.process.kill("SIGKILL");
      victim.killed = true;
    }
    await Promise.all([inbound, pool(3, OUTBOUND / 2, (n) => send(OUTBOUND / 2 + n))]);
    assertEquals(inboundAcked.size, INBOUND, "every inbound message was answered 250 in the end");
    assertEquals(outboundAcked.size, OUTBOUND, "every send was answered 2xx in the end");

    const store = await openStore(`file:${dir}/data/postern.db`, { readOnly: true });
    try {
      const sql = rawSql(store.db);
      // Every queued row ends `sent`: the killed bridge's claims come back when their lease
      // lapses, and a surviving bridge delivers them.
      await waitFor(async () => {
        const row = await sql.get<{ n: number }>(
          "SELECT count(*) AS n FROM outbox WHERE state <> 'sent'",
        );
        return row?.n === 0;
      }, "every outbox row sent");

      for (const messageId of inboundAcked) {
        const row = await sql.get<{ n: number }>(
          "SELECT count(*) AS n FROM messages WHERE message_id_header IN (?, ?)",
          [messageId, messageId.slice(1, -1)],
        );
        assertEquals(row?.n, 1, `${messageId} is stored exactly once`);
      }

      const copies = new Map<string, string[]>();
      for (const r of sink.backend.received) {
        const subject = /^Subject: (.*)$/m.exec(r.text)?.[1]?.trim() ?? "";
        copies.set(subject, [...(copies.get(subject) ?? []), r.helo]);
      }
      let duplicates = 0;
      for (const subject of outboundAcked) {
        const sent = await sql.get<{ n: number; rows: number; sent: number }>(
          `SELECT count(DISTINCT t.id) AS n, count(o.id) AS rows,
                  sum(o.state = 'sent') AS sent
           FROM tx_messages t JOIN outbox o ON o.message_id_header = t.message_id_header
           WHERE t.subject = ?`,
          [subject],
        );
        assertEquals(sent, { n: 1, rows: 1, sent: 1 }, `${subject}: one message, one row, sent`);
        const helos = copies.get(subject) ?? [];
        assert(helos.length >= 1, `${subject} reached the remote server`);
        assertEquals(new Set(helos).size, helos.length, `${subject}: at most once per bridge`);
        if (helos.length > 1) {
          duplicates++;
          assert(helos.includes("bridge1.postern.localhost"), `${subject}: ${helos}`);
        }
      }
      assert(
        duplicates <= CONCURRENCY * 10,
        `${duplicates} duplicates: more than the killed bridge could hold`,
      );
    } finally {
      store.close();
    }
  } finally {
    for (const c of [...bridges, ...gateways]) {
      if (!c.killed) c.process.kill("SIGTERM");
      await c.process.status;
    }
    await Promise.allSettled(drains);
    await balancer?.close();
    await sink.close();
    await dns.close();
    await Deno.remove(dir, { recursive: true });
  }
});
