/**
 * The POP3 listener: the only POP3 file that touches sockets. It feeds the pure session
 * (session.ts) lines from the connection, writes its replies (batched while pipelined commands
 * are still buffered, RFC 2449 PIPELINING), performs STLS (RFC 2595) or runs on implicit TLS
 * (port 995), and enforces line, idle (RFC 1939 section 3: at least 10 minutes) and total-time
 * limits. A connection that drops without QUIT deletes nothing.
 */
import type { SecureContext } from "node:tls";
import type { Connection } from "../net/connection.ts";
import { listenTcp, type TcpListener } from "../net/tcp_server.ts";
import type { Pop3Backend } from "./backend.ts";
import { MAX_LINE_OCTETS } from "./parse.ts";
import { err } from "./reply.ts";
import { type Action, Pop3Session } from "./session.ts";

export interface Pop3ServerOptions {
  host: string;
  port: number;
  hostname: string;
  backend: Pop3Backend;
  /** Certificate for STLS (and implicit TLS when `implicitTls`). */
  tls?: SecureContext;
  implicitTls?: boolean;
  /** Allow USER/PASS and AUTH PLAIN before TLS (only for trusted networks). */
  allowPlaintextAuth: boolean;
  maxConnections: number;
  maxPerIp: number;
  idleMs: number;
  sessionMs: number;
  onError?(error: unknown): void;
}

export async function startPop3Server(options: Pop3ServerOptions): Promise<TcpListener> {
  return await listenTcp({
    host: options.host,
    port: options.port,
    // Implicit TLS is done by upgrading each accepted socket (serveSession): Deno's node:tls
    // createServer ignores `secureContext` and then fails every handshake (access_denied).
    maxConnections: options.maxConnections,
    maxPerIp: options.maxPerIp,
    idleMs: options.idleMs,
    busyLine: err("too many connections, try again later", "SYS/TEMP"),
    onError: options.onError,
    handle: (conn) => serveSession(conn, options),
  });
}

async function serveSession(conn: Connection, options: Pop3ServerOptions): Promise<void> {
  if (options.implicitTls) {
    if (!options.tls) throw new Error("implicit TLS without a certificate");
    // Called before the first await: no ClientHello byte can have been buffered and dropped.
    await conn.startTls(options.tls);
  }
  const session = new Pop3Session(
    {
      hostname: options.hostname,
      tlsAvailable: options.tls !== undefined,
      tlsActive: conn.tls,
      allowPlaintextAuth: options.allowPlaintextAuth,
    },
    options.backend,
    conn.remoteAddress,
  );
  const out: (string | Uint8Array)[] = [];
  const encoder = new TextEncoder();
  // One write per batch: a status line and its message body leave together.
  const flush = async () => {
    const parts = out.splice(0).map((d) => typeof d === "string" ? encoder.encode(d) : d);
    if (parts.length === 0) return;
    if (parts.length === 1) return await conn.write(parts[0]);
    const all = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.byteLength;
    }
    await conn.write(all);
  };
  const bye = (text: string) => () => void conn.write(err(text)).finally(() => conn.close());
  conn.onIdle = bye("idle too long, closing");
  const deadline = setTimeout(bye("session too long, closing"), options.sessionMs);

  const perform = async (actions: Action[]): Promise<void> => {
    for (const action of actions) {
      switch (action.type) {
        case "send":
          // Big message bodies go out at once; short lines wait for the pipelined batch.
          out.push(action.data);
          if (typeof action.data !== "string") await flush();
          break;
        case "startTls":
          await flush();
          if (!options.tls) throw new Error("the session asked for TLS without a certificate");
          await conn.startTls(options.tls);
          await perform(session.tlsStarted());
          break;
        case "close":
          await flush();
          conn.close();
          return;
      }
    }
  };

  try {
    await perform(session.greeting());
    await flush();
    while (!conn.closed && session.state !== "closed") {
      const read = await conn.readCommand(MAX_LINE_OCTETS);
      if (read.kind === "stopping") {
        // Not QUIT: no UPDATE state, so messages marked deleted stay (RFC 1939 section 6).
        out.push(err("server shutting down", "SYS/TEMP"));
        await flush();
        conn.close();
        break;
      }
      if (read.kind === "closed") break;
      await perform(
        read.kind === "too_long" ? session.lineTooLong() : await session.handleLine(read.line),
      );
      if (!conn.hasBufferedInput) await flush();
    }
    await flush();
  } finally {
    clearTimeout(deadline);
    await session.end();
  }
}
