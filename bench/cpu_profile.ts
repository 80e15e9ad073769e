/**
 * A CPU profile of a benchmark's `postern serve`, taken over the inspector (Deno has no
 * `--cpu-prof`): the server starts with `--inspect=127.0.0.1:<port>`, `attachProfiler` connects
 * to it and `start()`/`stop()` bracket the measured work. `stop()` writes the profile (open it in
 * Chrome's DevTools, Performance tab) and answers a summary of the event loop's busy time: self
 * time by source file, the shares an issue 20 step is judged by. The profiler slows the server
 * (its figures are shares, not milliseconds per message to compare with unprofiled runs).
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface Profiler {
  start(): Promise<void>;
  /** Stops, writes the profile to `path` and answers the summary's lines. */
  stop(path: string): Promise<string[]>;
  /** Stops and answers the profile, for a caller that sums several (see `summarize`). */
  take(): Promise<CpuProfile>;
  close(): void;
}

/** The inspector's WebSocket once the server listens on `port` (it starts with the server). */
async function debuggerUrl(port: number): Promise<string> {
  for (let i = 0; i < 300; i++) {
    try {
      const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
      if (targets[0]?.webSocketDebuggerUrl) return targets[0].webSocketDebuggerUrl;
    } catch { /* not yet listening */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no inspector on 127.0.0.1:${port}`);
}

export async function attachProfiler(port: number, intervalUs = 250): Promise<Profiler> {
  const ws = new WebSocket(await debuggerUrl(port));
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let nextId = 1;
  const pending = new Map<number, (result: Record<string, unknown>) => void>();
  ws.onmessage = (event) => {
    const m = JSON.parse(event.data);
    pending.get(m.id)?.(m.result ?? {});
    pending.delete(m.id);
  };
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: intervalUs });
  return {
    async start() {
      await send("Profiler.start");
    },
    async stop(path: string) {
      const { profile } = await send("Profiler.stop") as { profile: CpuProfile };
      await Deno.writeTextFile(path, JSON.stringify(profile));
      return summarize(profile);
    },
    async take() {
      return (await send("Profiler.stop") as { profile: CpuProfile }).profile;
    },
    close: () => ws.close(),
  };
}

/** The project's files by their path in it; the runtime's and packages' by a short name. */
function fileOf(url: string, functionName: string): string {
  if (!url) return functionName; // native: (garbage collector), encrypt, …
  const local = url.match(/\/((?:src|bridge|hosts|schemas|cli)\/.*)$/);
  if (local) return local[1];
  const pkg = url.match(/node_modules\/(?:\.deno\/)?([^/]+)/);
  return pkg ? `npm:${pkg[1]}` : url;
}

/**
 * Self time by file, as shares of the time the event loop was busy (idle left out); several
 * profiles (one per measured operation, say) are summed.
 */
export function summarize(profiles: CpuProfile | CpuProfile[], top = 25): string[] {
  const self = new Map<string, number>();
  let busy = 0;
  for (const profile of Array.isArray(profiles) ? profiles : [profiles]) {
    busy += selfTimes(profile, self);
  }
  const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `busy ${(busy / 1000).toFixed(0)} ms of samples; self time by file:`,
    ...rows.map(([file, us]) => `  ${(100 * us / busy).toFixed(1).padStart(5)} %  ${file}`),
  ];
}

/** Adds one profile's self time by file (µs) to `self`; answers its busy time. */
function selfTimes(profile: CpuProfile, self: Map<string, number>): number {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id)!;
    const us = profile.timeDeltas[i + 1] ?? 0;
    if (node.callFrame.functionName === "(idle)") return;
    const file = fileOf(node.callFrame.url, node.callFrame.functionName);
    self.set(file, (self.get(file) ?? 0) + us);
    busy += us;
  });
  return busy;
}
