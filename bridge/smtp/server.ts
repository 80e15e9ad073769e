/**
 * The SMTP listener: the only SMTP file that touches sockets. It feeds the pure session
 * (session.ts) lines and content octets read from the connection, writes its replies (batched
 * while the client's pipelined commands are still buffered, RFC 2920), performs STARTTLS and the
 * early-talker pause when the session asks, and enforces idle and total-time limits.
 */
import type { SecureContext } from "node:tls";
import type { ByteBudget } from "../net/byte_budget.ts";
import { Connection } from "../net/connection.ts";
import { listenTcp, type TcpListener } from "../net/tcp_server.ts";
import type { SmtpBackend } from "./backend.ts";
import { MAX_LINE_OCTETS } from "./parse.ts";
import { SmtpSession } from "./session.ts";
import type { Action, SessionConfig } from "./session_types.ts";

export interface SmtpServerOptions {
  host: string;
  port: number;
  mode: "mx" | "submission";
  hostname: string;
  backend: SmtpBackend;
  /** Certificate for STARTTLS (and implicit TLS when `implicitTls`). */
  tls?: SecureContext;
  implicitTls?: boolean;
  requireTlsForAuth: boolean;
  maxMessageBytes: number;
  maxRecipients: number;
  maxConnections: number;
  maxPerIp: number;
  /** RFC 5321 section 4.5.3.2.7: a server should wait at least 5 minutes for a command. */
  idleMs: number;
  /** The longest a whole session may last. */
  sessionMs: number;
  /** Early-talker pause for unknown MX clients (ms); 0 disables it. */
  earlyTalkerMs: number;
  /** Clients exempt from the early-talker pause (e.g. loopback, your own relays). */
  trustedIps?: string[];
  /** Message content held in memory, bounded in total and per IP (shared by listeners). */
  contentBudget?: ByteBudget;
  onError?(error: unknown): void;
}

export async function startSmtpServer(options: SmtpServerOptions): Promise<TcpListener> {
  return await listenTcp({
    host: options.host,
    port: options.port,
    tls: options.implicitTls ? options.tls : undefined,
    maxConnections: options.maxConnections,
    maxPerIp: options.maxPerIp,
    idleMs: options.idleMs,
    busyLine: `421 4.7.0 ${options.hostname} too many connections, try again later\r\n`,
    onError: options.onError,
    handle: (conn) => serveSession(conn, options),
  });
}

async function serveSession(conn: Connection, options: SmtpServerOptions): Promise<void> {
  const trusted = options.trustedIps?.includes(conn.remoteAddress) ?? false;
  const config: SessionConfig = {
    hostname: options.hostname,
    mode: options.mode,
    tlsActive: conn.tls,
    tlsAvailable: options.tls !== undefined,
    requireTlsForAuth: options.requireTlsForAuth,
    maxMessageBytes: options.maxMessageBytes,
    maxRecipients: options.maxRecipients,
    earlyTalkerPause: options.mode === "mx" && !trusted ? options.earlyTalkerMs : 0,
  };
  const budget = options.contentBudget;
  const session = new SmtpSession(config, options.backend, {
    clientIp: conn.remoteAddress,
    budget: budget && { open: () => budget.open(conn.remoteAddress) },
  });
  let out = "";
  const flush = async () => {
    if (out) {
      const text = out;
      out = "";
      await conn.write(text);
    }
  };
  conn.onIdle = () => conn.close(`421 4.4.2 ${options.hostname} idle too long, closing\r\n`);
  conn.setDeadline(
    options.sessionMs,
    () => conn.close(`421 4.4.2 ${options.hostname} session too long, closing\r\n`),
  );

  const perform = async (actions: Action[]): Promise<void> => {
    for (const action of actions) {
      switch (action.type) {
        case "reply":
          out += action.text;
          break;
        case "startTls":
          await flush();
          if (!options.tls) throw new Error("the session asked for TLS without a certificate");
          await conn.startTls(options.tls);
          await perform(session.tlsStarted());
          break;
        case "pause": {
          await flush();
          await new Promise((r) => setTimeout(r, action.ms));
          await perform(session.afterPause(conn.hasBufferedInput));
          break;
        }
        case "close": {
          // The last replies go out with the FIN, in one write.
          const text = out;
          out = "";
          conn.close(text, { released: action.clientQuit });
          return;
        }
        case "startData":
        case "expectBdat":
          break; // the loop below reads by session.mode
      }
    }
  };

  await perform(session.greeting());
  await flush();
  while (!conn.closed && session.mode !== "closed") {
    if (session.mode === "data" || session.mode === "bdat") {
      await flush();
      const chunk = await conn.readChunk();
      if (!chunk) break;
      const result = await session.handleData(chunk);
      if (result.consumed < chunk.byteLength) conn.unread(chunk.subarray(result.consumed));
      await perform(result.actions);
    } else {
      const read = await conn.readCommand(MAX_LINE_OCTETS);
      if (read.kind === "stopping") {
        // RFC 5321 section 3.8: 421 when the service must shut down. Only between commands:
        // a DATA/BDAT transfer under way was read to its end and answered (the reply may
        // still be in `out`, held back for a pipelined batch) before we get here.
        const text = out;
        out = "";
        conn.close(`${text}421 4.3.2 ${options.hostname} Service shutting down\r\n`);
        break;
      }
      if (read.kind === "closed") break;
      await perform(
        read.kind === "too_long"
          ? await session.lineTooLong()
          : await session.handleLine(read.line),
      );
    }
    // Pipelining (RFC 2920): reply in one write once the client's batch is consumed.
    if (!conn.hasBufferedInput) await flush();
  }
  session.tx = undefined; // a transaction cut off by the client gives its budget share back
  await flush();
}
