/**
 * Retention and recovery (issue 21, item 7).
 *
 * `mailbox_retention`: a mailbox's limit in days (null: keep forever); a mailbox without a row
 * keeps everything. New accounts get rows for Junk and Trash from the configured defaults.
 *
 * `retention_marks`: when a mailbox's `uid_next` stood where. UIDs only grow (RFC 3501 2.3.1.1)
 * and a message gets a new one whenever it arrives in a mailbox (delivery, APPEND, COPY, MOVE),
 * so "every UID below the mark taken N days ago arrived there more than N days ago" holds
 * without a per-message arrival column that every write path would have to keep: the hot paths
 * stay as they are, and the retention slice records a mark now and then.
 *
 * `recoverable_messages`: deleted mail kept for the recovery window, copied in by the same write
 * job that removes the message (message_store.ts purgeStatements) — a table of its own rather
 * than a `deleted_at` column that every IMAP, JMAP, POP3 and search query would have to filter
 * on. It names its blob, so the blob stays (blob_chunks.ts blobUnused) until the row goes.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { accounts, mailboxes } from "./schema.ts";

const now = sql`(cast(unixepoch('subsec') * 1000 as integer))`;

export const mailboxRetention = sqliteTable("mailbox_retention", {
  mailboxId: integer("mailbox_id").primaryKey().references(() => mailboxes.id, {
    onDelete: "cascade",
  }),
  /** Days a message stays after it arrived in the mailbox; null keeps it for ever. */
  days: integer("days"),
  updatedAt: integer("updated_at").notNull().default(now),
});

export const retentionMarks = sqliteTable("retention_marks", {
  mailboxId: integer("mailbox_id").notNull().references(() => mailboxes.id, {
    onDelete: "cascade",
  }),
  /** When the mark was taken (ms since the epoch). */
  at: integer("at").notNull(),
  /** The mailbox's `uid_next` then: every UID below it had arrived. */
  uidNext: integer("uid_next").notNull(),
}, (t) => [primaryKey({ columns: [t.mailboxId, t.at] })]);

export const recoverableMessages = sqliteTable("recoverable_messages", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  accountId: integer("account_id").notNull().references(() => accounts.id, {
    onDelete: "cascade",
  }),
  /** The mailbox it was in; null once that mailbox is gone (it is restored to the Inbox). */
  mailboxId: integer("mailbox_id").references(() => mailboxes.id, { onDelete: "set null" }),
  mailboxName: text("mailbox_name").notNull(),
  /** Its id before it was deleted. */
  messageId: integer("message_id").notNull(),
  blobSha256: text("blob_sha256").notNull(),
  size: integer("size").notNull(),
  subject: text("subject").notNull().default(""),
  fromAddress: text("from_address").notNull().default(""),
  internalDate: integer("internal_date").notNull(),
  seen: integer("seen", { mode: "boolean" }).notNull().default(false),
  flagged: integer("flagged", { mode: "boolean" }).notNull().default(false),
  answered: integer("answered", { mode: "boolean" }).notNull().default(false),
  draft: integer("draft", { mode: "boolean" }).notNull().default(false),
  keywords: text("keywords").notNull().default("[]"),
  deletedAt: integer("deleted_at").notNull().default(now),
}, (t) => [
  index("recoverable_account").on(t.accountId, t.deletedAt),
  index("recoverable_deleted").on(t.deletedAt),
  index("recoverable_blob").on(t.blobSha256),
]);
