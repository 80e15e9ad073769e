/**
 * `deno task bench`: Postern's figures on this machine, against a real `postern serve` over
 * loopback, and side by side with Postfix or Dovecot where the issue names a peer:
 *   (a) local deliveries per second through POST /v1/emails (4 KB, 8 concurrent clients, each
 *       acknowledged after its durable commit), and the server's CPU per send
 *       (BENCH_CPU_PROFILE=<file> profiles the server over the counted sends: bench/cpu_profile.ts);
 *   (b) list-first-page and search latency (p50/p95) on one account holding N messages;
 *   (c) resident memory of `postern serve` (listeners on): idle, through an SMTP burst of N
 *       messages (CPU per message beside its rate) and 10/20/30 s after it (bench/memory.ts);
 *   (d) SMTP ingest side by side with Postfix: smtp-source, 5 KB messages, 20 sessions, one
 *       message per connection, into Postern's MX (durably stored) and into Postfix, with
 *       Postern's CPU per message (main thread and process), the fsync probe and the sender
 *       DNS used (bench/smtp.ts);
 *   (e) outbound SMTP: queued messages delivered by the outbox worker to Postfix's smtp-sink
 *       (bench/smtp_out.ts);
 *   (f) signed federation between two gateways on loopback over TLS: 4 KB, 16 concurrent,
 *       msg/s, p50/p99 and each server's CPU per message, POST /v1/emails → verified receipt
 *       between two `postern serve` processes, then in one process send → receipt, outbox → peer, compared with the same
 *       messages over Postern's SMTP path (bench/federation.ts);
 *   (i) IMAP, Postern and Dovecot on the same N-message INBOX: FETCH ENVELOPE+FLAGS of all,
 *       1,000 full bodies, SEARCH SUBJECT (bench/imap.ts);
 *   (p) POP3, Postern and Dovecot: RETR of 1,000 messages from a 10,000-message Inbox, UIDL,
 *       login, and the mailbox-access index call (bench/pop3.ts);
 *   (t) transactional sending: N messages through POST /v1/emails/batch (bench/transactional.ts);
 *   (l) large messages: resident memory (idle, peak, settled 30 s after) while N concurrent
 *       25 MB messages arrive over SMTP and M 24 MB JSON sends over HTTP (bench/large_messages.ts).
 *   (r) POST /v1/emails on each store engine, side by side: the embedded file, remote libSQL on
 *       loopback and with 5 ms and 20 ms added per round trip; 1 and 8 clients, session and API
 *       key; sends/s, p50/p99 and round trips per send (bench/engines.ts).
 *   (w) the webmail in headless chromium on a --messages mailbox: bytes and time to interactive
 *       of /mail's first load, opening a message, paging (bench/web_mail.ts).
 *   (x) the Cloudflare Worker in workerd (miniflare, local D1): bundle size, cold starts, CPU per
 *       login, send and email() delivery (bench/worker.ts).
 * Options: --only a,b,c,d,e,f,i,l,p,t,r,w,x; --engine-seconds N (6, per case), --sends N (default 4000), --messages N (100000),
 * --smtp-messages N (10000), --smtp-runs N (3), --memory-messages N (10000), --out-messages N (2000), --federation-messages N
 * (2000), --imap-messages N (10000), --pop3-messages N (10000), --tx-messages N (10000),
 * --large-smtp N (10), --large-json N (3).
 * The first line after the title is the machine's fsync latency (lib.ts fsyncProbe): with the
 * peers' own figures beside Postern's, what lets runs on different machines be compared. The
 * next names the POSTERN_* settings the servers inherit from the caller's environment (none,
 * for a run of the defaults).
 * Prints figures; asserts nothing.
 */
