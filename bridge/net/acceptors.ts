/**
 * Accepting TCP connections, per runtime: Deno's own listener where the runtime has one (its
 * connections skip the node:net compatibility layer, deno_transport.ts), node:net elsewhere
 * (Bun) and for implicit-TLS ports, whose handshake node:tls does on the accepted socket (Deno's
 * TLS listener would need the key as PEM text, and Deno's tls.createServer ignores
 * `secureContext`).
 */
import { createServer, type Socket } from "node:net";
import { DenoTransport } from "./deno_transport.ts";
import { NodeTransport } from "./node_transport.ts";
import type { Transport } from "./transport.ts";

export interface Acceptor {
  port: number;
  /** Stops accepting; open connections are left to their owner. */
  close(): Promise<void>;
}

export interface AcceptOptions {
  host: string;
  port: number;
  /** Plain TCP only: the runtime's native sockets may be used. */
  native: boolean;
  onConnection(transport: Transport): void;
  onError?(error: unknown): void;
}

/** Pause after a failed accept (e.g. out of file descriptors) before the next. */
const ACCEPT_RETRY_MS = 100;

export async function accept(options: AcceptOptions): Promise<Acceptor> {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (options.native && typeof deno?.listen === "function") return acceptDeno(deno, options);
  return await acceptNode(options);
}

function acceptDeno(deno: typeof Deno, options: AcceptOptions): Acceptor {
  const listener = deno.listen({ hostname: options.host, port: options.port, transport: "tcp" });
  let closed = false;
  const loop = (async () => {
    while (!closed) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (closed) return;
        options.onError?.(e);
        await new Promise((r) => setTimeout(r, ACCEPT_RETRY_MS));
        continue;
      }
      conn.setNoDelay(true);
      options.onConnection(new DenoTransport(conn));
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      closed = true;
      listener.close();
      await loop;
    },
  };
}

async function acceptNode(options: AcceptOptions): Promise<Acceptor> {
  const server = createServer((socket: Socket) => {
    socket.setNoDelay(true);
    options.onConnection(new NodeTransport(socket));
  });
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
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
