/**
 * Where mail for a domain goes (RFC 5321 section 5.1): its MX records sorted by preference, equal
 * preferences shuffled; no MX records → the domain itself as an implicit MX (its A/AAAA); a null
 * MX ("0 .", RFC 7505) → the domain accepts no mail, a permanent failure with status 5.1.10.
 * DNS trouble (timeouts, SERVFAIL) is temporary; a domain with no MX and no address (including
 * one that does not exist) is a permanent failure, 5.1.2.
 */
import type { Resolver } from "../dns/resolver.ts";

export interface MxHost {
  name: string;
  preference: number;
  /** The domain itself, used because it has no MX records. */
  implicit: boolean;
}

export type MxRoute =
  | { kind: "hosts"; hosts: MxHost[] }
  | { kind: "fail"; permanent: boolean; enhanced: string; message: string };

/** At most this many MX hosts are tried per attempt (bounds one attempt's time). */
export const MAX_MX_HOSTS = 10;

const codeOf = (e: unknown) => (e as { code?: string })?.code;
const missing = (e: unknown) => codeOf(e) === "ENODATA" || codeOf(e) === "ENOTFOUND";

export async function resolveMx(
  resolver: Resolver,
  domain: string,
  random: () => number = Math.random,
): Promise<MxRoute> {
  let records: { exchange: string; priority: number }[];
  try {
    records = await resolver.mx(domain);
  } catch (e) {
    // Deno's node:dns reports "no such name" and "no MX records" alike as ENOTFOUND, so both
    // fall through to the implicit MX; a domain with neither MX nor address then fails
    // permanently when its address lookup finds nothing (deliver.ts).
    if (!missing(e)) {
      return {
        kind: "fail",
        permanent: false,
        enhanced: "4.4.3",
        message: `MX lookup for ${domain} failed: ${codeOf(e) ?? (e as Error).message}`,
      };
    }
    records = [];
  }
  const isNull = (r: { exchange: string }) => r.exchange === "" || r.exchange === ".";
  // RFC 7505 section 3: a null MX is the domain's only MX record.
  if (records.length === 1 && isNull(records[0])) {
    return {
      kind: "fail",
      permanent: true,
      enhanced: "5.1.10",
      message: `${domain} does not accept mail (null MX, RFC 7505)`,
    };
  }
  const real = records.filter((r) => !isNull(r));
  if (real.length === 0) {
    // RFC 5321 section 5.1: no MX records: the domain itself is the implicit MX.
    return { kind: "hosts", hosts: [{ name: domain, preference: 0, implicit: true }] };
  }
  const keyed = real.map((r) => ({ r, tie: random() }));
  keyed.sort((a, b) => a.r.priority - b.r.priority || a.tie - b.tie);
  const seen = new Set<string>();
  const hosts: MxHost[] = [];
  for (const { r } of keyed) {
    const name = r.exchange.toLowerCase();
    if (seen.has(name)) continue;
    seen.add(name);
    hosts.push({ name, preference: r.priority, implicit: false });
  }
  return { kind: "hosts", hosts: hosts.slice(0, MAX_MX_HOSTS) };
}

/**
 * The addresses of an MX host, IPv4 first (better reputation handling on the receiving side),
 * then IPv6. A literal IP is returned as is. DNS trouble yields what could be found.
 */
export async function hostAddresses(
  resolver: Resolver,
  host: string,
): Promise<{ addresses: string[]; temporaryError?: string }> {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":")) return { addresses: [host] };
  const out: string[] = [];
  let temporaryError: string | undefined;
  for (const lookup of [resolver.a, resolver.aaaa]) {
    try {
      out.push(...await lookup.call(resolver, host));
    } catch (e) {
      if (!missing(e)) temporaryError = `${host}: ${codeOf(e) ?? (e as Error).message}`;
    }
  }
  return { addresses: [...new Set(out)].slice(0, 4), temporaryError };
}
