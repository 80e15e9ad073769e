/**
 * Gives memory back after a burst of large messages. A large message leaves its copies behind as
 * garbage ArrayBuffers, freed only by the next full collection; with V8's memory reducer off
 * (deno.json's start task: deploy/README.md says why) an idle server runs none, so ten 25 MB
 * messages left it holding about 160 MB of dead buffers indefinitely (bench/run.ts section l).
 * Every second this checks the memory outside the JavaScript heap; once it has been large and
 * memory has stopped growing (the burst is over), it asks for one full collection: `gc()` where
 * the runtime exposes it (`--v8-flags=--expose-gc` on Deno and Node) or `Bun.gc`. Without either
 * it does nothing. Small-message traffic never holds that much outside the heap; its heap
 * growing by 96 MB gets a plain (non-compacting) collection at most, so the heap keeps its size
 * while mail keeps coming.
 *
 * Once the server is idle (its threads together used under 2% of a core for `IDLE_SECONDS`
 * running), one compacting collection gives back what the last busy spell grew: the young
 * generation a burst widened to 16 MB and more, the old generation's emptied pages. Issue 20:
 * a freshly started server held 22 MB of young generation left by loading its modules, and a
 * 10,000-message burst left about 300 MB resident for good. That collection takes some 30 ms
 * of CPU once per busy spell; the next burst grows the young generation back within its first
 * hundred messages. It runs again only after the heap has grown by `REGROWTH` since. Then, and
 * once more when the worker threads have stopped after their own idle time (worker_rpc.ts,
 * sqlite_client.ts), glibc's `malloc_trim` hands the free pages inside malloc's arenas back: the
 * runtime's native side (sockets, SQLite, the threads a burst started) leaves them fragmented,
 * and glibc returns only the top of each arena by itself (about 35 MB after a 2,000-message
 * burst). Both times, too, the pages of the `deno` executable (and its libraries) that start-up and
 * the busy spell touched are dropped from the process (file_pages.ts): an idle server runs few of them.
 *
 * The second time (`IDLE_TRIM_AGAIN_SECONDS` idle, also after start) collects once more: with the
 * start task's `--flush-baseline-code,--bytecode-old-time=15` (deno.json), that collection drops the
 * bytecode and baseline code of every function not run for 15 s, which after start is all the
 * start-up's (the CLI, the store's setup, the first-start init): 4 MiB of an idle server
 * (bench/memory.ts). A function run again is compiled again on its first call.
 */
import process from "node:process";
import { releaseFilePages } from "./file_pages.ts";

/** External memory above which a quiet server collects. */
const THRESHOLD = 48 * 1024 * 1024;
const INTERVAL_MS = 1000;
const TRAILING_S = 5;
/** Growth per second below which the server counts as quiet. */
const QUIET_GROWTH = 4 * 1024 * 1024;
/** CPU time (ms, all threads) per second below which the server counts as idle. */
const IDLE_CPU_MS = 20;
/** Idle seconds before the compacting collection. */
const IDLE_SECONDS = 5;
/** Growth of heap and external memory since the last idle collection that earns another. */
const REGROWTH = 8 * 1024 * 1024;
/** Idle seconds after which the arenas are trimmed again (the idle workers have gone). */
const IDLE_TRIM_AGAIN_SECONDS = 20;

let trimmer: (() => void) | null | undefined;

/** Set by `memoryReleased`: the next idle second collects, whatever the heap's growth. */
let released = false;

/**
 * Something dropped a large allocation outside the JavaScript heap on purpose (the argon2
 * instance's 19 MiB of WebAssembly memory, argon2_module.ts): with the memory reducer off, no
 * collection would ever free it on an idle server, so the next idle second runs one.
 */
export function memoryReleased(): void {
  released = true;
}

/**
 * glibc's `malloc_trim(0)` through Deno's FFI: returns the free pages of every malloc arena to
 * the system. Nothing where it is missing (Bun, which allocates with mimalloc; musl; a process
 * without FFI permission).
 */
function mallocTrim(): void {
  if (trimmer === undefined) {
    trimmer = null;
    const deno = (globalThis as { Deno?: typeof Deno }).Deno;
    if (deno?.build.os === "linux" && typeof deno.dlopen === "function") {
      try {
        const libc = deno.dlopen("libc.so.6", {
          malloc_trim: { parameters: ["usize"], result: "i32" },
        });
        trimmer = () => void libc.symbols.malloc_trim(0n);
      } catch { /* not glibc, or no FFI permission */ }
    }
  }
  trimmer?.();
}

