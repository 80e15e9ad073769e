/**
 * Postern's gateway on Deno Deploy: the whole HTTP API (`createApp`) served by `Deno.serve`, on
 * a remote libSQL database, with `Deno.cron` running the background work (federation out,
 * webhooks, search indexing, retention: src/services/scheduled.ts) once a minute. It needs only
 * `--allow-net --allow-env` — no files, no FFI, no subprocesses, no worker threads — and the
 * `cron` and `raw-imports` unstable features, which deno.json turns on.
 *
 * Configuration is the environment (src/config.ts; `postern deploy deno` prints what to set):
 * POSTERN_MASTER_KEY and POSTERN_DATABASE_URL (+ POSTERN_DATABASE_AUTH_TOKEN) are required;
 * POSTERN_DOMAIN, POSTERN_ADMIN_ADDRESS (default admin@<domain>) and POSTERN_ADMIN_PASSWORD make
 * the first domain and admin on first start (src/services/bootstrap.ts; idempotent, so every
 * isolate runs it). Opening the store waits for the first request or cron run, and a failure
 * there (an unreachable database, a master key that does not fit the store) answers 503 and is
 * retried by the next one rather than ending the isolate.
 *
 * Locally: `deno run --allow-net --allow-env hosts/deno_deploy/main.ts` listens on
 * POSTERN_HTTP_HOST:POSTERN_HTTP_PORT; on Deno Deploy the platform picks the address.
 */
import { API_VERSION, createApp } from "../../src/app.ts";
import { type Config, parseConfig, unknownSettings } from "../../src/config.ts";
import type { Deps } from "../../src/deps.ts";
import { withAccessLog } from "../../src/http/access_log.ts";
import { jsonLogger } from "../../src/ports.ts";
import { bootstrapInstance } from "../../src/services/bootstrap.ts";
import { runScheduledWork } from "../../src/services/scheduled.ts";
import { refuseForbiddenMethod, withPeer } from "../../src/http/peer_request.ts";
import { DEFAULT_DOH_URL } from "../../src/dns/doh.ts";
import { buildDenoDeployDeps, missingSettings } from "./deps.ts";

/** This entry's own settings (beside src/config.ts's): the first domain and admin. */
const ENTRY_ENV = ["POSTERN_DOMAIN", "POSTERN_ADMIN_ADDRESS", "POSTERN_ADMIN_PASSWORD"];

/** The cron schedule of the background pass: Deno Deploy's finest, once a minute. */
export const CRON_SCHEDULE = "* * * * *";

const env = Deno.env.toObject();
const parsed = parseConfig(env);
if (!parsed.ok || missingSettings(parsed.config).length > 0) {
  const problems = parsed.ok ? missingSettings(parsed.config) : parsed.problems;
  console.error(JSON.stringify({ level: "error", event: "config.invalid", problems }));
  throw new Error(`Postern cannot start: ${problems.join("; ")}`);
}
const config: Config = parsed.config;
const logger = jsonLogger(config.logLevel, (line) => console.error(line));
for (const { name, suggestion } of unknownSettings(env, ENTRY_ENV)) {
  logger.log("warn", "config.unknown_setting", { name, suggestion });
}

interface Instance {
  deps: Deps;
  /** The app's fetch, with one access-log line per request. */
  serve: (request: Request) => Promise<Response>;
}

/** Opens the store, applies migrations, makes the first domain and admin; once per isolate. */
async function setUp(): Promise<Instance> {
  const deps = await buildDenoDeployDeps(config, logger);
  try {
    const domain = env.POSTERN_DOMAIN?.trim();
    if (domain) {
      const result = await bootstrapInstance(deps, {
        domain,
        adminAddress: env.POSTERN_ADMIN_ADDRESS?.trim() || `admin@${domain}`,
        adminPassword: env.POSTERN_ADMIN_PASSWORD || undefined,
      });
      logger.log("info", "deploy.bootstrap", { ...result });
    }
    const app = createApp(deps);
    return { deps, serve: withAccessLog(logger, (request) => app.fetch(request)) };
  } catch (e) {
    deps.store.close();
    throw e;
  }
}

/** After a failed setup, requests within this long get the 503 without another attempt. */
const RETRY_AFTER_MS = 5_000;

let instance: Promise<Instance> | undefined;
let failed: { at: number; error: unknown } | undefined;
function ready(): Promise<Instance> {
  if (failed && Date.now() - failed.at < RETRY_AFTER_MS) return Promise.reject(failed.error);
  instance ??= setUp().then((ok) => {
    failed = undefined;
    return ok;
  }, (e) => {
    instance = undefined; // a later request or cron run tries again
    failed = { at: Date.now(), error: e };
    logger.log("error", "deploy.setup_failed", { error: String((e as Error)?.message ?? e) });
    throw e;
  });
  return instance;
}

const unavailable = () =>
  new Response(
    JSON.stringify({
      type: "about:blank",
      title: "Service Unavailable",
      status: 503,
      code: "server_busy",
      detail: "The gateway could not open its database or finish its setup; see its logs.",
    }),
    { status: 503, headers: { "content-type": "application/problem+json", "retry-after": "5" } },
  );

// Deno Deploy registers cron jobs from the module's top level only, before the first request.
Deno.cron("postern background work", CRON_SCHEDULE, async () => {
  let deps: Deps;
  try {
    deps = (await ready()).deps;
  } catch {
    return; // logged by ready()
  }
  // Well under the minute between runs (Deno.cron never overlaps one job's runs anyway).
  await runScheduledWork(deps, { budgetMs: 45_000, worker: `deno-cron-${crypto.randomUUID()}` });
});

async function handle(request: Request, info: Deno.ServeHandlerInfo): Promise<Response> {
  const refused = refuseForbiddenMethod(request);
  if (refused) return refused;
  let serve: (request: Request) => Promise<Response>;
  try {
    serve = (await ready()).serve;
  } catch {
    return unavailable();
  }
  // SSE streams learn that the client has gone from the response body's cancellation.
  return await serve(withPeer(request, (info.remoteAddr as Deno.NetAddr).hostname));
}

const onDeploy = Boolean(env.DENO_DEPLOYMENT_ID);
Deno.serve({
  ...(onDeploy ? {} : { hostname: config.httpHost, port: config.httpPort }),
  onListen(addr) {
    const net = addr as Deno.NetAddr;
    logger.log("info", "server.listening", {
      url: `http://${net.hostname}:${net.port}`,
      runtime: "deno-deploy",
      hostname: net.hostname,
      port: net.port,
      version: API_VERSION,
      dns: config.dnsDohUrl || DEFAULT_DOH_URL,
    });
  },
  onError(error) {
    logger.log("error", "http.adapter_error", { error: String((error as Error)?.stack) });
    return new Response(
      JSON.stringify({ type: "about:blank", title: "Internal Server Error", status: 500 }),
      { status: 500, headers: { "content-type": "application/problem+json" } },
    );
  },
}, handle);
// Warm up: open the store and bootstrap at start, so the first request does not wait for it.
ready().catch(() => {});
