/**
 * Sends on each store engine, side by side: `POST /v1/emails` (4 KB, one local recipient)
 * against a real `postern serve` on the embedded file, then on remote libSQL — a Hrana server
 * on the libSQL engine (test/fixtures/hrana_server.ts, in its own process; no registry ships
 * sqld) — on loopback and with 5 ms and 20 ms added to every round trip (the server holds each
 * HTTP request that long: a nearby region, a Turso-like distance). Each case runs with a
 * signed-in session (the send stores a Sent copy and delivers locally) and with an API key, from
 * 1 and 8 clients, for at most `seconds` or `sends` sends, whichever ends first. Prints one
 * table: sends per second, p50/p99 latency, the HTTP round trips to the database per send
 * (counted by the Hrana server, the gateway's pollers included) and the server's CPU time per
 * send (its main thread, which bounds the rate, and the whole process; the client shares the
 * machine's cores, so on a busy machine sends/s falls while CPU per send barely moves). Then, beside it, what each
 * request issue 16 counts costs on remote libSQL in round trips, reads included — a send with a
 * session or an API key, an RCPT check, a hand-in (delivery), a flag change, an outbox claim —
 * the first time (caches empty) and in steady state (test/fixtures/request_costs.ts, counted by
 * the Store). Used by bench/run.ts section (r); asserts nothing.
 */
import { api, cpuMs, fmt, login, mainThreadCpuMs, startServer, summary } from "./lib.ts";
import { createTestGateway } from "../test/fixtures/app.ts";
import { startHranaServer } from "../test/fixtures/hrana_server.ts";
import { requestCosts } from "../test/fixtures/request_costs.ts";

const DOMAIN = "postern.localhost";
const ROOT = new URL("../", import.meta.url);

interface Hrana {
  url: string;
  requests(): Promise<number>;
  setDelay(ms: number): Promise<void>;
  stop(): Promise<void>;
}

/** The Hrana server as its own process, so its CPU does not share the gateway's thread. */
async function startHrana(db: string): Promise<Hrana> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("test/fixtures/hrana_server.ts", ROOT).pathname, "--db", db],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the Hrana server exited before it listened");
    text += value;
  }
  reader.releaseLock();
  void child.stdout.cancel().catch(() => {});
  const url = text.match(/(http:\/\/\S+)/)![1];
  return {
    url,
    async requests() {
      return (await (await fetch(`${url}/stats`)).json()).requests as number;
    },
    async setDelay(ms: number) {
      await (await fetch(`${url}/control/delay?ms=${ms}`, { method: "POST" })).body?.cancel();
    },
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
    },
  };
}

interface Row {
  engine: string;
  auth: string;
  clients: number;
  sends: number;
  failed: number;
  perSecond: number;
  p50: number;
  p99: number;
  roundTrips?: number;
  /** The server's CPU time per send, ms: its main thread (the event loop) and the whole process. */
  mainCpu: number;
  processCpu: number;
}

/** Sends for at most `seconds` or `max` sends from `clients` workers. */
async function timedLoop(
  clients: number,
  seconds: number,
  max: number,
  send: () => Promise<boolean>,
): Promise<{ sends: number; failed: number; seconds: number; latencies: number[] }> {
  const latencies: number[] = [];
  let started = 0;
  let failed = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: clients }, async () => {
    while (started < max && performance.now() < deadline) {
      started++;
      const t = performance.now();
      if (!await send()) failed++;
      latencies.push(performance.now() - t);
    }
  }));
  return { sends: latencies.length, failed, seconds: (performance.now() - t0) / 1000, latencies };
}

/**
 * Waits (at most 30 s) until the gateway's background work has caught up — the search indexer
 * indexes the previous case's messages through the same database — so that a case measures its
 * sends rather than the last one's backlog: until a second passes with no more requests than
 * the idle pollers make.
 */
