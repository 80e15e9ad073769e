/**
 * Records the TLS outcome of each outbound delivery the bridge reports (RFC 8460 section 4.3)
 * as per-day counters per recipient domain (`tls_counts`), one upsert in the result's own write
 * job, for the TLS report sent daily to the domain's `_smtp._tls` rua (./tls_send.ts).
 */
import type { TlsSessionResult } from "../../schemas/bridge_outbox.ts";
import type { Statement } from "../store/store.ts";

const DAY_MS = 86_400_000;

export function tlsCountStatement(
  tls: TlsSessionResult | undefined,
  now: number,
): Statement | undefined {
  if (!tls) return undefined;
  const key = JSON.stringify([
    tls.policyType,
    tls.policyType === "sts" ? tls.policyString : [],
    tls.mxHost.toLowerCase(),
    tls.result,
  ]);
  return {
    sql: `INSERT INTO tls_counts (day, policy_domain, row_key, count) VALUES (?, ?, ?, 1)
      ON CONFLICT (day, policy_domain, row_key) DO UPDATE SET count = count + 1`,
    args: [Math.floor(now / DAY_MS), tls.policyDomain.toLowerCase(), key],
  };
}
