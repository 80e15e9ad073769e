/**
 * Signed federation between two gateways on loopback (bench/run.ts section (f)): each gateway a
 * full app on its own store, served over real TLS, discovered through a fake DNS server (the
 * test fixture's set-up). First the headline (bench/federation_processes.ts): the same two
 * gateways as two `postern serve` processes, mail sent through alpha's API. Then, in this
 * process:
 *   1. send → receipt (in-process, both gateways and the senders on one main thread): 4 KB messages signed and posted by 16 concurrent senders; each call
 *      covers signing, HTTPS, the receiver's full verification (JWKS, signature, canonical
 *      payload, alignment, digest, rate limit, nonce), its durable commit, the signed receipt,
 *      and the sender's verification of that receipt. Messages per second and p50/p99.
 *   2. outbox → peer: N messages queued through the API, then delivered by the federation
 *      worker (leases, one POST per message, receipts stored, results recorded);
 *   3. the same through Postern's own SMTP path for comparison: the same number of messages
 *      queued at the same sender, delivered by the bridge's outbound worker (MX from the fake
 *      DNS, STARTTLS, DKIM-signed) to the peer's bridge MX (SPF/DKIM/DMARC checked, handed to
 *      its gateway), and the ratio of the two outbox figures.
 * Prints figures; asserts nothing.
 */
import { discover } from "../src/federation/discovery.ts";
import { sendFederated } from "../src/federation/send.ts";
import { runFederationOnce } from "../src/federation/worker.ts";
import { schema } from "../src/store/store.ts";
import { type Federation, startFederation } from "../test/fixtures/federation.ts";
import { startBridge } from "../hosts/process/bridge_runtime.ts";
import { createApiKey } from "../src/auth/api_keys.ts";
import { createAccount } from "../src/services/accounts.ts";
import type { Config } from "../src/config.ts";
import type { Deps } from "../src/deps.ts";
import { silentLogger } from "../src/ports.ts";
import { and, desc, eq, gt } from "drizzle-orm";
import { closedLoop, cpuMs, fmt, freePort, mainThreadCpuMs, summary } from "./lib.ts";
import { federationProcessesBench } from "./federation_processes.ts";

/**
 * CPU time of this process (both gateways, the senders and the fake DNS run in it) and of its
 * main thread, per message between two marks: the figure a busy machine disturbs least.
 */
function cpuMark() {
  const at = { all: cpuMs(Deno.pid), main: mainThreadCpuMs(Deno.pid) };
  return (messages: number) =>
    `CPU ${fmt((cpuMs(Deno.pid) - at.all) / messages, 2)} ms/msg (main thread ${
      fmt((mainThreadCpuMs(Deno.pid) - at.main) / messages, 2)
    })`;
}

function message(i: number): { raw: Uint8Array; messageId: string } {
  const body = "Federation benchmark line, sixty-four characters long.........\r\n".repeat(62);
  const messageId = `<bench-${i}-${crypto.randomUUID()}@alpha.test>`;
  const text = [
    "From: alice@alpha.test",
    "To: bob@beta.test",
    `Subject: bench ${i}`,
    `Message-ID: ${messageId}`,
    "Date: Sun, 29 Nov 2026 04:00:00 +0000",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    body,
  ].join("\r\n");
  return { raw: new TextEncoder().encode(text), messageId };
}

export async function federationBench(messages: number, concurrency = 16): Promise<void> {
  await federationProcessesBench(messages, concurrency);
  const fed = await startFederation(
    ["alpha.test", "beta.test"],
    () => ({ federationRatePerMinute: 1_000_000 }),
  );
  try {
    const [alpha] = fed.peers;
    const peer = await discover(alpha.deps, "beta.test");
    if (!peer.document) throw new Error(`discovery failed: ${peer.detail}`);
    const doc = peer.document;
    const one = async (i: number) => {
      const m = message(i);
      const outcome = await sendFederated(alpha.deps, doc, {
        domain: "beta.test",
        mailFrom: "alice@alpha.test",
        recipients: ["bob@beta.test"],
        raw: m.raw,
        messageId: m.messageId,
      });
      if (!outcome.ok || outcome.results[0].status !== "accepted") {
        throw new Error(`delivery ${i}: ${JSON.stringify(outcome)}`);
      }
    };
    await closedLoop(200, concurrency, (i) => one(1_000_000 + i)); // warm-up, not counted
    const sendCpu = cpuMark();
    const run = await closedLoop(messages, concurrency, one);
    const s = summary(run.latencies);
    console.log(
      `in-process send → receipt: ${messages} × 4 KB, ${concurrency} concurrent: ${
        fmt(messages / run.seconds, 0)
      } msg/s; p50 ${fmt(s.p50)} ms, p99 ${fmt(s.p99)} ms, max ${fmt(s.max)} ms; ${
        sendCpu(messages)
      }`,
    );

    const queued = Math.min(messages, 1000);
    const text = "Federation outbox benchmark line, sixty-four characters long..\n".repeat(62);
    await closedLoop(queued, 8, async (i) => {
      const res = await alpha.call("POST", "/v1/emails", {
        as: "alice",
        body: { from: "alice@alpha.test", to: ["bob@beta.test"], subject: `q${i}`, text },
      });
      if (res.status !== 201) throw new Error(`queue ${i}: ${res.status}`);
      await res.body?.cancel();
    });
    const outboxCpu = cpuMark();
    const t0 = performance.now();
    let sent = 0;
    while (sent < queued) {
      const pass = await runFederationOnce(alpha.deps, "bench", { concurrency, limit: 200 });
      if (pass.claimed === 0) break;
      sent += pass.sent;
    }
    const seconds = (performance.now() - t0) / 1000;
    const outboxCost = outboxCpu(Math.max(sent, 1));
    const receipts = (await alpha.deps.store.db.select({ id: schema.federationReceipts.id })
      .from(schema.federationReceipts)).length;
    console.log(
      `outbox → peer: ${sent}/${queued} delivered by the federation worker in ${
        fmt(seconds, 2)
      } s = ${fmt(sent / seconds, 0)} msg/s (${receipts} receipts stored); ${outboxCost}`,
    );
    const smtp = await smtpRelay(fed, queued, text);
    if (smtp) {
      console.log(
        `outbox → peer by SMTP (bridge → bridge MX): ${smtp.delivered}/${queued} in ${
          fmt(smtp.seconds, 2)
        } s = ${fmt(smtp.delivered / smtp.seconds, 0)} msg/s; federation/SMTP = ${
          fmt((sent / seconds) / (smtp.delivered / smtp.seconds), 2)
        }×`,
      );
    }
  } finally {
    await fed.close();
  }
}

