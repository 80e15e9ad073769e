/**
 * The bridge's one DNS interface (MX, A/AAAA, TXT, SRV, PTR), implemented on node:dns/promises'
 * Resolver, which Deno and Bun both provide and which tests point at a local fake DNS server.
 * Missing names and types throw with `code` ENOTFOUND / ENODATA, the convention mailauth expects.
 */
import { lookup, Resolver as NodeResolver } from "node:dns/promises";

export interface MxRecord {
  exchange: string;
  priority: number;
}

export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

export interface Resolver {
  mx(name: string): Promise<MxRecord[]>;
  a(name: string): Promise<string[]>;
  aaaa(name: string): Promise<string[]>;
  /** Each record as its character-strings (join them for SPF/DKIM/DMARC values). */
  txt(name: string): Promise<string[][]>;
  srv(name: string): Promise<SrvRecord[]>;
  ptr(address: string): Promise<string[]>;
}

export interface ResolverOptions {
  /** "127.0.0.1:5353"-style servers; default: the system's. */
  servers?: string[];
  timeoutMs?: number;
  tries?: number;
}

export function createResolver(options: ResolverOptions = {}): Resolver {
  const r = new NodeResolver({ timeout: options.timeoutMs ?? 5000, tries: options.tries ?? 2 });
  if (options.servers?.length) r.setServers(options.servers);
  const strip = (s: string) => s.replace(/\.$/, "");
  return {
    mx: async (name) =>
      (await r.resolveMx(name)).map((m) => ({ exchange: strip(m.exchange), priority: m.priority })),
    a: (name) => r.resolve4(name),
    aaaa: (name) => r.resolve6(name),
    txt: (name) => r.resolveTxt(name),
    srv: async (name) => (await r.resolveSrv(name)).map((s) => ({ ...s, name: strip(s.name) })),
    ptr: (address) => r.reverse(address),
  };
}

/**
 * A name's A and AAAA answers, else the system's getaddrinfo ones (/etc/hosts), [] when it has
 * none: what an outbound HTTP request may connect to (bridge/net/guarded_fetch.ts checks them all).
 */
export function hostAddresses(resolver: Resolver): (name: string) => Promise<string[]> {
  return async (name) => {
    const found = (await Promise.all([
      resolver.a(name).catch(() => [] as string[]),
      resolver.aaaa(name).catch(() => [] as string[]),
    ])).flat();
    if (found.length > 0) return found;
    return (await lookup(name, { all: true, verbatim: true }).catch(() => [])).map((a) =>
      a.address
    );
  };
}

/** The `(name, rrtype) → records` function mailauth takes, over our Resolver. */
export function mailauthResolver(resolver: Resolver) {
  return async (name: string, rrtype: string): Promise<unknown> => {
    switch (rrtype.toUpperCase()) {
      case "MX":
        return await resolver.mx(name);
      case "A":
        return await resolver.a(name);
      case "AAAA":
        return await resolver.aaaa(name);
      case "TXT":
        return await resolver.txt(name);
      case "PTR":
        return await resolver.ptr(name);
      default: {
        const e = new Error(`unsupported record type ${rrtype}`) as Error & { code: string };
        e.code = "ENOTFOUND";
        throw e;
      }
    }
  };
}

/** A Resolver whose every method is one lookup function, by record type. */
export function resolverOver(
  lookup: <T>(type: keyof Resolver, name: string) => Promise<T>,
): Resolver {
  return {
    mx: (name) => lookup("mx", name),
    a: (name) => lookup("a", name),
    aaaa: (name) => lookup("aaaa", name),
    txt: (name) => lookup("txt", name),
    srv: (name) => lookup("srv", name),
    ptr: (address) => lookup("ptr", address),
  };
}

export interface CacheOptions {
  /** How long an answer is reused. node:dns gives no TTL for most types, so this is a cap. */
  positiveMs: number;
  /** How long "no such name / no such record" is reused (RFC 2308 negative caching). */
  negativeMs: number;
  maxEntries?: number;
  now?: () => number;
}

const NEGATIVE_CODES = new Set(["ENOTFOUND", "ENODATA"]);

/** A Resolver with a cache (cachingResolver). */
export interface CachingResolver extends Resolver {
  /** How much longer the cache keeps the answer to this question (0: not cached). */
  cachedFor(type: keyof Resolver, name: string): number;
}

/** How a lookup ended: with a value, or with the error it threw. */
export type LookupOutcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Lookups by record type and name that share one trip while in flight and keep each outcome for
 * as long as `keepMs(outcome)` says (0: not kept), at most `maxEntries` at once, oldest out
 * first. Both DNS caches (cachingResolver here, the worker side of hosts/process/dns_relay.ts) are this.
 */
export function sharedLookups(
  fetch: (type: keyof Resolver, name: string) => Promise<unknown>,
  keepMs: (outcome: LookupOutcome) => number,
  options: { maxEntries: number; now: () => number },
): {
  lookup(type: keyof Resolver, name: string): Promise<unknown>;
  /** How much longer the outcome of this question is kept (0: not kept). */
  keptFor(type: keyof Resolver, name: string): number;
} {
  const { maxEntries, now } = options;
  const kept = new Map<string, { until: number; outcome: LookupOutcome }>();
  const inflight = new Map<string, Promise<unknown>>();
  const keyOf = (type: keyof Resolver, name: string) => `${type} ${name.toLowerCase()}`;
  const keep = (key: string, outcome: LookupOutcome) => {
    const ms = keepMs(outcome);
    if (ms <= 0) return;
    if (kept.size >= maxEntries) kept.delete(kept.keys().next().value!);
    kept.set(key, { until: now() + ms, outcome });
  };
  return {
    lookup(type, name) {
      const key = keyOf(type, name);
      const hit = kept.get(key);
      if (hit && hit.until > now()) {
        return hit.outcome.ok
          ? Promise.resolve(hit.outcome.value)
          : Promise.reject(hit.outcome.error);
      }
      let pending = inflight.get(key);
      if (!pending) {
        pending = fetch(type, name).then(
          (value) => {
            keep(key, { ok: true, value });
            return value;
          },
          (error) => {
            keep(key, { ok: false, error });
            throw error;
          },
        ).finally(() => inflight.delete(key));
        inflight.set(key, pending);
      }
      return pending;
    },
    keptFor(type, name) {
      const hit = kept.get(keyOf(type, name));
      return hit ? Math.max(0, hit.until - now()) : 0;
    },
  };
}

/**
 * A cache in front of a Resolver, as a local caching resolver would be: answers and negative
 * answers are reused for a short, bounded time and concurrent identical queries share one lookup.
 * Failures (timeouts, SERVFAIL) are never cached. Every MX message asks the same SPF and DMARC
 * names again and again; without this each would be a network round trip.
 */
export function cachingResolver(inner: Resolver, options: CacheOptions): CachingResolver {
  const memory = sharedLookups(
    (type, name) => (inner[type] as (n: string) => Promise<unknown>)(name),
    (outcome) => {
      if (outcome.ok) return options.positiveMs;
      const code = (outcome.error as { code?: string }).code;
      return code && NEGATIVE_CODES.has(code) ? options.negativeMs : 0;
    },
    { maxEntries: options.maxEntries ?? 10_000, now: options.now ?? Date.now },
  );
  return {
    ...resolverOver(<T>(type: keyof Resolver, name: string) =>
      memory.lookup(type, name) as Promise<T>
    ),
    cachedFor: (type, name) => memory.keptFor(type, name),
  };
}
