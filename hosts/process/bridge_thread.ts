/**
 * Starts the in-process bridge of `postern serve` in a worker thread (hosts/process/bridge_worker.ts) and
 * answers its gateway calls with the app's fetch on this thread (bridge/fetch_tunnel.ts): the
 * same contract, the same bridge, a second core for SMTP parsing and mail authentication. Costs
 * the memory of a second JavaScript heap, so it is a switch (`bridgeThread`), off by default.
 */
import { type FetchLike } from "../../bridge/gateway_client.ts";
import { tunnelServer } from "../../bridge/fetch_tunnel.ts";
import type { Config } from "../../src/config.ts";
import type { Logger } from "../../src/ports.ts";

export interface BridgeThread {
  listeners: { name: string; port: number }[];
  close(): Promise<void>;
}

export async function startBridgeThread(
  config: Config,
  gateway: { apiKey: string; fetcher: FetchLike },
  logger: Logger,
): Promise<BridgeThread> {
  const worker = new Worker(new URL("./bridge_worker.ts", import.meta.url).href, {
    type: "module",
  });
  const tunnel = tunnelServer(worker, gateway.fetcher);
  let started!: (listeners: { name: string; port: number }[]) => void;
  let failed!: (e: Error) => void;
  let stopped: () => void = () => {};
  const ready = new Promise<{ name: string; port: number }[]>((resolve, reject) => {
    started = resolve;
    failed = reject;
  });
  worker.onmessage = (event: MessageEvent) => {
    const data = event.data;
    if (tunnel.onMessage(data)) return;
    if (data?.log) {
      const [level, name, fields] = data.log;
      logger.log(level, name, fields);
    } else if (data?.started) started(data.started);
    else if (data?.failed) failed(new Error(data.failed));
    else if (data?.stopped) stopped();
  };
  let running = false;
  worker.onerror = (event: ErrorEvent) => {
    logger.log("error", "bridge.thread_error", { error: String(event.message) });
    if (running) return; // as in-process: an uncaught bridge error ends the process
    event.preventDefault?.();
    failed(new Error(`the bridge thread failed: ${event.message}`));
  };
  worker.postMessage({ start: { config, apiKey: gateway.apiKey } });
  let listeners;
  try {
    listeners = await ready;
  } catch (e) {
    worker.terminate();
    throw e;
  }
  running = true;
  logger.log("info", "bridge.thread_started", { listeners: listeners.length });
  return {
    listeners,
    async close() {
      const done = new Promise<void>((resolve) => (stopped = resolve));
      worker.postMessage({ stop: true });
      // A bridge that does not stop in time is cut off with its thread.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([done, new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
      worker.terminate();
      tunnel.close();
    },
  };
}
