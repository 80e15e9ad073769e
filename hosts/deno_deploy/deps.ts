/**
 * The gateway's `Deps` on Deno Deploy, from the environment alone: the remote libSQL store
 * (hosts/deno_deploy/store.ts), DNS over HTTPS for every lookup (src/dns/doh.ts, with
 * POSTERN_DNS_DOH_URL or Cloudflare's public resolver), the outbound fetch that checks each
 * target's addresses (hosts/deno_deploy/outbound.ts) for webhooks and signed federation, the
 * API reference bundled as bytes (hosts/deno_deploy/assets.ts) and WebCrypto for everything
 * keyed by the master key. MIME is the edge port (src/mime/edge_port.ts: Web APIs only, the
 * same results as mailparser and nodemailer), on the event loop: no worker threads at the edge.
 */
import type { Config } from "../../src/config.ts";
import { SecretBox } from "../../src/crypto.ts";
import { type Deps, deriveJwtKey } from "../../src/deps.ts";
import { createDohResolver, DEFAULT_DOH_URL } from "../../src/dns/doh.ts";
import { type Logger, systemClock } from "../../src/ports.ts";
import { Vault } from "../../src/crypt/vault.ts";
import { EventBus } from "../../src/services/event_bus.ts";
import { edgeMimePort } from "../../src/mime/edge_port.ts";
import { bundledAssets } from "./assets.ts";
import { denoOutboundFetch } from "./outbound.ts";
import { openRemoteStore } from "./store.ts";

/** What must be set before anything is opened; every problem at once. */
export function missingSettings(config: Config): string[] {
  const problems: string[] = [];
  if (!config.masterKey) {
    problems.push("POSTERN_MASTER_KEY is required (a secret of 32+ characters; keep it safe)");
  }
  if (!config.databaseUrl) {
    problems.push(
      "POSTERN_DATABASE_URL is required: a remote libSQL database (libsql://, https://, wss://)",
    );
  }
  return problems;
}

export async function buildDenoDeployDeps(config: Config, logger: Logger): Promise<Deps> {
  const store = await openRemoteStore(config.databaseUrl!, config.databaseAuthToken);
  try {
    store.useVault(new Vault(store, config.masterKey!, config.encryptAtRest)); // src/crypt/
    const doh = createDohResolver({ url: config.dnsDohUrl || DEFAULT_DOH_URL });
    const outbound = denoOutboundFetch(doh.port);
    return {
      store,
      config,
      mime: edgeMimePort({
        limits: { maxParts: config.mimeMaxParts, maxHeaderBytes: config.mimeMaxHeaderBytes },
      }),
      clock: systemClock,
      logger,
      secrets: await SecretBox.fromMasterKey(config.masterKey!),
      jwtKey: await deriveJwtKey(config.masterKey!),
      bus: new EventBus(),
      dns: doh.port,
      federation: { dns: doh.port, fetch: outbound },
      outbound,
      assets: bundledAssets(),
    };
  } catch (e) {
    store.close();
    throw e;
  }
}
