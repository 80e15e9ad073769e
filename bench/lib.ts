/**
 * Benchmark helpers: start a real `postern serve` on a temporary data folder, wait for it, run a
 * bounded closed-loop load, and summarise latencies. Figures are printed, never asserted.
 */
import { LISTENERS_OFF } from "../test/fixtures/serve_env.ts";
export interface Server {
  url: string;
  pid: number;
  dataDir: string;
  adminPassword: string;
  stop(): Promise<void>;
}

const ROOT = new URL("../", import.meta.url);

export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

export async function cli(
  dataDir: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("main.ts", ROOT).pathname, ...args],
    env: { POSTERN_DATA_DIR: dataDir, POSTERN_LOG_LEVEL: "warn", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`postern ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/**
 * `serve` as `deno task start` runs it (deno.json), so the benchmarks measure the server as it is
 * started: the task's last command gives the environment it sets, its flags (V8's, the
 * node_modules mode) and its entry (the bundle scripts/build_serve.ts writes); the commands
 * before it (the build) run once, before the first server. --no-memory-reducer, --expose-gc and
 * MALLOC_MMAP_THRESHOLD_: deploy/README.md says why.
 */
const START_STEPS: string[][] = (JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT)))
  .tasks.start as string).split("&&").map((step) => step.trim().split(/\s+/));
const START_TASK: string[] = START_STEPS.at(-1)!;
const START_RUN = START_TASK.slice(START_TASK.indexOf("run") + 1);
const SERVE_V8_FLAGS: string[] = START_RUN.filter((arg) => arg.startsWith("--v8-flags="));
/** Flags of `postern serve` itself, not of `deno run`. */
const SERVE_COMMAND_FLAGS = new Set(["--init-if-needed"]);
const SERVE_FLAGS: string[] = START_RUN.filter((arg) =>
  arg.startsWith("--") && !arg.startsWith("--v8-flags=") && !SERVE_COMMAND_FLAGS.has(arg)
);
/** BENCH_V8_FLAGS (e.g. "--v8-flags=--max-semi-space-size=4", or "" for none) replaces them. */
const serveV8Flags = () => {
  const own = Deno.env.get("BENCH_V8_FLAGS");
  return own === undefined ? SERVE_V8_FLAGS : own.split(" ").filter(Boolean);
};
/** The environment the start task sets before `deno` (the allocator's settings). */
const SERVE_ENV: Record<string, string> = Object.fromEntries(
  START_TASK.slice(0, START_TASK.indexOf("deno")).map((a) => a.split("=", 2)),
);
/** The start task's entry (BENCH_SERVE_ENTRY replaces it, e.g. with main.ts to run the sources). */
const SERVE_ENTRY = START_RUN.find((arg) => /\.[jt]s$/.test(arg))!;
let built = false;

/** Runs the start task's steps before `deno run … serve` (the bundle's build), once. */
function buildStart(): void {
  if (built || Deno.env.get("BENCH_SERVE_ENTRY")) return;
  built = true;
  for (const step of START_STEPS.slice(0, -1)) {
    const args = step[0] === "deno" ? step.slice(1) : step;
    const out = new Deno.Command(Deno.execPath(), { args, cwd: ROOT, stdout: "null" }).outputSync();
    if (!out.success) throw new Error(`${step.join(" ")} failed`);
  }
}

export async function startServer(
  dataDir: string,
  env: Record<string, string> = {},
): Promise<Server> {
  buildStart();
  const port = freePort();
  const adminPassword = "bench-admin-password";
  const child = new Deno.Command(Deno.execPath(), {
    // BENCH_DENO_FLAGS (e.g. "--inspect=127.0.0.1:9229") lets a profiler attach to the server.
    args: [
      "run",
      "-A",
      ...SERVE_FLAGS,
      ...serveV8Flags(),
      ...(Deno.env.get("BENCH_DENO_FLAGS")?.split(" ").filter(Boolean) ?? []),
      Deno.env.get("BENCH_SERVE_ENTRY") ?? new URL(SERVE_ENTRY, ROOT).pathname,
      "serve",
      "--init-if-needed",
    ],
    env: {
      ...SERVE_ENV,
      POSTERN_DATA_DIR: dataDir,
      POSTERN_HTTP_PORT: String(port),
      POSTERN_LOG_LEVEL: "warn",
      POSTERN_ADMIN_PASSWORD: adminPassword,
      ...LISTENERS_OFF,
      ...env,
    },
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    try {
      const res = await fetch(`${url}/health`);
      await res.body?.cancel();
      if (res.ok) break;
    } catch { /* not yet listening */ }
    await new Promise((r) => setTimeout(r, 100));
    if (i === 299) throw new Error("postern serve did not become healthy in 30 s");
  }
  return {
    url,
    pid: child.pid,
    dataDir,
    adminPassword,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
    },
  };
}

export function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0);
  return kb / 1024;
}

/** A process's status and smaps_rollup lines, in KiB, by name; empty where /proc is missing. */
function memoryKiB(pid: number | string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const file of ["status", "smaps_rollup"]) {
    try {
      for (
        const m of Deno.readTextFileSync(`/proc/${pid}/${file}`).matchAll(/^(\w+):\s+(\d+) kB/gm)
      ) {
        out[m[1]] = Number(m[2]);
      }
    } catch { /* gone, or not ours to read */ }
  }
  return out;
}

/** Resident memory of one process, MiB: all of it, its anonymous and file pages, and PSS. */
export interface ResidentMiB {
  rss: number;
  anon: number;
  file: number;
  /** Proportional set size: shared pages divided among the processes that map them. */
  pss: number;
  processes: number;
}

/**
 * The resident memory of a process and all its descendants, summed (a peer such as Postfix or
 * Dovecot is a master and its daemons). RSS counts each process's shared library pages once per
 * process, PSS shares them out, so both are given.
 */
export function processTreeMemory(pid: number): ResidentMiB {
  const parents = new Map<number, number>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const ppid = Number(
        Deno.readTextFileSync(`/proc/${e.name}/stat`).split(") ")[1].split(" ")[1],
      );
      parents.set(Number(e.name), ppid);
    } catch { /* ended meanwhile */ }
  }
  const tree = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [child, parent] of parents) {
      if (tree.has(parent) && !tree.has(child)) grew = tree.add(child) !== undefined;
    }
  }
  const sum: ResidentMiB = { rss: 0, anon: 0, file: 0, pss: 0, processes: 0 };
  for (const p of tree) {
    const m = memoryKiB(p);
    if (m.VmRSS === undefined) continue;
    sum.rss += m.VmRSS / 1024;
    sum.anon += (m.RssAnon ?? 0) / 1024;
    sum.file += (m.RssFile ?? 0) / 1024;
    sum.pss += (m.Pss ?? 0) / 1024;
    sum.processes++;
  }
  return sum;
}

/**
 * CPU time (user + system, all threads) a process has used so far, in ms, from /proc; NaN where
 * /proc is missing. Per message, it is the figure other load on the machine disturbs least.
 */
export function cpuMs(pid: number): number {
  try {
    const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/**
 * CPU time of a process's main thread alone (the JavaScript event loop of `postern serve`), in
 * ms, from /proc/<pid>/task/<pid>/stat; NaN where /proc is missing. The event loop is what bounds
 * ingest: worker threads (MIME, mailauth, checkpoints, the store's writes) and V8's helpers run beside it.
 */
export function mainThreadCpuMs(pid: number): number {
  try {
    const fields = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/stat`).split(") ")[1]
      .split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/**
 * The main thread's CPU time split into user and kernel time, in ms, from
 * /proc/<pid>/task/<pid>/stat (NaN where /proc is missing): the kernel's share is the socket
 * and WAL writes the event loop makes itself, which a faster disk or network stack changes.
 */
