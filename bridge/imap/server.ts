/**
 * The IMAP listener: the only IMAP file that touches sockets. It reads command lines and the
 * literals they announce as raw octets (RFC 3501 section 4.3; a `+` continuation for
 * synchronising literals only after the session accepts the size, none for LITERAL+, RFC
 * 7888), feeds the pure session (session.ts), writes its responses, performs STARTTLS and
 * pushes IDLE updates as the backend reports changes. Idle clients are logged out after 30
 * minutes (section 5.4), except during IDLE; connection limits come from listenTcp.
 */
import type { SecureContext } from "node:tls";
import type { ByteBudget, ContentHold } from "../net/byte_budget.ts";
import type { Connection } from "../net/connection.ts";
import { listenTcp, type TcpListener } from "../net/tcp_server.ts";
import type { ImapBackend } from "./backend.ts";
import { tagged, untagged } from "./encode.ts";
import { MAX_LINE_OCTETS, tagOf } from "./parse.ts";
import { LITERAL_RE } from "./reader.ts";
import { type Action, ImapSession, type SessionConfig } from "./session.ts";
import { RecentClaims } from "./recent.ts";
import { StructureCache } from "./structure_cache.ts";

export interface ImapServerOptions {
  host: string;
  port: number;
  hostname: string;
  backend: ImapBackend;
  /** Certificate for STARTTLS (and implicit TLS when `implicitTls`). */
  tls?: SecureContext;
  implicitTls?: boolean;
  /** LOGIN/AUTHENTICATE without TLS (dev on loopback); otherwise LOGINDISABLED. */
  allowPlaintextAuth: boolean;
  maxMessageBytes: number;
  maxLiteralBytes?: number;
  maxConnections: number;
  maxPerIp: number;
  /** RFC 3501 section 5.4: at least 30 minutes. */
  idleMs: number;
  /** Shared by the listener's sessions; one is made per listener when absent. */
  structureCache?: StructureCache;
  /** \Recent claims shared by the listener's sessions; one is made per listener when absent. */
  recentClaims?: RecentClaims;
  /** Literal content held in memory, bounded in total and per IP (shared with SMTP). */
  contentBudget?: ByteBudget;
  onError?(error: unknown): void;
}

export const IMAP_IDLE_MS = 30 * 60 * 1000;

export async function startImapServer(options: ImapServerOptions): Promise<TcpListener> {
  const structureCache = options.structureCache ?? new StructureCache();
  const recentClaims = options.recentClaims ?? new RecentClaims();
  return await listenTcp({
    host: options.host,
    port: options.port,
    // Implicit TLS is done by upgrading each accepted socket (serveSession): Deno's node:tls
    // server ignores a `secureContext`, while the in-place upgrade STARTTLS uses works.
    maxConnections: options.maxConnections,
    maxPerIp: options.maxPerIp,
    idleMs: options.idleMs,
    busyLine: `* BYE [UNAVAILABLE] ${options.hostname} too many connections\r\n`,
    onError: options.onError,
    handle: (conn) => serveSession(conn, options, structureCache, recentClaims),
  });
}

async function serveSession(
  conn: Connection,
  options: ImapServerOptions,
  structureCache: StructureCache,
  recentClaims: RecentClaims,
): Promise<void> {
  if (options.implicitTls) {
    if (!options.tls) throw new Error("implicit TLS without a certificate");
    await conn.startTls(options.tls);
  }
  const config: SessionConfig = {
    hostname: options.hostname,
    tlsActive: conn.tls,
    tlsAvailable: options.tls !== undefined,
    allowPlaintextAuth: options.allowPlaintextAuth,
    maxMessageBytes: options.maxMessageBytes,
    maxLiteralBytes: options.maxLiteralBytes,
    structureCache,
    recentClaims,
  };
  const session = new ImapSession(config, options.backend, { clientIp: conn.remoteAddress });
  // Writes are chained so IDLE pushes and command responses never interleave.
  let writing: Promise<void> = Promise.resolve();
  const write = (data: string | Uint8Array | readonly Uint8Array[]) => {
    writing = writing.then(() => conn.write(data));
    return writing;
  };
  const perform = async (actions: Action[]): Promise<void> => {
    for (const action of actions) {
      if (action.type === "send") await write(action.data);
      else if (action.type === "startTls") {
        await writing;
        if (!options.tls) throw new Error("the session asked for TLS without a certificate");
        await conn.startTls(options.tls);
        session.tlsStarted();
      } else {
        await writing;
        conn.close();
        return;
      }
    }
  };
  session.writer = (data) => write(data);
  session.onPush = () => {
    session.poll().then(perform).catch((e) => options.onError?.(e));
  };
  conn.onIdle = () => {
    // RFC 2177: an IDLE client is active; it re-issues IDLE within 29 minutes.
    if (session.mode === "idle") return conn.setIdleTimeout(options.idleMs);
    void write("* BYE idle for too long\r\n").finally(() => conn.close());
  };

  try {
    await perform(session.greeting());
    outer: while (!conn.closed && session.mode !== "closed") {
      const read = await conn.readCommand(MAX_LINE_OCTETS);
      if (read.kind === "stopping") {
        // RFC 3501 section 7.1.5: BYE, the server is closing the connection. Only between
        // commands (or in IDLE): an APPEND whose literal is under way is read and answered.
        await write("* BYE server shutting down\r\n");
        conn.close();
        break;
      }
      if (read.kind === "closed") break;
      if (read.kind === "too_long") {
        await perform(session.lineTooLong());
        break;
      }
      if (session.mode === "sasl" || session.mode === "idle") {
        await perform(await session.handleLine(read.line));
        continue;
      }
      const parts: (string | Uint8Array)[] = [read.line];
      let soFar = 0;
      let hold: ContentHold | undefined;
      try {
        for (;;) {
          const m = LITERAL_RE.exec(parts[parts.length - 1] as string);
          if (!m) break;
          const size = Number(m[1]);
          const verdict = session.literal(read.line, size, m[2] === "+", soFar);
          if (!verdict.ok) {
            await write(verdict.reply);
            if (verdict.close) {
              await writing;
              conn.close();
              break outer;
            }
            continue outer;
          }
          // A large literal (an APPEND) is read only with its share of the content budget
          // (net/byte_budget.ts); a synchronising one is refused before a single octet is sent.
          const budget = options.contentBudget;
          if (budget && soFar + size > budget.initial) {
            hold ??= budget.open(conn.remoteAddress);
            if (!hold || !await hold.grow(soFar + size)) {
              const reply = tagged(
                tagOf(read.line) ?? "*",
                "NO",
                "server busy, try again later",
                "LIMIT",
              );
              if (verdict.continuation) {
                await write(reply);
                continue outer;
              }
              // RFC 7888 section 4: a LITERAL+ literal is already on its way.
              await write(reply + untagged("BYE server busy"));
              await writing;
              conn.close();
              break outer;
            }
          }
          if (verdict.continuation) await write(verdict.continuation);
          const bytes = await conn.readExact(size);
          if (!bytes) break outer;
          soFar += size;
          const next = await conn.readLine(MAX_LINE_OCTETS);
          if (next.kind === "closed") break outer;
          if (next.kind === "too_long") {
            await perform(session.lineTooLong());
            break outer;
          }
          parts.push(bytes, next.line);
        }
        await perform(await session.handle(parts));
      } finally {
        hold?.release();
      }
    }
    await writing;
  } finally {
    await session.end();
  }
}
