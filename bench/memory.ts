/**
 * Section (c) of `deno task bench`: resident memory of `postern serve` with its listeners on (as
 * `deno task start` runs it), idle, through a burst of SMTP mail and after it. Issue 20's target
 * is at most 60 MB idle and under 150 MB 30 s after a 10,000-message burst, without giving up
 * burst speed, so the burst's CPU per message (whole process and main thread, from /proc: the
 * figure other load on the machine disturbs least) is printed beside its rate.
 *
 * The burst is Postfix's `smtp-source` into Postern's MX (5 KB, 20 sessions, one message per
 * connection, as in section d), the sender's domain served by the same fake DNS. Without
 * smtp-source only the idle figure is printed. Resident memory is VmRSS from /proc, split into
 * anonymous memory (the heaps) and file pages: the pages of the `deno` executable the process has
 * touched (about 55 MB at start), which an idle server drops again
 * (hosts/process/file_pages.ts), and which it shares with every other `deno` process (PSS is
 * its share).
 */
import { startDovecot } from "../test/fixtures/dovecot.ts";
import {
  cpuMs,
  fmt,
  freePort,
  mainThreadCpuMs,
  processTreeMemory,
  type ResidentMiB,
  rssMiB,
  startServer,
  waitForMx,
} from "./lib.ts";
import { missingTools, smtpSource, startDiscardPostfix, startZoneDns } from "./smtp.ts";

export interface MemoryBenchOptions {
  /** Messages in the burst (0: idle figure only). */
  messages: number;
  /** Seconds the figures are followed after the burst. */
  settleSeconds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The threads of a process (each worker thread's isolate is one of them). */
function threads(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(status.match(/Threads:\s+(\d+)/)?.[1] ?? 0);
}

function resident(m: ResidentMiB): string {
  return `RSS ${fmt(m.rss)} MiB (anonymous ${fmt(m.anon)}, file ${fmt(m.file)}), PSS ${
    fmt(m.pss)
  } MiB, ${m.processes} process${m.processes === 1 ? "" : "es"}`;
}

/** Dovecot's and Postfix's idle memory, each started alone while Postern idles beside them. */
async function peersIdle(): Promise<void> {
  const peers = [
    {
      name: "Dovecot (IMAP, POP3)",
      start: async () => {
        const d = await startDovecot();
        return { pid: await d.masterPid(), stop: () => d.stop() };
      },
    },
    {
      name: "Postfix (MX, discard)",
      start: async () => {
        const p = await startDiscardPostfix();
        return { pid: p.masterPid(), stop: () => p.stop() };
      },
    },
  ];
  for (const peer of peers) {
    let started: { pid: number; stop(): Promise<void> } | undefined;
    try {
      started = await peer.start();
      await sleep(10_000);
      console.log(`  ${peer.name} idle: ${resident(processTreeMemory(started.pid))}`);
    } catch (e) {
      console.log(`  ${peer.name} skipped: ${(e as Error).message}`);
    } finally {
      await started?.stop();
    }
  }
}

export async function memoryBench(o: MemoryBenchOptions): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postern-bench-memory-" });
  const dns = await startZoneDns(dir);
  const free = () => String(freePort());
  const mxPort = freePort();
  const server = await startServer(`${dir}/data`, {
    POSTERN_SMTP_PORT: String(mxPort),
    POSTERN_SUBMISSION_PORT: free(),
    POSTERN_IMAP_PORT: free(),
    POSTERN_POP3_PORT: free(),
    POSTERN_DNS_SERVERS: dns.server,
  });
  try {
    await waitForMx(mxPort);
    for (const s of [5, 10]) {
      await sleep(s === 5 ? 5000 : 5000);
      console.log(
        `idle RSS ${s} s after start: ${fmt(rssMiB(server.pid))} MiB ` +
          `(${threads(server.pid)} threads; listeners: HTTP, SMTP, submission, IMAP, POP3)`,
      );
    }
    await peersIdle();
    // Some 30 s after start: what the first start's work (the admin's password hashed, the
    // store set up) held has been given back by now.
    console.log(`  Postern idle: ${resident(processTreeMemory(server.pid))}`);
    const missing = missingTools();
    if (o.messages <= 0 || missing.includes("/usr/sbin/smtp-source")) {
      if (o.messages > 0) console.log("burst skipped: no /usr/sbin/smtp-source (Debian postfix)");
      return;
    }
    const target = `127.0.0.1:${mxPort}`;
    const rcpt = "admin@postern.localhost";
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(server.pid))), 200);
    const cpu0 = cpuMs(server.pid), main0 = mainThreadCpuMs(server.pid);
    const shape = { messages: o.messages, size: 5120, sessions: 20 };
    let seconds: number;
    try {
      seconds = await smtpSource(target, "bench@edge.test", rcpt, shape, "memory burst");
    } finally {
      clearInterval(sampler);
    }
    const cpu = (cpuMs(server.pid) - cpu0) / o.messages;
    const main = (mainThreadCpuMs(server.pid) - main0) / o.messages;
    const after = rssMiB(server.pid);
    console.log(
      `burst: ${o.messages} × 5 KB over SMTP, 20 sessions: ${
        fmt(o.messages / seconds, 0)
      } msg/s; ` +
        `CPU ${fmt(cpu, 3)} ms/msg, main thread ${fmt(main, 3)} ms/msg; RSS peak ${fmt(peak)} ` +
        `MiB, ${fmt(after)} MiB at its end`,
    );
    for (let s = 10; s <= o.settleSeconds; s += 10) {
      await sleep(10_000);
      console.log(
        `${s} s after the burst: RSS ${fmt(rssMiB(server.pid))} MiB (${
          threads(server.pid)
        } threads)`,
      );
    }
    console.log(`  Postern ${o.settleSeconds} s after: ${resident(processTreeMemory(server.pid))}`);
  } finally {
    await server.stop();
    await dns.stop();
    await Deno.remove(dir, { recursive: true });
  }
}
