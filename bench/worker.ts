/**
 * Bench (x): Postern's Cloudflare Worker (hosts/worker/main.ts) in workerd through miniflare, on
 * local D1 (test/fixtures/worker_gateway.ts): the bundle's size, cold starts (the first request
 * on an empty database, which migrates it and makes the domain and admin, and the first request
 * of a new isolate on a database already set up), and CPU per login, per send and per inbound
 * email() delivery. CPU is the workerd process's (the Worker and local D1's SQLite together),
 * read from /proc over many operations, since workerd's own clocks stand still while a request
 * computes; wall time is with one client. Prints figures; asserts nothing.
 */
import {
  jsonPost,
  startWorkerGateway,
  WORKER_ADMIN,
  workerBundle,
} from "../test/fixtures/worker_gateway.ts";
import { workerdCpuMs } from "../test/fixtures/workerd.ts";

const ms = (n: number) => `${n.toFixed(1)} ms`;

/** Runs `op` n times, one at a time; wall and workerd CPU per operation. */
async function measure(n: number, op: (i: number) => Promise<void>) {
  const cpu0 = workerdCpuMs();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await op(i);
  const wall = (performance.now() - t0) / n;
  const cpu1 = workerdCpuMs();
  const cpu = cpu0 === undefined || cpu1 === undefined ? "n/a" : ms((cpu1 - cpu0) / n);
  return `wall ${ms(wall)}, workerd CPU ${cpu} (n=${n})`;
}

export async function workerBench(options: { sends: number; logins: number; emails: number }) {
  const built = await workerBundle();
  console.log(
    `bundle: ${(built.rawBytes / 1024).toFixed(0)} KiB raw, ${
      (built.gzipBytes / 1024).toFixed(0)
    } KiB gzip (target: 3 MB compressed)`,
  );
  const persist = await Deno.makeTempDir({ prefix: "postern-worker-bench-" });
  try {
    let worker = await startWorkerGateway({ persist, assets: false });
    let t0 = performance.now();
    let res = await worker.fetch("/health");
    await res.text();
    console.log(
      `cold start, empty D1 (migrations, domain with its keys, admin): ${
        ms(performance.now() - t0)
      } to the first answer (${res.status})`,
    );
    await worker.dispose();
    worker = await startWorkerGateway({ persist, assets: false });
    t0 = performance.now();
    res = await worker.fetch("/health");
    await res.text();
    console.log(
      `cold start, new isolate on a set-up D1: ${ms(performance.now() - t0)} to the first answer`,
    );
    try {
      let token = "";
      console.log(
        // The admin was made in workerd: argon2id (m=19 MiB, t=2, p=1) by hash-wasm from the
        // modules the bundle imports precompiled (hosts/worker/precompiled_wasm.ts).
        `login (argon2id, m=19 MiB, t=2, p=1): ${await measure(options.logins, async () => {
          const r = await worker.fetch("/v1/auth/login", jsonPost(WORKER_ADMIN));
          token = (await r.json()).accessToken;
        })}`,
      );
      const body = "x".repeat(4000);
      console.log(
        `send, 4 KB to one local recipient with a Sent copy: ${await measure(
          options.sends,
          async (i) => {
            const r = await worker.fetch(
              "/v1/emails",
              jsonPost({
                from: WORKER_ADMIN.address,
                to: [WORKER_ADMIN.address],
                subject: `bench ${i}`,
                text: body,
              }, token),
            );
            // Read to the end: a cancelled body makes workerd log a broken pipe.
            const text = await r.text();
            if (r.status !== 201) throw new Error(`send: ${r.status} ${text}`);
          },
        )}`,
      );
      console.log(
        `email() delivery, 4 KB from Email Routing: ${await measure(options.emails, async (i) => {
          const raw = `From: a@sender.example\r\nTo: ${WORKER_ADMIN.address}\r\n` +
            `Subject: routed ${i}\r\nMessage-ID: <bench-${i}-${crypto.randomUUID()}@sender.example>` +
            `\r\n\r\n${body}\r\n`;
          const r = await worker.email("a@sender.example", WORKER_ADMIN.address, raw);
          if (r.outcome !== "ok" || r.rejectReason) throw new Error(JSON.stringify(r));
        })}`,
      );
    } finally {
      await worker.dispose();
    }
  } finally {
    await Deno.remove(persist, { recursive: true });
  }
}

if (import.meta.main) {
  await workerBench({ sends: 200, logins: 10, emails: 100 });
}
