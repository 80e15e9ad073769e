/**
 * The worker thread of `postern serve` with `POSTERN_BRIDGE_THREAD=true`: runs the whole bridge
 * (startBridge: SMTP, IMAP, POP3, SHARP/1.3 listeners and the outbound worker) off the main
 * thread, so SMTP parsing and SPF/DKIM/DMARC checks use a second core while the gateway app and
 * its store stay on the main thread. Gateway calls go through the fetch tunnel
 * (bridge/fetch_tunnel.ts) to the main thread's app.fetch; log events go to the main thread's
 * logger. In: `{ start: { config, apiKey } }`, then `{ stop: true }`; out: `{ started }` or
 * `{ failed }`, `{ log }`, `{ stopped: true }`, and the tunnel's messages.
 */
import { tunnelClient } from "../../bridge/fetch_tunnel.ts";
import type { Config } from "../../src/config.ts";
import type { Logger, LogLevel } from "../../src/ports.ts";
import { type BridgeRuntime, startBridge } from "./bridge_runtime.ts";
import { workerScope } from "./worker_scope.ts";

/** From hosts/process/bridge_thread.ts: tunnel replies, or `{ start }` / `{ stop }`. */
type Command = { start?: { config: Config; apiKey: string }; stop?: boolean } | undefined;
const scope = workerScope<Command>();

const tunnel = tunnelClient(scope);
const LEVELS: LogLevel[] = ["debug", "info", "warn", "error"];
let floor = 0;
const logger: Logger = {
  log(level: LogLevel, event: string, fields?: Record<string, unknown>) {
    // Filtered here too: a line below the level is not worth a message to the main thread.
    if (LEVELS.indexOf(level) < floor) return;
    try {
      scope.postMessage({ log: [level, event, fields] });
    } catch {
      // A field that cannot be cloned: send it as JSON text instead.
      scope.postMessage({ log: [level, event, JSON.parse(JSON.stringify(fields ?? {}))] });
    }
  },
};
let bridge: BridgeRuntime | undefined;

scope.onmessage = async (event) => {
  const data = event.data;
  if (tunnel.onMessage(data)) return;
  if (data?.start) {
    const { config, apiKey } = data.start;
    floor = Math.max(0, LEVELS.indexOf(config.logLevel));
    try {
      bridge = await startBridge(config, {
        url: "http://in-process.postern",
        apiKey,
        fetcher: tunnel.fetch,
      }, logger);
      scope.postMessage({ started: bridge.listeners });
    } catch (e) {
      scope.postMessage({ failed: String((e as Error)?.message ?? e) });
    }
  } else if (data?.stop) {
    await bridge?.close().catch(() => {});
    scope.postMessage({ stopped: true });
  }
};
