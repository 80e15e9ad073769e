/**
 * The gateway's outbound HTTP(S) port for Deno and Bun (webhooks, federation): the guarded fetch
 * of bridge/net/guarded_fetch.ts over the configured DNS (POSTERN_DNS_SERVERS, A and AAAA; the
 * system's getaddrinfo, /etc/hosts included, for names it does not know). Every answer is
 * checked, whichever source gave it, and the connection goes to the address that was checked.
 */
import { createGuardedFetch } from "../bridge/net/guarded_fetch.ts";
import { createResolver, hostAddresses } from "../bridge/dns/resolver.ts";
import type { Config } from "../src/config.ts";
import type { FetchPort } from "../src/ports.ts";
import { dnsServers } from "./dns.ts";

/** The fetch port, trusting `caCerts` (PEM) besides the system's CAs. */
export function outboundFetch(config: Config, caCerts: string[] = []): FetchPort {
  const resolver = createResolver({ servers: dnsServers(config), timeoutMs: 3000, tries: 2 });
  return createGuardedFetch({ resolve: hostAddresses(resolver), caCerts });
}