import { parseArgs } from "node:util";
import {
  addAccount,
  api,
  closedLoop,
  cpuMs,
  fmt,
  freePort,
  fsyncProbe,
  inheritedServerSettings,
  login,
  mainThreadCpuMs,
  rssMiB,
  startServer,
  summary,
} from "./lib.ts";
import { attachProfiler, type Profiler } from "./cpu_profile.ts";
import { seedMessages } from "./seed.ts";
import { smtpIngestBench } from "./smtp.ts";
import { memoryBench } from "./memory.ts";
import { smtpOutboundBench } from "./smtp_out.ts";
import { pop3Bench } from "./pop3.ts";
import { imapBench } from "./imap.ts";
import { transactionalBench } from "./transactional.ts";
import { federationBench } from "./federation.ts";
import { largeMessageBench } from "./large_messages.ts";
import { enginesBench, printEnginesTable } from "./engines.ts";
import { workerBench } from "./worker.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    sends: { type: "string", default: "4000" },
    messages: { type: "string", default: "100000" },
    "smtp-messages": { type: "string", default: "10000" },
    "smtp-runs": { type: "string", default: "3" },
    "memory-messages": { type: "string", default: "10000" },
    "out-messages": { type: "string", default: "2000" },
    only: { type: "string", default: "a,b,c,d,e,p,i,t,f,l,r,w,x" },
    "engine-seconds": { type: "string", default: "6" },
    "pop3-messages": { type: "string", default: "10000" },
    "imap-messages": { type: "string", default: "10000" },
    "tx-messages": { type: "string", default: "10000" },
    "federation-messages": { type: "string", default: "2000" },
    "large-smtp": { type: "string", default: "10" },
    "large-json": { type: "string", default: "3" },
  },
});
const only = new Set(values.only!.split(","));
const DOMAIN = "postern.localhost";
const ADMIN = `admin@${DOMAIN}`;

function header(title: string) {
  console.log(`\n== ${title}`);
}

console.log(
  `Postern gateway benchmark — ${Deno.build.os}/${Deno.build.arch}, ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}`,
);
{
  // The machine's durable-write latency, beside where the data folders go: the peers' pace.
  const probeDir = await Deno.makeTempDir({ prefix: "postern-bench-fsync-" });
  const probe = fsyncProbe(probeDir);
  await Deno.remove(probeDir, { recursive: true });
  console.log(
    `fsync probe (200 × 4 KiB write + fdatasync in ${probeDir.replace(/\/[^/]*$/, "")}): ` +
      `median ${fmt(probe.median, 2)} ms, p99 ${fmt(probe.p99, 2)} ms`,
  );
  // The servers inherit this environment: a POSTERN_* setting in it changes what they measure.
  const inherited = inheritedServerSettings();
  console.log(
    `server settings from the environment: ${
      inherited.length ? inherited.join(" ") : "none (the defaults)"
    }`,
  );
}

