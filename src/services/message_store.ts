/**
 * Writing messages into mailboxes, as the statements of one-round-trip write jobs (DESIGN.md):
 * the raw bytes once per SHA-256 (`blobs`), a per-mailbox UID and modification sequence taken
 * from the mailbox row inside the job (RFC 3501 section 2.3.1.1, RFC 7162 section 3.1), the
 * thread (References/In-Reply-To, RFC 5322 section 3.6.4), the account's used bytes and a
 * `message.created` event (the FTS5 row follows in batches, see search_index.ts); and the jobs
 * that flag, move, copy and purge messages read before, each re-checking in SQL that none of
 * them changed since (`unchangedStep`), a fixed number of statements per mailbox whatever the
 * number of messages. Every transport's store step ends here.
 */
import type { ParsedMail } from "../../schemas/mail.ts";
import { sha256Hex } from "../crypto.ts";
import type { InValue, ResultSet } from "@libsql/client/web";
import type { Queryable, Statement, Store, Tx } from "../store/store.ts";
import { SEALED_PARSED_BYTES, sealRowTexts } from "../crypt/sealed_rows.ts";
import { assertStep, counterBump, MODSEQ_BUMP_SQL, rawSql, runStatements } from "../store/store.ts";
import { BLOB_UNUSED, blobStatements, blobUnused } from "./blob_chunks.ts";
import { inJson } from "../store/optimistic.ts";
import { recoverStatement } from "./recovery_sql.ts";
import { searchableBody } from "./search_index.ts";
import { parsedRowJson } from "./parsed_row.ts";
import { junkTrainingStatement } from "./spam_training.ts";

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
  /** The row's `parsed` and `preview` as sealed by `sealedStoreJob` (crypt/sealed_rows.ts). */
  rowTexts?: { parsed: string; preview: string };
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

function normalizeSubject(subject: string): string {
  return subject.replace(/^\s*((re|fwd?|aw|sv|wg)\s*(\[\d+\])?\s*:\s*)+/i, "").trim();
}

/** Message-IDs a thread lookup considers (the newest references matter most). */
const MAX_THREAD_REFS = 50;

/** Characters of a message's body its list preview shows (whitespace runs as one space). */
const PREVIEW_CHARS = 200;
/** The start of a body the preview is looked for in first (the whole body only when too short). */
const PREVIEW_SCAN = 1_000;

/** No control characters in a preview: a sealed preview begins with one (crypt/sealed_part.ts). */
const previewOf = (parsed: ParsedMail) => previewText(parsed).replace(/\p{Cc}/gu, "");

function previewText(parsed: ParsedMail): string {
  const body = searchableBody(parsed);
  // Only the start of the body reaches the preview: collapsing a 4 KB body whole, twice per send
  // (Sent and Inbox copy), showed in profiles. The prefix collapses to the same first characters
  // as the whole body does; when it collapses to fewer than it must show, the whole body is used.
  if (body.length > PREVIEW_SCAN) {
    const head = body.slice(0, PREVIEW_SCAN).replace(/\s+/g, " ").trimStart();
    if (head.length > PREVIEW_CHARS) return head.slice(0, PREVIEW_CHARS);
  }
  return body.replace(/\s+/g, " ").trim().slice(0, PREVIEW_CHARS);
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
        input.rowTexts?.preview ?? previewOf(p),
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
        input.rowTexts?.parsed ?? parsedRowJson(p),
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
 * `storeMessageJob` with the row's body text (parsed form, preview) sealed under the account's
 * data key when `store` encrypts at rest (crypt/sealed_rows.ts); as it is otherwise.
 */
export async function sealedStoreJob(
  store: Store,
  input: StoreInput & { quotaGuard?: boolean },
): Promise<StoreJob & { parsedJson: string; sealed: boolean }> {
  const p = input.parsed;
  const sealing = Boolean(store.vault?.sealNew);
  const parsedJson = parsedRowJson(p, sealing ? SEALED_PARSED_BYTES : undefined);
  const rowTexts =
    (sealing
      ? await sealRowTexts(store, input.accountId, p, parsedJson, previewOf(p))
      : undefined) ?? { parsed: parsedJson, preview: previewOf(p) };
  // The row's parsed form in clear, and whether it went in sealed: what the search indexer
  // would read back and open (services/search_index.ts `hintSearchText`).
  const sealed = rowTexts.parsed !== parsedJson;
  return { ...storeMessageJob({ ...input, rowTexts }), parsedJson, sealed };
}

/** A message as a write job read it before writing: enough to re-check it in SQL. */
export interface ReadRow {
  id: number;
  mailboxId: number;
  uid: number;
  modseq: number;
}

/** `rows` by mailbox, each list in UID order (new UIDs ascend with the old ones). */
function byMailbox<T extends ReadRow>(rows: T[]): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const r of rows) {
    const list = out.get(r.mailboxId) ?? [];
    list.push(r);
    out.set(r.mailboxId, list);
  }
  for (const list of out.values()) list.sort((a, b) => a.uid - b.uid);
  return out;
}

