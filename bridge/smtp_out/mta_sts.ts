/**
 * MTA-STS (RFC 8461) for outbound SMTP: discovery through the `_mta-sts` TXT record (section
 * 3.1), the policy fetched over HTTPS from `mta-sts.<domain>/.well-known/mta-sts.txt` (section
 * 3.3: HTTPS with a valid certificate, no redirects, text/plain), parsing (section 3.2), caching
 * by policy id for max_age (section 5.1), and MX matching (section 4.1: exact names or a `*.`
 * wildcard covering one left-most label). The HTTPS fetch sits behind `PolicyFetcher` so that
 * tests inject policies without a web server; the real one is SSRF-guarded like every server-side
 * fetch (bridge/net/guarded_fetch.ts): a policy host that resolves inside is not asked.
 */
import { hostAddresses, type Resolver } from "../dns/resolver.ts";
import { createGuardedFetch, type GuardedFetch } from "../net/guarded_fetch.ts";

export interface MtaStsPolicy {
  id: string;
  mode: "enforce" | "testing" | "none";
  mx: string[];
  maxAgeSeconds: number;
}

/** The policy that applies to a destination domain right now, if any. */
export interface MtaStsSource {
  policyFor(domain: string): Promise<MtaStsPolicy | undefined>;
}

/** Fetches the policy file's text for a domain; throws when it cannot be fetched. */
export type PolicyFetcher = (domain: string) => Promise<string>;

/** Section 3.2 lines `key: value`; unknown keys are ignored, `mx` repeats. */
export function parsePolicy(text: string, id = ""): MtaStsPolicy | { error: string } {
  const fields = new Map<string, string[]>();
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (!line) continue;
    const colon = line.indexOf(":");
    if (colon < 0) return { error: `malformed line: ${line.slice(0, 80)}` };
    const key = line.slice(0, colon).trim().toLowerCase();
    fields.set(key, [...(fields.get(key) ?? []), line.slice(colon + 1).trim()]);
  }
  if (fields.get("version")?.[0] !== "STSv1") return { error: "version is not STSv1" };
  const mode = fields.get("mode")?.[0]?.toLowerCase();
  if (mode !== "enforce" && mode !== "testing" && mode !== "none") {
    return { error: `unknown mode ${mode}` };
  }
  const maxAge = fields.get("max_age")?.[0] ?? "";
  if (!/^\d{1,10}$/.test(maxAge)) return { error: "max_age is missing or invalid" };
  const mx = (fields.get("mx") ?? []).map((m) => m.toLowerCase().replace(/\.$/, ""));
  if (mode !== "none" && mx.length === 0) return { error: "no mx patterns" };
  // RFC 8461 section 3.2: max_age at most 31557600 seconds (one year).
  return { id, mode, mx, maxAgeSeconds: Math.min(Number(maxAge), 31_557_600) };
}

/** Section 4.1: `mail.example.com` matches itself; `*.example.com` matches one label more. */
export function mxMatchesPolicy(host: string, policy: Pick<MtaStsPolicy, "mx">): boolean {
  const name = host.toLowerCase().replace(/\.$/, "");
  return policy.mx.some((pattern) => {
    if (!pattern.startsWith("*.")) return pattern === name;
    const suffix = pattern.slice(1); // ".example.com"
    if (!name.endsWith(suffix)) return false;
    const label = name.slice(0, -suffix.length);
    return label.length > 0 && !label.includes(".");
  });
}

/** Section 3.1: `v=STSv1; id=<1-32 alphanumerics>`; undefined unless exactly one such record. */
export function parseStsRecord(records: string[][]): string | undefined {
  const sts = records.map((r) => r.join("")).filter((r) => /^v=STSv1\s*(;|$)/.test(r));
  if (sts.length !== 1) return undefined;
  const id = sts[0].match(/(?:^|;)\s*id=([A-Za-z0-9]{1,32})\s*(;|$)/)?.[1];
  return id;
}

/**
 * The real fetcher: HTTPS with certificate validation, no redirects (a 3xx is a failure), only
 * to public addresses (a policy has no business on a private one).
 */
export function httpsPolicyFetcher(fetch: GuardedFetch): PolicyFetcher {
  return async (domain) => {
    const request = new Request(`https://mta-sts.${domain}/.well-known/mta-sts.txt`, {
      redirect: "manual",
      signal: AbortSignal.timeout(15_000),
    });
    const res = await fetch(request, { allowPrivate: false, httpsOnly: true });
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new Error(`policy fetch answered ${res.status}`);
    }
    const text = await res.text();
    if (text.length > 64 * 1024) throw new Error("policy larger than 64 KiB");
    return text;
  };
}

interface Cached {
  policy: MtaStsPolicy;
  expiresAt: number;
}

/** Discovery, fetching and caching of policies, per RFC 8461 section 5. */
export class MtaStsResolver implements MtaStsSource {
  private readonly cache = new Map<string, Cached>();

  constructor(
    private readonly resolver: Resolver,
    private readonly fetcher: PolicyFetcher = httpsPolicyFetcher(
      createGuardedFetch({ resolve: hostAddresses(resolver), maxResponseBytes: 64 * 1024 }),
    ),
    private readonly now: () => number = Date.now,
  ) {}

  async policyFor(domain: string): Promise<MtaStsPolicy | undefined> {
    const key = domain.toLowerCase();
    const cached = this.cache.get(key);
    const live = cached && cached.expiresAt > this.now() ? cached.policy : undefined;
    let id: string | undefined;
    try {
      id = parseStsRecord(await this.resolver.txt(`_mta-sts.${key}`));
    } catch {
      // Section 5.1: without a TXT record, a cached unexpired policy still applies.
      return live;
    }
    if (!id) return live;
    if (live && live.id === id) return live;
    try {
      const parsed = parsePolicy(await this.fetcher(key), id);
      if ("error" in parsed) return live;
      this.cache.set(key, {
        policy: parsed,
        expiresAt: this.now() + parsed.maxAgeSeconds * 1000,
      });
      return parsed;
    } catch {
      // Section 3.3: a failed fetch falls back to the cached policy, else to no policy.
      return live;
    }
  }
}
