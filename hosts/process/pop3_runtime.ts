/**
 * Starts the bridge's POP3 listeners (STLS port, and implicit TLS when a port is configured and
 * a certificate exists) against the gateway: the credential is checked with the bridge key, the
 * rest runs with the account's own session token.
 */
import type { SecureContext } from "node:tls";
import type { FetchLike } from "../../bridge/gateway_client.ts";
import { GatewayPop3Backend } from "../../bridge/pop3/gateway_backend.ts";
import { startPop3Server } from "../../bridge/pop3/server.ts";
import type { Config } from "../../src/config.ts";
import type { Logger } from "../../src/ports.ts";
import { type NamedListener, startListenerPair } from "./listener_pair.ts";

export async function startPop3Listeners(
  config: Config,
  gateway: { url: string; apiKey: string; fetcher?: FetchLike },
  tls: SecureContext | undefined,
  logger: Logger,
): Promise<NamedListener[]> {
  const backend = new GatewayPop3Backend(gateway.url, gateway.apiKey, gateway.fetcher);
  return await startListenerPair({
    protocol: "pop3",
    plainPort: config.pop3Port,
    tlsPort: config.pop3sPort,
    host: config.bridgeHost,
    tls,
    logger,
    start: (port, implicitTls) =>
      startPop3Server({
        host: config.bridgeHost,
        port,
        hostname: config.hostname,
        backend,
        tls,
        implicitTls,
        allowPlaintextAuth: config.pop3AllowPlaintextAuth,
        maxConnections: config.pop3MaxConnections,
        maxPerIp: config.pop3MaxConnectionsPerIp,
        // RFC 1939 section 3: the autologout timer is at least 10 minutes.
        idleMs: 10 * 60_000,
        sessionMs: 2 * 60 * 60_000,
        onError: (error: unknown) =>
          logger.log("error", "pop3.error", { error: String((error as Error)?.message ?? error) }),
      }),
  });
}
