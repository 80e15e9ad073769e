/**
 * SHARP/1.3 discovery and sender verification over the bridge's resolver. A domain's SHARP hosts
 * are its SRV `_sharp._tcp.<domain>` targets (RFC 2782 order: lowest priority first, then highest
 * weight); only when that name does not exist (NXDOMAIN) does the reference fall back to
 * `sharp.<domain>` port 5000. (Deno's node:dns reports NODATA as ENOTFOUND too, so there a name
 * without SRV records also falls back; a "." target, RFC 2782, always means "no service".) A receiver accepts HELLO from a domain only when the connecting IP
 * is among the A/AAAA addresses of those hosts: the only sender authentication SHARP/1.3 has.
 */
import { isIPv6 } from "node:net";
import type { Resolver } from "../dns/resolver.ts";

export const DEFAULT_SHARP_PORT = 5000;

export interface SharpHost {
  name: string;
  port: number;
}

export type Discovery =
  /** `srv`: published SRV records; `fallback`: no SRV name, so `sharp.<domain>`:5000. */
  | { kind: "found"; via: "srv" | "fallback"; hosts: SharpHost[] }
  /** The SRV name exists without records (or a "." target): no SHARP service. */
  | { kind: "none" }
  /** DNS failed (timeout, SERVFAIL): try again later. */
  | { kind: "error"; message: string };

const code = (e: unknown) => (e as { code?: string })?.code;

/** Looks up the SHARP hosts of `domain`. Never throws. */
export async function discoverSharp(resolver: Resolver, domain: string): Promise<Discovery> {
  try {
    const records = await resolver.srv(`_sharp._tcp.${domain}`);
    const hosts = records
      .filter((r) => r.name && r.name !== ".")
      .sort((a, b) => a.priority - b.priority || b.weight - a.weight)
      .map((r) => ({ name: r.name.replace(/\.$/, ""), port: r.port }));
    return hosts.length ? { kind: "found", via: "srv", hosts } : { kind: "none" };
  } catch (e) {
    if (code(e) === "ENOTFOUND") {
      return {
        kind: "found",
        via: "fallback",
        hosts: [{ name: `sharp.${domain}`, port: DEFAULT_SHARP_PORT }],
      };
    }
    if (code(e) === "ENODATA") return { kind: "none" };
    return { kind: "error", message: `DNS: ${(e as Error)?.message ?? e}` };
  }
}

/** Does the domain publish `_sharp._tcp` SRV records (the outbound route's test)? */
export async function publishesSharpSrv(
  resolver: Resolver,
  domain: string,
): Promise<"yes" | "no" | "error"> {
  const found = await discoverSharp(resolver, domain);
  if (found.kind === "error") return "error";
  return found.kind === "found" && found.via === "srv" ? "yes" : "no";
}

/** A host's A and AAAA addresses (missing types are empty). */
export async function hostAddresses(resolver: Resolver, name: string): Promise<string[]> {
  const [v4, v6] = await Promise.all([
    resolver.a(name).catch(() => [] as string[]),
    resolver.aaaa(name).catch(() => [] as string[]),
  ]);
  return [...v4, ...v6];
}

const canonicalIp = (ip: string) => {
  const plain = ip.startsWith("::ffff:") && !ip.slice(7).includes(":") ? ip.slice(7) : ip;
  return isIPv6(plain) ? plain.toLowerCase() : plain;
};

/** Is `clientIp` one of the addresses of `domain`'s SHARP hosts? */
export async function verifySender(
  resolver: Resolver,
  domain: string,
  clientIp: string,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const found = await discoverSharp(resolver, domain);
  if (found.kind === "none") return { ok: false, reason: `${domain} publishes no SHARP host` };
  if (found.kind === "error") return { ok: false, reason: found.message };
  const ip = canonicalIp(clientIp);
  for (const host of found.hosts.slice(0, 10)) {
    const addresses = await hostAddresses(resolver, host.name);
    if (addresses.some((a) => canonicalIp(a) === ip)) return { ok: true };
  }
  return { ok: false, reason: `${ip} is not a SHARP host of ${domain}` };
}
