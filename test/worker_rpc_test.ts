/**
 * hosts/process/worker_rpc.ts: the MIME and mailauth workers start with their first call and
 * stop once idle (issue 20: each is an isolate of its own that a burst left resident), and a
 * later call starts a fresh one that answers.
 */
import { workerRpc } from "../hosts/process/worker_rpc.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";

const url = new URL("./fixtures/instance_worker.ts", import.meta.url);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("issue20#2: an idle worker stops and the next call starts a new one", async () => {
  const rpc = workerRpc(url, "test", undefined, 300);
  try {
    const first = (await rpc.call({})).value;
    // Calls closer together than the idle time reach the same worker.
    await sleep(100);
    assertEquals((await rpc.call({})).value, first);
    await sleep(100);
    assertEquals((await rpc.call({})).value, first);
    // Idle for longer: the worker stopped; a new one answers, and the port is not broken.
    await sleep(900);
    const second = (await rpc.call({})).value;
    assert(second !== first, "a new worker answers after the idle time");
    assertEquals(rpc.broken, false);
    assertEquals((await Promise.all([rpc.call({}), rpc.call({})])).map((r) => r.value), [
      second,
      second,
    ]);
  } finally {
    rpc.close();
  }
});
