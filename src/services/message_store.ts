/**
 * Writing messages into mailboxes, inside a caller's write transaction: the raw bytes once per
 * SHA-256 (`blobs`), a per-mailbox UID and modification sequence (RFC 3501 section 2.3.1.1,
 * RFC 7162 section 3.1), the thread (References/In-Reply-To, RFC 5322 section 3.6.4),
 * the account's used bytes and a `message.created` event (the FTS5 row follows in batches, see
 * search_index.ts). Every transport's store step ends here.
 */
import { and, eq, inArray } from "drizzle-orm";
import type { ParsedMail } from "../../schemas/mail.ts";
import { sha256Hex } from "../crypto.ts";
import type { InValue, ResultSet } from "@libsql/client/web";
import type { Statement, Tx } from "../store/store.ts";
import {
  assertStep,
  counterBump,
  MODSEQ_BUMP_SQL,
  rawSql,
  runStatements,
  schema,
  UID_BUMP_SQL,
} from "../store/store.ts";
import { blobStatements } from "./blob_chunks.ts";
import { searchableBody } from "./search_index.ts";

export interface Flags {
  seen?: boolean;
  flagged?: boolean;
  answered?: boolean;
  draft?: boolean;
  deleted?: boolean;
  keywords?: string[];
}

export interface StoreInput {
  accountId: number;
  mailboxId: number;
  blobSha256: string;
  size: number;
  parsed: ParsedMail & Record<string, unknown>;
  flags?: Flags;
  internalDate: number;
  /** When set, a second store with the same key into the same mailbox is a no-op. */
  deliveryKey?: string;
}

export interface StoredMessage {
  id: number;
  uid: number;
  modseq: number;
  mailboxId: number;
  threadId: number;
  duplicate: boolean;
}

/** Inserts the raw bytes unless the same content is already stored; returns its SHA-256. */
export async function putBlob(tx: Tx, raw: Uint8Array, sha?: string): Promise<string> {
  const sha256 = sha ?? await sha256Hex(raw);
  await runStatements(tx, blobStatements(raw, sha256)); // chunked when large (blob_chunks.ts)
  return sha256;
}

/** Key that makes re-delivery of the same message (Message-ID and content) idempotent. */
export async function deliveryKeyFor(messageId: string | undefined, sha: string): Promise<string> {
  return await sha256Hex(`${messageId ?? ""}\n${sha}`);
}

/** Takes the next UID and modseq of a mailbox (atomic inside the write transaction). */
export async function allocateUid(
  tx: Tx,
  mailboxId: number,
): Promise<{ uid: number; modseq: number }> {
  const row = await rawSql(tx).get<{ uid: number; modseq: number }>(UID_BUMP_SQL, [mailboxId]);
  if (!row) throw new Error(`mailbox ${mailboxId} vanished`);
  return { uid: Number(row.uid), modseq: Number(row.modseq) };
}

/** Takes the next modseq of a mailbox, for flag changes and expunges. */
export async function nextModseq(tx: Tx, mailboxId: number): Promise<number> {
  const row = await rawSql(tx).get<{ modseq: number }>(MODSEQ_BUMP_SQL, [mailboxId]);
  return Number(row?.modseq ?? 0);
}

function normalizeSubject(subject: string): string {
  return subject.replace(/^\s*((re|fwd?|aw|sv|wg)\s*(\[\d+\])?\s*:\s*)+/i, "").trim();
}

/** Message-IDs a thread lookup considers (the newest references matter most). */
const MAX_THREAD_REFS = 50;

function previewOf(parsed: ParsedMail): string {
  return searchableBody(parsed).replace(/\s+/g, " ").trim().slice(0, 200);
}

const bit = (b: boolean | undefined) => (b ? 1 : 0);

/**
 * The message a job has just inserted into mailbox `?`: the one whose UID is still the mailbox's
 * `uid_next` (every UID below it was given out before; the job bumps it last). This is how the
 * later steps of a job know, in SQL, that the insert took place.
 */
