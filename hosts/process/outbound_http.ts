/**
 * The gateway's outbound HTTP(S) port for Deno and Bun (webhooks, federation): the guarded fetch
 * of bridge/net/guarded_fetch.ts over the configured DNS (POSTERN_DNS_SERVERS, A and AAAA; the
 * system's getaddrinfo, /etc/hosts included, for names it does not know). Every answer is
 * checked, whichever source gave it, and the connection goes to the address that was checked.
 */
import { createGuardedFetch, type PooledGuardedFetch } from "../../bridge/net/guarded_fetch.ts";
import { hostAddresses } from "../../bridge/dns/resolver.ts";
import type { Config } from "../../src/config.ts";
import type { DnsPort } from "../../src/ports.ts";
import { Resolver as NodeResolver } from "node:dns/promises";
import { dnsServers, hostResolver } from "./dns.ts";

/** The resolver outbound HTTP asks, and its A + AAAA lookup (the system's as a fallback). */
export function outboundDns(config: Config) {
  const resolver = hostResolver(config, { timeoutMs: 3000, tries: 2 });
  return { resolver, addresses: hostAddresses(resolver) };
}

const notFound = (e: unknown) =>
  ["ENOTFOUND", "ENODATA", "ENONAME"].includes((e as { code?: string }).code ?? "");

/** A lookup whose missing name or type answers [] (the DnsPort convention), other errors throw. */
const orEmpty = <T>(lookup: (name: string) => Promise<T[]>) => async (name: string) => {
  try {
    return await lookup(name);
  } catch (e) {
    if (notFound(e)) return [] as T[];
    throw e;
  }
};

/** The gateway's DNS port over the configured resolver (federation, domain checks). */
export function dnsPort(config: Config, dns = outboundDns(config)): DnsPort {
  const { resolver, addresses } = dns;
  return {
    txt: orEmpty((name) => resolver.txt(name)),
    addresses,
    mx: orEmpty((name) => resolver.mx(name)),
    srv: orEmpty((name) => resolver.srv(name)),
    // A records with TTLs (DNS blocklists); over DoH the port has none and a default TTL is used.
    ...(config.dnsDohUrl ? {} : { a: orEmpty(ttlLookup(config)) }),
  };
}

/** A lookups that keep the answer's TTL, on the configured servers. */
function ttlLookup(config: Config) {
  const r = new NodeResolver({ timeout: 3000, tries: 2 });
  const servers = dnsServers(config);
  if (servers.length) r.setServers(servers);
  return (name: string) => r.resolve4(name, { ttl: true });
}

/**
 * The fetch port, trusting `caCerts` (PEM) besides the system's CAs; `addresses` is the lookup
 * to check and connect by (a fresh `outboundDns` when not given); `keepAliveMs` keeps idle
 * connections for reuse (`close` ends them).
 */
export function outboundFetch(
  config: Config,
  caCerts: string[] = [],
  addresses = outboundDns(config).addresses,
  keepAliveMs = 0,
): PooledGuardedFetch {
  return createGuardedFetch({ resolve: addresses, caCerts, keepAliveMs });
}