/** A bridge key for a peer's in-process bridge (owned by a new admin account). */
async function bridgeKey(deps: Deps, domain: string): Promise<string> {
  const admin = await createAccount(deps.store, {
    address: `postmaster@${domain}`,
    password: "bench-password-1",
    role: "admin",
  }, { quotaBytes: 0, nowMs: Date.now() });
  return (await createApiKey(deps.store, admin.id, { name: "bench", scopes: ["bridge"] })).key;
}

/** Every listener port off, then the given ones on. */
function ports(config: Config, on: Partial<Config>): Config {
  const off = Object.fromEntries(
    Object.keys(config).filter((k) => /Ports?$/.test(k) && k !== "httpPort").map((k) => [k, 0]),
  );
  return { ...config, ...off, ...on };
}

/**
 * Postern's SMTP path between the same two gateways: federation off at the sender, the peer's
 * domain given an MX on the fake DNS, the peer's bridge MX on loopback with STARTTLS.
 */
async function smtpRelay(fed: Federation, count: number, text: string) {
  const [alpha, beta] = fed.peers;
  const dir = await Deno.makeTempDir({ prefix: "postern-bench-fed-smtp-" });
  await Deno.writeTextFile(`${dir}/cert.pem`, fed.cert);
  await Deno.writeTextFile(`${dir}/key.pem`, fed.key);
  const mx = await startBridge(
    ports(beta.deps.config, {
      smtpPort: freePort(),
      bridgeHost: "127.0.0.1",
      tlsCertFile: `${dir}/cert.pem`,
      tlsKeyFile: `${dir}/key.pem`,
      smtpEarlyTalkerMs: 0,
    }),
    {
      url: "http://beta.in-process",
      apiKey: await bridgeKey(beta.deps, "beta.test"),
      fetcher: (r) => beta.app.fetch(r),
    },
    silentLogger,
  );
  const mxPort = mx.listeners.find((l) => l.name === "smtp")!.port;
  delete fed.dns.zone["_sharp.beta.test"];
  fed.dns.zone["beta.test"] = { MX: ["10 mx.beta.test"] };
  fed.dns.zone["mx.beta.test"] = { A: ["127.0.0.1"] };
  const federation = alpha.deps.federation;
  alpha.deps.federation = undefined;
  const apiKey = await bridgeKey(alpha.deps, "alpha.test");
  const [last] = await alpha.deps.store.db.select({ id: schema.outbox.id }).from(schema.outbox)
    .orderBy(desc(schema.outbox.id)).limit(1);
  const before = last?.id ?? 0;
  try {
    await closedLoop(count, 8, async (i) => {
      const res = await alpha.call("POST", "/v1/emails", {
        as: "alice",
        body: { from: "alice@alpha.test", to: ["bob@beta.test"], subject: `s${i}`, text },
      });
      if (res.status !== 201) throw new Error(`queue ${i}: ${res.status}`);
      await res.body?.cancel();
    });
    const t0 = performance.now();
    const out = await startBridge(
      ports(alpha.deps.config, {
        outboundPort: mxPort,
        outboundConcurrency: 16,
        outboundClaimIntervalMs: 50,
      }),
      { url: "http://alpha.in-process", apiKey, fetcher: (r) => alpha.app.fetch(r) },
      silentLogger,
    );
    let delivered = 0;
    const deadline = Date.now() + 300_000;
    while (Date.now() < deadline) {
      delivered = (await alpha.deps.store.db.select({ id: schema.outbox.id }).from(schema.outbox)
        .where(and(eq(schema.outbox.state, "sent"), gt(schema.outbox.id, before)))).length;
      if (delivered >= count) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - t0) / 1000;
    await out.close();
    return { delivered, seconds };
  } catch (e) {
    console.log(`SMTP comparison skipped: ${(e as Error).message}`);
    return undefined;
  } finally {
    alpha.deps.federation = federation;
    await mx.close();
  }
}

if (import.meta.main) {
  await federationBench(Number(Deno.args[0] ?? 2000));
}
