/**
 * The bridge's one DNS interface (MX, A/AAAA, TXT, SRV, PTR), implemented on node:dns/promises'
 * Resolver, which Deno and Bun both provide and which tests point at a local fake DNS server.
 * Missing names and types throw with `code` ENOTFOUND / ENODATA, the convention mailauth expects.
 */
import { Resolver as NodeResolver } from "node:dns/promises";

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

/**
 * A cache in front of a Resolver, as a local caching resolver would be: answers and negative
 * answers are reused for a short, bounded time and concurrent identical queries share one lookup.
 * Failures (timeouts, SERVFAIL) are never cached. Every MX message asks the same SPF and DMARC
 * names again and again; without this each would be a network round trip.
 */
export interface CachingResolver extends Resolver {
  /** How much longer the cache keeps the answer to this question (0: not cached). */
  cachedFor(type: keyof Resolver, name: string): number;
}

export function cachingResolver(inner: Resolver, options: CacheOptions): CachingResolver {
  const now = options.now ?? Date.now;
  const max = options.maxEntries ?? 10_000;
  const cache = new Map<string, { until: number; value?: unknown; error?: unknown }>();
  const inflight = new Map<string, Promise<unknown>>();
  const lookup = <T>(type: keyof Resolver, name: string): Promise<T> => {
    const key = `${type} ${name.toLowerCase()}`;
    const hit = cache.get(key);
    if (hit && hit.until > now()) {
      return hit.error ? Promise.reject(hit.error) : Promise.resolve(hit.value as T);
    }
    const pending = inflight.get(key);
    if (pending) return pending as Promise<T>;
    const store = (entry: { until: number; value?: unknown; error?: unknown }) => {
      if (cache.size >= max) cache.delete(cache.keys().next().value!);
      cache.set(key, entry);
    };
    const p = (inner[type] as (n: string) => Promise<unknown>)(name).then(
      (value) => {
        if (options.positiveMs > 0) store({ until: now() + options.positiveMs, value });
        return value;
      },
      (error) => {
        const code = (error as { code?: string }).code;
        if (options.negativeMs > 0 && code && NEGATIVE_CODES.has(code)) {
          store({ until: now() + options.negativeMs, error });
        }
        throw error;
      },
    ).finally(() => inflight.delete(key));
    inflight.set(key, p);
    return p as Promise<T>;
  };
  return {
    ...resolverOver(lookup),
    cachedFor(type, name) {
      const hit = cache.get(`${type} ${name.toLowerCase()}`);
      return hit ? Math.max(0, hit.until - now()) : 0;
    },
  };
}
