/**
 * Starts the bridge's POP3 listeners (STLS port, and implicit TLS when a port is configured and
 * a certificate exists) against the gateway: the credential is checked with the bridge key, the
 * rest runs with the account's own session token.
 */
import type { SecureContext } from "node:tls";
import type { FetchLike } from "../bridge/gateway_client.ts";
import type { TcpListener } from "../bridge/net/tcp_server.ts";
import { GatewayPop3Backend } from "../bridge/pop3/gateway_backend.ts";
import { startPop3Server } from "../bridge/pop3/server.ts";
import type { Config } from "../src/config.ts";
import type { Logger } from "../src/ports.ts";

export async function startPop3Listeners(
  config: Config,
  gateway: { url: string; apiKey: string; fetcher?: FetchLike },
  tls: SecureContext | undefined,
  logger: Logger,
): Promise<{ name: string; listener: TcpListener }[]> {
  const backend = new GatewayPop3Backend(gateway.url, gateway.apiKey, gateway.fetcher);
  const specs = [
    { name: "pop3", port: config.pop3Port, implicitTls: false },
    { name: "pop3s", port: config.pop3sPort, implicitTls: true },
  ].filter((s) => s.port > 0 && (!s.implicitTls || tls));
  const started: { name: string; listener: TcpListener }[] = [];
  try {
    for (const spec of specs) {
      const listener = await startPop3Server({
        host: config.bridgeHost,
        port: spec.port,
        hostname: config.hostname,
        backend,
        tls,
        implicitTls: spec.implicitTls,
        allowPlaintextAuth: config.pop3AllowPlaintextAuth,
        maxConnections: config.pop3MaxConnections,
        maxPerIp: config.pop3MaxConnectionsPerIp,
        // RFC 1939 section 3: the autologout timer is at least 10 minutes.
        idleMs: 10 * 60_000,
        sessionMs: 2 * 60 * 60_000,
        onError: (error: unknown) =>
          logger.log("error", "pop3.error", { error: String((error as Error)?.message ?? error) }),
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
