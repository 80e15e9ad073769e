/**
 * Transactional sending through the batch API with an API key: N messages (4 KB text, one
 * remote recipient each, tags and metadata) posted to `POST /v1/emails/batch` against a real
 * `postern serve` (outbound worker off, so the figure is acceptance: each batch is answered
 * after its messages' durable commits), twice: in batches of B from C concurrent clients
 * (throughput), then in batches of 20 from 2 clients (latency). Prints accepted messages per
 * second, the p50/p99 latency of one batch request, the server's CPU per message, and a single
 * `POST /v1/emails` under load; then restarts the server with its outbound worker pointed at
 * Postfix's smtp-sink and prints the time until every accepted message has left
 * (bench/smtp_out.ts). Used by bench/run.ts section (t); asserts nothing.
 */
import { attachProfiler, type Profiler } from "./cpu_profile.ts";
import { api, closedLoop, cpuMs, fmt, freePort, login, startServer, summary } from "./lib.ts";
import { drainToSink } from "./smtp_out.ts";

const DOMAIN = "postern.localhost";

export async function transactionalBench(
  messages: number,
  batchSize = 100,
  concurrency = 4,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postern-bench-tx-" });
  // BENCH_CPU_PROFILE=<file>: a CPU profile of the server over the batch passes (cpu_profile.ts).
  const profilePath = Deno.env.get("BENCH_CPU_PROFILE");
  const inspectPort = profilePath ? freePort() : 0;
  if (profilePath) {
    const flags = Deno.env.get("BENCH_DENO_FLAGS") ?? "";
    Deno.env.set("BENCH_DENO_FLAGS", `${flags} --inspect=127.0.0.1:${inspectPort}`.trim());
  }
  const server = await startServer(dir, { POSTERN_OUTBOUND_PORT: "0" });
  let profiler: Profiler | undefined;
  try {
    // An application sends with an API key (`send` scope), as the clients would.
    const session = await login(server.url, `admin@${DOMAIN}`, server.adminPassword);
    const created = await api(server.url, "POST", "/v1/api-keys", session, {
      name: "bench",
      scopes: ["send"],
    });
    if (created.status !== 201) {
      throw new Error(`api key: ${created.status} ${await created.text()}`);
    }
    const token = (await created.json()).key as string;
    const text = "Transactional benchmark line, sixty-four characters long.......\n".repeat(62);
    const item = (i: number) => ({
      from: `admin@${DOMAIN}`,
      to: [`user${i}@sink.test`],
      subject: `Receipt ${i}`,
      text,
      tags: ["bench", `t${i % 10}`],
      metadata: { order: String(i) },
    });
    const post = async (first: number, count: number) => {
      const res = await api(
        server.url,
        "POST",
        "/v1/emails/batch",
        token,
        Array.from({ length: count }, (_, k) => item(first + k)),
      );
      if (res.status !== 200) throw new Error(`batch: ${res.status} ${await res.text()}`);
      const out = await res.json();
      if (out.accepted !== count) throw new Error(`batch: ${JSON.stringify(out.results[0])}`);
      return out.accepted as number;
    };
    await post(1_000_000, Math.min(batchSize, 200)); // warm-up (JIT, caches), not counted
    let accepted = 0;
    let first = 0;
    // Throughput at the given shape, then the same number of messages in small batches from two
    // clients: the shape for a p99 accept latency within 50 ms.
    // BENCH_TX_SHAPES="20x2,25x3" replaces the two passes (for exploring shapes).
    const asked = Deno.env.get("BENCH_TX_SHAPES");
    const shapes = asked
      ? asked.split(",").map((x) => x.split("x").map(Number))
      : [[batchSize, concurrency], [20, 2]];
    if (profilePath) {
      profiler = await attachProfiler(inspectPort);
      await profiler.start();
    }
    for (const [size, clients] of shapes) {
      const batches = Math.ceil(messages / size);
      let done = 0;
      const cpuBefore = cpuMs(server.pid);
      const start = first;
      const run = await closedLoop(batches, clients, async (b) => {
        const count = Math.min(size, messages - b * size);
        const n = await post(start + b * size, count); // (not `done += await`: lost updates)
        done += n;
      });
      first += messages;
      accepted += done;
      const s = summary(run.latencies);
      console.log(
        `batch API: ${done} messages in ${batches} batches of ${size}, ${clients} ` +
          `clients: ${fmt(run.seconds, 2)} s → ${fmt(done / run.seconds, 0)} accepted/s; ` +
          `batch latency p50 ${fmt(s.p50)} ms, p95 ${fmt(s.p95)} ms, p99 ${fmt(s.p99)} ms, ` +
          `max ${fmt(s.max)} ms; server CPU ` +
          `${fmt((cpuMs(server.pid) - cpuBefore) / done, 2)} ms per message`,
      );
    }
    if (profiler) {
      for (const line of await profiler.stop(profilePath!)) console.log(line);
      profiler.close();
    }
    const single = await closedLoop(1000, 8, async (i) => {
      const res = await api(server.url, "POST", "/v1/emails", token, item(2_000_000 + i));
      if (res.status !== 201) throw new Error(`send: ${res.status} ${await res.text()}`);
      await res.body?.cancel();
    });
    const s1 = summary(single.latencies);
    console.log(
      `single POST /v1/emails, 8 clients: ${fmt(1000 / single.seconds, 0)} accepted/s; ` +
        `latency p50 ${fmt(s1.p50)} ms, p99 ${fmt(s1.p99)} ms`,
    );
    await server.stop();
    // BENCH_TX_DRAIN=0 leaves out the drain (short A/B runs of the acceptance figures).
    if (Deno.env.get("BENCH_TX_DRAIN") === "0") return;
    // Everything accepted above (warm-up and single sends included) leaves for smtp-sink.
    const warmUp = Math.min(batchSize, 200);
    await drainToSink(dir, warmUp + accepted + 1000, "all accepted mail → smtp-sink");
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}
