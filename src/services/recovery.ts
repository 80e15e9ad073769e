/**
 * The recovery window for deleted mail (issue 21, item 7): a message removed for good — IMAP
 * EXPUNGE, POP3 DELE, REST delete from Trash or purge, JMAP Email/destroy, a mailbox deleted
 * with its mail, retention — is copied into `recoverable_messages` by the same write job that
 * removes it (message_store.ts purgeStatements), stays listed for `POSTERN_RECOVERY_DAYS`, and
 * can be restored into its former mailbox (or the Inbox when that is gone) with a new UID.
 * After the window a bounded slice removes the rows and the blobs nothing else names.
 *
 * Quota: recoverable mail does not count against the account's quota (the purge gives the
 * bytes back, as before); a restore takes them again and is refused when they no longer fit.
 * The hot read paths (IMAP, JMAP, POP3, search) never see these rows: they live in a table of
 * their own.
 */
import { and, desc, eq, lt, or } from "drizzle-orm";
import type { Config } from "../config.ts";
import type { Deps } from "../deps.ts";
import { AppError, notFound } from "../errors.ts";
import { inJson } from "../store/optimistic.ts";
import { type Queryable, schema, type Store } from "../store/store.ts";
import { BLOB_UNUSED, blobBytes } from "./blob_chunks.ts";
import { mailboxByRole } from "./mailboxes.ts";
import { sealedStoreJob } from "./message_store.ts";

const DAY_MS = 86_400_000;

export interface Recoverable {
  id: number;
  mailboxId: number | null;
  mailboxName: string;
  messageId: number;
  subject: string;
  from: string;
  size: number;
  receivedAt: string;
  deletedAt: string;
  expiresAt: string;
  flags: { seen: boolean; flagged: boolean; answered: boolean; draft: boolean };
  keywords: string[];
}

type Row = typeof schema.recoverableMessages.$inferSelect;

function toRecoverable(r: Row, days: number): Recoverable {
  return {
    id: r.id,
    mailboxId: r.mailboxId,
    mailboxName: r.mailboxName,
    messageId: r.messageId,
    subject: r.subject,
    from: r.fromAddress,
    size: r.size,
    receivedAt: new Date(r.internalDate).toISOString(),
    deletedAt: new Date(r.deletedAt).toISOString(),
    expiresAt: new Date(r.deletedAt + days * DAY_MS).toISOString(),
    flags: { seen: r.seen, flagged: r.flagged, answered: r.answered, draft: r.draft },
    keywords: JSON.parse(r.keywords),
  };
}

/** The account's recoverable messages, newest deletion first, in keyset pages. */
export async function listRecoverable(
  db: Queryable,
  config: Pick<Config, "recoveryDays">,
  accountId: number,
  q: { limit: number; cursor?: string },
): Promise<{ items: Recoverable[]; nextCursor: string | null }> {
  const t = schema.recoverableMessages;
  const [at, id] = (q.cursor ?? "").split(".").map(Number);
  const after = q.cursor && Number.isFinite(at) && Number.isFinite(id)
    ? or(lt(t.deletedAt, at), and(eq(t.deletedAt, at), lt(t.id, id)))
    : undefined;
  const rows = await db.select().from(t).where(and(eq(t.accountId, accountId), after))
    .orderBy(desc(t.deletedAt), desc(t.id)).limit(q.limit + 1);
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return {
    items: page.map((r) => toRecoverable(r, config.recoveryDays)),
    nextCursor: rows.length > q.limit && last ? `${last.deletedAt}.${last.id}` : null,
  };
}

/**
 * Restores a recoverable message of the account into its former mailbox (the Inbox when that
 * is gone) with the next UID there, its flags, keywords and internal date, in one write job
 * that also removes the recovery row. The store step carries a delivery key of the recovery
 * row, so a restore retried after an unclear answer stores nothing twice.
 */
