/**
 * Outbound HTTP(S) for Deno and Bun that connects only where the SSRF rule allows
 * (schemas/public_address.ts): the name is resolved once, refused when any answer is not a public
 * address, and the request goes to exactly the address that was checked — node:http(s) to the IP
 * literal, with the name kept as the Host header (RFC 9110 section 7.2) and as the TLS server
 * name (RFC 6066 section 3), against which the certificate is verified. A plain `fetch` would
 * resolve again and could be handed another answer (DNS rebinding). Redirects are never followed:
 * a 3xx comes back as it is, for the caller to treat as a failure. Response bodies are capped.
 * With `keepAliveMs`, connections are pooled per checked address, port and TLS server name
 * (node's Agent keys them so), and a request reuses one only after its own check gave that same
 * address: a TLS handshake then costs once per connection rather than once per request.
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

/** A guarded fetch whose pooled connections `close` ends. */
export type PooledGuardedFetch = GuardedFetch & { close(): void };

export interface GuardedFetchOptions {
  /** The A and AAAA answers for a name ([] when it has none). */
  resolve(name: string): Promise<string[]>;
  /** CA certificates (PEM) trusted besides the system's, e.g. a test or private CA. */
  caCerts?: string[];
  /** Largest response body read; a longer one fails the read. Default 1 MiB. */
  maxResponseBytes?: number;
  /**
   * Keep idle connections this long for the next request to the same address (0, the default:
   * one connection per request). Federation pushes to one peer many times a second: with
   * connections kept, each costs a request rather than a TCP and TLS handshake — and in Deno's
   * node:tls, a handshake also converts every trusted root certificate (about 20 ms of CPU).
   */
  keepAliveMs?: number;
}

const NULL_BODY = new Set([204, 205, 304]);

export function createGuardedFetch(options: GuardedFetchOptions): PooledGuardedFetch {
  const ca = options.caCerts?.length ? [...rootCertificates, ...options.caCerts] : undefined;
  const cap = options.maxResponseBytes ?? 1024 * 1024;
  const keepAliveMs = options.keepAliveMs ?? 0;
  // One pool per scheme; `false` is node's "a fresh connection, closed after the response".
  const agents = keepAliveMs > 0
    ? {
      http: new http.Agent({ keepAlive: true, timeout: keepAliveMs }),
      https: Object.assign(new https.Agent({ keepAlive: true, timeout: keepAliveMs }), {
        // node keys a pool by every TLS option, the trusted CAs' whole text among them (some
        // 200 KB joined per request); here they are the same for every request of this pool.
        getName: (o: { host?: string; port?: number | string; servername?: string }) =>
          `${o.host}:${o.port}:${o.servername ?? ""}`,
      }),
    }
    : undefined;
  const fetch = async (request: Request, policy: OutboundPolicy) => {
    const addresses = await permittedAddresses(request.url, policy, options.resolve);
    const url = new URL(request.url);
    const named = ipLiteral(url.hostname) === undefined;
    const body = request.body ? new Uint8Array(await request.arrayBuffer()) : undefined;
    const agent = agents ? (url.protocol === "https:" ? agents.https : agents.http) : false;
    return await send(request, url, addresses[0], named, body, ca, cap, agent);
  };
  return Object.assign(fetch, {
    close() {
      agents?.http.destroy();
      agents?.https.destroy();
    },
  });
}

function send(
  request: Request,
  url: URL,
  address: string,
  named: boolean,
  body: Uint8Array | undefined,
  ca: string[] | undefined,
  cap: number,
  agent: http.Agent | false,
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
      agent,
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
