/**
 * The transactional background worker `postern serve` starts: every interval it turns new
 * inbound mail into `email.received` deliveries, posts due webhook deliveries and, now and
 * then, forgets Idempotency-Keys past their 24 hours. All state
 * lives in the database (leases, cursors), so a restart or a second process loses nothing.
 */
import type { Deps } from "../deps.ts";
import { purgeExpiredKeys } from "./idempotency.ts";
import { pollInbound } from "./inbound_webhooks.ts";
import { type DispatchOptions, dispatchWebhooks } from "./webhook_dispatcher.ts";

export interface TxWorker {
  /** One round now (tests, and the timer). */
  tick(): Promise<void>;
  close(): Promise<void>;
}

export function startTxWorker(
  deps: Deps,
  opts: DispatchOptions & { intervalMs: number; timer?: boolean },
): TxWorker {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  let lastPurge = 0;
  const tick = async () => {
    try {
      if (deps.clock.now() - lastPurge > 600_000) {
        lastPurge = deps.clock.now();
        await purgeExpiredKeys(deps);
      }
      await pollInbound(deps);
      while (!stopped && await dispatchWebhooks(deps, opts) > 0) {
        // Keep going while there is work; the timer resumes when none is due.
      }
    } catch (e) {
      deps.logger.log("error", "tx.worker_error", { error: String((e as Error)?.message ?? e) });
    }
  };
  const loop = () => {
    if (stopped) return;
    running = tick().finally(() => {
      if (!stopped) timer = setTimeout(loop, opts.intervalMs);
    });
  };
  if (opts.timer !== false) timer = setTimeout(loop, opts.intervalMs);
  return {
    tick: () => (running = running.then(tick)),
    async close() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
