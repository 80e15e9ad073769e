/**
 * `postern serve` (everything in one process) and `postern gateway` (the HTTP side alone): open
 * the store (applying pending migrations), build the app, listen through the runtime adapter,
 * log each request as one JSON line, and stop gracefully on SIGINT/SIGTERM.
 */
import process from "node:process";
import { eq } from "drizzle-orm";
import { API_VERSION, createApp } from "../src/app.ts";
import { Metrics } from "../src/services/metrics.ts";
import type { Config } from "../src/config.ts";
import { withAccessLog } from "../src/http/access_log.ts";
import { jsonLogger, type Logger } from "../src/ports.ts";
import { schema, type Store } from "../src/store/store.ts";
import { flag, type Invocation, str, usageError, type Values } from "./args.ts";
import { describeInit, initialise, initOptions, needsInit } from "./cmd_init.ts";
import {
  loadConfig,
  masterKey,
  openConfiguredStore,
  paths,
  readAdminPasswordFile,
} from "./context.ts";
import { buildDeps } from "../hosts/process/deps_node.ts";
import { routePort } from "../hosts/process/dns.ts";
import { federationPorts, startFederationWorker } from "../hosts/process/federation_runtime.ts";
import { listen, type Listener } from "../hosts/process/serve.ts";
import {
  ensureTlsFiles,
  inProcessBridgeKey,
  startBridge,
  tlsPaths,
} from "../hosts/process/bridge_runtime.ts";
import { readFile } from "node:fs/promises";
import { startTxWorker } from "../src/transactional/worker.ts";
import { startReportWorker } from "../src/reports/worker.ts";
import { startSearchIndexer } from "../src/services/search_index.ts";
import { startChangeLogPruner } from "../src/jmap/retention.ts";
import { startRetention } from "../src/services/retention.ts";
import { bridgeDirect } from "../src/routes/bridge_direct.ts";
import type { BridgeDirect } from "../schemas/bridge.ts";
import { type MemoryTrim, startMemoryTrim } from "../hosts/process/memory_trim.ts";
import { createThreadedMime } from "../hosts/process/mime_thread.ts";
import { mimeLimits } from "../hosts/process/mime_limits.ts";

export interface Running {
  listener: Listener;
  /** This process's metrics registry (the gateway's `GET /metrics`). */
  metrics: Metrics;
  store: Store;
  logger: Logger;
  url: string;
  /** The gateway app's fetch, for the in-process bridge. */
  fetch: (request: Request) => Response | Promise<Response>;
  /** The gateway's bridge routes without HTTP, for a bridge on this thread. */
  bridgeDirect: BridgeDirect;
  /** Stopped before the HTTP listener (the bridge, workers). */
  companions: { close(): Promise<void> }[];
  bridgeListeners?: { name: string; port: number }[];
  /** The gateway over HTTPS, when POSTERN_HTTPS_PORT is set. */
  httpsUrl?: string;
  /** Gives memory back when idle; `settle()` once start-up is over. */
  memory: MemoryTrim;
}

function runtimeVersion(): string {
  const g = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } } };
  if (g.Bun) return `Bun ${g.Bun.version}`;
  if (g.Deno) return `Deno ${g.Deno.version.deno}`;
  return "unknown runtime";
}

function applyListenFlags(config: Config, values: Values): Config {
  const host = str(values, "host");
  const portText = str(values, "port");
  let port = config.httpPort;
  if (portText !== undefined) {
    port = Number(portText);
    if (!/^\d+$/.test(portText) || port > 65535) {
      throw usageError(`--port: expected 0 to 65535, got ${portText}`);
    }
  }
  return { ...config, httpHost: host ?? config.httpHost, httpPort: port };
}

