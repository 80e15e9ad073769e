/**
 * Outbound HTTP(S) from a Cloudflare Worker (the `FetchPort` of src/ports.ts, for federation and
 * webhooks), as SSRF-safe as a Worker allows. A Worker cannot choose the address its `fetch`
 * connects to, so the checks are on what it can see: the URL (https only, no credentials, no
 * internal names, no private, loopback or link-local IP literal: schemas/public_address.ts), and
 * every address the name resolves to over DNS-over-HTTPS, all before the request leaves.
 * Redirects are never followed. Cloudflare's own network does not route Workers' subrequests to
 * private addresses either; the DNS check keeps a name that points inside a network from being
 * fetched where it would.
 *
 * `POSTERN_FEDERATION_ALLOW_PRIVATE` / `POSTERN_WEBHOOK_ALLOW_PRIVATE` lift the checks (tests,
 * labs), as on every host.
 */
import type { DnsPort, FetchPort } from "../../src/ports.ts";
import { permittedAddresses, RefusedTarget, refuseUrl } from "../../schemas/public_address.ts";

export function workerFetch(dns: DnsPort, platform: typeof fetch = fetch): FetchPort {
  return async (request, policy) => {
    // https only at the edge, webhooks included: a plain-HTTP hop would carry signed payloads
    // and receipts in the clear across networks the operator does not control.
    const strict = { ...policy, httpsOnly: policy.httpsOnly || !policy.allowPrivate };
    const refused = refuseUrl(request.url, strict);
    if (refused) throw new RefusedTarget(refused);
    if (!policy.allowPrivate) {
      await permittedAddresses(request.url, strict, (name) => dns.addresses(name));
    }
    return await platform(new Request(request, { redirect: "manual" }));
  };
}
