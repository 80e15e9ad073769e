/**
 * How long the JMAP change log (src/store/schema_jmap.ts) remembers: the newest KEEP_ROWS rows
 * of all accounts. Older rows go in bounded slices by whichever process holds the lease, so the
 * log never grows without end; a client whose state is older than the pruned part gets
 * cannotCalculateChanges and resyncs (RFC 8620 section 5.2), which state.ts decides from the
 * recorded watermark.
 */
import type { Logger } from "../ports.ts";
import { releaseLease, takeLease } from "../store/leases.ts";
import { rawSql, type Store } from "../store/store.ts";

export const KEEP_ROWS = 1_000_000;
/** Rows deleted per statement: one short write, never a long lock. */
const SLICE = 10_000;
const LEASE = "jmap_changes_prune";
/** The highest seq whose row may have been pruned (0 when nothing was). */
export const FLOOR_SQL = `SELECT object_id AS floor FROM jmap_changes
  WHERE account_id = 0 AND type = 'floor' ORDER BY jmap_changes.seq DESC LIMIT 1`;

/**
 * Deletes one slice of rows older than the newest `keep`, except each account's latest row of
 * each type (its current state, which must never go back). The watermark goes in first, as a
 * row of account 0 (`type = 'floor'`, `object_id` = the highest seq that may be gone): readers
 * then refuse older states even while the slices are still being deleted.
 *
 * One write job (one round trip; D1 refuses interactive transactions): the newest seq is read
 * first, and the floor row, the old floors and the slice go in one batch. A seq read a moment
 * ago can only be lower than the current one, so a stale read prunes less, never more.
 */
export async function pruneChangeLog(store: Store, keep = KEEP_ROWS): Promise<number> {
  const top = await rawSql(store.db).get<{ seq: number | null }>(
    "SELECT max(seq) AS seq FROM jmap_changes",
  );
  const watermark = Number(top?.seq ?? 0) - keep;
  if (watermark <= 0) return 0;
  const results = await store.batch([
    {
      sql: `INSERT INTO jmap_changes (account_id, type, object_id, op)
        SELECT 0, 'floor', ?1, 0 WHERE coalesce((${FLOOR_SQL}), 0) < ?1`,
      args: [watermark],
    },
    {
      sql: `DELETE FROM jmap_changes WHERE account_id = 0 AND type = 'floor' AND object_id < ?`,
      args: [watermark],
    },
    {
      sql: `DELETE FROM jmap_changes WHERE seq IN (SELECT seq FROM jmap_changes
        WHERE seq <= ? AND account_id <> 0 AND seq NOT IN (SELECT max(seq) FROM jmap_changes
          GROUP BY account_id, type)
        ORDER BY seq LIMIT ?)`,
      args: [watermark, SLICE],
    },
  ]);
  return Number(results[2].rowsAffected ?? 0);
}

/** Prunes every `intervalMs` (slices back to back while a backlog lasts). */
export function startChangeLogPruner(store: Store, logger: Logger, intervalMs = 600_000) {
  const holder = `jmap-prune-${crypto.randomUUID()}`;
  let stopped = false;
  let held = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = (async () => {
      let n = 0;
      try {
        held = await takeLease(store, LEASE, holder, intervalMs * 2);
        if (held) n = await pruneChangeLog(store);
      } catch (error) {
        logger.log("warn", "jmap.prune_failed", { error: String((error as Error)?.message) });
      }
      if (!stopped) timer = setTimeout(tick, n === SLICE ? 0 : intervalMs);
    })();
  };
  timer = setTimeout(tick, intervalMs);
  return {
    async close() {
      stopped = true;
      clearTimeout(timer);
      await running;
      if (held) await releaseLease(store, LEASE, holder).catch(() => {});
    },
  };
}
