/**
 * Forwarding (issue 21 item 3): what an account asks for its mail (forward to other addresses,
 * keep a copy or not), and what a forwarded outbox row needs to be ARC-sealed (RFC 8617) where
 * the bridge DKIM-signs it: the verdicts Postern saw when the message arrived and the domain
 * that seals. The SRS envelope sender is the row's own `mail_from`.
 */
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { accounts, outbox } from "./schema.ts";

/** An account's forwarding: read at every delivery to it (through the request's read cache). */
export const accountForwarding = sqliteTable("account_forwarding", {
  accountId: integer("account_id").primaryKey().references(() => accounts.id, {
    onDelete: "cascade",
  }),
  /** JSON array of addresses the account's mail is forwarded to (1 to 10). */
  targets: text("targets").notNull(),
  /** Also store the message in the account's own mailbox. */
  keepCopy: integer("keep_copy", { mode: "boolean" }).notNull().default(true),
  updatedAt: integer("updated_at").notNull(),
});

/**
 * The ARC seal a forwarded outbox row leaves with. `outbox_id` is the rowid, so the INSERT that
 * follows an outbox row's INSERT in one write job leaves `last_insert_rowid()` on that row.
 */
export const outboxSeals = sqliteTable("outbox_seals", {
  outboxId: integer("outbox_id").primaryKey().references(() => outbox.id, { onDelete: "cascade" }),
  /** The forwarding domain: its DKIM key seals (d= of ARC-Seal and ARC-Message-Signature). */
  domain: text("domain").notNull(),
  /** The ARC-Authentication-Results payload after `i=N;` (RFC 8617 section 4.1.1). */
  authResults: text("auth_results").notNull(),
  /** The chain validation status of the incoming message: none, pass or fail (section 4.1.3). */
  cv: text("cv", { enum: ["none", "pass", "fail"] }).notNull(),
});