/** Starts the HTTP gateway on the configured address; resolves once it is listening. */
export async function startGateway(config: Config, logger: Logger): Promise<Running> {
  const key = await masterKey(config);
  // Write jobs run their SQLite work on a thread beside the event loop: all of them, or by
  // default MX ingest's alone (issue 20: its deliveries, not sends, gain from the hand-off).
  const store = await openConfiguredStore(config, {
    writerThread: config.storeWriterThread || "marked",
  });
  try {
    // Parsing and composing messages run on a worker thread (hosts/process/mime_thread.ts).
    const mime = createThreadedMime(mimeLimits(config));
    const deps = await buildDeps(config, store, key, logger, mime);
    const caCerts = config.federationCaFile
      ? [await readFile(config.federationCaFile, "utf8")]
      : [];
    const federation = deps.federation = federationPorts(config, caCerts);
    deps.routes = routePort(config);
    const metrics = deps.metrics = new Metrics();
    const app = createApp(deps);
    const handler = withAccessLog(logger, (request) => app.fetch(request));
    const listener = await listen(handler, {
      hostname: config.httpHost,
      port: config.httpPort,
      onError: (error) =>
        logger.log("error", "http.adapter_error", { error: String((error as Error)?.stack) }),
    });
    const shownHost = ["0.0.0.0", "::", "[::]"].includes(listener.hostname)
      ? "127.0.0.1"
      : listener.hostname.includes(":")
      ? `[${listener.hostname}]`
      : listener.hostname;
    const url = `http://${shownHost}:${listener.port}`;
    logger.log("info", "server.listening", {
      url,
      runtime: listener.runtime,
      hostname: listener.hostname,
      port: listener.port,
      version: API_VERSION,
    });
    // Federation's outbound worker: a timer here, a cron trigger at the edge.
    const companions: { close(): Promise<void> }[] = [
      startFederationWorker(deps, logger),
      { close: () => Promise.resolve(federation.close()) }, // its kept connections to peers
    ];
    let httpsUrl: string | undefined;
    if (config.httpsPort > 0) {
      // The same app over HTTPS (RFC 8446 via the runtime), with the bridge's certificate files.
      await ensureTlsFiles(config, logger);
      const files = tlsPaths(config);
      const secure = await listen(handler, {
        hostname: config.httpHost,
        port: config.httpsPort,
        tls: {
          cert: await readFile(files.certFile, "utf8"),
          key: await readFile(files.keyFile, "utf8"),
        },
        onError: (error) =>
          logger.log("error", "http.adapter_error", { error: String((error as Error)?.stack) }),
      });
      httpsUrl = `https://${shownHost}:${secure.port}`;
      logger.log("info", "server.listening", { url: httpsUrl, runtime: secure.runtime, tls: true });
      companions.push({ close: () => secure.shutdown() });
    }
    // The full-text index follows the deliveries in batches (searches also catch it up).
    companions.push(startSearchIndexer(store, logger));
    // The JMAP change log keeps its newest rows only (src/jmap/retention.ts).
    companions.push(startChangeLogPruner(store, logger));
    // Mailbox retention and the recovery window's end (src/services/retention.ts).
    companions.push(startRetention(deps, logger));
    // Webhook deliveries and inbound-mail webhooks (transactional sending).
    companions.push(startTxWorker(deps, { intervalMs: config.webhookIntervalMs }));
    // DMARC aggregate reports owed to senders, daily (src/reports/, issue 21 item 4).
    companions.push(startReportWorker(deps));
    companions.push({ close: () => Promise.resolve(mime.close()) });
    const memory = startMemoryTrim();
    companions.push(memory);
    return {
      listener,
      metrics,
      store,
      logger,
      url,
      httpsUrl,
      fetch: (r) => app.fetch(r),
      bridgeDirect: bridgeDirect(deps),
      companions,
      memory,
    };
  } catch (e) {
    store.close();
    throw e;
  }
}

/**
 * Remembers a SIGINT or SIGTERM that arrives while the server is still starting (the bridge,
 * its TLS files and key come after the HTTP listener), so that it stops the server cleanly once
 * started instead of killing the process half way (exit 143).
 */
export function catchEarlySignals(): { signal?: string; release(): void } {
  const early: { signal?: string; release(): void } = {
    release: () => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
    },
  };
  const onInt = () => void (early.signal ??= "SIGINT");
  const onTerm = () => void (early.signal ??= "SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  return early;
}

