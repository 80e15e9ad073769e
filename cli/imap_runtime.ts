/**
 * Starts the bridge's IMAP listeners (STARTTLS port, and implicit TLS when a port is configured
 * and a certificate exists) against the gateway: the credential is checked with the bridge key,
 * the rest runs with the account's own session token.
 */
import type { SecureContext } from "node:tls";
import type { FetchLike } from "../bridge/gateway_client.ts";
import { GatewayImapBackend } from "../bridge/imap/gateway_backend.ts";
import { IMAP_IDLE_MS, startImapServer } from "../bridge/imap/server.ts";
import { StructureCache } from "../bridge/imap/structure_cache.ts";
import type { TcpListener } from "../bridge/net/tcp_server.ts";
import type { Config } from "../src/config.ts";
import type { Logger } from "../src/ports.ts";

export async function startImapListeners(
  config: Config,
  gateway: { url: string; apiKey: string; fetcher?: FetchLike },
  tls: SecureContext | undefined,
  logger: Logger,
): Promise<{ name: string; listener: TcpListener }[]> {
  const onError = (error: unknown) =>
    logger.log("error", "imap.error", { error: String((error as Error)?.message ?? error) });
  const backend = new GatewayImapBackend(gateway.url, gateway.apiKey, gateway.fetcher, onError);
  const specs = [
    { name: "imap", port: config.imapPort, implicitTls: false },
    { name: "imaps", port: config.imapsPort, implicitTls: true },
  ].filter((s) => s.port > 0 && (!s.implicitTls || tls));
  const started: { name: string; listener: TcpListener }[] = [];
  // Both listeners share one structure cache (about 20,000 messages).
  const structureCache = new StructureCache();
  try {
    for (const spec of specs) {
      const listener = await startImapServer({
        host: config.bridgeHost,
        port: spec.port,
        hostname: config.hostname,
        backend,
        tls,
        implicitTls: spec.implicitTls,
        allowPlaintextAuth: config.imapAllowPlaintextAuth,
        maxMessageBytes: config.maxMessageBytes,
        maxLiteralBytes: config.imapMaxLiteralBytes,
        maxConnections: config.imapMaxConnections,
        maxPerIp: config.imapMaxConnectionsPerIp,
        idleMs: IMAP_IDLE_MS,
        structureCache,
        onError,
      });
      started.push({ name: spec.name, listener });
      logger.log("info", "bridge.listening", {
        protocol: spec.name,
        host: config.bridgeHost,
        port: listener.port,
      });
    }
  } catch (e) {
    for (const s of started) await s.listener.close();
    throw e;
  }
  return started;
}
