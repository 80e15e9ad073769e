/**
 * The DNS the entry points hand to the bridge and the gateway's ports: node:dns pointed at
 * POSTERN_DNS_SERVERS (the system's when empty), or DNS over HTTPS when POSTERN_DNS_DOH_URL is
 * set (src/dns/doh.ts, the resolver edge hosts use), optionally behind the bridge's short cache.
 */
import {
  type CachingResolver,
  cachingResolver,
  createResolver,
  type Resolver,
} from "../../bridge/dns/resolver.ts";
import { createDohResolver } from "../../src/dns/doh.ts";
import { publishesSharpSrv } from "../../bridge/sharp/verify_sender.ts";
import type { Config } from "../../src/config.ts";
import type { RoutePort } from "../../src/ports.ts";

export function dnsServers(config: Config): string[] {
  return config.dnsServers.split(",").map((s) => s.trim()).filter(Boolean);
}

/** The configured resolver: DoH when POSTERN_DNS_DOH_URL is set, else node:dns. */
export function hostResolver(
  config: Config,
  options: { timeoutMs?: number; tries?: number } = {},
): Resolver {
  if (config.dnsDohUrl) return createDohResolver({ url: config.dnsDohUrl, ...options });
  return createResolver({ servers: dnsServers(config), ...options });
}

/** Answers (and missing names) reused for POSTERN_DNS_CACHE_SECONDS, as a caching resolver would. */
export function cachedResolver(config: Config): CachingResolver {
  const ms = config.dnsCacheSeconds * 1000;
  return cachingResolver(hostResolver(config), {
    positiveMs: ms,
    negativeMs: ms,
  });
}

/**
 * The gateway's route port (src/ports.ts): a domain's mail goes over SHARP/1.3 when it publishes
 * `_sharp._tcp` SRV records, the bridge's own test (bridge/smtp_out/worker.ts `routeFor`).
 * Absent when SHARP/1.3 outbound is off. DNS trouble answers "not SHARP": submission then lets
 * the message through and the bridge decides.
 */
export function routePort(config: Config): RoutePort | undefined {
  if (!config.sharpOutbound) return undefined;
  const resolver = cachedResolver(config);
  return { sharp: async (domain) => (await publishesSharpSrv(resolver, domain)) === "yes" };
}