async function settle(hrana?: Hrana): Promise<void> {
  if (!hrana) return;
  const until = performance.now() + 30_000;
  while (performance.now() < until) {
    const before = await hrana.requests();
    await new Promise((r) => setTimeout(r, 1000));
    if ((await hrana.requests()) - before <= IDLE_REQUESTS_PER_SECOND) return;
  }
  console.log("(background work had not caught up after 30 s)");
}

/** About what the idle pollers make (outbox, webhooks, search indexer), with some slack. */
const IDLE_REQUESTS_PER_SECOND = 16;

export interface EnginesBenchOptions {
  /** Longest run of one case (engine × auth × clients). */
  seconds: number;
  /** Most sends in one case. */
  sends: number;
}

/** A request's round trips on remote libSQL: the first time, and the most of later rounds. */
interface Trips {
  request: string;
  first: number;
  steady: number;
}

/** Each counted request, 4 rounds, on a gateway in this process over a Hrana server. */
async function requestTrips(): Promise<Trips[]> {
  const dir = await Deno.makeTempDir({ prefix: "postern-bench-trips-" });
  const hrana = startHranaServer({ dir });
  try {
    const gw = await createTestGateway({}, `${hrana.url}/db/trips/`);
    try {
      const costs = await requestCosts(gw, 4);
      return Object.entries(costs).map(([request, trips]) => ({
        request,
        first: trips[0],
        steady: Math.max(...trips.slice(1)),
      }));
    } finally {
      gw.close();
    }
  } finally {
    await hrana.close();
    await Deno.remove(dir, { recursive: true });
  }
}

