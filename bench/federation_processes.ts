/**
 * Signed federation between two `postern serve` processes (bench/run.ts section (f), the headline
 * figure): alpha.test and beta.test, each its own process with its own data folder, served over
 * HTTPS with a test CA's certificate for 127.0.0.1 that the other trusts
 * (POSTERN_FEDERATION_CA_FILE), discovered through a fake DNS server in this process (their
 * `_sharp` TXT records). This process is only the load generator: 16 clients each `POST
 * /v1/emails` (4 KB, one recipient at the peer) to alpha over HTTP, then wait until alpha holds
 * the peer's verified receipt for that message (the row alpha's federation worker stores after
 * checking the receipt's signature: read from alpha's store, so waiting costs the servers
 * nothing). Per message: send → verified receipt latency, and each server's CPU time (whole
 * process and main thread, from /proc) — the figures a busy machine disturbs least — and this
 * load generator's, whose sum bounds what the machine's cores can carry.
 * Prints figures; asserts nothing.
 */
import Database from "libsql";
import { startFakeDns } from "../test/fixtures/fake_dns.ts";
import { issueCertificate } from "../test/fixtures/smtp_sink.ts";
import {
  addAccount,
  api,
  closedLoop,
  cpuMs,
  fmt,
  freePort,
  login,
  mainThreadCpuMs,
  type Server,
  startServer,
  summary,
} from "./lib.ts";

interface Gateway {
  domain: string;
  server: Server;
  httpsPort: number;
}

/** CPU of one server process (all threads, and the main thread) since the mark, per message. */
function cpuMark(pid: number) {
  const at = { all: cpuMs(pid), main: mainThreadCpuMs(pid) };
  return (messages: number) => ({
    all: (cpuMs(pid) - at.all) / messages,
    main: (mainThreadCpuMs(pid) - at.main) / messages,
  });
}

/**
 * Waits for receipts: one poll of alpha's `federation_receipts` every millisecond or so answers
 * every client waiting on a Message-ID (the table only grows; rows are read past the last id).
 */
function receiptWatcher(dataDir: string) {
  const db = new Database(`${dataDir}/postern.db`, { readonly: true });
  const query = db.prepare(
    "SELECT id, message_id_header AS mid FROM federation_receipts WHERE id > ? ORDER BY id",
  );
  let last = 0;
  const waiting = new Map<string, () => void>();
  const seen = new Set<string>();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      for (const row of query.all(last) as { id: number; mid: string }[]) {
        last = row.id;
        const resolve = waiting.get(row.mid);
        if (resolve) {
          waiting.delete(row.mid);
          resolve();
        } else seen.add(row.mid);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  })();
  return {
    wait(messageId: string): Promise<void> {
      if (seen.delete(messageId)) return Promise.resolve();
      return new Promise((resolve) => waiting.set(messageId, resolve));
    },
    async close() {
      stopped = true;
      await loop;
      db.close();
    },
  };
}

