/**
 * The Worker's cron run (`scheduled()`): the background work that `postern serve` runs on timers
 * (cli/cmd_serve.ts), as bounded slices so that one invocation stays far below a Worker's limits
 * (CPU time, 1,000 subrequests, D1 queries per invocation). Each slice takes at most its count of
 * items and none starts after the run's deadline; what is left waits for the next minute. All
 * state is in the store (leases, cursors, watermarks), so overlapping runs, isolates and a
 * `postern serve` on the same store share the work without doing it twice.
 *
 * Slices, in order: signed federation deliveries from the outbox (src/federation/worker.ts);
 * `email.received` webhooks for new inbound mail and due webhook deliveries
 * (src/transactional/); the full-text index (src/services/search_index.ts); retention: expired
 * Idempotency-Keys and the JMAP change log's oldest rows (src/jmap/retention.ts). The steps
 * themselves are src/services/scheduled.ts's, shared with Deno Deploy's `Deno.cron`. With an R2
 * bucket bound, the retention minutes also sweep a page of its objects that no `blobs` row names
 * any more (src/store/blob_objects.ts: after a grace period, never one a row still needs).
 *
 * Not here: SMTP and SHARP/1.3 delivery, which need sockets. Those outbox rows stay queued for a
 * bridge (`postern bridge --gateway https://…`), which leases them over the HTTP API.
 */
import type { Deps } from "../../src/deps.ts";
import { runScheduledWork, type ScheduledLimits } from "../../src/services/scheduled.ts";
import { type BlobObjects, sweepObjects } from "../../src/store/blob_objects.ts";
import { rawSql, type Store } from "../../src/store/store.ts";

/** The bounds of one run: the pass's count limits plus its deadline. */
export interface SliceLimits extends Required<ScheduledLimits> {
  /** No slice starts after this many milliseconds. */
  deadlineMs: number;
}

/**
 * Per minute: 50 federated recipients, 50 webhook posts, a few thousand messages indexed. Each
 * delivery or post is one or two subrequests, each index batch one D1 batch, so a run stays in
 * the low hundreds of subrequests and D1 queries.
 */
export const DEFAULT_LIMITS: SliceLimits = {
  deadlineMs: 20_000,
  federationRows: 50,
  federationConcurrency: 6,
  inboundWebhooks: 50,
  webhookDeliveries: 50,
  searchBatches: 10,
  // A report is a few DNS lookups and one batch: five per run keeps the subrequests low.
  reports: 5,
};

export interface RunReport {
  federation?: { claimed: number; sent: number; deferred: number; failed: number };
  inboundWebhooks?: number;
  webhooks?: number;
  indexed?: number;
  purgedKeys?: number;
  prunedChanges?: number;
  /** R2 objects looked at and deleted by the orphan sweep. */
  objects?: { checked: number; deleted: number };
  /** Slices skipped because the deadline had passed. */
  skipped: string[];
  /** Slices that failed (each is logged; the others still ran). */
  failed: string[];
}

/** Retention work runs on one minute in ten (its rows are few and change slowly). */
const RETENTION_EVERY_MINUTES = 10;

/** R2 objects the sweep looks at per run. */
const SWEEP_PAGE = 200;
/** Where this isolate's sweep goes on (a hint only: lost, the sweep starts over). */
let sweepCursor: string | undefined;

/** One page of the orphan-object sweep over `objects`. */
export async function sweepOrphanObjects(
  store: Store,
  objects: BlobObjects,
  now: number,
): Promise<{ checked: number; deleted: number }> {
  const result = await sweepObjects(objects, async (shas) => {
    if (shas.length === 0) return new Set();
    const rows = await rawSql(store.db).all<{ sha256: string }>(
      "SELECT sha256 FROM blobs WHERE sha256 IN (SELECT value FROM json_each(?))",
      [JSON.stringify(shas)],
    );
    return new Set(rows.map((r) => r.sha256));
  }, { now, limit: SWEEP_PAGE, cursor: sweepCursor });
  sweepCursor = result.cursor;
  return { checked: result.checked, deleted: result.deleted };
}

/** One cron run: the shared pass (src/services/scheduled.ts) within the Worker's bounds. */
export async function runScheduled(
  deps: Deps,
  scheduledTime: number,
  limits: SliceLimits = DEFAULT_LIMITS,
): Promise<RunReport> {
  const { deadlineMs, ...counts } = limits;
  const retention = Math.floor(scheduledTime / 60_000) % RETENTION_EVERY_MINUTES === 0;
  const pass = await runScheduledWork(deps, {
    budgetMs: deadlineMs,
    worker: `worker-cron-${crypto.randomUUID().slice(0, 8)}`,
    limits: counts,
    retention,
  });
  // A slice that did not run reports nothing (rather than zeros).
  const ran = (name: string) => !pass.skipped.includes(name);
  let objects: RunReport["objects"];
  if (retention && deps.store.objects) {
    try {
      objects = await sweepOrphanObjects(deps.store, deps.store.objects, scheduledTime);
    } catch (error) {
      deps.logger.log("error", "scheduled.objects_failed", { error: String(error) });
      pass.failed.push("objects");
    }
  }
  return {
    federation: ran("federation") ? pass.federation : undefined,
    inboundWebhooks: ran("inbound-webhooks") ? pass.inbound : undefined,
    webhooks: ran("webhooks") ? pass.webhooks : undefined,
    indexed: ran("search") ? pass.indexed : undefined,
    purgedKeys: retention && ran("idempotency") ? pass.purgedKeys : undefined,
    prunedChanges: retention && ran("jmap_retention") ? pass.prunedChanges : undefined,
    objects,
    skipped: pass.skipped,
    failed: pass.failed,
  };
}
