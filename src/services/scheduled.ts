/**
 * The gateway's background work as one bounded pass, for hosts whose only clock is a trigger —
 * `Deno.cron` on Deno Deploy, a Worker's `scheduled()` — where `postern serve` runs the same
 * steps on its own timers (cli/cmd_serve.ts): federation out (the outbox rows that go to SHARP
 * peers over signed HTTPS), webhooks (inbound `email.received` fan-out, then due deliveries),
 * the full-text index, the daily DMARC reports, Idempotency-Key expiry, mailbox retention with
 * the recovery window's end, and the JMAP change log's retention. Each step
 * runs in slices until it has no more work or the pass's time budget is spent, so a trigger
 * with a CPU or wall-clock limit ends cleanly and the next one carries on; every step claims its
 * rows through leases in the store, so overlapping passes (two isolates, a cron beside a
 * `postern serve` on one store) never do one row twice. A failing step is logged and the
 * others still run: a dead webhook endpoint must not hold up federation. A host that must also
 * bound the count of subrequests or queries per trigger (a Worker) passes `limits`: each step
 * then takes one slice of at most that many items.
 */
import type { Deps } from "../deps.ts";
import { runFederationOnce } from "../federation/worker.ts";
import { pruneChangeLog } from "../jmap/retention.ts";
import { releaseLease, takeLease } from "../store/leases.ts";
import { purgeExpiredKeys } from "../transactional/idempotency.ts";
import { pollInbound } from "../transactional/inbound_webhooks.ts";
import { dispatchWebhooks } from "../transactional/webhook_dispatcher.ts";
import { runRetention } from "./retention.ts";
import { indexPendingMessages } from "./search_index.ts";
import { sendReports } from "../reports/worker.ts";

export interface ScheduledLimits {
  /** Outbox rows claimed for federation, in one slice. */
  federationRows?: number;
  /** Messages sent to peers at once. */
  federationConcurrency?: number;
  /** New inbound messages turned into `email.received` deliveries. */
  inboundWebhooks?: number;
  /** Webhook deliveries posted, in one slice. */
  webhookDeliveries?: number;
  /** Full-text index batches (of search_index.ts's batch size). */
  searchBatches?: number;
  /** Report groups (a day and a sender domain) per slice. */
  reports?: number;
}

export interface ScheduledOptions {
  /** Stop starting new slices after this long (default 25 s: under a Worker's 30 s). */
  budgetMs?: number;
  /** Names this pass in leases and logs. */
  worker?: string;
  /** Count bounds per step; without them each step runs until it is done or the budget is. */
  limits?: ScheduledLimits;
  /** Run the retention steps (Idempotency-Key expiry, change-log pruning); default true. */
  retention?: boolean;
}

export interface ScheduledReport {
  /** Outbox rows federation claimed, and how they ended. */
  federation: { claimed: number; sent: number; deferred: number; failed: number };
  /** Inbound messages turned into `email.received` deliveries. */
  inbound: number;
  /** Webhook deliveries attempted. */
  webhooks: number;
  /** Messages added to the full-text index. */
  indexed: number;
  /** DMARC aggregate reports queued. */
  reports: number;
  /** Idempotency keys removed. */
  purgedKeys: number;
  /** Change-log rows removed. */
  prunedChanges: number;
  /** Messages removed by mailbox retention (into the recovery window). */
  retainedMessages: number;
  /** Recovery entries whose window ended (their blobs freed). */
  expiredRecoverable: number;
  /** Steps not started because the budget was spent. */
  skipped: string[];
  /** Steps that failed (their error is logged). */
  failed: string[];
  ms: number;
}

/** Indexer batch size (src/services/search_index.ts BATCH): a full batch means more may wait. */
const INDEX_BATCH = 200;
/** Change-log rows per prune slice (src/jmap/retention.ts). */
const PRUNE_SLICE = 10_000;

/** Runs one pass of every background step within `budgetMs` (see the module comment). */
export async function runScheduledWork(
  deps: Deps,
  options: ScheduledOptions = {},
): Promise<ScheduledReport> {
  const started = deps.clock.now();
  const budget = options.budgetMs ?? 25_000;
  const worker = options.worker ?? `scheduled-${crypto.randomUUID().slice(0, 8)}`;
  const limits = options.limits ?? {};
  const left = () => deps.clock.now() - started < budget;
  const report: ScheduledReport = {
    federation: { claimed: 0, sent: 0, deferred: 0, failed: 0 },
    inbound: 0,
    webhooks: 0,
    indexed: 0,
    reports: 0,
    purgedKeys: 0,
    prunedChanges: 0,
    retainedMessages: 0,
    expiredRecoverable: 0,
    skipped: [],
    failed: [],
    ms: 0,
  };
  const step = async (name: string, run: () => Promise<void>) => {
    if (!left()) {
      report.skipped.push(name);
      return;
    }
    try {
      await run();
    } catch (e) {
      report.failed.push(name);
      deps.logger.log("error", "scheduled.step_failed", {
        step: name,
        worker,
        error: String((e as Error)?.message ?? e),
      });
    }
  };

  await step("federation", async () => {
    // Claimed rows are leased (outbox_delivery.ts): a pass cut short leaves them to the next.
    const slice = { limit: limits.federationRows, concurrency: limits.federationConcurrency };
    do {
      const pass = await runFederationOnce(deps, worker, slice);
      report.federation.claimed += pass.claimed;
      report.federation.sent += pass.sent;
      report.federation.deferred += pass.deferred;
      report.federation.failed += pass.failed;
      if (pass.claimed === 0) break;
    } while (limits.federationRows === undefined && left());
  });
  await step("inbound-webhooks", async () => {
    report.inbound += await pollInbound(deps, limits.inboundWebhooks);
  });
  await step("webhooks", async () => {
    do {
      const n = await dispatchWebhooks(deps, { limit: limits.webhookDeliveries });
      report.webhooks += n;
      if (n === 0) break;
    } while (limits.webhookDeliveries === undefined && left());
  });
  await step("search", async () => {
    for (let batch = 0; batch < (limits.searchBatches ?? Infinity) && left(); batch++) {
      const n = await indexPendingMessages(deps.store);
      report.indexed += n;
      if (n < INDEX_BATCH) break;
    }
  });
  await step("reports", async () => {
    // Daily DMARC aggregate reports (src/reports/), leased: one gateway of several sends.
    report.reports += await sendReports(deps, worker, limits.reports ?? 50);
  });
  if (options.retention ?? true) {
    await step("idempotency", async () => {
      report.purgedKeys += await purgeExpiredKeys(deps);
    });
    await step("mail_retention", async () => {
      // Mailbox retention and the end of recovery windows (services/retention.ts), leased.
      const pass = await runRetention(deps, worker, deps.clock.now(), Math.max(budget, 60_000));
      if (pass) {
        report.retainedMessages += pass.retained;
        report.expiredRecoverable += pass.expired;
      }
    });
    await step("jmap_retention", async () => {
      // One pruner at a time across isolates and processes (the lease of src/jmap/retention.ts).
      const lease = "jmap_changes_prune";
      if (!await takeLease(deps.store, lease, worker, Math.max(budget, 60_000))) return;
      try {
        while (left()) {
          const n = await pruneChangeLog(deps.store);
          report.prunedChanges += n;
          if (n < PRUNE_SLICE) break;
        }
      } finally {
        await releaseLease(deps.store, lease, worker);
      }
    });
  }
  report.ms = deps.clock.now() - started;
  deps.logger.log(report.failed.length ? "warn" : "info", "scheduled.pass", { worker, ...report });
  return report;
}
