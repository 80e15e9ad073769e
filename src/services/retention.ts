/**
 * Per-mailbox retention (issue 21, item 7): a mailbox may keep its messages N days after they
 * arrived there (`PATCH /v1/mailboxes/{id}` `retentionDays`); new accounts' Junk and Trash get
 * the configured defaults. A bounded slice, leased so that one of several gateways runs it
 * (`postern serve`'s timer, a Worker's `scheduled()`, Deno Deploy's cron), removes what is
 * older — through the same purge as IMAP EXPUNGE, so the mail lands in the recovery window —
 * and ends recovery windows that have passed (services/recovery.ts).
 *
 * "Arrived there" is read from UID marks (store/schema_retention.ts): every message gets a new,
 * larger UID when it enters a mailbox, so the messages below the `uid_next` a mailbox had N days
 * ago are exactly those that arrived more than N days ago. The slice records a mark per mailbox
 * now and then (a thirtieth of its limit, between an hour and a day), so a message goes at most
 * that much after its time, never before — and a mailbox whose retention was just set starts
 * counting from its first mark.
 */
import type { Config } from "../config.ts";
import type { Deps } from "../deps.ts";
import type { Logger } from "../ports.ts";
import { releaseLease, takeLease } from "../store/leases.ts";
import { isFailedAssertion, type Queryable, rawSql, type Statement } from "../store/store.ts";
import { inJson } from "../store/optimistic.ts";
import { type PurgeRow, purgeStatements } from "./message_store.ts";
import { EXPIRE_SLICE, expireRecoverable } from "./recovery.ts";
import { recoveryOn } from "./recovery_sql.ts";

const DAY_MS = 86_400_000;
/**
 * How often a mailbox under retention gets a new UID mark: a thirtieth of its limit, between an
 * hour and a day, so a mailbox keeps about 31 marks whatever its limit, and a message goes at
 * most that much after its time (a day late of 30, an hour of one).
 */
const MARK_MIN_MS = 3_600_000;
const MARK_MAX_MS = DAY_MS;
/** Messages removed per slice. */
export const RETENTION_SLICE = 500;
export const RETENTION_LEASE = "retention";

/** The rows a new account's Junk and Trash get (0 in the configuration: none, keep for ever). */
export function defaultRetentionStatements(
  config: Pick<Config, "retentionJunkDays" | "retentionTrashDays">,
  accountIdSql: string,
  accountArgs: unknown[],
): Statement[] {
  return ([["junk", config.retentionJunkDays], ["trash", config.retentionTrashDays]] as const)
    .filter(([, days]) => days > 0)
    .map(([role, days]) => ({
      sql: `INSERT INTO mailbox_retention (mailbox_id, days)
        SELECT id, ? FROM mailboxes WHERE account_id = ${accountIdSql} AND role = ?`,
      args: [days, ...accountArgs, role] as Statement["args"],
    }));
}

/** The step that sets a mailbox's retention (null: keep for ever). */
export function setRetentionStatement(mailboxId: number, days: number | null, now: number) {
  return {
    sql: `INSERT INTO mailbox_retention (mailbox_id, days, updated_at) VALUES (?, ?, ?)
      ON CONFLICT (mailbox_id) DO UPDATE SET days = excluded.days, updated_at = excluded.updated_at`,
    args: [mailboxId, days, now],
  };
}

/** Retention days per mailbox id (null or absent: for ever). */
export async function retentionOf(
  db: Queryable,
  mailboxIds: number[],
): Promise<Map<number, number | null>> {
  if (mailboxIds.length === 0) return new Map();
  const rows = await rawSql(db).all<{ mailbox_id: number; days: number | null }>(
    `SELECT mailbox_id, days FROM mailbox_retention WHERE mailbox_id ${inJson("?")}`,
    [JSON.stringify(mailboxIds)],
  );
  return new Map(rows.map((r) => [Number(r.mailbox_id), r.days === null ? null : Number(r.days)]));
}

/**
 * One bounded slice at `now`: marks for the mailboxes under retention that need one, then up
 * to `limit` messages past their mailbox's limit purged (into the recovery window), then old
 * marks pruned. Returns the number of messages removed. A message that changed between the
 * read and the purge stops that account's job (the next slice reads it again).
 */
