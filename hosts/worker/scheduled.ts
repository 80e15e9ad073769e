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
 * Idempotency-Keys and the JMAP change log's oldest rows (src/jmap/retention.ts).
 *
 * Not here: SMTP and SHARP/1.3 delivery, which need sockets. Those outbox rows stay queued for a
 * bridge (`postern bridge --gateway https://…`), which leases them over the HTTP API.
 */
import type { Deps } from "../../src/deps.ts";
import { runFederationOnce } from "../../src/federation/worker.ts";
import { pruneChangeLog } from "../../src/jmap/retention.ts";
import { indexPendingMessages } from "../../src/services/search_index.ts";
import { takeLease } from "../../src/store/leases.ts";
import { purgeExpiredKeys } from "../../src/transactional/idempotency.ts";
import { pollInbound } from "../../src/transactional/inbound_webhooks.ts";
import { dispatchWebhooks } from "../../src/transactional/webhook_dispatcher.ts";

/** The bounds of one run. */
export interface SliceLimits {
  /** No slice starts after this many milliseconds. */
  deadlineMs: number;
  /** Outbox rows (recipients) claimed for federation. */
  federationRows: number;
  /** Messages sent to peers at once. */
  federationConcurrency: number;
  /** New inbound messages turned into `email.received` deliveries. */
  inboundWebhooks: number;
  /** Webhook deliveries posted. */
  webhookDeliveries: number;
  /** Full-text index batches (of search_index.ts's batch size). */
  searchBatches: number;
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
};

export interface RunReport {
  federation?: { claimed: number; sent: number; deferred: number; failed: number };
  inboundWebhooks?: number;
  webhooks?: number;
  indexed?: number;
  purgedKeys?: number;
  prunedChanges?: number;
  /** Slices skipped because the deadline had passed. */
  skipped: string[];
  /** Slices that failed (each is logged; the others still ran). */
  failed: string[];
}

/** Retention work runs on one minute in ten (its rows are few and change slowly). */
const RETENTION_EVERY_MINUTES = 10;

export async function runScheduled(
  deps: Deps,
  scheduledTime: number,
  limits: SliceLimits = DEFAULT_LIMITS,
): Promise<RunReport> {
  const started = Date.now();
  const report: RunReport = { skipped: [], failed: [] };
  const worker = `worker-cron-${crypto.randomUUID().slice(0, 8)}`;
  const slice = async (name: string, fn: () => Promise<void>) => {
    if (Date.now() - started > limits.deadlineMs) {
      report.skipped.push(name);
      return;
    }
    try {
      await fn();
    } catch (error) {
      report.failed.push(name);
      deps.logger.log("error", "worker.slice_failed", {
        slice: name,
        error: String((error as Error)?.message ?? error),
      });
    }
  };
  await slice("federation", async () => {
    report.federation = await runFederationOnce(deps, worker, {
      limit: limits.federationRows,
      concurrency: limits.federationConcurrency,
    });
  });
  await slice("inbound-webhooks", async () => {
    report.inboundWebhooks = await pollInbound(deps, limits.inboundWebhooks);
  });
  await slice("webhooks", async () => {
    report.webhooks = await dispatchWebhooks(deps, { limit: limits.webhookDeliveries });
  });
  await slice("search", async () => {
    let indexed = 0;
    for (let i = 0; i < limits.searchBatches; i++) {
      if (Date.now() - started > limits.deadlineMs) break;
      const n = await indexPendingMessages(deps.store);
      indexed += n;
      if (n === 0) break;
    }
    report.indexed = indexed;
  });
  const minute = Math.floor(scheduledTime / 60_000);
  if (minute % RETENTION_EVERY_MINUTES === 0) {
    await slice("retention", async () => {
      report.purgedKeys = await purgeExpiredKeys(deps);
      // One pruner at a time across isolates and processes (the lease of cli's pruner).
      if (await takeLease(deps.store, "jmap_changes_prune", worker, 120_000)) {
        report.prunedChanges = await pruneChangeLog(deps.store);
      }
    });
  }
  deps.logger.log("info", "worker.scheduled", { ms: Date.now() - started, ...report });
  return report;
}
