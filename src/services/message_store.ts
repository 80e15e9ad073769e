/**
 * Writing messages into mailboxes, inside a caller's write transaction: the raw bytes once per
 * SHA-256 (`blobs`), a per-mailbox UID and modification sequence (RFC 3501 section 2.3.1.1,
 * RFC 7162 section 3.1), the thread (References/In-Reply-To, RFC 5322 section 3.6.4),
 * the account's used bytes and a `message.created` event (the FTS5 row follows in batches, see
 * search_index.ts). Every transport's store step ends here.
 */
import { and, eq, inArray, sql } from "drizzle-orm";
import type { ParsedMail } from "../../schemas/mail.ts";
import { sha256Hex } from "../crypto.ts";
import type { Tx } from "../store/store.ts";
import {
  appendLater,
  MODSEQ_BUMP_SQL,
  QUOTA_BUMP_SQL,
  rawSql,
  schema,
  UID_BUMP_SQL,
} from "../store/store.ts";
import { tableSql } from "../store/table_sql.ts";
import { insertBlob } from "./blob_chunks.ts";
import { searchableBody } from "./search_index.ts";

/** The `message.created` event of every stored message, inserted with the commit. */
const eventsSql = tableSql(schema.events);

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
  await insertBlob(tx, sha256, raw); // chunked when large (blob_chunks.ts)
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

async function resolveThread(tx: Tx, input: StoreInput, when: number): Promise<number> {
  const sql = rawSql(tx);
  const refs = [...input.parsed.references];
  if (input.parsed.inReplyTo) refs.push(input.parsed.inReplyTo);
  if (input.parsed.messageId) refs.push(input.parsed.messageId);
  if (refs.length > 0) {
    const wanted = refs.slice(-MAX_THREAD_REFS);
    const hit = await sql.get<{ thread_id: number }>(
      `SELECT thread_id FROM messages WHERE account_id = ?
       AND message_id_header IN (${wanted.map(() => "?").join(", ")}) LIMIT 1`,
      [input.accountId, ...wanted],
    );
    if (hit) {
      const threadId = Number(hit.thread_id);
      await sql.run(
        `UPDATE threads SET message_count = message_count + 1, last_date = max(last_date, ?)
         WHERE id = ?`,
        [when, threadId],
      );
      return threadId;
    }
  }
  const thread = await sql.get<{ id: number }>(
    `INSERT INTO threads (account_id, subject, message_count, last_date) VALUES (?, ?, 1, ?)
     RETURNING id`,
    [input.accountId, normalizeSubject(input.parsed.subject).slice(0, 500), when],
  );
  return Number(thread!.id);
}

function previewOf(parsed: ParsedMail): string {
  return searchableBody(parsed).replace(/\s+/g, " ").trim().slice(0, 200);
}

const bit = (b: boolean | undefined) => (b ? 1 : 0);

/**
 * Stores one message into one mailbox. The caller has checked quota and put the blob. The
 * full-text index catches up in batches (services/search_index.ts). Plain SQL: this runs for
 * every copy of every message, and drizzle's query building cost more than the statements.
 */
export async function storeMessage(tx: Tx, input: StoreInput): Promise<StoredMessage> {
  const sql = rawSql(tx);
  if (input.deliveryKey) {
    const existing = await sql.get<{ id: number; uid: number; modseq: number; thread_id: number }>(
      "SELECT id, uid, modseq, thread_id FROM messages WHERE mailbox_id = ? AND delivery_key = ?",
      [input.mailboxId, input.deliveryKey],
    );
    if (existing) {
      return {
        id: Number(existing.id),
        uid: Number(existing.uid),
        modseq: Number(existing.modseq),
        mailboxId: input.mailboxId,
        threadId: Number(existing.thread_id),
        duplicate: true,
      };
    }
  }
  const { uid, modseq } = await allocateUid(tx, input.mailboxId);
  const threadId = await resolveThread(tx, input, input.internalDate);
  const p = input.parsed;
  const flags = input.flags ?? {};
  const row = await sql.get<{ id: number }>(
    `INSERT INTO messages (account_id, mailbox_id, uid, modseq, thread_id, blob_sha256,
       delivery_key, message_id_header, subject, from_address, from_name, to_json, cc_json,
       preview, sent_at, internal_date, size, has_attachments, seen, flagged, answered, draft,
       deleted, keywords, parsed)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     RETURNING id`,
    [
      input.accountId,
      input.mailboxId,
      uid,
      modseq,
      threadId,
      input.blobSha256,
      input.deliveryKey ?? null,
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
    ],
  );
  const id = Number(row!.id);
  await sql.run(QUOTA_BUMP_SQL, [
    input.size,
    input.accountId,
  ]);
  appendLater(tx, eventsSql, {
    accountId: input.accountId,
    type: "message.created",
    mailboxId: input.mailboxId,
    messageId: id,
    data: JSON.stringify({ uid, modseq, threadId }),
  });
  return { id, uid, modseq, mailboxId: input.mailboxId, threadId, duplicate: false };
}

