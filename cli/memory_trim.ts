/**
 * Gives memory back after a burst of large messages. A large message leaves its copies behind as
 * garbage ArrayBuffers, freed only by the next full collection; with V8's memory reducer off
 * (deno.json's start task: deploy/README.md says why) an idle server runs none, so ten 25 MB
 * messages left it holding about 160 MB of dead buffers indefinitely (bench/run.ts section l).
 * Every few seconds this checks the memory outside the JavaScript heap; when it is large and has
 * stopped growing (the burst is over), it asks for one full collection: `gc()` where the runtime
 * exposes it (`--v8-flags=--expose-gc` on Deno and Node) or `Bun.gc`. Without either it does
 * nothing. Small-message traffic never reaches the threshold.
 */

/** External memory above which a quiet server collects. */
const THRESHOLD = 48 * 1024 * 1024;
const INTERVAL_MS = 3000;

type Collect = () => void;

function collector(): Collect | undefined {
  const g = globalThis as { gc?: () => void; Bun?: { gc?(force: boolean): void } };
  if (typeof g.gc === "function") return () => g.gc!();
  if (typeof g.Bun?.gc === "function") return () => g.Bun!.gc!(true);
  return undefined;
}

function externalBytes(): number {
  const d = (globalThis as { Deno?: { memoryUsage(): { external: number } } }).Deno;
  if (d) return d.memoryUsage().external;
  const p = (globalThis as { process?: { memoryUsage(): { external: number } } }).process;
  return p?.memoryUsage().external ?? 0;
}

/** Starts the check; `close` stops it. */
export function startMemoryTrim(): { close(): Promise<void> } {
  const collect = collector();
  if (!collect) return { close: () => Promise.resolve() };
  let last = externalBytes();
  const timer = setInterval(() => {
    const now = externalBytes();
    // Still growing: a burst is under way and the collector runs on its own.
    if (now > THRESHOLD && now <= last) collect();
    last = externalBytes();
  }, INTERVAL_MS);
  return {
    close() {
      clearInterval(timer);
      return Promise.resolve();
    },
  };
}
