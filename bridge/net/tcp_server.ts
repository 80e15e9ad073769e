/**
 * A TCP listener for the bridge's protocols: plain or implicit TLS, with limits on connections
 * in total and per client IP (extra connections get the protocol's "too busy" line and are
 * closed), and a registry so shutdown can close every open session.
 */
import { createServer as createPlainServer, type Server, type Socket } from "node:net";
import type { SecureContext } from "node:tls";
import { Connection, normalizeIp } from "./connection.ts";

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

  const onSocket = (socket: Socket) => {
    socket.setNoDelay(true);
    const ip = normalizeIp(socket.remoteAddress ?? "unknown");
    const count = perIp.get(ip) ?? 0;
    if (open.size >= options.maxConnections || count >= options.maxPerIp) {
      socket.on("error", () => {});
      socket.end(options.busyLine);
      setTimeout(() => socket.destroy(), 1000).unref?.();
      return;
    }
    perIp.set(ip, count + 1);
    const conn = new Connection(socket, options.idleMs);
    open.add(conn);
    const done = () => {
      if (!open.delete(conn)) return;
      const n = (perIp.get(ip) ?? 1) - 1;
      if (n <= 0) perIp.delete(ip);
      else perIp.set(ip, n);
      if (open.size === 0) drained?.();
    };
    socket.once("close", done);
    // Implicit TLS (RFC 8314): the handshake comes first, on the accepted socket. Done here
    // rather than by a node:tls server because Deno's tls.createServer ignores `secureContext`.
    const ready = options.tls ? conn.startTls(options.tls, HANDSHAKE_MS) : Promise.resolve();
    ready.then(() => options.handle(conn)).catch((e) => options.onError?.(e)).finally(() => {
      conn.destroy();
      done();
    });
  };

  const server: Server = createPlainServer(onSocket);
  server.on("error", (e) => options.onError?.(e));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : options.port,
    get connections() {
      return open.size;
    },
    async close(graceMs = SHUTDOWN_GRACE_MS) {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
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