const JUST_STORED =
  "SELECT id FROM messages WHERE mailbox_id = ?1 AND uid = (SELECT uid_next FROM mailboxes WHERE id = ?1)";

/** The quota step of a store job: only when the message row went in. */
const STORED_QUOTA_BUMP_SQL = counterBump(
  `UPDATE accounts SET used_bytes = used_bytes + ?2 WHERE id = ?3 AND EXISTS (${JUST_STORED})`,
);

/** The last step: the mailbox's next UID and modseq, only when the message row went in. */
const STORED_UID_BUMP_SQL = counterBump(
  "UPDATE mailboxes SET uid_next = uid_next + 1, highest_modseq = highest_modseq + 1 " +
    "WHERE id = ?1 AND EXISTS (SELECT 1 FROM messages WHERE mailbox_id = ?1 AND uid = uid_next)",
);

/** One more message in the thread of the message just stored. */
const STORED_THREAD_COUNT_SQL =
  `UPDATE threads SET message_count = message_count + 1, last_date = max(last_date, ?2)
   WHERE id = (SELECT thread_id FROM messages WHERE id = (${JUST_STORED}))`;

/** Its `message.created` event, from the row itself (RFC 3501 UID, RFC 7162 modseq). */
const STORED_EVENT_SQL = `INSERT INTO events (account_id, type, mailbox_id, message_id, data)
   SELECT account_id, 'message.created', mailbox_id, id,
     json_object('uid', uid, 'modseq', modseq, 'threadId', thread_id)
   FROM messages WHERE id = (${JUST_STORED})`;

/** The last step: what became of the job (the copy stored before, when it was a duplicate). */
const STORE_STATUS_SQL =
  `SELECT EXISTS (SELECT 1 FROM mailboxes WHERE id = ?1) AS mailbox_exists, m.id, m.uid,
     m.modseq, m.thread_id FROM (SELECT 1) LEFT JOIN messages m
     ON m.mailbox_id = ?1 AND m.delivery_key = ?2`;

/** How a store job ended for its mailbox. */
export type StoreOutcome = StoredMessage | { refused: "quota" | "mailbox" };

/** The statements of a store job and how to read its results. */
export interface StoreJob {
  statements: Statement[];
  /** Reads the job's answer from the results of its statements (`results[at]` is its first). */
  decode(results: ResultSet[], at: number): StoreOutcome;
}

/**
 * The SQL of a store job's two inserts for its shape (how many Message-IDs the thread lookup
 * asks for, which guards apply), made once per shape: the same string every time, so the
 * prepared-statement cache finds it without hashing a new kilobyte of SQL per message.
 */
function storeJobSql(refs: number, keyed: boolean, quota: boolean) {
  const shape = `${refs} ${keyed} ${quota}`;
  let sql = storeJobSqlByShape.get(shape);
  if (sql) return sql;
  const knownThread = refs === 0 ? "NULL" : `(SELECT thread_id FROM messages
    WHERE account_id = ? AND message_id_header IN (${Array(refs).fill("?").join(", ")}) LIMIT 1)`;
  const guards: string[] = [];
  if (keyed) {
    guards.push("NOT EXISTS (SELECT 1 FROM messages WHERE mailbox_id = ? AND delivery_key = ?)");
  }
  if (quota) {
    guards.push(
      "(SELECT quota_bytes = 0 OR used_bytes + ? <= quota_bytes FROM accounts WHERE id = ?)",
    );
  }
  const guard = guards.length === 0 ? "1" : guards.join(" AND ");
  sql = {
    thread: `INSERT INTO threads (account_id, subject, message_count, last_date)
        SELECT ?, ?, 0, ? WHERE ${guard} AND ${knownThread} IS NULL
        AND EXISTS (SELECT 1 FROM mailboxes WHERE id = ?)`,
    // A new thread is the row the step just before inserted (its guards are these): named by
    // last_insert_rowid(), as the statements of a job run in order on one connection.
    message: `INSERT INTO messages (account_id, mailbox_id, uid, modseq, thread_id, blob_sha256,
          delivery_key, message_id_header, subject, from_address, from_name, to_json, cc_json,
          preview, sent_at, internal_date, size, has_attachments, seen, flagged, answered, draft,
          deleted, keywords, parsed)
        SELECT ?, id, uid_next, highest_modseq + 1, coalesce(${knownThread},
          (SELECT id FROM threads WHERE id = last_insert_rowid() AND account_id = ?)),
          ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
        FROM mailboxes WHERE id = ? AND ${guard}
        RETURNING id, uid, modseq, thread_id`,
  };
  storeJobSqlByShape.set(shape, sql);
  return sql;
}

