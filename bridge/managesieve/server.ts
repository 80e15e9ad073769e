/**
 * The ManageSieve listener (RFC 5804; IANA port 4190): the only ManageSieve file that touches
 * sockets. It assembles each command from its lines and literals as bytes (strings are UTF-8,
 * decoded strictly by parse.ts, so a name's bad octets are seen, not replaced), bounds every
 * part — line length, each literal by what the session allows (a script's size once
 * authenticated), the octets dropped from a refused literal — and carries out the session's
 * actions: replies, the STARTTLS upgrade (section 2.2), close. Idle and total-time limits end
 * a session with BYE.
 */
import type { SecureContext } from "node:tls";
import { joinParts } from "../../schemas/bridge.ts";
import type { Connection } from "../net/connection.ts";
import { listenTcp, type TcpListener } from "../net/tcp_server.ts";
import type { SieveBackend } from "./backend.ts";
import { literalAtEnd, MAX_LINE_OCTETS } from "./parse.ts";
import { bye } from "./reply.ts";
import { type Action, ManageSieveSession } from "./session.ts";

export interface ManageSieveServerOptions {
  host: string;
  port: number;
  backend: SieveBackend;
  /** Certificate for STARTTLS. */
  tls?: SecureContext;
  /** Allow AUTHENTICATE before STARTTLS (only for trusted networks). */
  allowPlaintextAuth: boolean;
  maxConnections: number;
  maxPerIp: number;
  idleMs: number;
  sessionMs: number;
  onError?(error: unknown): void;
}

/**
 * How many octets of a literal over the limit are read and dropped so the client gets a NO
 * and can go on; a literal announced larger than the limit plus this ends the session.
 */
export const DISCARD_OCTETS = 1024 * 1024;

export async function startManageSieveServer(
  options: ManageSieveServerOptions,
): Promise<TcpListener> {
  return await listenTcp({
    host: options.host,
    port: options.port,
    maxConnections: options.maxConnections,
    maxPerIp: options.maxPerIp,
    idleMs: options.idleMs,
    busyLine: bye("too many connections, try again later", "TRYLATER"),
    onError: options.onError,
    handle: (conn) => serveSession(conn, options),
  });
}

type Read =
  | { kind: "command"; bytes: Uint8Array }
  | { kind: "too_long" }
  | { kind: "literal_too_large"; command: string; fatal: boolean }
  | { kind: "closed" }
  | { kind: "stopping" };

async function serveSession(conn: Connection, options: ManageSieveServerOptions): Promise<void> {
  const session = new ManageSieveSession(
    {
      tlsAvailable: options.tls !== undefined,
      tlsActive: conn.tls,
      allowPlaintextAuth: options.allowPlaintextAuth,
    },
    options.backend,
    conn.remoteAddress,
  );
  let out = "";
  const flush = async () => {
    if (!out) return;
    const data = out;
    out = "";
    await conn.write(data);
  };
  const closeWith = (text: string) => () => conn.close(bye(text));
  conn.onIdle = closeWith("idle too long, closing");
  conn.setDeadline(options.sessionMs, closeWith("session too long, closing"));

  const perform = async (actions: Action[]): Promise<void> => {
    for (const action of actions) {
      switch (action.type) {
        case "send":
          out += action.data;
          break;
        case "startTls":
          await flush();
          if (!options.tls) throw new Error("the session asked for TLS without a certificate");
          await conn.startTls(options.tls);
          await perform(await session.tlsStarted());
          break;
        case "close":
          await flush();
          conn.close(undefined, { released: true });
          return;
      }
    }
  };

  try {
    await perform(await session.greeting());
    await flush();
    while (!conn.closed && session.state !== "closed") {
      const read = await readCommand(conn, session.literalLimit);
      if (read.kind === "closed") break;
      if (read.kind === "stopping") {
        conn.close(bye("server shutting down, try again later", "TRYLATER"));
        break;
      }
      if (read.kind === "literal_too_large" && read.fatal) {
        await flush();
        conn.close(bye("literal too large"));
        break;
      }
      await perform(
        read.kind === "command"
          ? await session.handleCommand(read.bytes)
          : read.kind === "too_long"
          ? session.lineTooLong()
          : session.literalTooLarge(read.command),
      );
      if (!conn.hasBufferedInput) await flush();
    }
    await flush();
  } finally {
    await session.end();
  }
}