/**
 * The check that messages of one mailbox, read before, are all still there and unchanged: every
 * change gives a row a modseq above its mailbox's highest at that moment (RFC 7162 section 3.1),
 * so none of them may now be above the highest modseq read among them. One statement whatever
 * the number of rows (their ids are one JSON parameter).
 */
export function unchangedStep(mailboxId: number, rows: ReadRow[]): Statement {
  return assertStep(
    `(SELECT count(*) FROM messages WHERE mailbox_id = ?1 AND modseq <= ?2 AND id ${
      inJson("?3")
    }) = ?4`,
    [
      mailboxId,
      Math.max(0, ...rows.map((r) => r.modseq)),
      JSON.stringify(rows.map((r) => r.id)),
      rows.length,
    ],
  );
}

/**
 * Messages of one mailbox leaving it (purge, move), read before: the check that they have not
 * changed since, one new modseq there for all of them (RFC 7162 section 3.1.3 lets a command
 * share it), and their UIDs recorded as expunged under it (section 3.2.5, for QRESYNC clients).
 */
function leaveStatements(mailboxId: number, rows: ReadRow[]): Statement[] {
  return [
    unchangedStep(mailboxId, rows),
    { sql: MODSEQ_BUMP_SQL, args: [mailboxId] },
    {
      sql: `INSERT INTO expunged (mailbox_id, uid, modseq)
        SELECT mailbox_id, uid, (SELECT highest_modseq FROM mailboxes WHERE id = ?1)
        FROM messages WHERE id ${inJson("?2")} ON CONFLICT DO NOTHING`,
      args: [mailboxId, JSON.stringify(rows.map((r) => r.id))],
    },
  ];
}

/** A message as a purge reads it before writing. */
export interface PurgeRow extends ReadRow {
  threadId: number;
  size: number;
  blobSha256: string;
}

/**
 * The statements that remove messages (read before, `rows`) for good, a fixed number per
 * mailbox whatever the number of messages: the check that none changed since it was read, an
 * `expunged` record per UID under one new modseq (RFC 7162 3.2.5), events, thread counts, FTS
 * rows, the rows, then quota and blobs nothing else references. With `recover`, a copy of each
 * row goes into the recovery table first (services/recovery.ts), which keeps its blob.
 */
