/**
 * What every host's HTTP adapter does to a request before the app sees it: the socket's peer
 * address is recorded for it (src/http/client_ip.ts reads it; a client's own `x-postern-peer`
 * header is then ignored, so a client can never choose its own IP); and methods the Fetch
 * standard forbids are answered here. Web APIs only: the Deno/Bun process
 * (hosts/process/serve.ts) and Deno Deploy (hosts/deno_deploy/main.ts) share it.
 */
import { recordPeer } from "./client_ip.ts";

/**
 * Returns the request itself, with the socket's address recorded as its peer. The request is
 * not rebuilt: a new Request with other headers copied them and piped the body through a
 * JavaScript stream, about 70 µs per request on Deno (issue 16).
 */
export function withPeer(request: Request, peer: string | undefined): Request {
  recordPeer(request, peer);
  return request;
}

/**
 * Methods the Fetch standard forbids (`new Request` throws on them: a rebuilt request failed
 * with a 500 and a logged stack trace, and the app's own code may still build one). No resource here supports them: TRACE and
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