/**
 * Removes messages for good (IMAP EXPUNGE, API purge): rows, FTS rows, quota, thread counts,
 * an `expunged` record per UID for sync clients, and blobs nothing else references.
 */
export async function purgeMessages(tx: Tx, accountId: number, ids: number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const rows = await tx.select().from(schema.messages).where(and(
    eq(schema.messages.accountId, accountId),
    inArray(schema.messages.id, ids),
  ));
  for (const m of rows) {
    const modseq = await nextModseq(tx, m.mailboxId);
    await tx.insert(schema.expunged).values({ mailboxId: m.mailboxId, uid: m.uid, modseq })
      .onConflictDoNothing();
    await tx.delete(schema.messages).where(eq(schema.messages.id, m.id));
    await tx.run(sql`DELETE FROM messages_fts WHERE rowid = ${m.id}`);
    await tx.update(schema.threads).set({ messageCount: sql`${schema.threads.messageCount} - 1` })
      .where(eq(schema.threads.id, m.threadId));
    await tx.insert(schema.events).values({
      accountId,
      type: "message.deleted",
      mailboxId: m.mailboxId,
      messageId: m.id,
      data: JSON.stringify({ uid: m.uid, modseq }),
    });
  }
  const freed = rows.reduce((n, m) => n + m.size, 0);
  await tx.update(schema.accounts).set({
    usedBytes: sql`max(0, ${schema.accounts.usedBytes} - ${freed})`,
  })
    .where(eq(schema.accounts.id, accountId));
  await tx.run(sql`DELETE FROM threads WHERE account_id = ${accountId} AND message_count <= 0`);
  const shas = [...new Set(rows.map((m) => m.blobSha256))];
  for (const sha of shas) {
    await tx.run(sql`DELETE FROM blobs WHERE sha256 = ${sha}
      AND NOT EXISTS (SELECT 1 FROM messages WHERE blob_sha256 = ${sha})
      AND NOT EXISTS (SELECT 1 FROM outbox WHERE blob_sha256 = ${sha})
      AND NOT EXISTS (SELECT 1 FROM uploads WHERE blob_sha256 = ${sha})`);
  }
  return rows.length;
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
  const moved: { id: number; uid: number }[] = [];
  for (const m of rows) {
    if (m.mailboxId === targetMailboxId) {
      moved.push({ id: m.id, uid: m.uid });
      continue;
    }
    const oldModseq = await nextModseq(tx, m.mailboxId);
    await tx.insert(schema.expunged).values({
      mailboxId: m.mailboxId,
      uid: m.uid,
      modseq: oldModseq,
    })
      .onConflictDoNothing();
    const { uid, modseq } = await allocateUid(tx, targetMailboxId);
    await tx.update(schema.messages).set({ mailboxId: targetMailboxId, uid, modseq })
      .where(eq(schema.messages.id, m.id));
    await tx.insert(schema.events).values({
      accountId,
      type: "message.moved",
      mailboxId: targetMailboxId,
      messageId: m.id,
      data: JSON.stringify({ fromMailboxId: m.mailboxId, oldUid: m.uid, uid, modseq }),
    });
    moved.push({ id: m.id, uid });
  }
  return moved;
}
