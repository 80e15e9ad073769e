/**
 * JMAP (RFC 8620, RFC 8621) state: the change log behind every `/changes` method and state
 * string (RFC 8620 section 5.2), and the EmailSubmission objects (RFC 8621 section 7).
 *
 * Why a log fed by SQL triggers (migration 0012_jmap_change_triggers) and not by the JMAP code:
 * mail changes arrive by every door — SMTP delivery, IMAP STORE/MOVE/EXPUNGE, the REST API, JMAP
 * itself, several processes — and a client that syncs by `Email/changes` must see all of them.
 * A trigger runs in the same statement as the write, whichever code path or process made it, so
 * no write can forget to log. States are the log's sequence numbers, per account and type.
 */
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const jmapChanges = sqliteTable("jmap_changes", {
  seq: integer("seq").primaryKey({ autoIncrement: true }),
  accountId: integer("account_id").notNull(),
  /** The JMAP data type: Email, Mailbox, Thread or EmailSubmission. */
  type: text("type").notNull(),
  objectId: integer("object_id").notNull(),
  /** 0 created, 1 updated, 2 destroyed, 3 counts only (a Mailbox's totals changed). */
  op: integer("op").notNull(),
}, (t) => [index("jmap_changes_account_type").on(t.accountId, t.type, t.seq)]);

/** RFC 8621 section 7: a submission of an Email for delivery, kept so clients can read it back. */
export const jmapSubmissions = sqliteTable("jmap_submissions", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  accountId: integer("account_id").notNull(),
  identityId: text("identity_id").notNull(),
  emailId: integer("email_id").notNull(),
  threadId: integer("thread_id").notNull(),
  /** SHA-256 of the bytes handed over (Bcc removed): finds the outbox rows of its recipients. */
  blobSha256: text("blob_sha256").notNull(),
  /** `{mailFrom: {email, parameters}, rcptTo: [...]}` as sent (section 7 `envelope`). */
  envelope: text("envelope").notNull(),
  sendAt: integer("send_at").notNull(),
  /** Always `final` here: the message is handed to delivery at once and cannot be recalled. */
  undoStatus: text("undo_status").notNull().default("final"),
  /** Per recipient `{smtpReply, delivered, displayed}` (section 7 `deliveryStatus`). */
  deliveryStatus: text("delivery_status").notNull().default("{}"),
}, (t) => [index("jmap_submissions_account").on(t.accountId, t.id)]);

/**
 * RFC 8621 section 6: what the user set on one of the account's identities (Identity/set). The
 * identities themselves follow the account's address and aliases (jmap/identity.ts); a row
 * exists only once something was set, and a missing field keeps the default.
 */
export const jmapIdentities = sqliteTable("jmap_identities", {
  accountId: integer("account_id").notNull(),
  /** `i<account id>` or `ia<alias id>`. */
  identityId: text("identity_id").notNull(),
  /** The display name; null keeps the account's. */
  name: text("name"),
  /** JSON `EmailAddress[]` or null (section 6 `replyTo`). */
  replyTo: text("reply_to"),
  /** JSON `EmailAddress[]` or null (section 6 `bcc`). */
  bcc: text("bcc"),
  textSignature: text("text_signature").notNull().default(""),
  htmlSignature: text("html_signature").notNull().default(""),
}, (t) => [primaryKey({ columns: [t.accountId, t.identityId] })]);
