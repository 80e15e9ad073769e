/**
 * The client's IP for throttling and audit: the socket address the runtime adapter supplies
 * (as the `x-postern-peer` header it sets itself after stripping any incoming one), or the first
 * X-Forwarded-For hop when the operator says a proxy they run sits in front.
 */
export const PEER_HEADER = "x-postern-peer";

export function clientIp(headers: Headers, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = headers.get("x-forwarded-for")?.split(",")[0]?.trim();
    if (forwarded) return forwarded;
  }
  return headers.get(PEER_HEADER) ?? "unknown";
}
