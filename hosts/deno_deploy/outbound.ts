/**
 * The outbound HTTP(S) port (src/ports.ts `FetchPort`) for Deno Deploy, where neither node:tls
 * (its root store needs `--allow-sys`) nor a system resolver is at hand: the target's name is
 * resolved over DNS-over-HTTPS (the same DoH resolver as every other lookup), refused when any
 * answer is not a public address (schemas/public_address.ts, unless the policy allows private
 * targets), and then:
 *
 * - `http:` goes to exactly the address that was checked — a `Deno.createHttpClient` whose
 *   transport is a TCP connection to that IP, the name kept as the Host header — so DNS
 *   rebinding cannot move it;
 * - `https:` goes through the platform's `fetch`, which verifies the certificate against the
 *   name (RFC 6125) but resolves the name again: a resolver that answers the platform otherwise
 *   than DoH answered the check is outside this guard (the same limit src/http/net_guard.ts
 *   names for Workers). Deno's fetch cannot yet pin a TLS connection to an address.
 *
 * Redirects are never followed and response bodies are capped, as on the process host
 * (bridge/net/guarded_fetch.ts).
 */
import { permittedAddresses } from "../../schemas/public_address.ts";
import type { DnsPort, FetchPort } from "../../src/ports.ts";

export interface DenoFetchOptions {
  /** Largest response body read; a longer one fails. Default 1 MiB. */
  maxResponseBytes?: number;
}

const NULL_BODY = new Set([101, 204, 205, 304]);

/** Reads at most `cap` bytes of `body`; more is an error (the caller's request fails). */
async function capped(body: ReadableStream<Uint8Array>, cap: number, host: string) {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > cap) throw new Error(`${host}: response larger than ${cap} bytes`);
    chunks.push(chunk);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** A TCP transport to `address` for one request, where the runtime offers one. */
function pinnedClient(address: string, port: number): Deno.HttpClient | undefined {
  if (typeof Deno.createHttpClient !== "function") return undefined;
  return Deno.createHttpClient({ proxy: { transport: "tcp", hostname: address, port } });
}

export function denoOutboundFetch(dns: DnsPort, options: DenoFetchOptions = {}): FetchPort {
  const cap = options.maxResponseBytes ?? 1024 * 1024;
  return async (request, policy) => {
    const addresses = await permittedAddresses(request.url, policy, (name) => dns.addresses(name));
    const url = new URL(request.url);
    const client = url.protocol === "http:"
      ? pinnedClient(addresses[0], Number(url.port || 80))
      : undefined;
    try {
      const init: RequestInit & { client?: Deno.HttpClient } = { redirect: "manual", client };
      const response = await fetch(new Request(request, { redirect: "manual" }), init);
      if (NULL_BODY.has(response.status) || !response.body) {
        await response.body?.cancel();
        return new Response(null, { status: response.status, headers: response.headers });
      }
      // Read before the pinned client closes; responses here are small (receipts, 2xx bodies).
      const body = await capped(response.body, cap, url.host);
      return new Response(body, { status: response.status, headers: response.headers });
    } finally {
      client?.close();
    }
  };
}
