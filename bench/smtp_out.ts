/**
 * Outbound SMTP throughput: N messages queued through POST /v1/emails for a remote domain
 * whose MX (from a local fake DNS) is Postfix's `smtp-sink` on loopback; then the outbound worker
 * of a fresh `postern serve` delivers them (DKIM-signed, STARTTLS where offered, connection
 * reuse per destination). Queueing happens with the worker off, so the figure is delivery alone:
 * messages per second from the worker's start until every outbox row is `sent`.
 * Used by bench/run.ts section (e), and by section (t) for the time until a batch has left;
 * prints figures.
 */
import { openStore } from "../hosts/process/open_store.ts";
import { api, closedLoop, fmt, freePort, login, startServer } from "./lib.ts";
import { startZoneDns } from "./smtp.ts";

const SMTP_SINK = "/usr/sbin/smtp-sink";
const DOMAIN = "postern.localhost";

/**
 * Starts `postern serve` on `dataDir` (whose outbox holds mail for `*@sink.test`) with its
 * outbound worker pointed at a fresh smtp-sink, and prints how long it takes until `expected`
 * outbox rows are `sent`. Skips (with a note) where smtp-sink or the fake DNS is missing.
 */
export async function drainToSink(dataDir: string, expected: number, label: string) {
  try {
    Deno.statSync(SMTP_SINK);
  } catch {
    console.log("skipped: missing /usr/sbin/smtp-sink (Debian postfix)");
    return;
  }
  const dir = await Deno.makeTempDir({ prefix: "postern-bench-sink-" });
  const dns = await startZoneDns(dir, {
    "sink.test.": { MX: ["10 mx.sink.test."] },
    "mx.sink.test.": { A: ["127.0.0.1"] },
  });
  console.log(`DNS: ${dns.label}`);
  const sinkPort = freePort();
  const sink = new Deno.Command(SMTP_SINK, {
    args: ["-u", "postfix", `127.0.0.1:${sinkPort}`, "256"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const server = await startServer(dataDir, {
      POSTERN_OUTBOUND_PORT: String(sinkPort),
      POSTERN_DNS_SERVERS: dns.server,
      POSTERN_OUTBOUND_CLAIM_INTERVAL_MS: "100",
    });
    // The clock starts once the server answers /health (its worker starts with it).
    const t0 = performance.now();
    const store = await openStore(`file:${dataDir}/postern.db`);
    let sent = 0;
    let other = "";
    try {
      for (let i = 0; i < 12_000 && sent < expected; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const rows = await store.client.execute(
          "SELECT state, count(*) AS n FROM outbox GROUP BY state",
        );
        const by = Object.fromEntries(rows.rows.map((r) => [String(r.state), Number(r.n)]));
        sent = by.sent ?? 0;
        other = JSON.stringify(by);
      }
    } finally {
      store.close();
    }
    const seconds = (performance.now() - t0) / 1000;
    console.log(
      `${label}: ${sent}/${expected} delivered to smtp-sink in ${fmt(seconds, 2)} s → ` +
        `${fmt(sent / seconds, 0)} msg/s (outbox states ${other})`,
    );
    await server.stop();
  } finally {
    try {
      sink.kill("SIGTERM");
    } catch { /* gone */ }
    await sink.status;
    await dns.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

export async function smtpOutboundBench(messages: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postern-bench-out-" });
  try {
    // 1. Queue with the outbound worker off.
    const server = await startServer(`${dir}/data`, { POSTERN_OUTBOUND_PORT: "0" });
    const token = await login(server.url, `admin@${DOMAIN}`, server.adminPassword);
    const text = "Outbound benchmark line, about sixty-four characters long.....\n".repeat(62);
    const queued = await closedLoop(messages, 8, async (i) => {
      const res = await api(server.url, "POST", "/v1/emails", token, {
        from: `admin@${DOMAIN}`,
        to: [`user${i % 50}@sink.test`],
        subject: `outbound ${i}`,
        text,
      });
      if (res.status !== 201) throw new Error(`send ${i}: ${res.status} ${await res.text()}`);
      await res.body?.cancel();
    });
    console.log(`queued ${messages} × 4 KB in ${fmt(queued.seconds, 1)} s (setup)`);
    await server.stop();
    // 2. Deliver: the worker starts with the server; count `sent` rows until all are out.
    await drainToSink(`${dir}/data`, messages, "outbox → smtp-sink");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
