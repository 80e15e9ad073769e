/**
 * Outbound HTTP(S) for Deno and Bun that connects only where the SSRF rule allows
 * (schemas/public_address.ts): the name is resolved once, refused when any answer is not a public
 * address, and the request goes to exactly the address that was checked — node:http(s) to the IP
 * literal, with the name kept as the Host header (RFC 9110 section 7.2) and as the TLS server
 * name (RFC 6066 section 3), against which the certificate is verified. A plain `fetch` would
 * resolve again and could be handed another answer (DNS rebinding). Redirects are never followed:
 * a 3xx comes back as it is, for the caller to treat as a failure. Response bodies are capped.
 */
import http from "node:http";
import https from "node:https";
import { rootCertificates } from "node:tls";
import {
  ipLiteral,
  type OutboundPolicy,
  permittedAddresses,
} from "../../schemas/public_address.ts";

/** A fetch that applies the policy to the URL and to the addresses it connects to. */
export type GuardedFetch = (request: Request, policy: OutboundPolicy) => Promise<Response>;

export interface GuardedFetchOptions {
  /** The A and AAAA answers for a name ([] when it has none). */
  resolve(name: string): Promise<string[]>;
  /** CA certificates (PEM) trusted besides the system's, e.g. a test or private CA. */
  caCerts?: string[];
  /** Largest response body read; a longer one fails the read. Default 1 MiB. */
  maxResponseBytes?: number;
}

const NULL_BODY = new Set([204, 205, 304]);

export function createGuardedFetch(options: GuardedFetchOptions): GuardedFetch {
  const ca = options.caCerts?.length ? [...rootCertificates, ...options.caCerts] : undefined;
  const cap = options.maxResponseBytes ?? 1024 * 1024;
  return async (request, policy) => {
    const addresses = await permittedAddresses(request.url, policy, options.resolve);
    const url = new URL(request.url);
    const named = ipLiteral(url.hostname) === undefined;
    const body = request.body ? new Uint8Array(await request.arrayBuffer()) : undefined;
    return await send(request, url, addresses[0], named, body, ca, cap);
  };
}

function send(
  request: Request,
  url: URL,
  address: string,
  named: boolean,
  body: Uint8Array | undefined,
  ca: string[] | undefined,
  cap: number,
): Promise<Response> {
  const secure = url.protocol === "https:";
  const headers: Record<string, string> = Object.fromEntries(request.headers);
  headers.host = url.host;
  if (body) headers["content-length"] = String(body.byteLength);
  return new Promise<Response>((resolve, reject) => {
    const req = (secure ? https : http).request({
      host: address,
      port: url.port || (secure ? 443 : 80),
      method: request.method,
      path: url.pathname + url.search,
      headers,
      agent: false,
      signal: request.signal,
      // SNI carries names only; an IP literal's certificate is checked against the IP.
      ...(secure ? { servername: named ? url.hostname : undefined, ca } : {}),
    }, (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 599) {
        res.destroy();
        reject(new Error(`${url.host} answered an unusable status ${status}`));
        return;
      }
      const out = new Headers();
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
        try {
          out.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
        } catch {
          // A header the Fetch API cannot carry is dropped, not fatal.
        }
      }
      if (NULL_BODY.has(status)) {
        res.destroy();
        resolve(new Response(null, { status, headers: out }));
        return;
      }
      let read = 0;
      let open = true; // no enqueue after a cancel, an error or the end
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          const finish = (error?: Error) => {
            if (!open) return;
            open = false;
            if (error) controller.error(error);
            else controller.close();
          };
          res.on("data", (chunk: Uint8Array) => {
            if (!open) return;
            read += chunk.byteLength;
            if (read <= cap) return controller.enqueue(new Uint8Array(chunk));
            finish(new Error(`${url.host}: response larger than ${cap} bytes`));
            res.destroy();
          });
          res.on("end", () => finish());
          res.on("error", (e) => finish(e));
          res.on("close", () => finish(res.complete ? undefined : new Error("connection closed")));
        },
        cancel() {
          open = false;
          res.destroy();
        },
      });
      resolve(new Response(stream, { status, headers: out }));
    });
    req.on("error", reject);
    req.end(body);
  });
}
