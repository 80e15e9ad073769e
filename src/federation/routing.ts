/**
 * Which transport takes an outbox row (DESIGN "Outbound route per recipient domain"): a domain
 * with a federation peer (or one that delegated discovery and is merely unreachable now) goes to
 * the federation worker; every other domain to the bridge (SMTP, or SHARP/1.3 by SRV). Before a
 * claim, the due rows' domains without a fresh discovery answer are looked up, so the two
 * claimants split the outbox by a stored decision and never take the same row.
 */
import { and, inArray, isNull, lt, lte, notInArray, or, type SQL, sql } from "drizzle-orm";
import type { Deps } from "../deps.ts";
import { schema } from "../store/store.ts";
import { discover } from "./discovery.ts";
import { inList } from "../store/in_list.ts";

export type OutboxRoute = "bridge" | "federation";

/** Domains looked up per claim at most (the rest wait for the next claim). */
const MAX_LOOKUPS = 32;

async function refreshDueDomains(deps: Deps, now: number): Promise<void> {
  const due = await deps.store.db.selectDistinct({ domain: schema.outbox.domain })
    .from(schema.outbox).where(and(
      inArray(schema.outbox.state, ["queued", "deferred", "sending"]),
      lte(schema.outbox.nextAttemptAt, now),
      or(isNull(schema.outbox.leaseUntil), lt(schema.outbox.leaseUntil, now)),
    )).limit(500);
  if (due.length === 0) return;
  const domains = due.map((d) => d.domain);
  const fresh = await deps.store.db.select({ domain: schema.federationPeers.domain })
    .from(schema.federationPeers).where(and(
      inList(schema.federationPeers.domain, domains),
      sql`${schema.federationPeers.expiresAt} > ${now}`,
    ));
  const known = new Set(fresh.map((f) => f.domain));
  const stale = domains.filter((d) => !known.has(d)).slice(0, MAX_LOOKUPS);
  await Promise.all(stale.map((d) => discover(deps, d)));
}

/**
 * The condition a claim for `route` adds on outbox rows, after refreshing discovery for due
 * domains; undefined when federation is off (the bridge then takes everything).
 */
export async function routeCondition(
  deps: Deps,
  route: OutboxRoute,
  now: number,
): Promise<SQL | undefined> {
  if (!deps.federation) return route === "bridge" ? undefined : sql`0`;
  await refreshDueDomains(deps, now);
  const federated = deps.store.db.select({ domain: schema.federationPeers.domain })
    .from(schema.federationPeers)
    .where(inArray(schema.federationPeers.status, ["peer", "error"]));
  const decided = deps.store.db.select({ domain: schema.federationPeers.domain })
    .from(schema.federationPeers);
  return route === "federation"
    ? inArray(schema.outbox.domain, federated)
    // Undecided domains wait for discovery rather than risk the wrong transport.
    : and(notInArray(schema.outbox.domain, federated), inArray(schema.outbox.domain, decided));
}