/** At most MAX_THREAD_REFS + 1 lengths × 4 guard sets. */
const storeJobSqlByShape = new Map<string, { thread: string; message: string }>();

/**
 * Stores one message into one mailbox as statements that depend on each other only in SQL
 * (DESIGN.md: write jobs are single round trips): a thread row if no message of the account
 * names one of its references (RFC 5322 section 3.6.4), the message row with the mailbox's next
 * UID and modseq computed from the mailbox row itself (RFC 3501 2.3.1.1, RFC 7162 3.1), then
 * the thread count, quota, `message.created` event and the UID bump, each guarded by "the row
 * went in". The row goes in only when no message of the mailbox has the same `deliveryKey` (a
 * second delivery is a no-op, whichever process runs it) and, with `quotaGuard`, when the
 * account's quota still has room — both re-checked in SQL when the job runs, whatever the
 * caller read before. The caller puts the blob. The full-text index catches up in batches
 * (services/search_index.ts).
 */
export function storeMessageJob(input: StoreInput & { quotaGuard?: boolean }): StoreJob {
  const p = input.parsed;
  const flags = input.flags ?? {};
  const { accountId, mailboxId, deliveryKey } = input;
  const refs = [...p.references];
  if (p.inReplyTo) refs.push(p.inReplyTo);
  if (p.messageId) refs.push(p.messageId);
  const wanted = refs.slice(-MAX_THREAD_REFS);
  const knownArgs = wanted.length === 0 ? [] : [accountId, ...wanted];
  // The guards both inserts share: not delivered here before, room under the quota.
  const guardArgs: InValue[] = [];
  if (deliveryKey) guardArgs.push(mailboxId, deliveryKey);
  if (input.quotaGuard) guardArgs.push(input.size, accountId);
  const sql = storeJobSql(wanted.length, Boolean(deliveryKey), Boolean(input.quotaGuard));
  const statements: Statement[] = [
    {
      sql: sql.thread,
      args: [
        accountId,
        normalizeSubject(p.subject).slice(0, 500),
        input.internalDate,
        ...guardArgs,
        ...knownArgs,
        mailboxId,
      ],
    },
    {
      sql: sql.message,
      single: true,
      args: [
        accountId,
        ...knownArgs,
        accountId,
        input.blobSha256,
        deliveryKey ?? null,
        p.messageId ?? null,
        p.subject.slice(0, 2000),
        p.from?.address ?? "",
        p.from?.name ?? "",
        JSON.stringify(p.to),
        JSON.stringify(p.cc),
        previewOf(p),
        p.date ?? input.internalDate,
        input.internalDate,
        input.size,
        bit(p.attachments.some((a) => a.disposition === "attachment")),
        bit(flags.seen),
        bit(flags.flagged),
        bit(flags.answered),
        bit(flags.draft),
        bit(flags.deleted),
        JSON.stringify(flags.keywords ?? []),
        JSON.stringify(p),
        mailboxId,
        ...guardArgs,
      ],
    },
    { sql: STORED_THREAD_COUNT_SQL, args: [mailboxId, input.internalDate] },
    { sql: STORED_QUOTA_BUMP_SQL, args: [mailboxId, input.size, accountId] },
    { sql: STORED_EVENT_SQL, args: [mailboxId] },
    { sql: STORED_UID_BUMP_SQL, args: [mailboxId] },
    // Always one row: whether the mailbox is there, and the earlier copy when a duplicate.
    { sql: STORE_STATUS_SQL, args: [mailboxId, deliveryKey ?? null], single: true },
  ];
  return {
    statements,
    decode(results, at) {
      const inserted = results[at + 1].rows[0];
      const status = results[at + 6].rows[0];
      const row = inserted ?? (status.id === null ? undefined : status);
      if (!row) return { refused: Number(status.mailbox_exists) ? "quota" : "mailbox" };
      return {
        id: Number(row.id),
        uid: Number(row.uid),
        modseq: Number(row.modseq),
        mailboxId,
        threadId: Number(row.thread_id),
        duplicate: !inserted,
      };
    },
  };
}

