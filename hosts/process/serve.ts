/**
 * The HTTP runtime adapter: serves a fetch handler with `Bun.serve` when running on Bun, else
 * with `Deno.serve`. The socket's peer address is recorded for each request (`withPeer`), so a
 * client can never choose its own IP with a header (src/http/client_ip.ts reads it).
 */
import { refuseForbiddenMethod, withPeer } from "../../src/http/peer_request.ts";

export type FetchHandler = (request: Request) => Response | Promise<Response>;

export interface ListenOptions {
  hostname: string;
  /** 0 picks a free port. */
  port: number;
  /** Called for errors the handler did not turn into a response. */
  onError?: (error: unknown) => void;
  /** Serve HTTPS with this certificate chain and key (PEM) instead of plain HTTP. */
  tls?: { cert: string; key: string };
}

export interface Listener {
  runtime: "deno" | "bun";
  hostname: string;
  port: number;
  /** Stops accepting connections and waits for open requests (bounded by `graceMs`). */
  shutdown(graceMs?: number): Promise<void>;
}

const internalError = () =>
  new Response(
    JSON.stringify({
      type: "about:blank",
      title: "Internal Server Error",
      status: 500,
      code: "internal",
    }),
    { status: 500, headers: { "content-type": "application/problem+json" } },
  );

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// The parts of Bun's API used here; Bun's own types are not installed.
interface BunServer {
  port: number;
  hostname: string;
  requestIP(request: Request): { address: string } | null;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}
interface BunGlobal {
  serve(options: {
    hostname: string;
    port: number;
    tls?: { cert: string; key: string };
    fetch(request: Request, server: BunServer): Response | Promise<Response>;
    error?(error: unknown): Response;
  }): BunServer;
}

export function currentRuntime(): "deno" | "bun" | "other" {
  if ((globalThis as { Bun?: unknown }).Bun) return "bun";
  if ((globalThis as { Deno?: unknown }).Deno) return "deno";
  return "other";
}

export function listen(handler: FetchHandler, options: ListenOptions): Promise<Listener> {
  const bun = (globalThis as { Bun?: BunGlobal }).Bun;
  if (bun) return Promise.resolve(listenBun(bun, handler, options));
  if (currentRuntime() === "deno") return listenDeno(handler, options);
  throw new Error("postern serves HTTP on Deno or Bun only");
}

function listenBun(bun: BunGlobal, handler: FetchHandler, options: ListenOptions): Listener {
  const server = bun.serve({
    hostname: options.hostname,
    port: options.port,
    ...(options.tls ? { tls: options.tls } : {}),
    fetch: (request, srv) =>
      refuseForbiddenMethod(request) ??
        handler(withPeer(request, srv.requestIP(request)?.address)),
    error(error) {
      options.onError?.(error);
      return internalError();
    },
  });
  return {
    runtime: "bun",
    hostname: server.hostname,
    port: server.port,
    async shutdown(graceMs = 5000) {
      // stop(false) lets open requests finish; stop(true) then cuts long-lived ones (SSE).
      await Promise.race([server.stop(false), sleep(graceMs)]);
      await server.stop(true);
    },
  };
}

function listenDeno(handler: FetchHandler, options: ListenOptions): Promise<Listener> {
  return new Promise((resolve, reject) => {
    try {
      const server = Deno.serve({
        hostname: options.hostname,
        port: options.port,
        ...(options.tls ? { cert: options.tls.cert, key: options.tls.key } : {}),
        onListen(addr) {
          const net = addr as Deno.NetAddr;
          resolve({
            runtime: "deno",
            hostname: net.hostname,
            port: net.port,
            async shutdown(graceMs = 5000) {
              // shutdown() waits for open responses; an SSE stream never ends by itself.
              await Promise.race([server.shutdown(), sleep(graceMs)]);
            },
          });
        },
        onError(error) {
          options.onError?.(error);
          return internalError();
        },
      }, (request, info) => {
        const refused = refuseForbiddenMethod(request);
        if (refused) return refused;
        // Streaming routes (SSE) learn that the client has gone from the response body's
        // cancellation, which Deno signals when the connection closes.
        return handler(withPeer(request, (info.remoteAddr as Deno.NetAddr).hostname));
      });
    } catch (e) {
      reject(e);
    }
  });
}
