/**
 * What every host's HTTP adapter does to a request before the app sees it: the socket's peer
 * address goes in as the `x-postern-peer` header, after any incoming copy is stripped, so a
 * client can never choose its own IP (src/http/client_ip.ts reads it); and methods the Fetch
 * standard forbids are answered here, since rebuilding such a request throws. Web APIs only:
 * the Deno/Bun process (hosts/process/serve.ts) and Deno Deploy (hosts/deno_deploy/main.ts) share it.
 */
import { PEER_HEADER } from "./client_ip.ts";

/** Returns the request with `x-postern-peer` set to the socket's address, and only that. */
export function withPeer(
  request: Request,
  peer: string | undefined,
  signal?: AbortSignal,
): Request {
  const headers = new Headers(request.headers);
  headers.delete(PEER_HEADER);
  if (peer) headers.set(PEER_HEADER, peer);
  // Built from parts rather than `new Request(request, …)`, which would read `request.signal`.
  return new Request(request.url, {
    method: request.method,
    headers,
    body: request.body,
    signal,
    redirect: request.redirect,
    duplex: "half",
  } as RequestInit);
}

/**
 * Methods the Fetch standard forbids (`new Request` throws on them, so rebuilding the request
 * below failed with a 500 and a logged stack trace). No resource here supports them: TRACE and
 * TRACK echo requests back (cross-site tracing), CONNECT asks for a tunnel. RFC 9110 §15.6.2:
 * 501 is the answer for a method the server does not support for any resource.
 */
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);

/** The 501 for a forbidden method, or undefined when the request may go to the app. */
export function refuseForbiddenMethod(request: Request): Response | undefined {
  if (!FORBIDDEN_METHODS.has(request.method.toUpperCase())) return undefined;
  return new Response(
    JSON.stringify({
      type: "about:blank",
      title: "Not Implemented",
      status: 501,
      code: "method_not_implemented",
      detail: `The ${request.method.toUpperCase()} method is not supported.`,
    }),
    { status: 501, headers: { "content-type": "application/problem+json" } },
  );
}
