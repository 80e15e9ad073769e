/**
 * One JSON log line per HTTP request (`http.request`: method, path, status, milliseconds,
 * request id, client address), around the app's fetch, for every host that serves it. The path
 * goes without its query string, which carries what users search for.
 */
import type { Logger } from "../ports.ts";
import { peerAddress } from "./client_ip.ts";

export function withAccessLog(
  logger: Logger,
  fetch: (request: Request) => Response | Promise<Response>,
): (request: Request) => Promise<Response> {
  return async (request) => {
    const started = performance.now();
    const response = await fetch(request);
    logger.log("info", "http.request", {
      method: request.method,
      path: new URL(request.url).pathname,
      status: response.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
      requestId: response.headers.get("x-request-id") ?? undefined,
      ip: peerAddress(request),
    });
    return response;
  };
}
