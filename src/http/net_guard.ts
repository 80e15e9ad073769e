/**
 * The one way the gateway fetches from a host that a user or a peer named (webhook endpoints,
 * attachments given by URL, federation documents, JWKS and delivery endpoints): the SSRF rule of schemas/public_address.ts
 * on the URL's text, then the request through the runtime's fetch port, which resolves the name,
 * refuses non-public answers and connects to exactly the address it checked (Deno and Bun:
 * bridge/net/guarded_fetch.ts). Without a port (an edge runtime, where no fetch can pin an
 * address) the name's answers from the DNS port are checked before the platform's `fetch`; a
 * resolver that answers the fetch differently is then outside this check. Redirects are never
 * followed. The allow-private switches (POSTERN_WEBHOOK_ALLOW_PRIVATE,
 * POSTERN_FEDERATION_ALLOW_PRIVATE) exist for tests and labs.
 */
import {
  type OutboundPolicy,
  permittedAddresses,
  RefusedTarget,
  refuseUrl,
} from "../../schemas/public_address.ts";
import type { Deps } from "../deps.ts";
import type { FetchPort } from "../ports.ts";

export { type OutboundPolicy, RefusedTarget, refuseUrl };

/** Fetches `request` if policy allows its target; throws `RefusedTarget` when it does not. */
export async function guardedFetch(
  deps: Deps,
  port: FetchPort | undefined,
  request: Request,
  policy: OutboundPolicy,
): Promise<Response> {
  const refused = refuseUrl(request.url, policy);
  if (refused) throw new RefusedTarget(refused);
  if (port) return await port(request, policy);
  const dns = deps.federation?.dns;
  if (dns && !policy.allowPrivate) {
    await permittedAddresses(request.url, policy, (name) => dns.addresses(name));
  }
  return await fetch(new Request(request, { redirect: "manual" }));
}

/** Federation's policy: https only; private targets only when the operator allows them. */
export const federationPolicy = (deps: Deps): OutboundPolicy => ({
  allowPrivate: deps.config.federationAllowPrivate,
  httpsOnly: true,
});

/** Attachments by URL: http(s); private targets only when the operator allows them. */
export const attachmentPolicy = (deps: Deps): OutboundPolicy => ({
  allowPrivate: deps.config.attachmentFetchAllowPrivate,
});

/** Webhooks' policy: http(s); private targets only when the operator allows them. */
export const webhookPolicy = (deps: Deps): OutboundPolicy => ({
  allowPrivate: deps.config.webhookAllowPrivate,
});
