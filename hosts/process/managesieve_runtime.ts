/**
 * Starts the bridge's ManageSieve listener (RFC 5804, port 4190 with STARTTLS) against the
 * gateway's Sieve API: the credential is checked with the bridge key, the scripts are then
 * managed with the account's own session token. No implicit-TLS port: RFC 5804 defines none.
 */
import type { SecureContext } from "node:tls";
import type { FetchLike } from "../../bridge/gateway_client.ts";
import { GatewaySieveBackend } from "../../bridge/managesieve/gateway_backend.ts";
import { startManageSieveServer } from "../../bridge/managesieve/server.ts";
import type { Config } from "../../src/config.ts";
import type { Logger } from "../../src/ports.ts";
import type { NamedListener } from "./listener_pair.ts";

export async function startManageSieveListener(
  config: Config,
  gateway: { url: string; apiKey: string; fetcher?: FetchLike },
  tls: SecureContext | undefined,
  logger: Logger,
): Promise<NamedListener[]> {
  if (config.manageSievePort === 0) return [];
  const listener = await startManageSieveServer({
    host: config.bridgeHost,
    port: config.manageSievePort,
    backend: new GatewaySieveBackend(gateway.url, gateway.apiKey, gateway.fetcher),
    tls,
    allowPlaintextAuth: config.manageSieveAllowPlaintextAuth,
    maxConnections: config.manageSieveMaxConnections,
    maxPerIp: config.manageSieveMaxConnectionsPerIp,
    // A filter editor stays connected while its user edits; 30 minutes as IMAP's autologout.
    idleMs: 30 * 60_000,
    sessionMs: 4 * 60 * 60_000,
    onError: (error: unknown) =>
      logger.log("error", "managesieve.error", {
        error: String((error as Error)?.message ?? error),
      }),
  });
  logger.log("info", "bridge.listening", {
    protocol: "managesieve",
    host: config.bridgeHost,
    port: listener.port,
  });
  return [{ name: "managesieve", listener }];
}