export async function applyRetention(
  deps: Pick<Deps, "store" | "config">,
  now: number,
  limit = RETENTION_SLICE,
): Promise<number> {
  const { store } = deps;
  await store.batch([{
    sql: `INSERT INTO retention_marks (mailbox_id, at, uid_next)
      SELECT r.mailbox_id, ?1, b.uid_next FROM mailbox_retention r
        JOIN mailboxes b ON b.id = r.mailbox_id
      WHERE r.days IS NOT NULL AND NOT EXISTS (SELECT 1 FROM retention_marks k
        WHERE k.mailbox_id = r.mailbox_id AND k.at > ?1 - max(?2, min(?3, r.days * ?4)))`,
    args: [now, MARK_MIN_MS, MARK_MAX_MS, DAY_MS / 30],
  }]);
  const rows = await rawSql(store.db).all<{
    id: number;
    account_id: number;
    mailbox_id: number;
    uid: number;
    modseq: number;
    thread_id: number;
    size: number;
    blob_sha256: string;
  }>(
    `WITH cut AS (SELECT r.mailbox_id, max(k.uid_next) AS below FROM mailbox_retention r
        JOIN retention_marks k ON k.mailbox_id = r.mailbox_id AND k.at <= ?1 - r.days * ${DAY_MS}
        WHERE r.days IS NOT NULL GROUP BY r.mailbox_id)
      SELECT m.id, m.account_id, m.mailbox_id, m.uid, m.modseq, m.thread_id, m.size,
        m.blob_sha256
      FROM cut JOIN messages m ON m.mailbox_id = cut.mailbox_id AND m.uid < cut.below
      ORDER BY m.mailbox_id, m.uid LIMIT ?2`,
    [now, limit],
  );
  const byAccount = new Map<number, PurgeRow[]>();
  for (const r of rows) {
    const list = byAccount.get(Number(r.account_id)) ?? [];
    list.push({
      id: Number(r.id),
      mailboxId: Number(r.mailbox_id),
      uid: Number(r.uid),
      modseq: Number(r.modseq),
      threadId: Number(r.thread_id),
      size: Number(r.size),
      blobSha256: String(r.blob_sha256),
    });
    byAccount.set(Number(r.account_id), list);
  }
  let removed = 0;
  for (const [accountId, list] of byAccount) {
    try {
      await store.batch(purgeStatements(accountId, list, { recover: recoveryOn(deps.config) }));
      removed += list.length;
    } catch (e) {
      if (!isFailedAssertion(e)) throw e;
    }
  }
  // Marks no cut needs any more: older than the newest one past its mailbox's limit, or of a
  // mailbox that keeps its mail for ever now.
  await store.batch([{
    sql: `DELETE FROM retention_marks WHERE mailbox_id NOT IN
        (SELECT mailbox_id FROM mailbox_retention WHERE days IS NOT NULL)
      OR EXISTS (SELECT 1 FROM retention_marks n JOIN mailbox_retention r
        ON r.mailbox_id = n.mailbox_id
        WHERE n.mailbox_id = retention_marks.mailbox_id AND n.at > retention_marks.at
          AND n.at <= ?1 - r.days * ${DAY_MS})`,
    args: [now],
  }]);
  return removed;
}

/** One leased pass of retention and recovery expiry; what each removed. */
export async function runRetention(
  deps: Pick<Deps, "store" | "config">,
  holder: string,
  now: number,
  leaseMs: number,
): Promise<{ retained: number; expired: number } | undefined> {
  if (!await takeLease(deps.store, RETENTION_LEASE, holder, leaseMs, now)) return undefined;
  return {
    retained: await applyRetention(deps, now),
    expired: await expireRecoverable(deps.store, deps.config, now),
  };
}

/** `postern serve`'s timer: a pass every `intervalMs`, back to back while a backlog lasts. */
export function startRetention(
  deps: Pick<Deps, "store" | "config">,
  logger: Logger,
  intervalMs = 600_000,
) {
  const holder = `retention-${crypto.randomUUID()}`;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = (async () => {
      let busy = false;
      try {
        const pass = await runRetention(deps, holder, Date.now(), intervalMs * 2);
        busy = !!pass && (pass.retained === RETENTION_SLICE || pass.expired === EXPIRE_SLICE);
        if (pass && (pass.retained || pass.expired)) logger.log("info", "retention.pass", pass);
      } catch (error) {
        logger.log("warn", "retention.failed", { error: String((error as Error)?.message) });
      }
      if (!stopped) timer = setTimeout(tick, busy ? 0 : intervalMs);
    })();
  };
  timer = setTimeout(tick, 1000);
  return {
    async close() {
      stopped = true;
      clearTimeout(timer);
      await running;
      await releaseLease(deps.store, RETENTION_LEASE, holder).catch(() => {});
    },
  };
}
