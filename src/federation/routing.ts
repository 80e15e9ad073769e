/**
 * Which transport takes an outbox row (DESIGN "Outbound route per recipient domain"): a domain
 * with a federation peer (or one that delegated discovery and is merely unreachable now) goes to
 * the federation worker; every other domain to the bridge (SMTP, or SHARP/1.3 by SRV). Before a
 * claim, the due rows' domains without a fresh discovery answer are looked up, so the two
 * claimants split the outbox by a stored decision and never take the same row.
 */
import type { Deps } from "../deps.ts";
import { rawSql } from "../store/store.ts";
import { discover } from "./discovery.ts";
import { IN_JSON, jsonList } from "../store/in_list.ts";

export type OutboxRoute = "bridge" | "federation";

/** Domains looked up per claim at most (the rest wait for the next claim). */
const MAX_LOOKUPS = 32;

/**
 * The claim path's statements as fixed SQL text, not query-builder calls: a claim runs for every
 * few messages the federation worker sends, and building these queries cost about 8% of the
 * sending gateway's main thread (bench/run.ts section (f)).
 */
const DUE_DOMAINS_SQL = `SELECT DISTINCT domain FROM outbox
  WHERE state IN ('queued', 'deferred', 'sending') AND next_attempt_at <= ?1
    AND (lease_until IS NULL OR lease_until < ?1)
  LIMIT 500`;

async function refreshDueDomains(deps: Deps, now: number): Promise<void> {
  const due = await rawSql(deps.store.db).all<{ domain: string }>(DUE_DOMAINS_SQL, [now]);
  if (due.length === 0) return;
  const domains = due.map((d) => d.domain);
  const fresh = await rawSql(deps.store.db).all<{ domain: string }>(
    `SELECT domain FROM federation_peers WHERE domain IN ${IN_JSON} AND expires_at > ?`,
    [jsonList(domains), now],
  );
  const known = new Set(fresh.map((f) => f.domain));
  const stale = domains.filter((d) => !known.has(d)).slice(0, MAX_LOOKUPS);
  await Promise.all(stale.map((d) => discover(deps, d)));
}

const FEDERATED = "SELECT domain FROM federation_peers WHERE status IN ('peer', 'error')";

/**
 * The condition a claim for `route` adds on outbox rows (SQL over the columns of `outbox`),
 * after refreshing discovery for due domains; undefined when federation is off (the bridge then
 * takes everything).
 */
export async function routeCondition(
  deps: Deps,
  route: OutboxRoute,
  now: number,
): Promise<string | undefined> {
  if (!deps.federation) return route === "bridge" ? undefined : "0";
  await refreshDueDomains(deps, now);
  return route === "federation"
    ? `domain IN (${FEDERATED})`
    // Undecided domains wait for discovery rather than risk the wrong transport.
    : `domain NOT IN (${FEDERATED}) AND domain IN (SELECT domain FROM federation_peers)`;
}
