/**
 * Writing messages into mailboxes, inside a caller's write transaction: the raw bytes once per
 * SHA-256 (`blobs`), a per-mailbox UID and modification sequence (RFC 3501 section 2.3.1.1,
 * RFC 7162 section 3.1), the thread (References/In-Reply-To, RFC 5322 section 3.6.4), the FTS5 row,
 * the account's used bytes and a `message.created` event. Every transport's store step ends here.
 */
import { and, eq, inArray, sql } from "drizzle-orm";
import type { ParsedMail } from "../../schemas/mail.ts";
import { sha256Hex } from "../crypto.ts";
import type { Tx } from "../store/store.ts";
import { schema } from "../store/store.ts";

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
  await tx.insert(schema.blobs).values({ sha256, size: raw.byteLength, data: raw as never })
    .onConflictDoNothing();
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
  const rows = await tx.run(sql`UPDATE mailboxes SET uid_next = uid_next + 1,
    highest_modseq = highest_modseq + 1 WHERE id = ${mailboxId}
    RETURNING uid_next - 1 AS uid, highest_modseq AS modseq`);
  const row = rows.rows[0];
  if (!row) throw new Error(`mailbox ${mailboxId} vanished`);
  return { uid: Number(row.uid), modseq: Number(row.modseq) };
}

/** Takes the next modseq of a mailbox, for flag changes and expunges. */
export async function nextModseq(tx: Tx, mailboxId: number): Promise<number> {
  const rows = await tx.run(sql`UPDATE mailboxes SET highest_modseq = highest_modseq + 1
    WHERE id = ${mailboxId} RETURNING highest_modseq AS modseq`);
  return Number(rows.rows[0]?.modseq ?? 0);
}

function normalizeSubject(subject: string): string {
  return subject.replace(/^\s*((re|fwd?|aw|sv|wg)\s*(\[\d+\])?\s*:\s*)+/i, "").trim();
}

async function resolveThread(tx: Tx, input: StoreInput, when: number): Promise<number> {
  const refs = [...input.parsed.references];
  if (input.parsed.inReplyTo) refs.push(input.parsed.inReplyTo);
  if (input.parsed.messageId) refs.push(input.parsed.messageId);
  if (refs.length > 0) {
    const [hit] = await tx.select({ threadId: schema.messages.threadId }).from(schema.messages)
      .where(and(
        eq(schema.messages.accountId, input.accountId),
        inArray(schema.messages.messageIdHeader, refs.slice(-50)),
      )).limit(1);
    if (hit) {
      await tx.update(schema.threads).set({
        messageCount: sql`${schema.threads.messageCount} + 1`,
        lastDate: sql`max(${schema.threads.lastDate}, ${when})`,
      }).where(eq(schema.threads.id, hit.threadId));
      return hit.threadId;
    }
  }
  const [thread] = await tx.insert(schema.threads).values({
    accountId: input.accountId,
    subject: normalizeSubject(input.parsed.subject).slice(0, 500),
    messageCount: 1,
    lastDate: when,
  }).returning({ id: schema.threads.id });
  return thread.id;
}

function previewOf(parsed: ParsedMail): string {
  const text = parsed.text ?? (parsed.html ?? "").replace(/<[^>]*>/g, " ");
  return text.replace(/\s+/g, " ").trim().slice(0, 200);
}

const addressText = (list: { name: string; address: string }[]) =>
  list.map((a) => `${a.name} ${a.address}`).join(" ");

/** Stores one message into one mailbox. The caller has checked quota and put the blob. */
export async function storeMessage(tx: Tx, input: StoreInput): Promise<StoredMessage> {
  if (input.deliveryKey) {
    const [existing] = await tx.select({
      id: schema.messages.id,
      uid: schema.messages.uid,
      modseq: schema.messages.modseq,
      mailboxId: schema.messages.mailboxId,
      threadId: schema.messages.threadId,
    }).from(schema.messages).where(and(
      eq(schema.messages.mailboxId, input.mailboxId),
      eq(schema.messages.deliveryKey, input.deliveryKey),
    ));
    if (existing) {
      return {
        id: existing.id,
        uid: existing.uid,
        modseq: existing.modseq,
        mailboxId: existing.mailboxId,
        threadId: existing.threadId,
        duplicate: true,
      };
    }
  }
  const { uid, modseq } = await allocateUid(tx, input.mailboxId);
  const threadId = await resolveThread(tx, input, input.internalDate);
  const p = input.parsed;
  const flags = input.flags ?? {};
  const [row] = await tx.insert(schema.messages).values({
    accountId: input.accountId,
    mailboxId: input.mailboxId,
    uid,
    modseq,
    threadId,
    blobSha256: input.blobSha256,
    deliveryKey: input.deliveryKey,
    messageIdHeader: p.messageId,
    subject: p.subject.slice(0, 2000),
    fromAddress: p.from?.address ?? "",
    fromName: p.from?.name ?? "",
    toJson: JSON.stringify(p.to),
    ccJson: JSON.stringify(p.cc),
    preview: previewOf(p),
    sentAt: p.date ?? input.internalDate,
    internalDate: input.internalDate,
    size: input.size,
    hasAttachments: p.attachments.some((a) => a.disposition === "attachment"),
    seen: flags.seen ?? false,
    flagged: flags.flagged ?? false,
    answered: flags.answered ?? false,
    draft: flags.draft ?? false,
    deleted: flags.deleted ?? false,
    keywords: JSON.stringify(flags.keywords ?? []),
    parsed: JSON.stringify(p),
  }).returning({ id: schema.messages.id });
  const body = (p.text ?? (p.html ?? "").replace(/<[^>]*>/g, " ")).slice(0, 1_000_000);
  await tx.run(sql`INSERT INTO messages_fts (rowid, subject, from_text, to_text, body)
    VALUES (${row.id}, ${p.subject}, ${p.from ? addressText([p.from]) : ""},
    ${addressText([...p.to, ...p.cc])}, ${body})`);
  await tx.update(schema.accounts).set({
    usedBytes: sql`${schema.accounts.usedBytes} + ${input.size}`,
  })
    .where(eq(schema.accounts.id, input.accountId));
  await tx.insert(schema.events).values({
    accountId: input.accountId,
    type: "message.created",
    mailboxId: input.mailboxId,
    messageId: row.id,
    data: JSON.stringify({ uid, modseq, threadId }),
  });
  return { id: row.id, uid, modseq, mailboxId: input.mailboxId, threadId, duplicate: false };
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
      AND NOT EXISTS (SELECT 1 FROM outbox WHERE blob_sha256 = ${sha})`);
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