export function mainThreadCpuSplitMs(pid: number): { user: number; kernel: number } {
  try {
    const fields = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/stat`).split(") ")[1]
      .split(" ");
    return { user: Number(fields[11]) * 10, kernel: Number(fields[12]) * 10 };
  } catch {
    return { user: NaN, kernel: NaN };
  }
}

/**
 * The POSTERN_* settings a benchmark's servers take from the caller's environment (the servers
 * inherit it; the settings each benchmark sets itself come on top). Printed with the results:
 * an exported POSTERN_STORE_WRITER_THREAD or POSTERN_BRIDGE_THREAD, say, changes every figure,
 * and a run that compares with another must show it ran with the same settings.
 */
export function inheritedServerSettings(): string[] {
  return Object.entries(Deno.env.toObject())
    .filter(([name]) => name.startsWith("POSTERN_"))
    .map(([name, value]) => `${name}=${/SECRET|PASSWORD|KEY|TOKEN/.test(name) ? "…" : value}`)
    .sort();
}

/**
 * CPU time (user + system) of a process and its children, live and ended, in ms, from /proc; NaN
 * where /proc is missing. For a peer that forks a process per session (Dovecot's master and its
 * login, auth and imap/pop3 processes): ended children count once their parent has reaped them.
 */
export function processTreeCpuMs(pid: number): number {
  const read = (p: number | string) => {
    try {
      const f = Deno.readTextFileSync(`/proc/${p}/stat`).split(") ")[1].split(" ");
      // ppid is field 4; utime, stime, cutime, cstime fields 14-17 (clock ticks, 100 a second).
      return {
        ppid: Number(f[1]),
        ms: (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 10,
      };
    } catch {
      return undefined;
    }
  };
  const root = read(pid);
  if (!root) return NaN;
  let total = root.ms;
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const child = read(e.name);
    if (child?.ppid === pid) total += child.ms;
  }
  return total;
}

/**
 * The machine's durable-write latency, which sets Postfix's (and Postern's) pace where commits
 * are fsynced: `rounds` × (write 4 KiB at the end of a file, fdatasync) in a file created in
 * `dir` (beside the data folder, so on its file system), timed one by one. Milliseconds.
 */
export function fsyncProbe(dir: string, rounds = 200): { median: number; p99: number } {
  const path = `${dir}/fsync-probe-${crypto.randomUUID()}`;
  const block = new Uint8Array(4096).fill(0x61);
  const file = Deno.openSync(path, { create: true, write: true, truncate: true });
  const times: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      for (let at = 0; at < block.byteLength;) at += file.writeSync(block.subarray(at));
      file.syncDataSync();
      times.push(performance.now() - t0);
    }
  } finally {
    file.close();
    Deno.removeSync(path);
  }
  const s = summary(times);
  return { median: s.p50, p99: s.p99 };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function summary(
  latencies: number[],
): { p50: number; p95: number; p99: number; max: number } {
  const s = [...latencies].sort((a, b) => a - b);
  return {
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    max: s[s.length - 1],
  };
}

export async function api(
  url: string,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  return await fetch(url + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

export async function login(url: string, address: string, password: string): Promise<string> {
  const res = await api(url, "POST", "/v1/auth/login", undefined, { address, password });
  if (!res.ok) throw new Error(`login ${address}: ${res.status} ${await res.text()}`);
  return (await res.json()).accessToken;
}

/** Runs `total` calls of `task` with `concurrency` workers; returns per-call latencies in ms. */
export async function closedLoop(
  total: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) {
      const i = next++;
      const t0 = performance.now();
      await task(i);
      latencies.push(performance.now() - t0);
    }
  }));
  return { seconds: (performance.now() - started) / 1000, latencies };
}

export const fmt = (n: number, digits = 1) => n.toFixed(digits);

/** Creates a mailbox account (unlimited quota, password "bench-password-1") as the admin. */
export async function addAccount(url: string, adminToken: string, address: string): Promise<void> {
  const res = await api(url, "POST", "/v1/admin/accounts", adminToken, {
    address,
    password: "bench-password-1",
    quotaBytes: 0,
  });
  if (res.status !== 201 && res.status !== 200) {
    throw new Error(`create ${address}: ${res.status} ${await res.text()}`);
  }
  await res.body?.cancel();
}

/** Waits until `postern serve`'s MX accepts connections on `port` (10 s at most). */
export async function waitForMx(port: number): Promise<void> {
  for (let i = 0;; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      if (i > 100) throw new Error(`postern serve's MX did not listen on ${port}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
