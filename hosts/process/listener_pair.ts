/**
 * Starts one protocol's pair of bridge listeners: the plain port (which offers STARTTLS/STLS)
 * and the implicit-TLS port (RFC 8314: 993 for IMAP, 995 for POP3). A port of 0 leaves its
 * listener off, and the implicit-TLS one also stays off without a certificate. Each started
 * listener is logged; when one fails, those already started are closed before the error.
 */
import type { SecureContext } from "node:tls";
import type { TcpListener } from "../../bridge/net/tcp_server.ts";
import type { Logger } from "../../src/ports.ts";

export interface NamedListener {
  name: string;
  listener: TcpListener;
}

export async function startListenerPair(opts: {
  /** The plain listener's name; the implicit-TLS one is this plus "s" (imap/imaps). */
  protocol: string;
  plainPort: number;
  tlsPort: number;
  host: string;
  tls: SecureContext | undefined;
  logger: Logger;
  start: (port: number, implicitTls: boolean) => Promise<TcpListener>;
}): Promise<NamedListener[]> {
  const specs = [
    { name: opts.protocol, port: opts.plainPort, implicitTls: false },
    { name: `${opts.protocol}s`, port: opts.tlsPort, implicitTls: true },
  ].filter((s) => s.port > 0 && (!s.implicitTls || opts.tls));
  const started: NamedListener[] = [];
  try {
    for (const spec of specs) {
      const listener = await opts.start(spec.port, spec.implicitTls);
      started.push({ name: spec.name, listener });
      opts.logger.log("info", "bridge.listening", {
        protocol: spec.name,
        host: opts.host,
        port: listener.port,
      });
    }
  } catch (e) {
    for (const s of started) await s.listener.close();
    throw e;
  }
  return started;
}
