/**
 * The SHARP/1.3 listener: the only SHARP file that touches sockets. Plain TCP (SHARP/1.3 has no
 * TLS), on the bridge's shared listener (connection limits in total and per IP). It splits input
 * into lines (parse.ts: 1 MiB per line, 10 MiB per connection), feeds them to the pure session
 * one at a time, writes each reply, tells the session when the client sent more before a reply
 * was written (lock-step), and closes after the final OK or any ERROR. Idle and total-time
 * limits close silent or endless connections.
 */
import type { WorkerLogger } from "../smtp_out/deliver.ts";
import type { Connection } from "../net/connection.ts";
import { listenTcp, type TcpListener } from "../net/tcp_server.ts";
import type { ReplayTable } from "./hashcash.ts";
import { formatReply, LineSplitter, type SharpReply } from "./parse.ts";
import { type SharpBackend, SharpSession } from "./session.ts";

export interface SharpServerOptions {
  host: string;
  port: number;
  backend: SharpBackend;
  /** Least hashcash bits accepted (SHARP's "good" level is 18). */
  minBits: number;
  replay: ReplayTable;
  maxConnections: number;
  maxPerIp: number;
  /** Silence after which a connection is dropped. */
  idleMs: number;
  /** The longest one connection (one message) may last. */
  sessionMs: number;
  logger?: WorkerLogger;
  now?: () => number;
  onError?(error: unknown): void;
}

export async function startSharpServer(options: SharpServerOptions): Promise<TcpListener> {
  return await listenTcp({
    host: options.host,
    port: options.port,
    maxConnections: options.maxConnections,
    maxPerIp: options.maxPerIp,
    idleMs: options.idleMs,
    busyLine: formatReply({
      type: "ERROR",
      message: "Too many connections, try again later",
      code: 451,
    }),
    onError: options.onError,
    handle: (conn) => serveSession(conn, options),
  });
}

async function serveSession(conn: Connection, options: SharpServerOptions): Promise<void> {
  const session = new SharpSession(
    { minBits: options.minBits, replay: options.replay, now: options.now },
    options.backend,
    conn.remoteAddress,
  );
  const splitter = new LineSplitter();
  const send = async (reply: SharpReply) => {
    await conn.write(formatReply(reply));
    if (reply.type === "ERROR") {
      options.logger?.log("info", "sharp.refused", {
        clientIp: conn.remoteAddress,
        code: reply.code,
        message: reply.message,
      });
    }
    if (session.closed) conn.close();
  };
  conn.onIdle = () => conn.close();
  const deadline = setTimeout(() => conn.close(), options.sessionMs);
  try {
    while (!session.closed && !conn.closed) {
      const next = splitter.next();
      if (!next) {
        const chunk = await conn.readChunk();
        if (!chunk) break;
        if (splitter.push(chunk) === "overflow") await send(session.overflow());
        continue;
      }
      if (next.kind !== "line") {
        await send(next.kind === "too_long" ? session.lineTooLong() : session.overflow());
        continue;
      }
      let reply = await session.handleLine(next.line);
      // Lock-step: input that arrived before this reply was written was sent without waiting.
      if (splitter.pending || conn.hasBufferedInput) reply = session.earlyInput() ?? reply;
      if (reply.type === "OK" && reply.message === "Email processed") {
        options.logger?.log("info", "sharp.received", { clientIp: conn.remoteAddress });
      }
      await send(reply);
    }
  } finally {
    clearTimeout(deadline);
    session.finish();
  }
}
