/**
 * The client's IP for throttling and audit: the socket address the runtime adapter recorded for
 * the request (`withPeer`, src/http/peer_request.ts), or the first X-Forwarded-For hop when the
 * operator says a proxy they run sits in front. A request no listener received — the bridge,
 * the CLI and tests calling the app in-process — names its peer in the `x-postern-peer` header
 * instead; for a request a listener did receive, that header is the client's and is never read.
 */
export const PEER_HEADER = "x-postern-peer";

/**
 * Socket addresses by request object, set by the host's listener. Not written into the request's
 * headers: a runtime's incoming request has immutable headers (Deno), and rebuilding the request
 * to change them (a copy of the headers, the body piped through a JavaScript stream) cost about
 * 70 µs of the event loop per request, 7% of an API send (issue 16).
 */
const socketPeers = new WeakMap<Request, string>();

/** Records the socket's address ("" when the runtime did not say) of a request a listener received. */
export function recordPeer(request: Request, peer: string | undefined): void {
  socketPeers.set(request, peer ?? "");
}

/** The peer's address: the socket's for a listener's request, else the in-process caller's header. */
export function peerAddress(request: Request): string | undefined {
  const socket = socketPeers.get(request);
  if (socket !== undefined) return socket || undefined;
  return request.headers.get(PEER_HEADER) ?? undefined;
}

export function clientIp(request: Request, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = request.headers.get("x-forwarded-for")?.split(",")[0]?.trim();
    if (forwarded) return forwarded;
  }
  return peerAddress(request) ?? "unknown";
}