const CRLF = new Uint8Array([13, 10]);

/**
 * One command: a line, and while a line ends with a literal announcement, the literal's octets
 * and the line that continues after them (RFC 5804 section 4).
 */
async function readCommand(conn: Connection, literalLimit: number): Promise<Read> {
  const parts: Uint8Array[] = [];
  let lineOctets = 0;
  let literalOctets = 0;
  let dropping: string | undefined;
  for (let first = true;; first = false) {
    const line = await readLine(conn, MAX_LINE_OCTETS - lineOctets, first);
    if (line === "closed" || line === "stopping" || line === "too_long") return { kind: line };
    lineOctets += line.byteLength;
    const mark = literalAtEnd(line);
    if (dropping === undefined) parts.push(line);
    if (!mark) break;
    const command = dropping ?? commandName(parts[0]);
    literalOctets += mark.size;
    if (dropping !== undefined || literalOctets > literalLimit) {
      // Too large: read the octets the client is sending anyway and drop them, so the next
      // command is read where it starts; past what is worth reading, the session ends.
      if (literalOctets > literalLimit + DISCARD_OCTETS) {
        return { kind: "literal_too_large", command, fatal: true };
      }
      dropping = command;
      if (!await skip(conn, mark.size)) return { kind: "closed" };
      continue;
    }
    const bytes = await conn.readExact(mark.size);
    if (!bytes) return { kind: "closed" };
    parts.push(CRLF, bytes);
  }
  if (dropping !== undefined) return { kind: "literal_too_large", command: dropping, fatal: false };
  return { kind: "command", bytes: joinParts(parts) };
}

function commandName(line: Uint8Array): string {
  const sp = line.indexOf(0x20);
  return String.fromCharCode(...line.subarray(0, Math.min(sp < 0 ? line.length : sp, 32)));
}

async function skip(conn: Connection, n: number): Promise<boolean> {
  while (n > 0) {
    const chunk = await conn.readChunk(Math.min(n, 64 * 1024));
    if (!chunk) return false;
    n -= chunk.byteLength;
  }
  return true;
}

/**
 * One line as bytes, CRLF removed. A line longer than `max` is consumed to its end and
 * reported as too long without buffering it. `command`: between commands, so a listener
 * shutting down is noticed (Connection.readCommandChunk).
 */
async function readLine(
  conn: Connection,
  max: number,
  command: boolean,
): Promise<Uint8Array | "too_long" | "closed" | "stopping"> {
  const parts: Uint8Array[] = [];
  let total = 0;
  let discarding = false;
  for (;;) {
    const chunk = command && total === 0 && !discarding
      ? await conn.readCommandChunk()
      : await conn.readChunk();
    if (chunk === "stopping") return "stopping";
    if (!chunk) return "closed";
    const lf = chunk.indexOf(10);
    if (lf < 0) {
      total += chunk.byteLength;
      if (total > max + 2) {
        discarding = true;
        parts.length = 0;
      } else if (!discarding) {
        parts.push(chunk);
      }
      continue;
    }
    conn.unread(chunk.subarray(lf + 1));
    if (discarding || total + lf > max + 1) return "too_long";
    parts.push(chunk.subarray(0, lf));
    const line = parts.length === 1 ? parts[0] : joinParts(parts);
    return line.byteLength > 0 && line[line.byteLength - 1] === 13
      ? line.subarray(0, line.byteLength - 1)
      : line;
  }
}
