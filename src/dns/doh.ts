/**
 * A DNS resolver over HTTPS (RFC 8484: DNS messages POSTed as `application/dns-message`) for
 * hosts without sockets or a system resolver (Cloudflare Workers, Deno Deploy), and for any host
 * whose operator prefers a DoH server (POSTERN_DNS_DOH_URL). It answers the bridge's resolver
 * interface (MX, A, AAAA, TXT, SRV, PTR; missing names and types throw with `code` ENOTFOUND /
 * ENODATA, as node:dns does and mailauth expects) and the gateway's DNS port (`txt`,
 * `addresses`, `mx`, `srv`, where "none" is an empty list). Answers are cached for their TTL
 * (bounded), negative answers for `negativeSeconds`; concurrent lookups of one name share one
 * request.
 */
import ipaddr from "ipaddr.js";
import type { DnsPort } from "../ports.ts";
import {
  answersFor,
  decodeResponse,
  DnsWireError,
  encodeQuery,
  RCODE,
  type RData,
  type RecordType,
} from "./wire.ts";

/**
 * The resolver edge hosts use when POSTERN_DNS_DOH_URL is empty (a Deno Deploy isolate or a
 * Worker has no resolver of its own): Cloudflare's public DoH endpoint.
 */
export const DEFAULT_DOH_URL = "https://cloudflare-dns.com/dns-query";

export class DnsLookupError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export interface DohOptions {
  /** The DoH endpoint, e.g. https://cloudflare-dns.com/dns-query. */
  url: string;
  /** The platform's fetch (tests and hosts may wrap it). */
  fetch?: typeof fetch;
  timeoutMs?: number;
  /** Attempts per lookup on timeouts, network errors and SERVFAIL. */
  tries?: number;
  /** Ceiling on how long an answer is kept, whatever its TTL. */
  maxCacheSeconds?: number;
  negativeSeconds?: number;
  /** Entries kept at most (oldest dropped first). */
  cacheEntries?: number;
}

type Outcome = { ok: true; records: RData[] } | { ok: false; error: DnsLookupError };

export interface DohResolver {
  mx(name: string): Promise<{ exchange: string; priority: number }[]>;
  a(name: string): Promise<string[]>;
  aaaa(name: string): Promise<string[]>;
  txt(name: string): Promise<string[][]>;
  srv(name: string): Promise<{ name: string; port: number; priority: number; weight: number }[]>;
  ptr(address: string): Promise<string[]>;
  /** The gateway's DNS port (src/ports.ts): [] instead of ENOTFOUND/ENODATA. */
  port: DnsPort;
}

/** The reverse-lookup name of an IPv4 or IPv6 address (RFC 1035 §3.5, RFC 3596 §2.5). */
export function reverseName(address: string): string {
  const parsed = ipaddr.process(address);
  const bytes = parsed.toByteArray();
  if (parsed.kind() === "ipv4") return `${bytes.toReversed().join(".")}.in-addr.arpa`;
  const nibbles = bytes.flatMap((b) => [b >> 4, b & 15]).map((n) => n.toString(16));
  return `${nibbles.toReversed().join(".")}.ip6.arpa`;
}

