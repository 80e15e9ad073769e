/**
 * Records each inbound DMARC evaluation for the aggregate report the From domain asked for
 * (RFC 7489 section 7.2): one upsert per message into per-day counters (`dmarc_counts`), a
 * statement of the delivery's own write job, so recording costs no round trip. The row is what
 * appendix C's `record` holds: source IP, disposition, the policy_evaluated DKIM and SPF
 * results, and the auth_results (SPF domain and result, each DKIM domain, selector, result).
 */
import type { Statement } from "../store/store.ts";

const DAY_MS = 86_400_000;

interface Verdicts {
  spf?: { result?: string; domain?: string };
  dkim?: { result?: string; domain?: string; selector?: string }[];
  dmarc?: { result?: string; domain?: string; spfAligned?: boolean; dkimAligned?: boolean };
  disposition?: string;
  clientIp?: string;
}

/** A DMARC report's disposition (appendix C: none, quarantine, reject) from ours. */
const DISPOSITION: Record<string, string> = {
  accept: "none",
  junk: "quarantine",
  reject: "reject",
};

const clean = (v: unknown, max = 253) =>
  typeof v === "string" ? v.trim().toLowerCase().slice(0, max) : "";

/**
 * The upsert for one message's verdicts, or none when DMARC was not evaluated (no From domain,
 * mail that did not come through the MX checks).
 */
export function dmarcCountStatement(
  authentication: Record<string, unknown> | undefined,
  now: number,
): Statement | undefined {
  const v = authentication as Verdicts | undefined;
  const from = clean(v?.dmarc?.domain);
  if (!v?.dmarc || !from || !/^[a-z0-9.-]+$/.test(from)) return undefined;
  const ip = clean(v.clientIp, 45);
  if (!ip) return undefined;
  const dkim = (Array.isArray(v.dkim) ? v.dkim : [])
    .filter((d) => clean(d.domain))
    .slice(0, 10)
    .map((d) => [clean(d.domain), clean(d.selector, 63), clean(d.result, 16)]);
  // Verdicts made without mailauth's alignment flags (a Worker's email() reads them from the
  // platform's Authentication-Results) fall back to the per-signature flag and to a relaxed
  // comparison of the SPF domain with the From domain (RFC 7489 section 3.1.2).
  const within = (a: string, b: string) => a === b || a.endsWith(`.${b}`) || b.endsWith(`.${a}`);
  const dkimAligned = v.dmarc.dkimAligned ??
    (Array.isArray(v.dkim) &&
      v.dkim.some((d) => d.result === "pass" && (d as { aligned?: boolean }).aligned));
  const spfAligned = v.dmarc.spfAligned ??
    (v.spf?.result === "pass" && within(clean(v.spf.domain), from));
  const key = JSON.stringify([
    ip,
    DISPOSITION[v.disposition ?? "accept"] ?? "none",
    dkimAligned ? "pass" : "fail",
    spfAligned ? "pass" : "fail",
    clean(v.spf?.domain),
    clean(v.spf?.result, 16) || "none",
    dkim,
  ]);
  return {
    sql: `INSERT INTO dmarc_counts (day, header_from, row_key, count) VALUES (?, ?, ?, 1)
      ON CONFLICT (day, header_from, row_key) DO UPDATE SET count = count + 1`,
    args: [Math.floor(now / DAY_MS), from, key],
  };
}
