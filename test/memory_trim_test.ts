/**
 * hosts/process/memory_trim.ts: once `serve` has been idle for a few seconds, one compacting
 * collection gives back the heap a busy spell grew (issue 20: the memory reducer is off, so
 * nothing else would). Run in a child with the start task's V8 flags.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { cleanFileMappings, parseSmaps } from "../hosts/process/file_pages.ts";

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

Deno.test("issue20#2: settling drops the executable's resident pages, and the process runs on", async () => {
  const MiB = 1024 * 1024;
  const { before, after, works } = await runChild("file_pages_child.ts");
  assert(works, "the process no longer computes correctly after the drop");
  assert(after < before - 8 * MiB, `executable resident: ${before} bytes before, ${after} after`);
});

/** Bun on the PATH (the CI installs it; `.ci/run`). */
function hasBun(): boolean {
  try {
    return new Deno.Command("bun", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "issue20#2: on Bun too, settling drops the executable's resident pages (bun:ffi)",
  ignore: !hasBun(),
  async fn() {
    const out = await new Deno.Command("bun", {
      args: [new URL("./fixtures/file_pages_child.ts", import.meta.url).pathname],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(out.success, new TextDecoder().decode(out.stderr));
    const { before, after, works } = JSON.parse(new TextDecoder().decode(out.stdout));
    assert(works, "the process no longer computes correctly after the drop");
    assert(
      after < before - 8 * 1024 * 1024,
      `bun resident: ${before} bytes before, ${after} after`,
    );
  },
});

Deno.test("issue20#2: only unwritten, read-only private mappings of files are dropped", () => {
  const smaps = [
    "00400000-00500000 r--p 00000000 fe:00 1 /usr/bin/deno",
    "Rss:                  64 kB",
    "Anonymous:             0 kB",
    "Locked:                0 kB",
    "00500000-00600000 r-xp 00100000 fe:00 1 /usr/bin/deno",
    "Rss:                 128 kB",
    "Anonymous:             0 kB",
    "Locked:                0 kB",
    // Relocated data: copies of the process's own, never dropped.
    "00600000-00700000 rw-p 00200000 fe:00 1 /usr/bin/deno",
    "Rss:                  32 kB",
    "Anonymous:            32 kB",
    "Locked:                0 kB",
    "00700000-00701000 r--p 00300000 fe:00 1 /usr/bin/deno",
    "Rss:                   4 kB",
    "Anonymous:             4 kB",
    "Locked:                0 kB",
    "00800000-00900000 r-xp 00000000 fe:00 2 /usr/lib/libc.so.6",
    "Rss:                  64 kB",
    "Anonymous:             0 kB",
    "Locked:                0 kB",
    "00900000-00a00000 r--s 00000000 fe:00 1 /usr/bin/deno",
    "Rss:                  64 kB",
    "Anonymous:             0 kB",
    "Locked:                0 kB",
    "00a00000-00b00000 r-xp 00000000 fe:00 1 /usr/bin/deno",
    "Rss:                  64 kB",
    "Anonymous:             0 kB",
    "Locked:               64 kB",
    "7e000000-7e100000 r--p 00000000 00:05 3 /dev/zero",
    "Rss:                  64 kB",
    "Anonymous:             0 kB",
    "Locked:                0 kB",
    "7f000000-7f100000 rw-p 00000000 00:00 0",
    "Rss:                 512 kB",
    "Anonymous:           512 kB",
    "Locked:                0 kB",
  ].join("\n");
  const clean = cleanFileMappings(parseSmaps(smaps));
  assertEquals(clean.map((m) => m.start.toString(16)), ["400000", "500000", "800000"]);
});
