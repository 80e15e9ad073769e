/**
 * SMTP ingest, Postern against Postfix in one run, as ../shared/peers/bench-smtp.sh measures it:
 * Postfix's `smtp-source` sends N messages of SIZE bytes over S parallel sessions, one message per
 * connection, (1) into Postern's MX (a real `postern serve`; each 250 comes after the message is
 * durably stored, and the stored messages are counted through the API afterwards) and (2) into a
 * loopback Postfix whose discard transport drops the mail after queueing (Postfix's 250 comes
 * after its queue file is fsynced). smtp-source ends when every message has had its reply after
 * DATA, so this is the accept rate. Runs alternate between the two servers to share out any
 * change in machine load; the figure is the median of the runs. Postern authenticates MX mail
 * (SPF, DKIM, DMARC) through DNS: the benchmark serves the sender's domain from a local fake DNS
 * (test/peers/fake-dns.py, a copy of the peer kit's: SPF pass, DMARC p=none) so that it
 * measures Postern rather than the machine's resolver; where that script cannot start (no
 * python3 + dnspython) the same zone is served by an in-process stub (test/fixtures/
 * fake_dns.ts), and the result says which, so that every run does the same DNS work.
 *
 * So that runs on different machines compare, the section also prints the machine's fsync
 * latency (lib.ts fsyncProbe, beside the data folder: Postfix acknowledges after an fsync, and
 * where fsync is cheap Postfix is fast) and Postern's CPU per message: the whole process and its
 * main thread (the event loop, which bounds ingest) with the kernel's share of it, over each run
 * and the search indexing that follows it, and the POSTERN_* settings the server inherited.
 * BENCH_CPU_PROFILE=<file> profiles the server over the runs (bench/cpu_profile.ts) and prints
 * its event loop's self time by file.
 *
 * Needs smtp-source and postfix (Debian postfix) and root (Postfix's master). Used by
 * bench/run.ts section (d); prints figures and asserts only that every message was stored.
 */
import {
  addAccount,
  api,
  cpuMs,
  fmt,
  freePort,
  fsyncProbe,
  inheritedServerSettings,
  login,
  mainThreadCpuMs,
  mainThreadCpuSplitMs,
  rssMiB,
  startServer,
  waitForMx,
} from "./lib.ts";
import { startFakeDns, type Zone } from "../test/fixtures/fake_dns.ts";
import { attachProfiler, type Profiler } from "./cpu_profile.ts";

export interface SmtpBenchOptions {
  messages: number;
  size: number;
  sessions: number;
  runs: number;
}

const SMTP_SOURCE = "/usr/sbin/smtp-source";
const POSTFIX = "/usr/sbin/postfix";
const DOMAIN = "postern.localhost";
const RCPT = `rcpt@${DOMAIN}`;

export function missingTools(): string[] {
  const missing: string[] = [];
  for (const path of [SMTP_SOURCE, POSTFIX]) {
    try {
      Deno.statSync(path);
    } catch {
      missing.push(path);
    }
  }
  if (Deno.uid() !== 0) missing.push("root (Postfix's master)");
  return missing;
}

async function sh(cmd: string, args: string[], allowFail = false): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success && !allowFail) throw new Error(`${cmd} ${args.join(" ")}:\n${text}`);
  return text;
}