if (only.has("a")) {
  header(
    "(a) local deliveries through POST /v1/emails — 4 KB, 8 concurrent clients, durable commits",
  );
  const dir = await Deno.makeTempDir({ prefix: "postern-bench-" });
  // BENCH_CPU_PROFILE=<file>: a CPU profile of the server over the counted sends (cpu_profile.ts).
  const profilePath = Deno.env.get("BENCH_CPU_PROFILE");
  const inspectPort = profilePath ? freePort() : 0;
  const flags = Deno.env.get("BENCH_DENO_FLAGS") ?? "";
  if (profilePath) {
    Deno.env.set("BENCH_DENO_FLAGS", `${flags} --inspect=127.0.0.1:${inspectPort}`.trim());
  }
  const server = await startServer(dir);
  if (profilePath) Deno.env.set("BENCH_DENO_FLAGS", flags);
  let profiler: Profiler | undefined;
  try {
    const admin = await login(server.url, ADMIN, server.adminPassword);
    await addAccount(server.url, admin, `sender@${DOMAIN}`);
    await addAccount(server.url, admin, `rcpt@${DOMAIN}`);
    const token = await login(server.url, `sender@${DOMAIN}`, "bench-password-1");
    const text = "Benchmark body line, 64 characters long, repeated to reach 4KB.\n".repeat(62);
    const body = { from: `sender@${DOMAIN}`, to: [`rcpt@${DOMAIN}`], subject: "bench", text };
    const total = Number(values.sends);
    // Warm-up (JIT, caches), not counted.
    await closedLoop(200, 8, async () => {
      const res = await api(server.url, "POST", "/v1/emails", token, body);
      await res.body?.cancel();
    });
    let failed = 0;
    if (profilePath) {
      profiler = await attachProfiler(inspectPort);
      await profiler.start();
    }
    // The server's CPU per send (main thread, and the whole process): what a busy machine
    // disturbs least; the clients share its cores.
    const cpuAt = { all: cpuMs(server.pid), main: mainThreadCpuMs(server.pid) };
    const run = await closedLoop(total, 8, async () => {
      const res = await api(server.url, "POST", "/v1/emails", token, body);
      if (res.status !== 201) failed++;
      await res.body?.cancel();
    });
    const cpu = {
      all: (cpuMs(server.pid) - cpuAt.all) / total,
      main: (mainThreadCpuMs(server.pid) - cpuAt.main) / total,
    };
    const s = summary(run.latencies);
    console.log(
      `sends: ${total} in ${fmt(run.seconds, 2)} s → ${fmt(total / run.seconds, 0)} deliveries/s ` +
        `(failed ${failed}); latency p50 ${fmt(s.p50)} ms, p95 ${fmt(s.p95)} ms, p99 ${
          fmt(s.p99)
        } ms; server CPU per send ${fmt(cpu.all, 2)} ms (main thread ${fmt(cpu.main, 2)} ms)`,
    );
    console.log(`server RSS after load: ${fmt(rssMiB(server.pid))} MiB`);
    if (profiler) {
      for (const line of await profiler.stop(profilePath!)) console.log(line);
      console.log(`profile written to ${profilePath}`);
    }
  } finally {
    profiler?.close();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

if (only.has("b")) {
  const count = Number(values.messages);
  header(`(b) list and search on one account holding ${count} messages`);
  const dir = await Deno.makeTempDir({ prefix: "postern-bench-" });
  let server = await startServer(dir);
  const admin = await login(server.url, ADMIN, server.adminPassword);
  await addAccount(server.url, admin, `big@${DOMAIN}`);
  await server.stop();
  const t0 = performance.now();
  await seedMessages(`file:${dir}/postern.db`, `big@${DOMAIN}`, count);
  console.log(
    `seeded ${count} messages in ${fmt((performance.now() - t0) / 1000)} s (setup, not a figure)`,
  );
  server = await startServer(dir);
  try {
    const token = await login(server.url, `big@${DOMAIN}`, "bench-password-1");
    const measure = async (label: string, paths: string[], rounds: number) => {
      for (const p of paths) await (await api(server.url, "GET", p, token)).body?.cancel(); // warm
      const latencies: number[] = [];
      let hits = 0;
      for (let i = 0; i < rounds; i++) {
        const p = paths[i % paths.length];
        const t = performance.now();
        const res = await api(server.url, "GET", p, token);
        const json = await res.json();
        latencies.push(performance.now() - t);
        if (!res.ok) throw new Error(`${p}: ${res.status} ${JSON.stringify(json)}`);
        hits += json.items?.length ?? 0;
      }
      const s = summary(latencies);
      console.log(
        `${label}: p50 ${fmt(s.p50)} ms, p95 ${fmt(s.p95)} ms, p99 ${fmt(s.p99)} ms ` +
          `(${rounds} requests, ${fmt(hits / rounds, 0)} items each)`,
      );
    };
    await measure("list first page (50, newest first)", ["/v1/messages?limit=50"], 300);
    const boxes = await (await api(server.url, "GET", "/v1/mailboxes", token)).json();
    const inbox = (boxes.items ?? boxes).find((b: { role: string }) => b.role === "inbox");
    await measure(
      "list first page of INBOX (50)",
      [`/v1/messages?limit=50&mailboxId=${inbox.id}`],
      300,
    );
    await measure(
      "search (one word, newest 50)",
      ["quarterly", "invoice", "garden", "security", "ipsum"].map((q) =>
        `/v1/search?q=${q}&limit=50`
      ),
      300,
    );
    await measure(
      "search (two words + from)",
      [
        "/v1/search?q=invoice%20server&from=ken&limit=50",
        "/v1/search?q=meeting%20garden&from=barbara&limit=50",
      ],
      200,
    );
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

if (only.has("c")) {
  header("(c) resident memory of postern serve: idle, through an SMTP burst and after it");
  await memoryBench({
    messages: Number(values["memory-messages"]),
    settleSeconds: 30,
  });
}

if (only.has("d")) {
  header(
    "(d) SMTP ingest: smtp-source → Postern's MX (durably stored) and → Postfix (discard), " +
      "5 KB, 20 sessions, 1 message/connection",
  );
  await smtpIngestBench({
    messages: Number(values["smtp-messages"]),
    size: 5120,
    sessions: 20,
    runs: Number(values["smtp-runs"]),
  });
}

if (only.has("e")) {
  header("(e) outbound SMTP: outbox → smtp-sink (DKIM-signed, 4 KB, connection reuse)");
  await smtpOutboundBench(Number(values["out-messages"]));
}

if (only.has("p")) {
  header("(p) POP3 and mailbox access: one Inbox of N seeded messages, RETR of 1,000");
  await pop3Bench({ messages: Number(values["pop3-messages"]), retr: 1000 });
}

if (only.has("i")) {
  header("(i) IMAP side by side with Dovecot: one INBOX of N seeded messages");
  await imapBench({ messages: Number(values["imap-messages"]) });
}

if (only.has("t")) {
  header("(t) transactional sending: POST /v1/emails/batch, 4 KB, remote recipients, durable");
  await transactionalBench(Number(values["tx-messages"]));
}

if (only.has("f")) {
  header("(f) signed federation between two gateways (TLS, loopback) — 4 KB, 16 concurrent");
  await federationBench(Number(values["federation-messages"]));
}

if (only.has("l")) {
  header(
    "(l) large messages: resident memory with 25 MB SMTP messages and 24 MB JSON sends in flight",
  );
  await largeMessageBench({
    smtp: Number(values["large-smtp"]),
    smtpBytes: 25_000_000,
    json: Number(values["large-json"]),
    jsonBytes: 24_000_000,
    settleSeconds: 30,
  });
}

if (only.has("r")) {
  header(
    "(r) POST /v1/emails per store engine — 4 KB, one local recipient; embedded file and remote " +
      "libSQL (Hrana server on the libSQL engine) at +0/+5/+20 ms per round trip",
  );
  const result = await enginesBench({
    seconds: Number(values["engine-seconds"]),
    sends: Number(values.sends),
  });
  console.log();
  printEnginesTable(result);
}

if (only.has("w")) {
  header(
    "(w) the webmail in headless chromium — /mail's first load (bytes, time to interactive), " +
      "opening a message and paging, on a mailbox of --messages messages",
  );
  // Its own process: it seeds and serves its own mailbox (bench/web_mail.ts).
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./web_mail.ts", import.meta.url).pathname,
      "--messages",
      values.messages!,
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!out.success) console.log("(w) failed: see its output above");
}

if (only.has("x")) {
  header(
    "(x) the Cloudflare Worker in workerd (miniflare, local D1) — bundle, cold start, CPU per " +
      "login, send and email() delivery",
  );
  await workerBench({ sends: 200, logins: 20, emails: 100, coldStarts: 10 });
}
