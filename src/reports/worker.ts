/**
 * The report sender `postern serve` runs: every `intervalMs` (an hour by default) one bounded
 * pass of the daily reports owed (./dmarc_send.ts, ./tls_send.ts), slice after slice while a backlog lasts.
 * The store's lease decides which of several gateways sends; hosts driven by a trigger run the
 * same pass from services/scheduled.ts.
 */
import type { Deps } from "../deps.ts";
import { sendDmarcReports } from "./dmarc_send.ts";
import { sendTlsReports } from "./tls_send.ts";

/** One pass: every finished day's DMARC and TLS reports, in slices of `limit` domains. */
export async function sendReports(deps: Deps, worker: string, limit = 50): Promise<number> {
  let sent = 0;
  for (const send of [sendDmarcReports, sendTlsReports]) {
    for (let slices = 0; slices < 100; slices++) {
      const pass = await send(deps, { worker, limit });
      sent += pass.sent;
      if (pass.sent + pass.dropped < limit) break;
    }
  }
  return sent;
}

export function startReportWorker(deps: Deps, intervalMs = 3_600_000) {
  const worker = `reports-${crypto.randomUUID()}`;
  let stopped = false;
  let running: Promise<unknown> = Promise.resolve();
  const tick = () => {
    running = sendReports(deps, worker).catch((e) =>
      deps.logger.log("warn", "reports.pass_failed", { error: String((e as Error)?.message ?? e) })
    ).finally(() => {
      if (!stopped) timer = setTimeout(tick, intervalMs);
    });
  };
  let timer = setTimeout(tick, Math.min(intervalMs, 60_000));
  return {
    async close() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