export async function restoreRecoverable(
  deps: Deps,
  accountId: number,
  id: number,
): Promise<{ messageId: number; mailboxId: number; uid: number }> {
  const db = deps.store.db;
  const t = schema.recoverableMessages;
  const [row] = await db.select().from(t).where(and(eq(t.id, id), eq(t.accountId, accountId)));
  if (!row) throw notFound("recoverable message");
  const former = row.mailboxId === null ? undefined : (await db.select().from(schema.mailboxes)
    .where(and(eq(schema.mailboxes.id, row.mailboxId), eq(schema.mailboxes.accountId, accountId))))[
      0
    ];
  const target = former ?? await mailboxByRole(db, accountId, "inbox");
  if (!target) throw notFound("mailbox");
  const [blob] = await db.select().from(schema.blobs)
    .where(eq(schema.blobs.sha256, row.blobSha256));
  if (!blob) throw new AppError(500, "internal", "the recoverable message's content is missing");
  const raw = await blobBytes(db, blob);
  const deliveryKey = `recovered:${row.id}`;
  const job = await sealedStoreJob(deps.store, {
    accountId,
    mailboxId: target.id,
    blobSha256: row.blobSha256,
    size: row.size,
    parsed: await deps.mime.parse(raw),
    flags: {
      seen: row.seen,
      flagged: row.flagged,
      answered: row.answered,
      draft: row.draft,
      keywords: JSON.parse(row.keywords),
    },
    internalDate: row.internalDate,
    deliveryKey,
    quotaGuard: true,
  });
  const results = await deps.store.batch([
    ...job.statements,
    {
      sql: `DELETE FROM recoverable_messages WHERE id = ? AND account_id = ?
        AND EXISTS (SELECT 1 FROM messages WHERE mailbox_id = ? AND delivery_key = ?)`,
      args: [row.id, accountId, target.id, deliveryKey],
    },
  ]);
  const outcome = job.decode(results, 0);
  if ("refused" in outcome) {
    throw outcome.refused === "quota"
      ? new AppError(507, "quota_exceeded", "the mailbox quota would be exceeded")
      : new AppError(409, "conflict", "the mailbox went away meanwhile; try again");
  }
  deps.bus.notify(accountId);
  return { messageId: outcome.id, mailboxId: target.id, uid: outcome.uid };
}

/** Recovery rows removed per slice. */
export const EXPIRE_SLICE = 200;

/**
 * One bounded slice: removes up to `limit` recovery rows whose window has passed (all of them
 * when recovery is off), then the blobs of those rows that nothing else names. Returns how
 * many rows went. One write job after one read; a row restored meanwhile is simply not there.
 */
export async function expireRecoverable(
  store: Store,
  config: Pick<Config, "recoveryDays">,
  now: number,
  limit = EXPIRE_SLICE,
): Promise<number> {
  const t = schema.recoverableMessages;
  const cutoff = now - config.recoveryDays * DAY_MS;
  const rows = await store.db.select({ id: t.id, sha: t.blobSha256 }).from(t)
    .where(lt(t.deletedAt, cutoff)).orderBy(t.deletedAt).limit(limit);
  if (rows.length === 0) return 0;
  const results = await store.batch([
    {
      sql: `DELETE FROM recoverable_messages WHERE id ${inJson("?1")} AND deleted_at < ?2`,
      args: [JSON.stringify(rows.map((r) => r.id)), cutoff],
    },
    {
      sql: `DELETE FROM blobs WHERE sha256 ${inJson("?1")} AND ${BLOB_UNUSED}`,
      args: [JSON.stringify([...new Set(rows.map((r) => r.sha))])],
    },
    {
      // Structures of blobs that went go with them (as at an expunge).
      sql: `DELETE FROM mime_structures WHERE sha256 ${inJson("?1")}
        AND NOT EXISTS (SELECT 1 FROM blobs WHERE blobs.sha256 = mime_structures.sha256)`,
      args: [JSON.stringify([...new Set(rows.map((r) => r.sha))])],
    },
  ]);
  return Number(results[0].rowsAffected ?? 0);
}