/** Resolves after SIGINT or SIGTERM has stopped the server and closed the store. */
export function stopOnSignal(
  running: Running,
  early?: { signal?: string; release(): void },
): Promise<void> {
  return new Promise((resolve) => {
    let stoppingSince = 0;
    const stop = async (signal: string) => {
      if (stoppingSince) {
        // Ctrl-C under `deno task` or npx reaches us twice at once (the terminal signals the
        // whole process group and the task runner forwards it): only a later one means "now".
        if (Date.now() - stoppingSince > 1000) process.exit(130);
        return;
      }
      stoppingSince = Date.now();
      running.logger.log("info", "server.stopping", { signal });
      for (const companion of running.companions) await companion.close();
      await running.listener.shutdown();
      running.store.close();
      running.logger.log("info", "server.stopped", { signal });
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      resolve();
    };
    const onInt = () => void stop("SIGINT");
    const onTerm = () => void stop("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
    early?.release();
    if (early?.signal) void stop(early.signal);
  });
}

async function banner(config: Config, running: Running, mode: string): Promise<string> {
  const p = paths(config);
  const [admin] = await running.store.db.select({ address: schema.accounts.address })
    .from(schema.accounts).where(eq(schema.accounts.role, "admin")).limit(1);
  const savedPassword = await readAdminPasswordFile(config);
  const lines = [
    `Postern ${API_VERSION} — ${mode} on ${runtimeVersion()}`,
    `  API:     ${running.url}/v1   (OpenAPI: ${running.url}/openapi.json)`,
    ...(running.httpsUrl ? [`  HTTPS:   ${running.httpsUrl}/v1`] : []),
    `  Mail:    ${running.url}/mail   (admin console: ${running.url}/admin)`,
    `  Docs:    ${running.url}/docs`,
    `  Health:  ${running.url}/health`,
  ];
  // One line per protocol family: SMTP (MX, submission), IMAP, POP3, ManageSieve, SHARP/1.3.
  const families: [string, RegExp][] = [
    ["SMTP", /^(smtp|submissions?)$/],
    ["IMAP", /^imaps?$/],
    ["POP3", /^pop3s?$/],
    ["Sieve", /^managesieve$/],
    ["SHARP", /^sharp$/],
  ];
  const listeners = running.bridgeListeners ?? [];
  for (const [label, pattern] of families) {
    const mine = listeners.filter((l) => pattern.test(l.name));
    if (mine.length === 0) continue;
    lines.push(
      `  ${`${label}:`.padEnd(8)} ${
        mine.map((l) => `${l.name} ${config.bridgeHost}:${l.port}`).join(", ")
      }`,
    );
  }
  if (config.publicUrl) lines.push(`  Public:  ${config.publicUrl}`);
  lines.push(`  Data:    ${p.databaseLabel}`);
  if (admin) {
    lines.push(
      `  Admin:   ${admin.address} — password ${
        savedPassword ? `in ${p.adminPasswordFile}` : "as set at init (POSTERN_ADMIN_PASSWORD)"
      }`,
    );
  } else {
    lines.push("  Admin:   none yet — run `postern init`");
  }
  lines.push("Logs are JSON lines on stderr. Ctrl-C stops.");
  return lines.join("\n");
}

async function serveMain(values: Values, mode: "serve" | "gateway"): Promise<void> {
  const config = applyListenFlags(await loadConfig(values), values);
  const logger = jsonLogger(config.logLevel, (line) => console.error(line));
  if (mode === "serve" && flag(values, "init-if-needed")) {
    const probe = await openConfiguredStore(config);
    const needed = await needsInit(probe).finally(() => probe.close());
    if (needed) {
      const result = await initialise(config, initOptions(undefined, undefined));
      console.log(describeInit(result).join("\n") + "\n");
      logger.log("info", "server.initialised", { domain: result.domain, admin: result.admin });
    }
  }
  const running = await startGateway(config, logger);
  const early = catchEarlySignals();
  if (mode === "serve") {
    // The bridge reaches the gateway in-process: the same HTTP contract through app.fetch.
    await ensureTlsFiles(config, logger);
    const apiKey = await inProcessBridgeKey(config, running.store);
    const bridge = config.bridgeThread
      // On a worker thread: SMTP and mail authentication on a second core (more memory).
      ? await (await import("../hosts/process/bridge_thread.ts")).startBridgeThread(config, {
        apiKey,
        fetcher: running.fetch,
      }, logger)
      : await startBridge(config, {
        url: "http://in-process.postern",
        apiKey,
        fetcher: running.fetch,
        direct: running.bridgeDirect,
      }, logger);
    // The front door closes first, then the workers behind it, the MIME thread last.
    running.companions.unshift(bridge);
    running.bridgeListeners = bridge.listeners;
    const sessions = (bridge as { sessions?: () => { name: string; open: number }[] }).sessions;
    if (sessions) {
      running.metrics.gauge(
        "postern_protocol_sessions",
        "Open connections per bridge listener (smtp, submission, imap, pop3, sharp …).",
        () =>
          Promise.resolve(sessions().map((s) => ({ labels: { listener: s.name }, value: s.open }))),
      );
    }
  }
  console.log(await banner(config, running, mode === "serve" ? "server" : "gateway"));
  // Start-up's garbage (module loading, migrations, TLS files) goes now, not after idle seconds.
  running.memory.settle();
  await stopOnSignal(running, early);
}

export const serveCommand = ({ values }: Invocation) => serveMain(values, "serve");

export const gatewayCommand = ({ values }: Invocation) => serveMain(values, "gateway");

/** `postern bridge --gateway URL`: the TCP side alone, talking to a remote gateway. */
export async function bridgeCommand({ values }: Invocation): Promise<void> {
  const config = await loadConfig(values);
  const logger = jsonLogger(config.logLevel, (line) => console.error(line));
  const url = str(values, "gateway") ?? config.bridgeGatewayUrl;
  if (!url) throw usageError("--gateway URL (or POSTERN_BRIDGE_GATEWAY_URL) is required");
  if (!config.bridgeApiKey) {
    throw usageError("POSTERN_BRIDGE_API_KEY is required: an API key with the bridge scope");
  }
  const bridge = await startBridge(config, { url, apiKey: config.bridgeApiKey }, logger);
  console.log([
    `Postern ${API_VERSION} — bridge on ${runtimeVersion()}, gateway ${url}`,
    ...bridge.listeners.map((l) => `  ${l.name}: ${config.bridgeHost}:${l.port}`),
  ].join("\n"));
  await new Promise<void>((resolve) => {
    const stop = async () => {
      await bridge.close();
      resolve();
    };
    process.once("SIGINT", () => void stop());
    process.once("SIGTERM", () => void stop());
  });
}
