/**
 * DNS blocklist checks of the client address (RFC 5782) through the gateway's DNS port, so a
 * test points them at a test DNS server as it does SPF. Each zone of `spamDnsblZones` that
 * lists the address adds its score under the rule `RCVD_IN_<ZONE>`. Answers (listed or not) are
 * kept for their TTL: a busy MX asks each zone once per address per TTL, not once per message.
 * The cache is only a shortcut: a gateway without it asks again and gets the same answer.
 */
import type { Deps } from "../deps.ts";
import type { DnsPort } from "../ports.ts";
import { dnsblQuery, listSetting } from "../spam/ip.ts";
import type { SpamTest } from "../spam/rules.ts";

/** TTL used when the DNS port gives none (DoH), and the bounds put on any TTL. */
const DEFAULT_TTL_S = 300;
const MIN_TTL_S = 30;
const MAX_TTL_S = 3600;
const MAX_ENTRIES = 20_000;

export interface DnsblZone {
  zone: string;
  score: number;
  /** The rule's stable name: `RCVD_IN_` and the zone in capitals, dots as underscores. */
  rule: string;
}

/** The zones of the `spamDnsblZones` setting (`zone` or `zone=score`). */
export function dnsblZones(setting: string): DnsblZone[] {
  return listSetting(setting).map((entry) => {
    const [zone, score] = entry.split("=");
    const z = zone.trim().toLowerCase().replace(/\.$/, "");
    const n = Number(score);
    return {
      zone: z,
      score: score !== undefined && Number.isFinite(n) ? n : 3,
      rule: `RCVD_IN_${z.toUpperCase().replace(/[^A-Z0-9]+/g, "_")}`,
    };
  });
}

/** Answers by query name: the 127.0.0.x codes (empty: not listed) and when they expire. */
const cache = new Map<string, { codes: string[]; until: number }>();

async function lookup(dns: DnsPort, name: string, now: number): Promise<string[]> {
  const hit = cache.get(name);
  if (hit && hit.until > now) return hit.codes;
  let codes: string[];
  let ttl = DEFAULT_TTL_S;
  if (dns.a) {
    const answers = await dns.a(name);
    codes = answers.map((a) => a.address);
    if (answers.length) ttl = Math.min(...answers.map((a) => a.ttl));
  } else {
    codes = (await dns.addresses(name)).filter((a) => a.includes("."));
  }
  // RFC 5782 section 2.1: listings answer in 127.0.0.0/8; anything else is a broken zone.
  codes = codes.filter((a) => a.startsWith("127."));
  if (cache.size >= MAX_ENTRIES) {
    for (const [key, entry] of cache) if (entry.until <= now) cache.delete(key);
    if (cache.size >= MAX_ENTRIES) cache.clear();
  }
  const keep = Math.min(Math.max(ttl, MIN_TTL_S), MAX_TTL_S);
  cache.set(name, { codes, until: now + keep * 1000 });
  return codes;
}

/** The blocklist rules `ip` fires; a zone that does not answer is skipped (logged). */
export async function dnsblTests(deps: Deps, ip: string | undefined): Promise<SpamTest[]> {
  const zones = dnsblZones(deps.config.spamDnsblZones);
  const dns = deps.dns ?? deps.federation?.dns;
  if (!ip || zones.length === 0 || !dns) return [];
  const now = deps.clock.now();
  const results = await Promise.all(zones.map(async (z): Promise<SpamTest | undefined> => {
    const name = dnsblQuery(ip, z.zone);
    if (!name) return undefined;
    try {
      const codes = await lookup(dns, name, now);
      return codes.length ? { name: z.rule, score: z.score, detail: codes.join(",") } : undefined;
    } catch (e) {
      deps.logger.log("warn", "spam.dnsbl_failed", { zone: z.zone, error: String(e) });
      return undefined;
    }
  }));
  return results.filter((t): t is SpamTest => t !== undefined);
}
