/**
 * Bench (x): Postern's Cloudflare Worker (hosts/worker/main.ts) in workerd through miniflare, on
 * local D1 with a local R2 bucket for bodies above 1 MiB, as `postern deploy cloudflare` binds
 * them (test/fixtures/worker_gateway.ts): the bundle's size, cold starts (the first request
 * on an empty database, which migrates it and makes the domain and admin, and the first request
 * of a new isolate on a database already set up, over several isolates: wall time and workerd's
 * CPU while it was answered), and CPU per login, per send and per inbound
 * email() delivery. CPU is the workerd process's (the Worker and local D1's SQLite together),
 * read from /proc over many operations, since workerd's own clocks stand still while a request
 * computes; wall time is with one client. Peak memory for a 25 MB message (in through `email()`
 * and `POST /v1/emails`, out through the raw and the attachment download) is the workerd
 * process's most resident memory during each step (VmHWM, reset before it), the Worker and local
 * D1 and miniflare's own handling together, so an upper bound of what the isolate used. Prints
 * figures; asserts nothing.
 */
import {
  jsonPost,
  startWorkerGateway,
  WORKER_ADMIN,
  workerBundle,
  type WorkerGateway,
} from "../test/fixtures/worker_gateway.ts";
import { workerdCpuMs, workerdMemory } from "../test/fixtures/workerd.ts";
import { multipartWithAttachment } from "../test/fixtures/large_mail.ts";
import { sha256 } from "@noble/hashes/sha2.js";
import { sha256Hex, toBase64, toHex } from "../src/crypto.ts";

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

/** The V8 heap each workerd isolate may use in the memory figures: the issue's target. */
const HEAP_CAP_MB = 100;
const V8_FLAGS = "MINIFLARE_WORKERD_V8_FLAGS";

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/**
 * The Postern isolate's V8 heap over workerd's inspector (CDP `Runtime.getHeapUsage`): used heap
 * plus ArrayBuffer backing stores, which is what a Worker's 128 MB covers, sampled every few
 * milliseconds (an answer waits while the isolate runs a task, so a peak inside one synchronous
 * task can be missed; the process's VmHWM below cannot miss it but also counts local D1).
 */
