/**
 * hosts/process/memory_trim.ts: once `serve` has been idle for a few seconds, one compacting
 * collection gives back the heap a busy spell grew (issue 20: the memory reducer is off, so
 * nothing else would). Run in a child with the start task's V8 flags.
 */
import { assert } from "./fixtures/assert.ts";

Deno.test("issue20#2: an idle process gives back the heap its busy spell grew", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc,--no-memory-reducer",
      new URL("./fixtures/memory_trim_child.ts", import.meta.url).pathname,
      "8000",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  const { busy, idle } = JSON.parse(new TextDecoder().decode(out.stdout));
  // The busy spell widens the young generation to several MB; the idle collection shrinks it.
  assert(idle < busy - 4 * 1024 * 1024, `heap ${busy} bytes busy, ${idle} bytes after idling`);
});