export async function federationProcessesBench(
  messages: number,
  concurrency = 16,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postern-bench-fed2-" });
  const { ca, cert, key } = await issueCertificate(["127.0.0.1"]);
  for (const [name, text] of [["ca.pem", ca], ["cert.pem", cert], ["key.pem", key]]) {
    await Deno.writeTextFile(`${dir}/${name}`, text);
  }
  const dns = await startFakeDns({});
  const gateways: Gateway[] = [];
  try {
    for (const domain of ["alpha.test", "beta.test"]) {
      const httpsPort = freePort();
      // Published before the server starts: the peer's discovery may come at any time.
      dns.zone[`_sharp.${domain}`] = { TXT: [`v=sharp1; host=127.0.0.1:${httpsPort}`] };
      const server = await startServer(`${dir}/${domain}`, {
        POSTERN_DOMAIN: domain,
        POSTERN_HOSTNAME: domain,
        POSTERN_HTTPS_PORT: String(httpsPort),
        POSTERN_TLS_CERT_FILE: `${dir}/cert.pem`,
        POSTERN_TLS_KEY_FILE: `${dir}/key.pem`,
        POSTERN_FEDERATION_CA_FILE: `${dir}/ca.pem`,
        POSTERN_FEDERATION_ALLOW_PRIVATE: "true",
        POSTERN_FEDERATION_RATE_PER_MINUTE: "1000000",
        POSTERN_DNS_SERVERS: dns.server,
        // The bridge's SMTP worker sleeps: the split below queues mail for a domain without a
        // peer, which must stay queued rather than cost DNS look-ups and bounces.
        POSTERN_OUTBOUND_CLAIM_INTERVAL_MS: "3600000",
      });
      gateways.push({ domain, server, httpsPort });
    }
    const [alpha, beta] = gateways;
    for (const g of gateways) {
      const admin = await login(g.server.url, `admin@${g.domain}`, g.server.adminPassword);
      for (const local of ["alice", "bob"]) {
        await addAccount(g.server.url, admin, `${local}@${g.domain}`);
      }
    }
    const token = await login(alpha.server.url, "alice@alpha.test", "bench-password-1");
    const text = "Federation benchmark line, sixty-four characters long.........\n".repeat(62);
    const receipts = receiptWatcher(alpha.server.dataDir);
    const send = async (i: number, to: string) => {
      const res = await api(alpha.server.url, "POST", "/v1/emails", token, {
        from: "alice@alpha.test",
        to: [to],
        subject: `bench ${i}`,
        text,
      });
      if (res.status !== 201) throw new Error(`send ${i}: ${res.status} ${await res.text()}`);
      return (await res.json() as { messageId: string }).messageId;
    };
    const one = async (i: number) => await receipts.wait(await send(i, "bob@beta.test"));
    try {
      await closedLoop(200, concurrency, (i) => one(1_000_000 + i)); // warm-up, not counted
      const alphaCpu = cpuMark(alpha.server.pid);
      const betaCpu = cpuMark(beta.server.pid);
      const loadCpu = cpuMark(Deno.pid);
      const run = await closedLoop(messages, concurrency, one);
      const s = summary(run.latencies);
      const a = alphaCpu(messages);
      const b = betaCpu(messages);
      const l = loadCpu(messages);
      // The machine's ceiling: every core busy with the three processes' work and nothing else.
      const cores = navigator.hardwareConcurrency;
      console.log(
        `two processes, POST /v1/emails → verified receipt: ${messages} × 4 KB, ${concurrency} ` +
          `concurrent: ${fmt(messages / run.seconds, 0)} msg/s; p50 ${fmt(s.p50)} ms, p99 ${
            fmt(s.p99)
          } ms, max ${fmt(s.max)} ms; CPU per message: sender ${fmt(a.all, 2)} ms (main thread ${
            fmt(a.main, 2)
          }), receiver ${fmt(b.all, 2)} ms (main thread ${fmt(b.main, 2)}); this load ` +
          `generator ${fmt(l.all, 2)} ms (${cores} cores at ${fmt(a.all + b.all + l.all, 2)} ms ` +
          `a message: at most ${fmt(cores * 1000 / (a.all + b.all + l.all), 0)} msg/s)`,
      );
      // The split: the sender's API alone (Sent copy, outbox row, the worker's wake-up and its
      // empty claim), mail to gamma.test, which publishes no peer.
      const alone = Math.max(200, Math.floor(messages / 2));
      const sendCpu = cpuMark(alpha.server.pid);
      await closedLoop(alone, concurrency, async (i) => void await send(i, "bob@gamma.test"));
      const c = sendCpu(alone);
      console.log(
        `  of which POST /v1/emails alone (no peer, ${alone} sends): sender ${fmt(c.all, 2)} ms ` +
          `(main thread ${fmt(c.main, 2)}); federation's own share of the sender: ${
            fmt(a.all - c.all, 2)
          } ms (main thread ${fmt(a.main - c.main, 2)})`,
      );
    } finally {
      await receipts.close();
    }
  } finally {
    for (const g of gateways) await g.server.stop();
    await dns.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  await federationProcessesBench(Number(Deno.args[0] ?? 2000));
}