async function isolateHeap(port: number) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json() as {
    id: string;
    webSocketDebuggerUrl: string;
  }[];
  const target = targets.find((t) => t.id.includes("postern"));
  if (!target) throw new Error("no postern isolate on the inspector");
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => (ws.onopen = resolve, ws.onerror = reject));
  let id = 0;
  let closed = false;
  const waiting = new Map<number, (result: Record<string, number>) => void>();
  // workerd aborted (out of memory): what was asked is answered empty, so the step ends.
  ws.onclose = () => {
    closed = true;
    for (const resolve of waiting.values()) resolve({});
    waiting.clear();
  };
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    waiting.get(msg.id)?.(msg.result ?? {});
    waiting.delete(msg.id);
  };
  const call = (method: string) =>
    new Promise<Record<string, number>>((resolve) => {
      if (closed) return resolve({});
      waiting.set(++id, resolve);
      ws.send(JSON.stringify({ id, method }));
    });
  // Used heap (live objects and garbage not yet collected) plus ArrayBuffer backing stores; the
  // committed heap (totalSize) V8 keeps after a peak says little about the next request.
  const size = (u: Record<string, number>) => (u.usedSize ?? 0) + (u.backingStorageSize ?? 0);
  return {
    /** Peak of the isolate's heap while `op` runs (workerd's inspector does not answer
     * HeapProfiler.collectGarbage, so `before` may hold garbage). */
    async during(op: () => Promise<void>): Promise<{ before: number; peak: number }> {
      const before = size(await call("Runtime.getHeapUsage"));
      let peak = before;
      let running = true;
      const sampler = (async () => {
        while (running && !closed) {
          peak = Math.max(peak, size(await call("Runtime.getHeapUsage")));
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      try {
        await op();
      } finally {
        running = false;
        await sampler;
      }
      return { before, peak };
    },
    close: () => ws.close(),
  };
}

/** workerd's peak resident memory (all of it) and the Postern isolate's heap while `op` runs. */
async function peakMemory(
  heap: Awaited<ReturnType<typeof isolateHeap>>,
  op: () => Promise<void>,
): Promise<string> {
  const before = workerdMemory.read();
  const reset = before !== undefined && workerdMemory.resetPeak();
  const isolate = await heap.during(op);
  const after = workerdMemory.read();
  const process = reset && after
    ? `; workerd process peak RSS ${mb(after.peak)} (+${mb(after.peak - before!.rss)})`
    : "";
  return `isolate heap peak ${mb(isolate.peak)} (+${mb(isolate.peak - isolate.before)})${process}`;
}

/** Reads a response to its end, keeping only its length and SHA-256. */
async function drain(res: Response): Promise<{ bytes: number; sha256: string }> {
  const hash = sha256.create();
  let bytes = 0;
  for await (const chunk of res.body!) hash.update(chunk), bytes += chunk.byteLength;
  return { bytes, sha256: toHex(hash.digest()) };
}

/**
 * Section (x), peak memory for a 25 MB message: each step in an isolate of its own on the same
 * D1 (workerd's inspector does not run a collection on request, so a step after another would
 * start among its garbage).
 */
export async function memoryBench(options: { r2?: boolean } = {}) {
  const r2 = options.r2 ?? true;
  const persist = await Deno.makeTempDir({ prefix: "postern-worker-memory-" });
  // V8's heap capped at the target in every workerd isolate: without a cap V8 collects late
  // (a sampled peak is then mostly garbage) and local workerd enforces no limit at all; with it,
  // a step that needed more aborts workerd and is reported as failed.
  const flags = Deno.env.get(V8_FLAGS);
  Deno.env.set(V8_FLAGS, `--max-old-space-size=${HEAP_CAP_MB}`);
  /** `op` in a new isolate, logged in; its peak memory. */
  const step = async (
    op: (worker: WorkerGateway, bearer: RequestInit, token: string) => Promise<string>,
  ) => {
    const inspectorPort = 9300 + Math.floor(Math.random() * 600);
    const worker = await startWorkerGateway({ persist, assets: false, inspectorPort, r2 });
    try {
      const token = (await (await worker.fetch("/v1/auth/login", jsonPost(WORKER_ADMIN))).json())
        .accessToken as string;
      const heap = await isolateHeap(inspectorPort);
      try {
        let outcome = "";
        const figures = await peakMemory(heap, async () => {
          outcome = await op(worker, { headers: { authorization: `Bearer ${token}` } }, token);
        });
        return `${figures} — ${outcome}`;
      } finally {
        heap.close();
      }
    } catch (error) {
      return `failed (${(error as Error).message}; workerd's output says whether it ran out)`;
    } finally {
      await worker.dispose().catch(() => {});
    }
  };
  try {
    // 18.2 MB of attachment is 24.9 MB of message in base64 lines.
    const message = multipartWithAttachment(18_200_000, `bench-25mb-${crypto.randomUUID()}`);
    const attachmentSha256 = await sha256Hex(message.content);
    console.log(
      `peak memory for a 25 MB message (${mb(message.raw.byteLength)}, one ` +
        `${mb(message.content.byteLength)} attachment in base64; bodies in ${
          r2 ? "R2" : "D1 chunk rows"
        }; Worker limit 128 MB, ` +
        `target 100 MB; V8 heap capped at ${HEAP_CAP_MB} MB; isolate heap is used heap plus ` +
        `ArrayBuffers):`,
    );
    console.log(`  (a) in through email(): ${await step(async (worker) => {
      const r = await worker.emailStream("a@sender.example", WORKER_ADMIN.address, message.raw);
      return r.rejectReason ?? r.error ?? r.outcome ?? String(r.status);
    })}`);
    let id = 0;
    console.log(`  (c) GET /v1/messages/{id}/raw: ${await step(async (worker, bearer) => {
      const list = await (await worker.fetch("/v1/messages?limit=5", bearer)).json();
      id = list.items[0].id;
      const got = await drain(await worker.fetch(`/v1/messages/${id}/raw`, bearer));
      return got.bytes > message.raw.byteLength && got.bytes < message.raw.byteLength + 2048
        ? "the sent bytes after the trace fields"
        : `${got.bytes} bytes`;
    })}`);
    console.log(`  (d) GET /v1/messages/{id}/attachments/0: ${await step(async (worker, bearer) => {
      const got = await drain(await worker.fetch(`/v1/messages/${id}/attachments/0`, bearer));
      return got.sha256 === attachmentSha256 ? "byte-exact" : `differs (${got.bytes} bytes)`;
    })}`);
    const body = JSON.stringify({
      from: WORKER_ADMIN.address,
      to: [WORKER_ADMIN.address],
      subject: "large send",
      text: "See the attachment.",
      attachments: [{
        filename: "large.bin",
        contentType: "application/octet-stream",
        content: toBase64(message.content),
      }],
    });
    console.log(`  (b) POST /v1/emails, ${mb(body.length)} of JSON: ${await step(
      async (worker, _, token) => {
        const r = await worker.fetch("/v1/emails", {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          body,
        });
        return `${r.status} ${(await r.text()).slice(0, 120)}`;
      },
    )}`);
    let blobId = "";
    console.log(`  (b') POST /v1/emails/attachments, the file as bytes: ${await step(
      async (worker, _, token) => {
        const r = await worker.fetch("/v1/emails/attachments", {
          method: "POST",
          headers: { "content-type": "application/octet-stream", authorization: `Bearer ${token}` },
          body: message.content as BodyInit,
        });
        blobId = (await r.json()).blobId;
        return `${r.status}`;
      },
    )}`);
    console.log(
      `  (b') POST /v1/emails with it by blobId: ${await step(async (worker, _, token) => {
        const r = await worker.fetch(
          "/v1/emails",
          jsonPost({
            from: WORKER_ADMIN.address,
            to: [WORKER_ADMIN.address],
            subject: "large send by upload",
            text: "See the attachment.",
            attachments: [{ filename: "large.bin", blobId }],
          }, token),
        );
        return `${r.status} ${(await r.text()).slice(0, 120)}`;
      })}`,
    );
  } finally {
    if (flags === undefined) Deno.env.delete(V8_FLAGS);
    else Deno.env.set(V8_FLAGS, flags);
    await Deno.remove(persist, { recursive: true });
  }
}

export async function workerBench(
  options: { sends: number; logins: number; emails: number; coldStarts: number; memory?: boolean },
) {
  const built = await workerBundle();
  console.log(
    `bundle: ${(built.rawBytes / 1024).toFixed(0)} KiB raw, ${
      (built.gzipBytes / 1024).toFixed(0)
    } KiB gzip (target: 3 MB compressed)`,
  );
  const persist = await Deno.makeTempDir({ prefix: "postern-worker-bench-" });
  try {
    let worker = await startWorkerGateway({ persist, assets: false, r2: true });
    let t0 = performance.now();
    let res = await worker.fetch("/health");
    await res.text();
    console.log(
      `cold start, empty D1 (migrations, domain with its keys, admin): ${
        ms(performance.now() - t0)
      } to the first answer (${res.status})`,
    );
    await worker.dispose();
    // Each a new workerd (a new isolate, its module already evaluated at start-up) on the same
    // D1: the first request's wall time, and workerd's CPU while it was answered (10 ms clock
    // ticks, so the mean over several is the figure).
    const walls: number[] = [];
    let cpuSum: number | undefined = 0;
    for (let i = 0; i < options.coldStarts; i++) {
      worker = await startWorkerGateway({ persist, assets: false, r2: true });
      const cpu0 = workerdCpuMs();
      t0 = performance.now();
      res = await worker.fetch("/health");
      await res.text();
      walls.push(performance.now() - t0);
      const cpu1 = workerdCpuMs();
      cpuSum = cpu0 === undefined || cpu1 === undefined || cpuSum === undefined
        ? undefined
        : cpuSum + cpu1 - cpu0;
      if (i < options.coldStarts - 1) await worker.dispose();
    }
    walls.sort((a, b) => a - b);
    console.log(
      `cold start, new isolate on a set-up D1: median ${ms(walls[walls.length >> 1])} to the ` +
        `first answer (min ${ms(walls[0])}, max ${ms(walls[walls.length - 1])}), workerd CPU ${
          cpuSum === undefined ? "n/a" : ms(cpuSum / options.coldStarts)
        } (n=${options.coldStarts})`,
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
  if (options.memory !== false) await memoryBench();
}

if (import.meta.main) {
  // `deno run -A bench/worker.ts memory [d1]`: the peak memory figures alone (bodies in R2, or
  // with `d1` in D1's chunk rows); `… cpu`: all but them.
  if (Deno.args[0] === "memory") await memoryBench({ r2: Deno.args[1] !== "d1" });
  else {
    await workerBench({
      sends: 200,
      logins: 20,
      emails: 100,
      coldStarts: 10,
      memory: Deno.args[0] !== "cpu",
    });
  }
}