/**
 * Stores one message into one mailbox inside the caller's write transaction: the statements of
 * `storeMessageJob`, run one by one. The caller has checked quota and put the blob.
 */
export async function storeMessage(tx: Tx, input: StoreInput): Promise<StoredMessage> {
  const job = storeMessageJob(input);
  const outcome = job.decode(await runStatements(tx, job.statements), 0);
  if ("refused" in outcome) throw new Error(`mailbox ${input.mailboxId} vanished`);
  return outcome;
}

/**
 * A message leaving its mailbox (purge, move), read before: the check that it has not changed
 * since (every change gives a row a new modseq in its mailbox), a new modseq there, and its UID
 * recorded as expunged under it (RFC 7162 section 3.2.5, for QRESYNC clients).
 */
function leaveStatements(m: { id: number; mailboxId: number; uid: number; modseq: number }) {
  return [
    assertStep(
      "EXISTS (SELECT 1 FROM messages WHERE id = ? AND mailbox_id = ? AND modseq = ?)",
      [m.id, m.mailboxId, m.modseq],
    ),
    { sql: MODSEQ_BUMP_SQL, args: [m.mailboxId] },
    {
      sql: `INSERT INTO expunged (mailbox_id, uid, modseq)
        SELECT id, ?, highest_modseq FROM mailboxes WHERE id = ? ON CONFLICT DO NOTHING`,
      args: [m.uid, m.mailboxId],
    },
  ];
}

/** A message as a purge reads it before writing. */
export interface PurgeRow {
  id: number;
  mailboxId: number;
  uid: number;
  modseq: number;
  threadId: number;
  size: number;
  blobSha256: string;
}

/**
 * The statements that remove messages (read before, `rows`) for good: rows, FTS rows, thread
 * counts, an `expunged` record per UID under a new modseq for sync clients (RFC 7162 3.2.5),
 * events, quota, and blobs nothing else references. assertSteps stop the job when a row changed
 * since it was read.
 */
export function purgeStatements(accountId: number, rows: PurgeRow[]): Statement[] {
  if (rows.length === 0) return [];
  const statements: Statement[] = [];
  for (const m of rows) {
    statements.push(
      ...leaveStatements(m),
      { sql: "DELETE FROM messages WHERE id = ?", args: [m.id] },
      { sql: "DELETE FROM messages_fts WHERE rowid = ?", args: [m.id] },
      {
        sql: "UPDATE threads SET message_count = message_count - 1 WHERE id = ?",
        args: [m.threadId],
      },
      {
        sql: `INSERT INTO events (account_id, type, mailbox_id, message_id, data)
          SELECT ?, 'message.deleted', id, ?, json_object('uid', ?, 'modseq', highest_modseq)
          FROM mailboxes WHERE id = ?`,
        args: [accountId, m.id, m.uid, m.mailboxId],
      },
    );
  }
  const freed = rows.reduce((n, m) => n + m.size, 0);
  statements.push(
    {
      sql: "UPDATE accounts SET used_bytes = max(0, used_bytes - ?) WHERE id = ?",
      args: [freed, accountId],
    },
    {
      sql: "DELETE FROM threads WHERE account_id = ? AND message_count <= 0",
      args: [accountId],
    },
  );
  for (const sha of new Set(rows.map((m) => m.blobSha256))) {
    statements.push({
      sql: `DELETE FROM blobs WHERE sha256 = ?1
        AND NOT EXISTS (SELECT 1 FROM messages WHERE blob_sha256 = ?1)
        AND NOT EXISTS (SELECT 1 FROM outbox WHERE blob_sha256 = ?1)
        AND NOT EXISTS (SELECT 1 FROM uploads WHERE blob_sha256 = ?1)`,
      args: [sha],
    });
  }
  return statements;
}

