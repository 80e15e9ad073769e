/**
 * hosts/process/memory_trim.ts: once `serve` has been idle for a few seconds, one compacting
 * collection gives back the heap a busy spell grew (issue 20: the memory reducer is off, so
 * nothing else would). Run in a child with the start task's V8 flags.
 */
import { assert } from "./fixtures/assert.ts";

/** Runs a fixture child with the start task's V8 flags; its one JSON line. */
async function runChild(fixture: string, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc,--no-memory-reducer",
      new URL(`./fixtures/${fixture}`, import.meta.url).pathname,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("issue20#2: an idle process gives back the heap its busy spell grew", async () => {
  const { busy, idle } = await runChild("memory_trim_child.ts", "8000");
  // The busy spell widens the young generation to several MB; the idle collection shrinks it.
  assert(idle < busy - 4 * 1024 * 1024, `heap ${busy} bytes busy, ${idle} bytes after idling`);
});

Deno.test("issue20#2: memory dropped on purpose (the argon2 instance) is given back on an idle server", async () => {
  const MiB = 1024 * 1024;
  const [told, untold] = await Promise.all([
    runChild("memory_released_child.ts", "tell"),
    runChild("memory_released_child.ts"),
  ]);
  // Without the announcement no collection runs (the memory reducer is off), so the 19 MiB stay:
  // the control shows the fixture measures what it should.
  assert(
    untold.after > untold.held - 4 * MiB,
    `untold: ${untold.held} held, ${untold.after} after`,
  );
  assert(told.after < told.held - 15 * MiB, `told: ${told.held} held, ${told.after} after`);
});
