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

/**
 * The domains of rows queued since row `?1`, read by the primary key: `+state` keeps SQLite from
 * walking index outbox_due instead (every waiting row), its choice without ANALYZE statistics.
 */
const NEW_DOMAINS_SQL = `SELECT DISTINCT domain FROM outbox
  WHERE id > ?1 AND +state IN ('queued', 'deferred', 'sending')
  LIMIT 500`;

/**
 * How often, at most, a claim reads the domain of every due row (DUE_DOMAINS_SQL scans all the
 * waiting rows: no index has `domain`). Every send wakes the workers and each wake-up claims, so
 * with thousands of rows waiting that scan was a tenth of a sending gateway's CPU (issue 20 (t)).
 * In between, a claim reads only the domains of rows queued since the last look, due or not
 * (a scheduled row's domain is known by its time); what the full look adds are the due rows
 * whose domain's answer expired since, whose stored decision stands until then.
 */
const FULL_REFRESH_MS = 60_000;

/** Per store: when the last full look was and the newest row id looked at since. */
const looked = new WeakMap<object, { at: number; lastId: number }>();

async function refreshDueDomains(deps: Deps, now: number): Promise<void> {
  const sql = rawSql(deps.store.db);
  const last = looked.get(deps.store);
  const full = !last || last.at > now || now - last.at >= FULL_REFRESH_MS;
  const top = (await sql.get<{ id: number | null }>("SELECT max(id) AS id FROM outbox"))?.id ?? 0;
  const due = full
    ? await sql.all<{ domain: string }>(DUE_DOMAINS_SQL, [now])
    : await sql.all<{ domain: string }>(NEW_DOMAINS_SQL, [last.lastId]);
  const domains = due.map((d) => d.domain);
  const fresh = domains.length === 0 ? [] : await sql.all<{ domain: string }>(
    `SELECT domain FROM federation_peers WHERE domain IN ${IN_JSON} AND expires_at > ?`,
    [jsonList(domains), now],
  );
  const known = new Set(fresh.map((f) => f.domain));
  const stale = domains.filter((d) => !known.has(d));
  await Promise.all(stale.slice(0, MAX_LOOKUPS).map((d) => discover(deps, d)));
  // Domains left for later (the limits above): the next claim looks at every due row again.
  if (stale.length > MAX_LOOKUPS || due.length === 500) looked.delete(deps.store);
  else looked.set(deps.store, { at: full ? now : last.at, lastId: top });
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
  if (route === "federation") {
    // Without any peer, a condition SQLite finds false before it reads a row: the claim would
    // otherwise walk every due row (no index has `domain`) to take none, on each wake-up.
    const peer = await rawSql(deps.store.db).get(`${FEDERATED} LIMIT 1`);
    return peer ? `domain IN (${FEDERATED})` : "0";
  }
  // Undecided domains wait for discovery rather than risk the wrong transport.
  return `domain NOT IN (${FEDERATED}) AND domain IN (SELECT domain FROM federation_peers)`;
}
