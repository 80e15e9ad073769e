/**
 * Everything the gateway needs from outside, passed to `createApp` by the entry point: the
 * store, configuration, ports and the keys derived from the master key.
 */
import type { SnapshotReader } from "./backup/snapshot.ts";
import type { Config } from "./config.ts";
import type { SecretBox } from "./crypto.ts";
import type { EventBus } from "./services/event_bus.ts";
import type { Metrics } from "./services/metrics.ts";
import type {
  AssetPort,
  Clock,
  DnsPort,
  FederationPorts,
  FetchPort,
  Logger,
  MimePort,
  RoutePort,
} from "./ports.ts";
import type { Store } from "./store/store.ts";

export interface Deps {
  store: Store;
  config: Config;
  mime: MimePort;
  clock: Clock;
  logger: Logger;
  /** Seals secrets at rest (TOTP seeds, private keys). */
  secrets: SecretBox;
  /** HMAC key for access tokens (derived from the master key). */
  jwtKey: Uint8Array;
  /** In-process change notifications (SSE); other processes are seen by polling events. */
  bus: EventBus;
  /**
   * DNS for the live check of a domain's records (`GET /v1/domains/{domain}`); absent: the
   * federation port's, else the API answers without a check.
   */
  dns?: DnsPort;
  /** DNS and outbound HTTPS for federation (docs/federation.md); absent: federation is off. */
  federation?: FederationPorts;
  /**
   * Outbound HTTP(S) for webhooks, pinned to the checked address; absent (an edge runtime):
   * the URL and the DNS port's answers are checked, then the platform's `fetch` is used.
   */
  outbound?: FetchPort;
  /** The bridge's outbound route test (SHARP/1.3 by SRV); absent: submission does not ask. */
  routes?: RoutePort;
  /**
   * This process's metrics (`GET /metrics`); the host passes one to add its own gauges (open
   * protocol sessions); absent: `createApp` makes one.
   */
  metrics?: Metrics;
  /**
   * Opens a consistent read of the whole store for `GET /v1/admin/backup` (src/backup/
   * snapshot.ts); absent: a read transaction of the store's engine (D1: paged statements).
   */
  backupSnapshot?: () => Promise<SnapshotReader>;
  /** Static files (the API reference's renderer); absent: `/docs` says it has no renderer. */
  assets?: AssetPort;
}

/** Derives the JWT signing key from the master key (HKDF-SHA-256, its own purpose label). */
export async function deriveJwtKey(masterKey: string): Promise<Uint8Array> {
  const enc = new TextEncoder();
  const material = await crypto.subtle.importKey("raw", enc.encode(masterKey), "HKDF", false, [
    "deriveBits",
  ]);
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: enc.encode("postern jwt v1") },
    material,
    256,
  );
  return new Uint8Array(bits);
}
