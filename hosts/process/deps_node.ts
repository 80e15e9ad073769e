/**
 * Builds the gateway's `Deps` for Deno and Bun from a configuration and an open store, with the
 * SSRF-guarded outbound fetch for webhooks (hosts/process/outbound_http.ts) and the static assets from
 * node_modules (hosts/process/static_assets.ts).
 */
import type { Config } from "../../src/config.ts";
import { createHash } from "node:crypto";
import { SecretBox, useNativeSha256 } from "../../src/crypto.ts";
import { type Deps, deriveJwtKey } from "../../src/deps.ts";
import { jsonLogger, type Logger, type MimePort, systemClock } from "../../src/ports.ts";
import { Vault } from "../../src/crypt/vault.ts";
import { nativeAead } from "./native_aead.ts";
import { EventBus } from "../../src/services/event_bus.ts";
import type { Store } from "../../src/store/store.ts";
import { edgeMimePort } from "../../src/mime/edge_port.ts";
import { mimeLimits } from "./mime_limits.ts";
import { dnsPort, outboundFetch } from "./outbound_http.ts";
import { nodeModulesAssets } from "./static_assets.ts";
import { fileSnapshotOf } from "./file_snapshot.ts";

export async function buildDeps(
  config: Config,
  store: Store,
  masterKey: string,
  logger: Logger = jsonLogger(config.logLevel, (line) => console.error(line)),
  /** The MIME port to use; default: on this thread (short-lived commands, tests). */
  mime: MimePort = edgeMimePort({ limits: mimeLimits(config) }),
): Promise<Deps> {
  // The runtime's SHA-256 for the delivery path's digests (src/crypto.ts).
  useNativeSha256((data) => createHash("sha256").update(data).digest("hex"));
  // Encryption at rest (src/crypt/): the store opens sealed rows with keys the master key unwraps,
  // in the host's native AES-GCM on the calling thread (native_aead.ts).
  store.useVault(new Vault(store, masterKey, config.encryptAtRest, nativeAead()));
  return {
    store,
    config,
    mime,
    clock: systemClock,
    logger,
    secrets: await SecretBox.fromMasterKey(masterKey),
    jwtKey: await deriveJwtKey(masterKey),
    bus: new EventBus(),
    outbound: outboundFetch(config),
    assets: nodeModulesAssets(),
    dns: dnsPort(config),
    backupSnapshot: fileSnapshotOf(store),
  };
}