export async function enginesBench(
  options: EnginesBenchOptions,
): Promise<{ rows: Row[]; idle: string[]; trips: Trips[] }> {
  const rows: Row[] = [];
  const idle: string[] = [];
  const text = "Benchmark body line, 64 characters long, repeated to reach 4KB.\n".repeat(62);
  const body = { from: `sender@${DOMAIN}`, to: [`rcpt@${DOMAIN}`], subject: "bench", text };

  const runCases = async (
    url: string,
    pid: number,
    label: (delay: number) => string,
    delays: number[],
    hrana?: Hrana,
  ) => {
    const admin = await login(url, `admin@${DOMAIN}`, "bench-admin-password");
    for (const local of ["sender", "rcpt"]) {
      const res = await api(url, "POST", "/v1/admin/accounts", admin, {
        address: `${local}@${DOMAIN}`,
        password: "bench-password-1",
        quotaBytes: 0,
      });
      if (res.status !== 201 && res.status !== 200) throw new Error(await res.text());
      await res.body?.cancel();
    }
    const session = await login(url, `sender@${DOMAIN}`, "bench-password-1");
    const made = await api(url, "POST", "/v1/api-keys", session, { name: "b", scopes: ["send"] });
    if (made.status !== 201) throw new Error(`api key: ${made.status} ${await made.text()}`);
    const apiKey = (await made.json()).key as string;
    const send = (token: string) => async () => {
      const res = await api(url, "POST", "/v1/emails", token, body);
      await res.body?.cancel();
      return res.status === 201;
    };
    // Warm-up (JIT, caches, connections), not counted.
    await timedLoop(8, 2, 200, send(session));
    await timedLoop(8, 1, 100, send(apiKey));
    for (const delay of delays) {
      await hrana?.setDelay(delay);
      if (hrana) {
        // The gateway's pollers (outbox, webhooks, search indexer) talk to the database while
        // nothing is sent; their share is in trips/send, so show it.
        await settle(hrana);
        const before = await hrana.requests();
        await new Promise((r) => setTimeout(r, 2000));
        idle.push(`${label(delay)}: ${fmt(((await hrana.requests()) - before) / 2, 1)}/s`);
      }
      for (const [auth, token] of [["session", session], ["API key", apiKey]] as const) {
        for (const clients of [1, 8]) {
          await settle(hrana);
          const before = await hrana?.requests();
          const main0 = mainThreadCpuMs(pid), process0 = cpuMs(pid);
          const run = await timedLoop(clients, options.seconds, options.sends, send(token));
          const mainCpu = (mainThreadCpuMs(pid) - main0) / run.sends;
          const processCpu = (cpuMs(pid) - process0) / run.sends;
          const after = await hrana?.requests();
          const s = summary(run.latencies);
          rows.push({
            engine: label(delay),
            auth,
            clients,
            sends: run.sends,
            failed: run.failed,
            perSecond: run.sends / run.seconds,
            p50: s.p50,
            p99: s.p99,
            roundTrips: before === undefined ? undefined : (after! - before) / run.sends,
            mainCpu,
            processCpu,
          });
          console.log(formatRow(rows[rows.length - 1]));
        }
      }
    }
    await hrana?.setDelay(0);
  };

  {
    const dir = await Deno.makeTempDir({ prefix: "postern-bench-engines-" });
    const server = await startServer(dir);
    try {
      await runCases(server.url, server.pid, () => "embedded file", [0]);
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  }
  {
    const dir = await Deno.makeTempDir({ prefix: "postern-bench-engines-" });
    const hrana = await startHrana(`${dir}/remote.db`);
    const server = await startServer(`${dir}/data`, { POSTERN_DATABASE_URL: hrana.url });
    try {
      await runCases(
        server.url,
        server.pid,
        (d) => d === 0 ? "remote libSQL, loopback" : `remote libSQL, +${d} ms/round trip`,
        [0, 5, 20],
        hrana,
      );
    } finally {
      await server.stop();
      await hrana.stop();
      await Deno.remove(dir, { recursive: true });
    }
  }
  return { rows, idle, trips: await requestTrips() };
}

const HEAD = [
  "engine",
  "auth",
  "clients",
  "sends",
  "sends/s",
  "p50 ms",
  "p99 ms",
  "trips/send",
  "cpu ms/send",
];
const WIDTH = [34, 9, 8, 7, 9, 9, 9, 10, 12];

function formatRow(r: Row): string {
  return [
    r.engine,
    r.auth,
    String(r.clients),
    r.failed ? `${r.sends}!${r.failed}` : String(r.sends),
    fmt(r.perSecond, 1),
    fmt(r.p50, 1),
    fmt(r.p99, 1),
    r.roundTrips === undefined ? "—" : fmt(r.roundTrips, 1),
    `${fmt(r.mainCpu, 2)}/${fmt(r.processCpu, 2)}`,
  ].map((c, i) => i < 2 ? c.padEnd(WIDTH[i]) : c.padStart(WIDTH[i])).join(" ");
}

export function printEnginesTable(
  { rows, idle, trips }: { rows: Row[]; idle: string[]; trips: Trips[] },
): void {
  console.log(HEAD.map((c, i) => i < 2 ? c.padEnd(WIDTH[i]) : c.padStart(WIDTH[i])).join(" "));
  for (const r of rows) console.log(formatRow(r));
  console.log(
    "(sends N!F: F of N failed; trips/send: Hrana pipeline requests, i.e. HTTP round trips to " +
      "the database, per send, the pollers' idle traffic included: " + idle.join(", ") +
      "; cpu ms/send: the server's CPU time per send, its main thread / the whole process, " +
      "from /proc — on a shared machine the figure to compare, since sends/s also counts " +
      "what other processes took from the 2 cores, this client included)",
  );
  console.log();
  console.log(
    "round trips per request on remote libSQL (reads and write job)".padEnd(WIDTH[0] + 10) +
      "first".padStart(8) + "steady".padStart(8),
  );
  for (const t of trips) {
    console.log(
      t.request.padEnd(WIDTH[0] + 10) + String(t.first).padStart(8) + String(t.steady).padStart(8),
    );
  }
}

if (import.meta.main) {
  const result = await enginesBench({ seconds: 6, sends: 2000 });
  console.log();
  printEnginesTable(result);
}