export function purgeStatements(
  accountId: number,
  rows: PurgeRow[],
  options: { recover?: boolean } = {},
): Statement[] {
  if (rows.length === 0) return [];
  // A large draft's request blob (services/drafts.ts) goes with its message, while the rows
  // still say which blobs those are.
  const statements: Statement[] = [{
    sql: `DELETE FROM blobs WHERE sha256 IN (SELECT draft_sha256 FROM messages
        WHERE id ${inJson("?1")} AND draft_sha256 IS NOT NULL)
      AND ${blobUnused({ drafts: `AND id NOT ${inJson("?1")}` })}`,
    args: [JSON.stringify(rows.map((r) => r.id))],
  }];
  for (const [mailboxId, list] of byMailbox(rows)) {
    const ids = JSON.stringify(list.map((r) => r.id));
    statements.push(
      ...leaveStatements(mailboxId, list),
      {
        sql: `INSERT INTO events (account_id, type, mailbox_id, message_id, data)
          SELECT ?1, 'message.deleted', mailbox_id, id, json_object('uid', uid, 'modseq',
            (SELECT highest_modseq FROM mailboxes WHERE id = ?2))
          FROM messages WHERE id ${inJson("?3")} ORDER BY uid`,
        args: [accountId, mailboxId, ids],
      },
      {
        sql: `UPDATE threads SET message_count = message_count -
            (SELECT count(*) FROM messages WHERE thread_id = threads.id AND id ${inJson("?1")})
          WHERE id IN (SELECT thread_id FROM messages WHERE id ${inJson("?1")})`,
        args: [ids],
      },
      { sql: `DELETE FROM messages_fts WHERE rowid ${inJson("?1")}`, args: [ids] },
      // Kept for the recovery window (services/recovery.ts), in this same job.
      ...(options.recover ? [recoverStatement(ids)] : []),
      { sql: `DELETE FROM messages WHERE id ${inJson("?1")}`, args: [ids] },
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
    {
      sql: `DELETE FROM blobs WHERE sha256 ${inJson("?1")}
        AND ${BLOB_UNUSED}`,
      args: [JSON.stringify([...new Set(rows.map((m) => m.blobSha256))])],
    },
  );
  return statements;
}

/** A message as a move reads it before writing. */
export type MoveRow = ReadRow;

/** The bump of a mailbox that took `?2` messages at once (a move's or a copy's target). */
const TAKEN_UIDS_BUMP_SQL = counterBump(
  "UPDATE mailboxes SET uid_next = uid_next + ?2, highest_modseq = highest_modseq + 1 " +
    "WHERE id = ?1",
);

/** The statements of a write job and how to read its answer from their results. */
export interface Job<T> {
  statements: Statement[];
  /** Reads the job's answer from the results of its statements (`results[at]` is its first). */
  decode(results: ResultSet[], at?: number): T;
}

/**
 * Moves messages (read before, `rows`) into another mailbox of the same account, a fixed
 * number of statements per source mailbox: they leave it (`leaveStatements`), take the
 * target's next UIDs in the order of their old ones and one new modseq there (RFC 3501
 * 2.3.1.1, RFC 7162 3.1), and each gets a `message.moved` event. assertSteps stop the job when
 * a row changed since it was read or the target left the account. The answer: each message's
 * id and UID (its old one when it was in the target already).
 */
export function moveJob(
  accountId: number,
  rows: MoveRow[],
  targetMailboxId: number,
): Job<{ id: number; uid: number }[]> {
  const t = targetMailboxId;
  const moving = rows.filter((m) => m.mailboxId !== t);
  const statements: Statement[] = [];
  const updates: number[] = [];
  if (moving.length > 0) {
    statements.push(
      assertStep("EXISTS (SELECT 1 FROM mailboxes WHERE id = ? AND account_id = ?)", [
        t,
        accountId,
      ]),
    );
  }
  for (const [source, list] of byMailbox(moving)) {
    // Each message's id and old UID, in UID order: its index is its offset from uid_next.
    const pairs = JSON.stringify(list.map((m) => [m.id, m.uid]));
    statements.push(...leaveStatements(source, list));
    updates.push(statements.length);
    statements.push(
      {
        sql: `UPDATE messages SET mailbox_id = ?1,
            uid = (SELECT uid_next FROM mailboxes WHERE id = ?1) + j.key,
            modseq = (SELECT highest_modseq + 1 FROM mailboxes WHERE id = ?1)
          FROM json_each(?2) AS j WHERE messages.id = json_extract(j.value, '$[0]')
          RETURNING messages.id AS id, messages.uid AS uid`,
        args: [t, pairs],
      },
      // The target's next UIDs and modseq, taken by the messages just put there.
      { sql: TAKEN_UIDS_BUMP_SQL, args: [t, list.length] },
      {
        sql: `INSERT INTO events (account_id, type, mailbox_id, message_id, data)
          SELECT ?1, 'message.moved', m.mailbox_id, m.id, json_object('fromMailboxId', ?2,
            'oldUid', json_extract(j.value, '$[1]'), 'uid', m.uid, 'modseq', m.modseq)
          FROM json_each(?3) AS j JOIN messages m ON m.id = json_extract(j.value, '$[0]')
          ORDER BY j.key`,
        args: [accountId, source, pairs],
      },
      // Into or out of Junk: the account's classifier learns it (services/spam_training.ts).
      junkTrainingStatement(accountId, source, t, JSON.stringify(list.map((m) => m.id))),
    );
  }
  return {
    statements,
    decode(results, at = 0) {
      const moved = new Map<number, number>();
      for (const i of updates) {
        for (const r of results[at + i].rows) moved.set(Number(r.id), Number(r.uid));
      }
      return rows.map((m) => ({ id: m.id, uid: moved.get(m.id) ?? m.uid }));
    },
  };
}

/** The statements of `moveJob`, for a caller that needs no answer from them. */
export function moveStatements(
  accountId: number,
  rows: MoveRow[],
  targetMailboxId: number,
): Statement[] {
  return moveJob(accountId, rows, targetMailboxId).statements;
}

/** The rows `just copied` into mailbox `?1`: those at or above its `uid_next` (bumped last). */
const JUST_COPIED =
  "SELECT id FROM messages WHERE mailbox_id = ?1 AND uid >= (SELECT uid_next FROM mailboxes WHERE id = ?1)";

/** A copy's quota step: the bytes of the rows just copied. */
const COPIED_QUOTA_BUMP_SQL = counterBump(
  `UPDATE accounts SET used_bytes = used_bytes + (SELECT coalesce(sum(size), 0) FROM messages
     WHERE id IN (${JUST_COPIED})) WHERE id = ?2`,
);

/** A copy's last step: the target's next UIDs and modseq, when anything was copied. */
const COPIED_UIDS_BUMP_SQL = counterBump(
  `UPDATE mailboxes SET highest_modseq = highest_modseq + 1, uid_next = uid_next +
     (SELECT count(*) FROM messages WHERE mailbox_id = ?1 AND uid >= mailboxes.uid_next)
   WHERE id = ?1 AND EXISTS
     (SELECT 1 FROM messages WHERE mailbox_id = ?1 AND uid >= mailboxes.uid_next)`,
);

/**
 * Copies messages of one mailbox (read before, `rows`) into another of the same account (IMAP
 * COPY, RFC 3501 6.4.7): new rows with the same blob, flags, keywords and thread, the target's
 * next UIDs in the order of the old ones and one new modseq, thread counts, quota and
 * `message.created` events — a fixed number of statements for any number of messages. The
 * rows go in only while the account's quota has room for all of them (checked in SQL when the
 * job runs); assertSteps stop the job when a source row is gone or the target left the account.
 * The answer: `[old UID, new UID]` pairs, or undefined when the quota refused the copy.
 */
export function copyJob(
  accountId: number,
  sourceMailboxId: number,
  rows: (ReadRow & { size: number })[],
  targetMailboxId: number,
): Job<[number, number][] | undefined> {
  const list = [...rows].sort((a, b) => a.uid - b.uid);
  const ids = JSON.stringify(list.map((r) => r.id));
  const t = targetMailboxId;
  const bytes = list.reduce((n, r) => n + r.size, 0);
  const statements: Statement[] = [
    assertStep("EXISTS (SELECT 1 FROM mailboxes WHERE id = ? AND account_id = ?)", [t, accountId]),
    assertStep(
      `(SELECT count(*) FROM messages WHERE mailbox_id = ?1 AND id ${inJson("?2")}) = ?3`,
      [sourceMailboxId, ids, list.length],
    ),
    {
      // The copy's FTS5 row comes with the indexer's next batch (services/search_index.ts).
      sql: `INSERT INTO messages (account_id, mailbox_id, uid, modseq, thread_id, blob_sha256,
          delivery_key, message_id_header, subject, from_address, from_name, to_json, cc_json,
          preview, sent_at, internal_date, size, has_attachments, seen, flagged, answered, draft,
          deleted, keywords, parsed)
        SELECT s.account_id, ?1, (SELECT uid_next FROM mailboxes WHERE id = ?1) + j.key,
          (SELECT highest_modseq + 1 FROM mailboxes WHERE id = ?1), s.thread_id, s.blob_sha256,
          NULL, s.message_id_header, s.subject, s.from_address, s.from_name, s.to_json,
          s.cc_json, s.preview, s.sent_at, s.internal_date, s.size, s.has_attachments, s.seen,
          s.flagged, s.answered, s.draft, s.deleted, s.keywords, s.parsed
        FROM json_each(?2) AS j JOIN messages s ON s.id = j.value
        WHERE (SELECT quota_bytes = 0 OR used_bytes + ?3 <= quota_bytes FROM accounts
          WHERE id = ?4)
        ORDER BY j.key
        RETURNING uid`,
      args: [t, ids, bytes, accountId],
    },
    {
      sql: `UPDATE threads SET message_count = message_count + (SELECT count(*) FROM messages
          WHERE thread_id = threads.id AND id IN (${JUST_COPIED}))
        WHERE id IN (SELECT thread_id FROM messages WHERE id IN (${JUST_COPIED}))`,
      args: [t],
    },
    { sql: COPIED_QUOTA_BUMP_SQL, args: [t, accountId] },
    {
      sql: `INSERT INTO events (account_id, type, mailbox_id, message_id, data)
        SELECT ?2, 'message.created', mailbox_id, id,
          json_object('uid', uid, 'modseq', modseq, 'threadId', thread_id)
        FROM messages WHERE id IN (${JUST_COPIED}) ORDER BY uid`,
      args: [t, accountId],
    },
    { sql: COPIED_UIDS_BUMP_SQL, args: [t] },
    // Copied into Junk: the account's classifier learns it (services/spam_training.ts).
    junkTrainingStatement(accountId, sourceMailboxId, t, ids),
  ];
  return {
    statements: list.length === 0 ? [] : statements,
    decode(results, at = 0) {
      if (list.length === 0) return [];
      const uids = results[at + 2].rows.map((r) => Number(r.uid)).sort((a, b) => a - b);
      if (uids.length === 0) return undefined;
      return list.map((r, i) => [r.uid, uids[i]]);
    },
  };
}

/** A message's flags and keywords as a write job sets them, with the row as it was read. */
export interface FlagChange extends ReadRow {
  seen: boolean;
  flagged: boolean;
  answered: boolean;
  draft: boolean;
  deleted: boolean;
  keywords: string[];
}

/**
 * The statements of a flag change (IMAP STORE, the API's PATCH and batch flag action), a fixed
 * number per mailbox for any number of messages: the check that no row changed since it was
 * read, one new modseq per mailbox (RFC 7162 section 3.1.3 allows sharing it), every row's new
 * flags and keywords with that modseq, and their `message.updated` events. The answer: the new
 * modseq of each mailbox.
 */
export function flagJob(accountId: number, changes: FlagChange[]): Job<Map<number, number>> {
  const statements: Statement[] = [];
  const bumps = new Map<number, number>();
  for (const [mailboxId, list] of byMailbox(changes)) {
    const values = JSON.stringify(list.map((c) => [
      c.id,
      bit(c.seen),
      bit(c.flagged),
      bit(c.answered),
      bit(c.draft),
      bit(c.deleted),
      JSON.stringify(c.keywords),
    ]));
    statements.push(unchangedStep(mailboxId, list));
    bumps.set(mailboxId, statements.length);
    statements.push(
      { sql: MODSEQ_BUMP_SQL, args: [mailboxId] },
      {
        sql: `UPDATE messages SET seen = json_extract(j.value, '$[1]'),
            flagged = json_extract(j.value, '$[2]'), answered = json_extract(j.value, '$[3]'),
            draft = json_extract(j.value, '$[4]'), deleted = json_extract(j.value, '$[5]'),
            keywords = json_extract(j.value, '$[6]'),
            modseq = (SELECT highest_modseq FROM mailboxes WHERE id = ?1)
          FROM json_each(?2) AS j WHERE messages.id = json_extract(j.value, '$[0]')`,
        args: [mailboxId, values],
      },
      {
        sql: `INSERT INTO events (account_id, type, mailbox_id, message_id, data)
          SELECT ?1, 'message.updated', mailbox_id, id, json_object('uid', uid, 'modseq', modseq)
          FROM messages WHERE id IN (SELECT json_extract(value, '$[0]') FROM json_each(?2))
          ORDER BY uid`,
        args: [accountId, values],
      },
    );
  }
  return {
    statements,
    decode(results, at = 0) {
      const out = new Map<number, number>();
      for (const [mailboxId, i] of bumps) {
        out.set(mailboxId, Number(results[at + i].rows[0]?.modseq ?? 0));
      }
      return out;
    },
  };
}

/** The caller's messages among `ids` as a purge reads them before its job. */
export async function purgeRows(db: Queryable, accountId: number, ids: number[]) {
  if (ids.length === 0) return [];
  return await rawSql(db).all<PurgeRow>(
    `SELECT id, mailbox_id AS mailboxId, uid, modseq, thread_id AS threadId, size,
       blob_sha256 AS blobSha256 FROM messages WHERE account_id = ?1 AND id ${inJson("?2")}`,
    [accountId, JSON.stringify(ids)],
  );
}
