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