/** `compact`: also shrink the heap (after large buffers); else a plain full collection. */
type Collect = (compact: boolean) => void;

function collector(): Collect | undefined {
  const g = globalThis as { gc?: (options?: unknown) => void; Bun?: { gc?(force: boolean): void } };
  // V8's "last resort" collection also compacts the heap and shrinks the young generation, so
  // the pages a burst of large buffers grew are returned too, not only the buffers.
  if (typeof g.gc === "function") {
    return (compact) =>
      g.gc!({ type: "major", execution: "sync", flavor: compact ? "last-resort" : "regular" });
  }
  if (typeof g.Bun?.gc === "function") return () => g.Bun!.gc!(true);
  return undefined;
}

interface Usage {
  heapUsed: number;
  heapTotal: number;
  external: number;
}

function usage(): Usage {
  const d = (globalThis as { Deno?: { memoryUsage(): Usage } }).Deno;
  if (d) return d.memoryUsage();
  const p = (globalThis as { process?: { memoryUsage(): Usage } }).process;
  return p?.memoryUsage() ?? { heapUsed: 0, heapTotal: 0, external: 0 };
}

/** CPU time this process has used so far (all threads), in ms. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

export interface MemoryTrim {
  /**
   * Start-up is over (`serve` calls it once its listeners are up): what loading the modules
   * and opening the store left behind (a young generation of 20 MB and more) is given back
   * now, not after the first idle seconds.
   */
  settle(): void;
  close(): Promise<void>;
}

/** Starts the check; `close` stops it. */
export function startMemoryTrim(): MemoryTrim {
  const collect = collector();
  if (!collect) return { settle: () => {}, close: () => Promise.resolve() };
  let last = usage();
  /** The heap in use after the last collection: growth beyond it is a large body's garbage. */
  let floor = last.heapUsed;
  let largeBuffers = false;
  let largeHeap = false;
  /** Seconds until a trailing collection: the last messages of a burst stay under the threshold. */
  let trailing = 0;
  /** Heap and external memory after the last idle collection (0: none yet since start). */
  let settled = 0;
  let idleFor = 0;
  let trimAgain = false;
  let cpuBefore = cpuMs();
  /** One compacting collection and a trim of malloc's arenas; the new floor is remembered. */
  const compactAndTrim = () => {
    // First, so that the collection frees what reading /proc/self/smaps allocated (a few
    // hundred kB; after the collection it would widen the heap it just shrank by 2 MB).
    releaseFilePages();
    collect(true);
    mallocTrim();
    const after = usage();
    settled = after.heapTotal + after.external;
    floor = last.heapUsed = after.heapUsed;
    last.external = after.external;
    // The collection's own CPU time does not count against the next idle second.
    cpuBefore = cpuMs();
  };
  const idleCollection = () => {
    const cpu = cpuMs();
    idleFor = cpu - cpuBefore < IDLE_CPU_MS * INTERVAL_MS / 1000 ? idleFor + 1 : 0;
    cpuBefore = cpu;
    const now = usage();
    if (released && idleFor > 0) {
      released = false;
      compactAndTrim();
      return;
    }
    if (idleFor === IDLE_TRIM_AGAIN_SECONDS && trimAgain) {
      trimAgain = false;
      compactAndTrim();
    }
    if (idleFor !== IDLE_SECONDS || now.heapTotal + now.external < settled + REGROWTH) return;
    trimAgain = true;
    compactAndTrim();
  };
  const timer = setInterval(() => {
    idleCollection();
    const now = usage();
    largeBuffers ||= now.external > THRESHOLD;
    largeHeap ||= now.heapUsed > floor + 2 * THRESHOLD;
    // Still growing: a burst is under way and the collector runs on its own. Once it is over,
    // one collection frees its buffers and the strings (a JSON body) that came with them. Only
    // large buffers also shrink the heap, which small-mail bursts keep (deploy/README.md).
    // Background work (search indexing, timers) keeps allocating a little: quiet is slow growth.
    const quiet = now.external + now.heapUsed < last.external + last.heapUsed + QUIET_GROWTH;
    if ((largeBuffers || largeHeap) && quiet) {
      collect(largeBuffers);
      trailing = largeBuffers ? TRAILING_S : 0;
      largeBuffers = largeHeap = false;
      floor = usage().heapUsed;
    } else if (trailing > 0 && --trailing === 0) {
      collect(true);
      floor = usage().heapUsed;
    }
    last = usage();
  }, INTERVAL_MS);
  return {
    settle() {
      compactAndTrim();
      trimAgain = true;
    },
    close() {
      clearInterval(timer);
      return Promise.resolve();
    },
  };
}
