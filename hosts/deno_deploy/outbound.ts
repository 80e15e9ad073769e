/**
 * The outbound HTTP(S) port (src/ports.ts `FetchPort`) for Deno Deploy, where neither node:tls
 * (its root store needs `--allow-sys`) nor a system resolver is at hand: the target's name is
 * resolved over DNS-over-HTTPS (the same DoH resolver as every other lookup), refused when any
 * answer is not a public address (schemas/public_address.ts, unless the policy allows private
 * targets), and the request then goes to exactly the address that was checked
 * (hosts/deno_deploy/pinned_http.ts: TCP to that IP, TLS verified against the name), so DNS
 * rebinding cannot move it. Where the runtime lacks `Deno.connect`/`Deno.startTls`, the platform's
 * `fetch` is used after the same check — it resolves the name again, the residual risk
 * src/http/net_guard.ts names for such hosts.
 *
 * Redirects are never followed and response bodies are capped, as on the process host
 * (bridge/net/guarded_fetch.ts).
 */
import { permittedAddresses } from "../../schemas/public_address.ts";
import type { DnsPort, FetchPort } from "../../src/ports.ts";
import { pinnedExchange } from "./pinned_http.ts";

export interface DenoFetchOptions {
  /** Largest response body read; a longer one fails. Default 1 MiB. */
  maxResponseBytes?: number;
  /** CA certificates (PEM) trusted besides the platform's (a private or test CA). */
  caCerts?: string[];
}

const canPin = () => typeof Deno.connect === "function" && typeof Deno.startTls === "function";

export function denoOutboundFetch(dns: DnsPort, options: DenoFetchOptions = {}): FetchPort {
  const cap = options.maxResponseBytes ?? 1024 * 1024;
  return async (request, policy) => {
    const addresses = await permittedAddresses(request.url, policy, (name) => dns.addresses(name));
    if (canPin()) {
      return await pinnedExchange(request, addresses[0], {
        caCerts: options.caCerts,
        maxResponseBytes: cap,
      });
    }
    const response = await fetch(new Request(request, { redirect: "manual" }));
    const length = Number(response.headers.get("content-length") ?? 0);
    if (length > cap) {
      await response.body?.cancel();
      throw new Error(`${new URL(request.url).host}: response larger than ${cap} bytes`);
    }
    return response;
  };
}
