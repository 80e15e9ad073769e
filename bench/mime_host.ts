/**
 * CPU and memory of the process host's MIME port (hosts/process/mime_thread.ts), as `postern
 * serve` uses it (issue 20: main-thread CPU per message is what ingest is bound by).
 *
 *   deno run -A bench/mime_host.ts cpu     # main-thread and process CPU per parsed message
 *   deno run -A bench/mime_host.ts sizes   # main-thread CPU: parse here vs hand off, by size
 *   deno run -A bench/mime_host.ts rss     # resident memory the MIME worker thread adds
 *
 * Main-thread CPU is read from /proc/self/task/<pid>/stat (Linux; clock ticks), so the worker's
 * and V8's helper threads are not counted; `process.cpuUsage()` gives the whole process's.
 */
import process from "node:process";
import { createThreadedMime } from "../hosts/process/mime_thread.ts";
import { HAND_WRITTEN, random, randomMime } from "../test/fixtures/mime_corpus.ts";
import { multipartWithAttachment } from "../test/fixtures/large_mail.ts";

const TICK_US = 10_000; // USER_HZ = 100 on Linux
/** This process's main-thread CPU time in µs (user + system). */
function mainThreadUs(): number {
  const stat = Deno.readTextFileSync(`/proc/self/task/${Deno.pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * TICK_US; // utime, stime (fields 14, 15)
}
const processUs = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** The fixed corpus: 200 generated MIME trees, the hand-written set, 50 messages of 7 KB. */
function corpus(): Uint8Array[] {
  const r = random(20);
  const out: Uint8Array[] = [];
  for (let i = 0; i < 200; i++) out.push(randomMime(r));
  for (const [, m] of HAND_WRITTEN) {
    out.push(typeof m === "string" ? new TextEncoder().encode(m) : m);
  }
  for (let i = 0; i < 50; i++) out.push(multipartWithAttachment(5000, `c${i}`).raw);
  return out;
}

async function measure(
  parse: (raw: Uint8Array) => Promise<unknown>,
  msgs: Uint8Array[],
  minUs: number,
) {
  for (const m of msgs) await parse(m); // warm up (and start the worker)
  let n = 0;
  const main0 = mainThreadUs(), proc0 = processUs(), t0 = performance.now();
  while (mainThreadUs() - main0 < minUs || n < msgs.length) {
    for (const m of msgs) await parse(m);
    n += msgs.length;
  }
  return {
    mainUs: (mainThreadUs() - main0) / n,
    processUs: (processUs() - proc0) / n,
    wallUs: (performance.now() - t0) * 1000 / n,
  };
}

const mode = Deno.args[0] ?? "cpu";
const fmt = (x: number) => x.toFixed(1).padStart(8);
if (mode === "cpu") {
  const msgs = corpus();
  const bytes = msgs.reduce((s, m) => s + m.byteLength, 0);
  console.log(`corpus: ${msgs.length} messages, ${bytes} bytes`);
  // Default, or `cpu N`: messages (other than plain) over N bytes go to the worker.
  const handoffBytes = Deno.args[1] === undefined ? undefined : Number(Deno.args[1]);
  const mime = createThreadedMime(undefined, { handoffBytes });
  const r = await measure((raw) => mime.parse(raw), msgs, 3_000_000);
  console.log(
    `hand-off above ${handoffBytes ?? "default"}: per message main thread ${fmt(r.mainUs)} µs, ` +
      `process ${fmt(r.processUs)} µs, wall ${fmt(r.wallUs)} µs`,
  );
  mime.close();
} else if (mode === "sizes") {
  for (const kb of (Deno.args[1] ?? "1,2,4,8,16,64,256,768").split(",").map(Number)) {
    const msgs = [multipartWithAttachment(kb * 1024 * 3 / 4, `s${kb}`).raw];
    const row = [`${String(msgs[0].byteLength).padStart(8)} B`];
    // Alternating rounds, the least of each: other processes on the machine add only noise.
    const best = { here: Infinity, worker: Infinity, hereProc: Infinity, workerProc: Infinity };
    for (let round = 0; round < 3; round++) {
      for (const where of ["here", "worker"] as const) {
        const mime = createThreadedMime(undefined, {
          handoffBytes: where === "here" ? Infinity : 0,
        });
        const r = await measure((raw) => mime.parse(raw), msgs, 500_000);
        best[where] = Math.min(best[where], r.mainUs);
        best[`${where}Proc`] = Math.min(best[`${where}Proc`], r.processUs);
        mime.close();
      }
    }
    row.push(`here: main ${fmt(best.here)} µs proc ${fmt(best.hereProc)} µs`);
    row.push(`worker: main ${fmt(best.worker)} µs proc ${fmt(best.workerProc)} µs`);
    console.log(row.join("  "));
  }
} else if (mode === "rss") {
  const rss = () => Deno.memoryUsage().rss / 2 ** 20;
  const mime = createThreadedMime(undefined, { handoffBytes: 0 });
  const msgs = corpus();
  await new Promise((r) => setTimeout(r, 500));
  const before = rss();
  // The corpus's MIME trees and 7 KB messages, which the worker reads (src/mime/parse_simple.ts
  // takes the plain ones here).
  for (const m of msgs) await mime.parse(m);
  await new Promise((r) => setTimeout(r, 1500));
  console.log(
    `RSS before the worker ${before.toFixed(1)} MiB, with it ${rss().toFixed(1)} MiB: +${
      (rss() - before).toFixed(1)
    } MiB`,
  );
  mime.close();
}
Deno.exit(0);