/** Removes messages for good (IMAP EXPUNGE, API purge) inside the caller's transaction. */
export async function purgeMessages(tx: Tx, accountId: number, ids: number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const rows = await tx.select().from(schema.messages).where(and(
    eq(schema.messages.accountId, accountId),
    inArray(schema.messages.id, ids),
  ));
  await runStatements(tx, purgeStatements(accountId, rows));
  return rows.length;
}

/** A message as a move reads it before writing. */
export interface MoveRow {
  id: number;
  mailboxId: number;
  uid: number;
  modseq: number;
}

/**
 * The statements that move messages (read before, `rows`) into another mailbox of the same
 * account: per message an `expunged` record in the old mailbox under a new modseq there, a new
 * UID and modseq in the target (RFC 3501 2.3.1.1, RFC 7162 3.1), and a `message.moved` event.
 * assertSteps stop the job when a row changed since it was read (every change gives it a new
 * modseq in its mailbox) or the target left the account. Each move's UPDATE answers the
 * message's id and new UID.
 */
export function moveStatements(
  accountId: number,
  rows: MoveRow[],
  targetMailboxId: number,
): Statement[] {
  const t = targetMailboxId;
  const moving = rows.filter((m) => m.mailboxId !== t);
  if (moving.length === 0) return [];
  const statements: Statement[] = [
    assertStep("EXISTS (SELECT 1 FROM mailboxes WHERE id = ? AND account_id = ?)", [t, accountId]),
  ];
  for (const m of moving) {
    statements.push(
      ...leaveStatements(m),
      {
        sql: `UPDATE messages SET mailbox_id = ?1,
            uid = (SELECT uid_next FROM mailboxes WHERE id = ?1),
            modseq = (SELECT highest_modseq + 1 FROM mailboxes WHERE id = ?1)
          WHERE id = ?2 RETURNING id, uid`,
        args: [t, m.id],
      },
      // The target's next UID and modseq, taken by the message just put there.
      { sql: UID_BUMP_SQL, args: [t] },
      {
        sql: `INSERT INTO events (account_id, type, mailbox_id, message_id, data)
          SELECT ?, 'message.moved', mailbox_id, id, json_object('fromMailboxId', ?,
            'oldUid', ?, 'uid', uid, 'modseq', modseq) FROM messages WHERE id = ?`,
        args: [accountId, m.mailboxId, m.uid, m.id],
      },
    );
  }
  return statements;
}

/** The new UIDs of a move, from the results of its statements (`moveStatements`, at `at`). */
function movedUids(
  rows: MoveRow[],
  targetMailboxId: number,
  results: ResultSet[],
  at = 0,
): { id: number; uid: number }[] {
  // After the target's check, six statements per moved message; the fourth is the UPDATE.
  let k = 0;
  return rows.map((m) => {
    if (m.mailboxId === targetMailboxId) return { id: m.id, uid: m.uid };
    const row = results[at + 1 + 6 * k++ + 3].rows[0];
    return { id: m.id, uid: Number(row.uid) };
  });
}

/** Moves messages to another mailbox of the same account: new UIDs there, expunged here. */
export async function moveMessages(
  tx: Tx,
  accountId: number,
  ids: number[],
  targetMailboxId: number,
): Promise<{ id: number; uid: number }[]> {
  const rows = await tx.select().from(schema.messages).where(and(
    eq(schema.messages.accountId, accountId),
    inArray(schema.messages.id, ids),
  ));
  const statements = moveStatements(accountId, rows, targetMailboxId);
  return movedUids(rows, targetMailboxId, await runStatements(tx, statements));
}
