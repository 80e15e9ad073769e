/**
 * The gateway of one Worker isolate: the store on the D1 binding (with large bodies in the R2
 * bucket `BLOBS` when one is bound: r2_objects.ts), the `Deps` of the edge (DNS
 * over HTTPS, the Worker's outbound fetch, static assets from the ASSETS binding, the edge MIME
 * port, Web Crypto) and the app, made once per isolate and shared by its requests, cron runs and
 * email events. Sharing is correct because no write depends on in-process state (issue 16: every
 * write job is one D1 batch, its reads re-checked in SQL); the isolate keeps only caches, which
 * the store's change counter invalidates when another isolate writes.
 *
 * Setup runs before the first use in each isolate and is idempotent. A store set up before (the
 * case of nearly every isolate) is recognised by one query (`alreadySetUp`), sent before the app
 * is built so that its round trip to D1 overlaps that work; otherwise the full path runs: pending
 * migrations (each one D1 batch, src/store/migrate.ts), the check that the master key opens the
 * store's sealed keys, then the first domain and its administrator when missing
 * (src/services/bootstrap.ts, as `postern init` and the Deno Deploy entry). A failed setup is not
 * kept: the next request tries again.
 */
import { Vault } from "../../src/crypt/vault.ts";
import { createApp } from "../../src/app.ts";
import { SecretBox } from "../../src/crypto.ts";
import { type Deps, deriveJwtKey } from "../../src/deps.ts";
import { createDohResolver } from "../../src/dns/doh.ts";
import { fetcherAssets } from "../../src/http/fetcher_assets.ts";
import { jsonLogger, systemClock } from "../../src/ports.ts";
import { EventBus } from "../../src/services/event_bus.ts";
import {
  alreadySetUp,
  bootstrapInstance,
  masterKeyOpensStore,
} from "../../src/services/bootstrap.ts";
import { openD1Store } from "../../src/store/d1_client.ts";
import { migrate } from "../../src/store/migrate.ts";
import { MIGRATIONS } from "../../src/store/migrations/index.ts";
import { edgeMimePort } from "../../src/mime/edge_port.ts";
import { workerFetch } from "./outbound.ts";
import { r2Objects } from "./r2_objects.ts";
import { type WorkerEnv, type WorkerSettings, workerSettings } from "./env.ts";

export interface Gateway {
  settings: WorkerSettings;
  deps: Deps;
  app: ReturnType<typeof createApp>;
}

/** One gateway per D1 binding object, i.e. per isolate (and per test Miniflare). */
const isolates = new WeakMap<object, Promise<Gateway>>();

async function open(env: WorkerEnv): Promise<Gateway> {
  const settings = workerSettings(env);
  const { config, masterKey } = settings;
  // Worker logs (`wrangler tail`, Workers Logs) take console output; JSON lines as elsewhere.
  const logger = jsonLogger(config.logLevel, (line) => console.log(line));
  for (const warning of settings.warnings) logger.log("warn", "worker.setting", { warning });
  const store = await openD1Store(env.DB, {
    migrate: false,
    objects: env.BLOBS ? r2Objects(env.BLOBS) : undefined,
  });
  const secrets = await SecretBox.fromMasterKey(masterKey);
  store.useVault(new Vault(store, masterKey, config.encryptAtRest)); // src/crypt/: at-rest keys
  const input = {
    domain: settings.domain,
    adminAddress: settings.admin,
    adminPassword: settings.adminPassword,
  };
  const setUp = alreadySetUp({ store, secrets }, input, MIGRATIONS);
  const doh = createDohResolver({ url: config.dnsDohUrl });
  const outbound = workerFetch(doh.port);
  const deps: Deps = {
    store,
    config,
    mime: edgeMimePort({
      limits: { maxParts: config.mimeMaxParts, maxHeaderBytes: config.mimeMaxHeaderBytes },
    }),
    clock: systemClock,
    logger,
    secrets,
    jwtKey: await deriveJwtKey(masterKey),
    bus: new EventBus(),
    dns: doh.port,
    federation: { dns: doh.port, fetch: outbound },
    outbound,
    assets: env.ASSETS ? fetcherAssets(env.ASSETS) : undefined,
  };
  // Built while the set-up query is on its way; it reads nothing from the store.
  const app = createApp(deps);
  if (await setUp) return { settings, deps, app };
  await migrate(store.client, MIGRATIONS);
  if (!await masterKeyOpensStore(store, secrets)) {
    throw new Error(
      "POSTERN_MASTER_KEY does not open the keys sealed in this D1 database: every node of one " +
        "store needs the master key that made it",
    );
  }
  const outcome = await bootstrapInstance(deps, input);
  if (outcome.domainCreated || outcome.adminCreated) {
    logger.log("info", "worker.setup", {
      domain: settings.domain,
      admin: settings.admin,
      domainCreated: outcome.domainCreated,
      adminCreated: outcome.adminCreated,
    });
  }
  return { settings, deps, app };
}

/** This isolate's gateway for `env`, set up on first use. */
export function gatewayFor(env: WorkerEnv): Promise<Gateway> {
  const key = (env.DB ?? env) as object;
  let gateway = isolates.get(key);
  if (!gateway) {
    gateway = open(env);
    isolates.set(key, gateway);
    gateway.catch(() => isolates.delete(key));
  }
  return gateway;
}
