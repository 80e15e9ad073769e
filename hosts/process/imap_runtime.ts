/**
 * Starts the bridge's IMAP listeners (STARTTLS port, and implicit TLS when a port is configured
 * and a certificate exists) against the gateway: the credential is checked with the bridge key,
 * the rest runs with the account's own session token.
 */
import type { SecureContext } from "node:tls";
import type { FetchLike } from "../../bridge/gateway_client.ts";
import { GatewayImapBackend } from "../../bridge/imap/gateway_backend.ts";
import { IMAP_IDLE_MS, startImapServer } from "../../bridge/imap/server.ts";
import { RecentClaims } from "../../bridge/imap/recent.ts";
import { StructureCache } from "../../bridge/imap/structure_cache.ts";
import type { ByteBudget } from "../../bridge/net/byte_budget.ts";
import type { Config } from "../../src/config.ts";
import type { Logger } from "../../src/ports.ts";
import { type NamedListener, startListenerPair } from "./listener_pair.ts";

export async function startImapListeners(
  config: Config,
  gateway: { url: string; apiKey: string; fetcher?: FetchLike },
  tls: SecureContext | undefined,
  logger: Logger,
  /** The bridge's content budget, shared with SMTP (APPEND literals count in it). */
  contentBudget?: ByteBudget,
): Promise<NamedListener[]> {
  const onError = (error: unknown) =>
    logger.log("error", "imap.error", { error: String((error as Error)?.message ?? error) });
  const backend = new GatewayImapBackend(gateway.url, gateway.apiKey, gateway.fetcher, onError);
  // Both listeners share one structure cache (about 20,000 messages).
  const structureCache = new StructureCache();
  // And one set of \Recent claims, so a message is recent in one session only (recent.ts).
  const recentClaims = new RecentClaims();
  return await startListenerPair({
    protocol: "imap",
    plainPort: config.imapPort,
    tlsPort: config.imapsPort,
    host: config.bridgeHost,
    tls,
    logger,
    start: (port, implicitTls) =>
      startImapServer({
        host: config.bridgeHost,
        port,
        hostname: config.hostname,
        backend,
        tls,
        implicitTls,
        allowPlaintextAuth: config.imapAllowPlaintextAuth,
        maxMessageBytes: config.maxMessageBytes,
        maxLiteralBytes: config.imapMaxLiteralBytes,
        maxConnections: config.imapMaxConnections,
        maxPerIp: config.imapMaxConnectionsPerIp,
        idleMs: IMAP_IDLE_MS,
        structureCache,
        recentClaims,
        contentBudget,
        onError,
      }),
  });
}
