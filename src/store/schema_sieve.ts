/**
 * Sieve (RFC 5228) state per account: the scripts a user stores (REST and ManageSieve, RFC
 * 5804), at most one of them active; the managed script Postern compiles from the simple JSON
 * rules and vacation settings; and the vacation replies sent, so that each sender is answered
 * at most once per `:days` (RFC 5230 section 4.2) whichever process delivered the mail.
 */
import { sql } from "drizzle-orm";
import {
  index,
  integer,
  primaryKey,
  sqliteTable,
  text,
  uniqueIndex,
} from "drizzle-orm/sqlite-core";

export const sieveScripts = sqliteTable("sieve_scripts", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  accountId: integer("account_id").notNull(),
  /** RFC 5804 section 1.6: UTF-8 in NFC, no control characters, at most 128 characters. */
  name: text("name").notNull(),
  script: text("script").notNull(),
  sizeBytes: integer("size_bytes").notNull(),
  active: integer("active", { mode: "boolean" }).notNull().default(false),
  /** Bumped by every change of the text: the key of compiled scripts cached per process. */
  version: integer("version").notNull().default(1),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
}, (t) => [
  uniqueIndex("sieve_scripts_account_name").on(t.accountId, t.name),
  // At most one active script per account (RFC 5804 section 2.8), held by the store itself.
  uniqueIndex("sieve_scripts_one_active").on(t.accountId).where(sql`active = 1`),
]);

/**
 * The script compiled from `PUT /v1/sieve/rules` and `PUT /v1/sieve/vacation`: it runs before
 * the account's active script at delivery (as Pigeonhole's `sieve_before` does), sharing its
 * actions; a rule's `stop` ends filtering for the message.
 */
export const sieveManaged = sqliteTable("sieve_managed", {
  accountId: integer("account_id").primaryKey(),
  /** JSON: the ordered rules as the API took them. */
  rules: text("rules").notNull().default("[]"),
  /** JSON: the vacation settings, or null when never set. */
  vacation: text("vacation"),
  /** The Sieve text compiled from both; empty when there is nothing to run. */
  script: text("script").notNull().default(""),
  version: integer("version").notNull().default(1),
  updatedAt: integer("updated_at").notNull(),
});

/** RFC 5230 section 4.2: whom a vacation action answered, and when (per `:handle`). */
export const sieveVacationReplies = sqliteTable("sieve_vacation_replies", {
  accountId: integer("account_id").notNull(),
  /** The `:handle`, or a digest of the reason, subject and from (section 4.7). */
  handle: text("handle").notNull(),
  /** The sender answered, lower-cased. */
  sender: text("sender").notNull(),
  sentAt: integer("sent_at").notNull(),
}, (t) => [
  primaryKey({ columns: [t.accountId, t.handle, t.sender] }),
  index("sieve_vacation_replies_sent").on(t.sentAt),
]);
