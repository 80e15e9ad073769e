/**
 * A TCP listener for the bridge's protocols: plain or implicit TLS, with limits on connections
 * in total and per client IP (extra connections get the protocol's "too busy" line and are
 * closed), and a registry so shutdown can close every open session.
 */
import type { SecureContext } from "node:tls";
import { accept } from "./acceptors.ts";
import { Connection, normalizeIp } from "./connection.ts";
import type { Transport } from "./transport.ts";

/** How long a client on an implicit-TLS port has to finish its handshake. */
const HANDSHAKE_MS = 30_000;

export interface ListenOptions {
  host: string;
  port: number;
  /** Implicit TLS (ports 465, 993, 995) when set. */
  tls?: SecureContext;
  maxConnections: number;
  maxPerIp: number;
  idleMs: number;
  /** Line sent to a client refused for too many connections, e.g. "421 4.7.0 too busy\r\n". */
  busyLine: string;
  handle(conn: Connection): Promise<void>;
  onError?(error: unknown): void;
}

export interface TcpListener {
  port: number;
  /**
   * Stops accepting, then asks every session to end at its next command boundary with the
   * protocol's shutdown reply (`Connection.shutdown`: SMTP 421 4.3.2, IMAP BYE, POP3 -ERR). A
   * command or transfer under way (SMTP DATA, an IMAP APPEND) finishes and gets its answer
   * first, for up to `graceMs`; sessions still open then are cut.
   */
  close(graceMs?: number): Promise<void>;
  readonly connections: number;
}

/**
 * How long a shutdown waits for transfers under way. Under Docker's 10-second stop timeout
 * (and systemd's 90), leaving the HTTP side and the store time to close after the bridge.
 */
export const SHUTDOWN_GRACE_MS = 5_000;

export async function listenTcp(options: ListenOptions): Promise<TcpListener> {
  const open = new Set<Connection>();
  const perIp = new Map<string, number>();
  let drained: (() => void) | undefined;

  const onConnection = (transport: Transport) => {
    const ip = normalizeIp(transport.remoteAddress);
    const count = perIp.get(ip) ?? 0;
    if (open.size >= options.maxConnections || count >= options.maxPerIp) {
      transport.attach({ data: () => {}, end: () => {} });
      transport.end(options.busyLine, false);
      return;
    }
    perIp.set(ip, count + 1);
    const conn = new Connection(transport, options.idleMs);
    open.add(conn);
    const done = () => {
      if (!open.delete(conn)) return;
      const n = (perIp.get(ip) ?? 1) - 1;
      if (n <= 0) perIp.delete(ip);
      else perIp.set(ip, n);
      if (open.size === 0) drained?.();
    };
    transport.onClose(done);
    // Implicit TLS (RFC 8314): the handshake comes first, on the accepted socket. Done here
    // rather than by a node:tls server because Deno's tls.createServer ignores `secureContext`.
    const ready = options.tls ? conn.startTls(options.tls, HANDSHAKE_MS) : Promise.resolve();
    ready.then(() => options.handle(conn)).catch((e) => options.onError?.(e)).finally(() => {
      conn.destroy();
      done();
    });
  };

  const acceptor = await accept({
    host: options.host,
    port: options.port,
    native: !options.tls,
    onConnection,
    onError: options.onError,
  });
  return {
    port: acceptor.port,
    get connections() {
      return open.size;
    },
    async close(graceMs = SHUTDOWN_GRACE_MS) {
      const stopped = acceptor.close();
      if (open.size > 0) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((resolve) => {
          drained = resolve;
          timer = setTimeout(resolve, graceMs);
          for (const conn of open) conn.shutdown();
        });
        clearTimeout(timer);
      }
      for (const conn of open) conn.destroy();
      await stopped;
    },
  };
}
