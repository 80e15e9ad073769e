/**
 * The DNS the entry points hand to the bridge and the gateway's ports: node:dns pointed at
 * POSTERN_DNS_SERVERS (the system's when empty), optionally behind the bridge's short cache.
 */
import { type CachingResolver, cachingResolver, createResolver } from "../bridge/dns/resolver.ts";
import type { Config } from "../src/config.ts";

export function dnsServers(config: Config): string[] {
  return config.dnsServers.split(",").map((s) => s.trim()).filter(Boolean);
}

/** Answers (and missing names) reused for POSTERN_DNS_CACHE_SECONDS, as a caching resolver would. */
export function cachedResolver(config: Config): CachingResolver {
  const ms = config.dnsCacheSeconds * 1000;
  return cachingResolver(createResolver({ servers: dnsServers(config) }), {
    positiveMs: ms,
    negativeMs: ms,
  });
}