export function createDohResolver(options: DohOptions): DohResolver {
  const doFetch = options.fetch ?? fetch;
  const tries = Math.max(1, options.tries ?? 2);
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxTtl = options.maxCacheSeconds ?? 3600;
  const negativeMs = (options.negativeSeconds ?? 60) * 1000;
  const capacity = options.cacheEntries ?? 2000;
  const cache = new Map<string, { expires: number; outcome: Outcome }>();
  const inFlight = new Map<string, Promise<Outcome>>();

  async function ask(name: string, type: RecordType): Promise<Outcome> {
    let last: DnsLookupError = new DnsLookupError("ESERVFAIL", `${type} ${name}: no answer`);
    for (let attempt = 0; attempt < tries; attempt++) {
      let body: Uint8Array;
      try {
        const res = await doFetch(options.url, {
          method: "POST",
          headers: { "content-type": "application/dns-message", accept: "application/dns-message" },
          body: encodeQuery(name, type) as BufferSource,
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (res.status !== 200) {
          await res.body?.cancel();
          last = new DnsLookupError(
            "ESERVFAIL",
            `${type} ${name}: DoH server answered ${res.status}`,
          );
          continue;
        }
        body = new Uint8Array(await res.arrayBuffer());
      } catch (e) {
        if (e instanceof DnsWireError) {
          return { ok: false, error: new DnsLookupError("EBADNAME", `${name}: ${e.message}`) };
        }
        const timedOut = e instanceof DOMException && e.name === "TimeoutError";
        last = new DnsLookupError(timedOut ? "ETIMEOUT" : "ECONNREFUSED", `${type} ${name}: ${e}`);
        continue;
      }
      let response;
      try {
        response = decodeResponse(body);
      } catch (e) {
        last = new DnsLookupError("EBADRESP", `${type} ${name}: ${(e as Error).message}`);
        continue;
      }
      if (response.rcode === RCODE.NXDOMAIN) {
        return {
          ok: false,
          error: new DnsLookupError("ENOTFOUND", `${type} ${name}: no such name`),
        };
      }
      if (response.rcode === RCODE.REFUSED) {
        return { ok: false, error: new DnsLookupError("EREFUSED", `${type} ${name}: refused`) };
      }
      if (response.rcode !== RCODE.NOERROR) {
        last = new DnsLookupError("ESERVFAIL", `${type} ${name}: rcode ${response.rcode}`);
        continue;
      }
      const { records, ttl } = answersFor(response, name, type);
      if (records.length === 0) {
        return { ok: false, error: new DnsLookupError("ENODATA", `${type} ${name}: no records`) };
      }
      remember(
        `${type} ${name.toLowerCase()}`,
        { ok: true, records },
        Math.min(ttl, maxTtl) * 1000,
      );
      return { ok: true, records };
    }
    return { ok: false, error: last };
  }

  function remember(key: string, outcome: Outcome, ms: number): void {
    if (ms <= 0) return;
    cache.delete(key);
    cache.set(key, { expires: Date.now() + ms, outcome });
    while (cache.size > capacity) cache.delete(cache.keys().next().value!);
  }

  async function lookup(name: string, type: RecordType): Promise<RData[]> {
    const key = `${type} ${name.toLowerCase()}`;
    const hit = cache.get(key);
    let outcome: Outcome;
    if (hit && hit.expires > Date.now()) outcome = hit.outcome;
    else {
      let pending = inFlight.get(key);
      if (!pending) {
        pending = ask(name, type).then((o) => {
          // Missing names and types are remembered too; transient failures are not.
          if (!o.ok && (o.error.code === "ENOTFOUND" || o.error.code === "ENODATA")) {
            remember(key, o, negativeMs);
          }
          return o;
        }).finally(() => inFlight.delete(key));
        inFlight.set(key, pending);
      }
      outcome = await pending;
    }
    if (!outcome.ok) throw outcome.error;
    return outcome.records;
  }

  const missing = (e: unknown) =>
    e instanceof DnsLookupError && (e.code === "ENOTFOUND" || e.code === "ENODATA");
  const orNone = async <T>(p: Promise<T[]>): Promise<T[]> => {
    try {
      return await p;
    } catch (e) {
      if (missing(e)) return [];
      throw e;
    }
  };

  const resolver: Omit<DohResolver, "port"> = {
    mx: async (name) =>
      (await lookup(name, "MX")).flatMap((r) =>
        r.type === "MX" ? [{ exchange: r.exchange, priority: r.priority }] : []
      ),
    a: async (name) => (await lookup(name, "A")).flatMap((r) => r.type === "A" ? [r.address] : []),
    aaaa: async (name) =>
      (await lookup(name, "AAAA")).flatMap((r) => r.type === "AAAA" ? [r.address] : []),
    txt: async (name) =>
      (await lookup(name, "TXT")).flatMap((r) => r.type === "TXT" ? [r.strings] : []),
    srv: async (name) =>
      (await lookup(name, "SRV")).flatMap((r) =>
        r.type === "SRV"
          ? [{ name: r.name, port: r.port, priority: r.priority, weight: r.weight }]
          : []
      ),
    ptr: async (address) =>
      (await lookup(reverseName(address), "PTR")).flatMap((r) => r.type === "PTR" ? [r.name] : []),
  };
  return {
    ...resolver,
    port: {
      txt: (name) => orNone(resolver.txt(name)),
      mx: (name) => orNone(resolver.mx(name)),
      srv: (name) => orNone(resolver.srv(name)),
      addresses: async (name) => {
        const [v4, v6] = await Promise.all([orNone(resolver.a(name)), orNone(resolver.aaaa(name))]);
        return [...v4, ...v6];
      },
    },
  };
}