/** One smtp-source run; returns seconds. Throws when smtp-source fails (e.g. a refused message). */
export async function smtpSource(
  target: string,
  from: string,
  to: string,
  o: { messages: number; size: number; sessions: number },
  label: string,
): Promise<number> {
  const t0 = performance.now();
  const out = await new Deno.Command(SMTP_SOURCE, {
    args: [
      ...["-s", String(o.sessions), "-m", String(o.messages), "-l", String(o.size)],
      ...["-f", from, "-t", to, "-M", "bench.test", "-S", label, target],
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(600_000),
  }).output();
  const seconds = (performance.now() - t0) / 1000;
  if (!out.success) {
    throw new Error(
      `smtp-source → ${target} failed (exit ${out.code}): ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return seconds;
}

/**
 * A loopback Postfix with the settings of ../shared/peers/postfix-up.sh that matter for ingest
 * (discard.test → discard:, no client throttling, fsynced queue), in its own folder on a free
 * port, so it never touches an instance someone else runs from /tmp/peers.
 */
export async function startDiscardPostfix(): Promise<
  { port: number; masterPid(): number; queueEmpty(): Promise<boolean>; stop(): Promise<void> }
> {
  const dir = await Deno.makeTempDir({ prefix: "postern-bench-postfix-" });
  await Deno.chmod(dir, 0o755);
  const port = freePort();
  const etc = `${dir}/etc`;
  for (const sub of ["etc", "spool", "data", "log"]) await Deno.mkdir(`${dir}/${sub}`);
  await sh("chown", ["postfix:postfix", `${dir}/data`]);
  await Deno.writeTextFile(
    `${etc}/main.cf`,
    `compatibility_level = 3.6
config_directory = ${etc}
queue_directory = ${dir}/spool
data_directory = ${dir}/data
maillog_file = ${dir}/log/maillog
maillog_file_prefixes = ${dir}
myhostname = mx.legacy.test
mydomain = legacy.test
myorigin = legacy.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.2/32
mydestination = localhost
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtputf8_enable = yes
message_size_limit = 10240000
relay_domains = discard.test
transport_maps = inline:{ discard.test=discard: }
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtp_dns_support_level = disabled
smtpd_client_connection_rate_limit = 0
smtpd_client_connection_count_limit = 0
default_process_limit = 100
`,
  );
  await Deno.writeTextFile(
    `${etc}/master.cf`,
    `127.0.0.1:${port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`,
  );
  await sh(POSTFIX, ["-c", etc, "start"]);
  const stop = async () => {
    const pid = Number(
      (await Deno.readTextFile(`${dir}/spool/pid/master.pid`).catch(() => "")).trim(),
    );
    await sh(POSTFIX, ["-c", etc, "stop"], true);
    for (let i = 0; pid > 0 && i < 50; i++) {
      try {
        Deno.kill(pid, "SIGCONT"); // throws once the master is gone
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    for (let i = 0;; i++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        break;
      } catch {
        if (i > 100) throw new Error(`postfix did not listen on 127.0.0.1:${port}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    port,
    masterPid: () => Number(Deno.readTextFileSync(`${dir}/spool/pid/master.pid`).trim()),
    async queueEmpty() {
      return (await sh("postqueue", ["-c", etc, "-p"], true)).includes("Mail queue is empty");
    },
    stop,
  };
}

/** BENCH_FAKE_DNS names another copy of the script (a path that does not exist: the stub). */
const FAKE_DNS = Deno.env.get("BENCH_FAKE_DNS") ??
  new URL("../test/peers/fake-dns.py", import.meta.url).pathname;
const ZONE = {
  "edge.test.": { TXT: ["v=spf1 ip4:127.0.0.1 -all"], MX: ["10 mx.edge.test."] },
  "_dmarc.edge.test.": { TXT: ["v=DMARC1; p=none"] },
  "bench.test.": { A: ["127.0.0.1"], TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
  "1.0.0.127.in-addr.arpa.": { PTR: ["bench.test."] },
};

/** A zone served on a loopback port for the benchmarks' `POSTERN_DNS_SERVERS`. */
export interface ZoneDns {
  server: string;
  /** Which server it is, for the result. */
  label: string;
  stop(): Promise<void>;
}

/**
 * The sender's DNS on a loopback port: test/peers/fake-dns.py, or where that cannot start
 * the same zone from an in-process stub (never the system's resolver, whose answers and their
 * time differ from machine to machine).
 */
export async function startZoneDns(
  dir: string,
  zoneData: Record<string, unknown> = ZONE,
): Promise<ZoneDns> {
  return await startFakeDnsPy(dir, zoneData) ?? await startStubDns(zoneData);
}

async function startFakeDnsPy(
  dir: string,
  zoneData: Record<string, unknown>,
): Promise<ZoneDns | undefined> {
  try {
    Deno.statSync(FAKE_DNS);
  } catch {
    return undefined;
  }
  const zone = `${dir}/zone.json`;
  await Deno.writeTextFile(zone, JSON.stringify(zoneData));
  const port = freePort();
  const child = new Deno.Command("/usr/bin/python3", {
    args: [FAKE_DNS, "--zone", zone, "--host", "127.0.0.1", "--port", String(port)],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
  };
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const first = await Promise.race([
    reader.read().then((r) => r.value ?? ""),
    new Promise<string>((r) => setTimeout(() => r(""), 5000)),
  ]);
  reader.releaseLock();
  await child.stdout.cancel().catch(() => {});
  if (!first.includes("fake dns on")) {
    await stop();
    return undefined;
  }
  return { server: `127.0.0.1:${port}`, label: `fake-dns.py on 127.0.0.1:${port}`, stop };
}

/** The zone from test/fixtures/fake_dns.ts, in this process. */
async function startStubDns(zoneData: Record<string, unknown>): Promise<ZoneDns> {
  const dns = await startFakeDns(zoneData as Zone);
  return {
    server: dns.server,
    label: `in-process stub on ${dns.server} (test/peers/fake-dns.py could not start)`,
    stop: () => dns.close(),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

/** Section (d) of `deno task bench`. */
export async function smtpIngestBench(o: SmtpBenchOptions): Promise<void> {
  const missing = missingTools();
  if (missing.length) {
    console.log(`skipped: missing ${missing.join(", ")} (Debian postfix; see README, Benchmarks)`);
    return;
  }
  const load = () => Deno.loadavg().map((l) => l.toFixed(2)).join(" ");
  console.log(`load average before: ${load()}`);
  const dir = await Deno.makeTempDir({ prefix: "postern-bench-smtp-" });
  const probe = fsyncProbe(dir);
  console.log(
    `fsync probe (200 × 4 KiB write + fdatasync beside the data folder): ` +
      `median ${fmt(probe.median, 2)} ms, p99 ${fmt(probe.p99, 2)} ms`,
  );
  const dns = await startZoneDns(dir);
  console.log(`sender DNS: ${dns.label} (edge.test SPF pass, DMARC p=none)`);
  const mxPort = freePort();
  // BENCH_CPU_PROFILE=<file>: a CPU profile of the server over the measured runs (cpu_profile.ts).
  const profilePath = Deno.env.get("BENCH_CPU_PROFILE");
  const inspectPort = profilePath ? freePort() : 0;
  if (profilePath) {
    const flags = Deno.env.get("BENCH_DENO_FLAGS") ?? "";
    Deno.env.set("BENCH_DENO_FLAGS", `${flags} --inspect=127.0.0.1:${inspectPort}`.trim());
  }
  const server = await startServer(`${dir}/data`, {
    POSTERN_SMTP_PORT: String(mxPort),
    POSTERN_SUBMISSION_PORT: "0",
    POSTERN_SUBMISSIONS_PORT: "0",
    POSTERN_DNS_SERVERS: dns.server,
  });
  let postfix: Awaited<ReturnType<typeof startDiscardPostfix>> | undefined;
  let profiler: Profiler | undefined;
  try {
    await waitForMx(mxPort);
    postfix = await startDiscardPostfix();
    const admin = await login(server.url, `admin@${DOMAIN}`, server.adminPassword);
    await addAccount(server.url, admin, RCPT);
    const postern = { target: `127.0.0.1:${mxPort}`, from: "bench@edge.test", to: RCPT };
    const pf = {
      target: `127.0.0.1:${postfix.port}`,
      from: "bench@edge.test",
      to: "bench@discard.test",
    };
    const drain = async () => {
      // Postfix keeps discarding after its last 250: let it finish before the next run.
      for (let i = 0; i < 300 && !(await postfix!.queueEmpty()); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
    };

    // Postern indexes new mail for search once deliveries pause: a search waits for that, so
    // the indexing does not run into (and slow) the Postfix run that follows.
    const rcptToken = await login(server.url, RCPT, "bench-password-1");
    const settle = async () => {
      const t0 = performance.now();
      const res = await api(server.url, "GET", "/v1/search?q=bench", rcptToken);
      if (!res.ok) throw new Error(`search after the run: ${res.status} ${await res.text()}`);
      await res.body?.cancel();
      console.log(`  (search index caught up in ${fmt((performance.now() - t0) / 1000, 2)} s)`);
    };

    // Warm-up (JIT, process pools), not counted.
    const warm = { messages: 200, size: o.size, sessions: o.sessions };
    await smtpSource(postern.target, postern.from, postern.to, warm, "warm-up");
    await settle();
    await smtpSource(pf.target, pf.from, pf.to, warm, "warm-up");
    await drain();

    if (profilePath) {
      profiler = await attachProfiler(inspectPort);
      await profiler.start();
    }
    const shape = `${o.messages} × ${o.size} B, ${o.sessions} sessions, 1 message/connection`;
    const rates = { postern: [] as number[], postfix: [] as number[] };
    const cpu = {
      process: [] as number[],
      main: [] as number[],
      kernel: [] as number[],
      afterRun: [] as number[],
    };
    for (let r = 1; r <= o.runs; r++) {
      // Resident memory before (after the idle time of the previous Postfix run) and after.
      const rssBefore = rssMiB(server.pid);
      const cpuBefore = cpuMs(server.pid), mainBefore = mainThreadCpuMs(server.pid);
      const kernelBefore = mainThreadCpuSplitMs(server.pid).kernel;
      const a = await smtpSource(postern.target, postern.from, postern.to, o, `bench run ${r}`);
      rates.postern.push(o.messages / a);
      const rssAfter = rssMiB(server.pid);
      const mainAtEnd = mainThreadCpuMs(server.pid);
      // CPU per message counts the search indexing the run leaves behind (settle waits for it).
      await settle();
      cpu.process.push((cpuMs(server.pid) - cpuBefore) / o.messages);
      cpu.main.push((mainThreadCpuMs(server.pid) - mainBefore) / o.messages);
      cpu.afterRun.push((mainThreadCpuMs(server.pid) - mainAtEnd) / o.messages);
      cpu.kernel.push((mainThreadCpuSplitMs(server.pid).kernel - kernelBefore) / o.messages);
      console.log(
        `run ${r}: Postern MX  ${shape}: ${fmt(a, 2)} s → ${fmt(o.messages / a, 0)} msg/s ` +
          `(RSS ${fmt(rssBefore, 0)} → ${fmt(rssAfter, 0)} MiB; CPU ${
            fmt(cpu.process.at(-1)!, 3)
          } ` +
          `ms/msg, main thread ${fmt(cpu.main.at(-1)!, 3)} ms/msg of which kernel ${
            fmt(cpu.kernel.at(-1)!, 3)
          } and after the run, search indexing, ${fmt(cpu.afterRun.at(-1)!, 3)})`,
      );
      const b = await smtpSource(pf.target, pf.from, pf.to, o, `bench run ${r}`);
      rates.postfix.push(o.messages / b);
      console.log(
        `run ${r}: Postfix     ${shape}: ${fmt(b, 2)} s → ${fmt(o.messages / b, 0)} msg/s`,
      );
      await drain();
    }

    if (profiler) {
      console.log(`CPU profile of the server over the runs: ${profilePath}`);
      for (const line of await profiler.stop(profilePath!)) console.log(line);
    }

    // Every accepted message must be in the recipient's INBOX (durable: read back over HTTP).
    const token = await login(server.url, RCPT, "bench-password-1");
    const boxes = await (await api(server.url, "GET", "/v1/mailboxes", token)).json();
    const inbox = (boxes.items ?? boxes).find((b: { role: string }) => b.role === "inbox");
    const stored = inbox?.counts?.total ?? -1;
    const expected = warm.messages + o.runs * o.messages;
    const a = median(rates.postern), b = median(rates.postfix);
    console.log(
      `Postern MX: ${fmt(a, 0)} msg/s (median of ${o.runs}); stored ${stored} of ${expected} ` +
        `sent (INBOX count through the API)${stored === expected ? "" : " — MISMATCH"}`,
    );
    console.log(`Postfix (discard transport): ${fmt(b, 0)} msg/s (median of ${o.runs})`);
    console.log(`ratio Postern / Postfix: ${fmt(a / b, 2)} × (target ≥ 2 ×)`);
    const inherited = inheritedServerSettings();
    console.log(
      `Postern CPU per message: main thread ${fmt(median(cpu.main), 3)} ms (kernel ` +
        `${fmt(median(cpu.kernel), 3)}), whole process ${fmt(median(cpu.process), 3)} ms ` +
        `(median of ${o.runs}, incl. search indexing); fsync median ${fmt(probe.median, 2)} ms; ` +
        `sender DNS: ${dns.label}; server settings from the environment: ${
          inherited.length ? inherited.join(" ") : "none"
        }`,
    );
    console.log(`load average after: ${load()}`);
    if (stored !== expected) {
      throw new Error(`Postern stored ${stored} messages, ${expected} were accepted`);
    }
  } finally {
    profiler?.close();
    await postfix?.stop();
    await server.stop();
    await dns.stop();
    await Deno.remove(dir, { recursive: true });
  }
}
