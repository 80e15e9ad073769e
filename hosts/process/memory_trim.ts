/**
 * Gives memory back after a burst of large messages. A large message leaves its copies behind as
 * garbage ArrayBuffers, freed only by the next full collection; with V8's memory reducer off
 * (deno.json's start task: deploy/README.md says why) an idle server runs none, so ten 25 MB
 * messages left it holding about 160 MB of dead buffers indefinitely (bench/run.ts section l).
 * Every second this checks the memory outside the JavaScript heap; once it has been large and
 * memory has stopped growing (the burst is over), it asks for one full collection: `gc()` where
 * the runtime exposes it (`--v8-flags=--expose-gc` on Deno and Node) or `Bun.gc`. Without either
 * it does nothing. Small-message traffic never holds that much outside the heap; its heap
 * growing by 96 MB gets a plain (non-compacting) collection at most, so the heap keeps its size.
 */

/** External memory above which a quiet server collects. */
const THRESHOLD = 48 * 1024 * 1024;
const INTERVAL_MS = 1000;
const TRAILING_S = 5;
/** Growth per second below which the server counts as quiet. */
const QUIET_GROWTH = 4 * 1024 * 1024;

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
  external: number;
}

function usage(): Usage {
  const d = (globalThis as { Deno?: { memoryUsage(): Usage } }).Deno;
  if (d) return d.memoryUsage();
  const p = (globalThis as { process?: { memoryUsage(): Usage } }).process;
  return p?.memoryUsage() ?? { heapUsed: 0, external: 0 };
}

/** Starts the check; `close` stops it. */
export function startMemoryTrim(): { close(): Promise<void> } {
  const collect = collector();
  if (!collect) return { close: () => Promise.resolve() };
  let last = usage();
  /** The heap in use after the last collection: growth beyond it is a large body's garbage. */
  let floor = last.heapUsed;
  let largeBuffers = false;
  let largeHeap = false;
  /** Seconds until a trailing collection: the last messages of a burst stay under the threshold. */
  let trailing = 0;
  const timer = setInterval(() => {
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
    close() {
      clearInterval(timer);
      return Promise.resolve();
    },
  };
}
