/**
 * The store's tables (drizzle sqlite-core on libSQL). Migrations under ./migrations are generated
 * from this file by drizzle-kit (`deno task db:generate`); never edit a generated migration.
 * Times are Unix milliseconds. Raw RFC 5322 bytes live once per SHA-256 in `blobs`.
 */
import { sql } from "drizzle-orm";
import {
  customType,
  index,
  integer,
  primaryKey,
  sqliteTable,
  text,
  uniqueIndex,
} from "drizzle-orm/sqlite-core";

const now = sql`(cast(unixepoch('subsec') * 1000 as integer))`;

/**
 * A BLOB column as plain bytes. drizzle's `blob({ mode: "buffer" })` maps through Node's Buffer,
 * which an edge runtime does not have (workerd without `nodejs_compat`: "Buffer is not
 * defined"); the libSQL clients and the D1 adapter (store/d1_client.ts) give Uint8Array or
 * ArrayBuffer, and take either. Same SQL type, so no migration.
 */
const bytes = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => "blob",
  fromDriver: (value: unknown) =>
    value instanceof Uint8Array
      ? value
      : value instanceof ArrayBuffer
      ? new Uint8Array(value)
      : ArrayBuffer.isView(value)
      ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
      : new Uint8Array(value as ArrayLike<number>),
  toDriver: (value: Uint8Array) => value,
});

export const domains = sqliteTable("domains", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().unique(),
  /** Account that receives mail for unknown local parts, if any. */
  catchAllAccountId: integer("catch_all_account_id"),
  createdAt: integer("created_at").notNull().default(now),
});

export const accounts = sqliteTable("accounts", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  domainId: integer("domain_id").notNull().references(() => domains.id),
  address: text("address").notNull().unique(),
  /** Lower-cased address: lookups are case-insensitive, the stored address keeps its case. */
  addressKey: text("address_key").notNull().unique(),
  displayName: text("display_name").notNull().default(""),
  passwordHash: text("password_hash").notNull(),
  role: text("role", { enum: ["user", "admin"] }).notNull().default("user"),
  quotaBytes: integer("quota_bytes").notNull().default(0),
  usedBytes: integer("used_bytes").notNull().default(0),
  /** TOTP secret encrypted with the master key (AES-GCM), null when 2FA is off. */
  totpSecret: text("totp_secret"),
  totpEnabled: integer("totp_enabled", { mode: "boolean" }).notNull().default(false),
  /** JSON array of SHA-256 hashes of the unused recovery codes. */
  recoveryCodes: text("recovery_codes").notNull().default("[]"),
  disabled: integer("disabled", { mode: "boolean" }).notNull().default(false),
  createdAt: integer("created_at").notNull().default(now),
});

/**
 * Domain administrators: the account manages the shared settings of that domain (its suppression
 * list, tracking defaults, VERP) without being a server administrator. Granted by an
 * administrator (`PATCH /v1/admin/accounts/{id}`, `postern account role`).
 */
export const accountDomainRoles = sqliteTable("account_domain_roles", {
  accountId: integer("account_id").notNull().references(() => accounts.id, {
    onDelete: "cascade",
  }),
  domainId: integer("domain_id").notNull().references(() => domains.id, { onDelete: "cascade" }),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [
  primaryKey({ columns: [t.accountId, t.domainId] }),
  index("account_domain_roles_domain").on(t.domainId),
]);

export const aliases = sqliteTable("aliases", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  domainId: integer("domain_id").notNull().references(() => domains.id),
  addressKey: text("address_key").notNull().unique(),
  address: text("address").notNull(),
  /** JSON array of target addresses (local accounts or remote addresses). */
  targets: text("targets").notNull(),
  createdAt: integer("created_at").notNull().default(now),
});

export const sessions = sqliteTable("sessions", {
  id: text("id").primaryKey(),
  accountId: integer("account_id").notNull().references(() => accounts.id, {
    onDelete: "cascade",
  }),
  /** SHA-256 of the current refresh token; rotated on every refresh. */
  refreshHash: text("refresh_hash").notNull().unique(),
  expiresAt: integer("expires_at").notNull(),
  revokedAt: integer("revoked_at"),
  userAgent: text("user_agent").notNull().default(""),
  ip: text("ip").notNull().default(""),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [index("sessions_account").on(t.accountId)]);

export const appPasswords = sqliteTable("app_passwords", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  accountId: integer("account_id").notNull().references(() => accounts.id, {
    onDelete: "cascade",
  }),
  name: text("name").notNull(),
  passwordHash: text("password_hash").notNull(),
  lastUsedAt: integer("last_used_at"),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [index("app_passwords_account").on(t.accountId)]);

export const apiKeys = sqliteTable("api_keys", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  accountId: integer("account_id").notNull().references(() => accounts.id, {
    onDelete: "cascade",
  }),
  name: text("name").notNull(),
  /** The first characters of the key, shown in listings so a user can tell keys apart. */
  prefix: text("prefix").notNull(),
  /** SHA-256 of the whole key (keys are 256-bit random, so a fast hash is safe). */
  keyHash: text("key_hash").notNull().unique(),
  /** JSON array of scopes: read, send, admin. */
  scopes: text("scopes").notNull(),
  /** JSON array of domains the key may send from; empty means the account's own. */
  domains: text("domains").notNull().default("[]"),
  /** A test key (`pst_test_…`): its sends are validated and recorded, never delivered. */
  test: integer("test", { mode: "boolean" }).notNull().default(false),
  lastUsedAt: integer("last_used_at"),
  revokedAt: integer("revoked_at"),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [index("api_keys_account").on(t.accountId)]);

export const loginFailures = sqliteTable("login_failures", {
  /** `account:<address>` or `ip:<address>`. */
  key: text("key").primaryKey(),
  count: integer("count").notNull(),
  windowStart: integer("window_start").notNull(),
  lockedUntil: integer("locked_until").notNull().default(0),
});

export const mailboxes = sqliteTable("mailboxes", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  accountId: integer("account_id").notNull().references(() => accounts.id, {
    onDelete: "cascade",
  }),
  name: text("name").notNull(),
  /** RFC 6154 special-use role, or null for an ordinary folder. */
  role: text("role", { enum: ["inbox", "sent", "drafts", "trash", "junk", "archive"] }),
  /** RFC 3501 section 2.3.1.1: changes whenever UIDs of this name could be reused. */
  uidValidity: integer("uid_validity").notNull(),
  uidNext: integer("uid_next").notNull().default(1),
  /** RFC 7162 CONDSTORE: the highest modification sequence given out in this mailbox. */
  highestModseq: integer("highest_modseq").notNull().default(1),
  subscribed: integer("subscribed", { mode: "boolean" }).notNull().default(true),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [
  uniqueIndex("mailboxes_account_name").on(t.accountId, t.name),
  index("mailboxes_account_role").on(t.accountId, t.role),
]);

export const blobs = sqliteTable("blobs", {
  sha256: text("sha256").primaryKey(),
  size: integer("size").notNull(),
  data: bytes("data").notNull(),
  createdAt: integer("created_at").notNull().default(now),
});

/**
 * Attachments uploaded for sending (`POST /v1/emails/attachments`). The bytes live once in
 * `blobs`, shared by every account that uploads them; this row is what the account holds: an
 * opaque id that only it can use, so neither the hash nor the sharing is visible to anyone.
 */
export const uploads = sqliteTable("uploads", {
  /** `up_` and 128 random bits in hex: says nothing about the bytes. */
  id: text("id").primaryKey(),
  accountId: integer("account_id").notNull().references(() => accounts.id, {
    onDelete: "cascade",
  }),
  blobSha256: text("blob_sha256").notNull(),
  size: integer("size").notNull(),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [
  uniqueIndex("uploads_account_blob").on(t.accountId, t.blobSha256),
  index("uploads_blob").on(t.blobSha256),
]);

/**
 * A blob larger than BLOB_CHUNK_BYTES keeps its first chunk in `blobs.data` (headers are read from
 * there) and the rest here, in order: no row holds more than 1 MiB, under D1's 2 MB row limit.
 */
export const blobChunks = sqliteTable("blob_chunks", {
  sha256: text("sha256").notNull().references(() => blobs.sha256, { onDelete: "cascade" }),
  /** 1 for the octets after the first chunk, 2 for the next… */
  seq: integer("seq").notNull(),
  data: bytes("data").notNull(),
}, (t) => [primaryKey({ columns: [t.sha256, t.seq] })]);

export const threads = sqliteTable("threads", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  accountId: integer("account_id").notNull().references(() => accounts.id, {
    onDelete: "cascade",
  }),
  subject: text("subject").notNull().default(""),
  messageCount: integer("message_count").notNull().default(0),
  lastDate: integer("last_date").notNull(),
}, (t) => [index("threads_account_last").on(t.accountId, t.lastDate)]);

export const messages = sqliteTable("messages", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  accountId: integer("account_id").notNull().references(() => accounts.id, {
    onDelete: "cascade",
  }),
  mailboxId: integer("mailbox_id").notNull().references(() => mailboxes.id),
  uid: integer("uid").notNull(),
  modseq: integer("modseq").notNull(),
  threadId: integer("thread_id").notNull(),
  blobSha256: text("blob_sha256").notNull(),
  /** SHA-256 of Message-ID plus digest: one delivery of a message per mailbox. */
  deliveryKey: text("delivery_key"),
  messageIdHeader: text("message_id_header"),
  subject: text("subject").notNull().default(""),
  fromAddress: text("from_address").notNull().default(""),
  fromName: text("from_name").notNull().default(""),
  /** JSON array of {name, address}. */
  toJson: text("to_json").notNull().default("[]"),
  ccJson: text("cc_json").notNull().default("[]"),
  preview: text("preview").notNull().default(""),
  /** Date header, or internal date when absent. */
  sentAt: integer("sent_at").notNull(),
  /** RFC 3501 INTERNALDATE: when the message arrived here. */
  internalDate: integer("internal_date").notNull(),
  size: integer("size").notNull(),
  hasAttachments: integer("has_attachments", { mode: "boolean" }).notNull().default(false),
  seen: integer("seen", { mode: "boolean" }).notNull().default(false),
  flagged: integer("flagged", { mode: "boolean" }).notNull().default(false),
  answered: integer("answered", { mode: "boolean" }).notNull().default(false),
  draft: integer("draft", { mode: "boolean" }).notNull().default(false),
  deleted: integer("deleted", { mode: "boolean" }).notNull().default(false),
  /** JSON array of IMAP keywords ($Forwarded, $Junk, user keywords). */
  keywords: text("keywords").notNull().default("[]"),
  /** The parsed JSON form (headers, text, html, attachments, authentication verdicts). */
  parsed: text("parsed").notNull(),
  /**
   * A draft whose request (its JSON, attachments in base64) is too large for the row: the blob
   * that holds it (services/drafts.ts). It lives and goes with this row (message_store.ts purge).
   */
  draftSha256: text("draft_sha256"),
}, (t) => [
  uniqueIndex("messages_mailbox_uid").on(t.mailboxId, t.uid),
  uniqueIndex("messages_mailbox_delivery").on(t.mailboxId, t.deliveryKey),
  index("messages_account_date").on(t.accountId, t.internalDate, t.id),
  index("messages_mailbox_date").on(t.mailboxId, t.internalDate, t.id),
  index("messages_mailbox_modseq").on(t.mailboxId, t.modseq),
  index("messages_thread").on(t.threadId, t.internalDate),
  index("messages_account_msgid").on(t.accountId, t.messageIdHeader),
  index("messages_blob").on(t.blobSha256),
  index("messages_draft_blob").on(t.draftSha256).where(sql`${t.draftSha256} IS NOT NULL`),
  // Covers the IMAP/POP3 mailbox index (src/services/mail_access.ts): listing 10,000 messages
  // reads this index alone, not every message row with its parsed JSON.
  index("messages_mailbox_uid_flags").on(
    t.mailboxId,
    t.uid,
    t.modseq,
    t.internalDate,
    t.size,
    t.seen,
    t.answered,
    t.flagged,
    t.deleted,
    t.draft,
    t.keywords,
  ),
  // Covers IMAP SEARCH SUBJECT (src/services/mail_access_search.ts): a substring scan of this
  // index instead of a row lookup per message — about 10× faster on a 10,000-message mailbox.
  index("messages_mailbox_subject").on(t.mailboxId, t.uid, t.modseq, t.accountId, t.subject),
]);

/**
 * How far the full-text index (messages_fts) has caught up. Deliveries do not index: messages
 * whose id is above `indexedThrough` are indexed in batches later (src/services/search_index.ts),
 * and a search first indexes what is still pending, so it never misses a stored message.
 */
export const searchIndexState = sqliteTable("search_index_state", {
  id: integer("id").primaryKey(),
  indexedThrough: integer("indexed_through").notNull(),
});

/**
 * One row: a counter that SQL triggers bump in the same statement as every change to the rows
 * the read caches hold (domains, accounts, aliases, API keys, mailboxes; see migration
 * 0008_cache_generation and src/store/read_cache.ts). A process that did not make the change
 * learns of it here before it trusts a cached answer, whoever wrote it: a server, the CLI,
 * another node.
 */
export const cacheGeneration = sqliteTable("cache_generation", {
  id: integer("id").primaryKey(),
  generation: integer("generation").notNull(),
});

/**
 * Background jobs that one process of several sharing the store should run at a time (the WAL
 * checkpoint, the search indexer): whoever holds the named row until `expiresAt` does the work,
 * the others defer; a holder that dies simply stops renewing (src/store/leases.ts).
 */
export const leases = sqliteTable("leases", {
  name: text("name").primaryKey(),
  holder: text("holder").notNull(),
  /** Milliseconds since the epoch. */
  expiresAt: integer("expires_at").notNull(),
});

/** Expunged UIDs, kept so that sync clients (IMAP QRESYNC-style) learn what vanished. */
export const expunged = sqliteTable("expunged", {
  mailboxId: integer("mailbox_id").notNull(),
  uid: integer("uid").notNull(),
  modseq: integer("modseq").notNull(),
}, (t) => [
  primaryKey({ columns: [t.mailboxId, t.uid] }),
  index("expunged_mailbox_modseq").on(t.mailboxId, t.modseq),
]);

export const outbox = sqliteTable("outbox", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  accountId: integer("account_id").references(() => accounts.id, { onDelete: "set null" }),
  blobSha256: text("blob_sha256").notNull(),
  /** Our id of the sent message (its Sent copy), when there is one. */
  messageRef: integer("message_ref"),
  messageIdHeader: text("message_id_header"),
  mailFrom: text("mail_from").notNull(),
  rcptTo: text("rcpt_to").notNull(),
  domain: text("domain").notNull(),
  state: text("state", {
    enum: ["queued", "sending", "sent", "deferred", "bounced", "failed", "cancelled"],
  }).notNull().default("queued"),
  attempts: integer("attempts").notNull().default(0),
  nextAttemptAt: integer("next_attempt_at").notNull(),
  lastError: text("last_error"),
  leaseOwner: text("lease_owner"),
  leaseUntil: integer("lease_until"),
  expiresAt: integer("expires_at").notNull(),
  createdAt: integer("created_at").notNull().default(now),
  updatedAt: integer("updated_at").notNull().default(now),
}, (t) => [
  index("outbox_due").on(t.state, t.nextAttemptAt),
  index("outbox_account").on(t.accountId, t.createdAt),
]);

export const events = sqliteTable("events", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  accountId: integer("account_id"),
  type: text("type").notNull(),
  mailboxId: integer("mailbox_id"),
  messageId: integer("message_id"),
  /** JSON details of the event. */
  data: text("data").notNull().default("{}"),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [index("events_account").on(t.accountId, t.id)]);

export const auditLog = sqliteTable("audit_log", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  actorAccountId: integer("actor_account_id"),
  action: text("action").notNull(),
  target: text("target").notNull().default(""),
  data: text("data").notNull().default("{}"),
  ip: text("ip").notNull().default(""),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [index("audit_created").on(t.createdAt)]);

/**
 * DKIM signing keys per local domain (RFC 6376, RFC 8463): one RSA-2048 and one Ed25519 key,
 * each under its own selector. The private key (PKCS #8 PEM) is sealed with the master key; the
 * public key is kept as the `p=` value of the DNS record.
 */
export const dkimKeys = sqliteTable("dkim_keys", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  domainId: integer("domain_id").notNull().references(() => domains.id, { onDelete: "cascade" }),
  selector: text("selector").notNull(),
  algorithm: text("algorithm", { enum: ["rsa-sha256", "ed25519-sha256"] }).notNull(),
  /** PKCS #8 PEM sealed with the master key (SecretBox). */
  privateKey: text("private_key").notNull(),
  /** Base64 `p=` value: SubjectPublicKeyInfo for RSA, the raw 32-byte key for Ed25519. */
  publicKey: text("public_key").notNull(),
  /** Signing uses active keys only (rotation publishes the new key before switching). */
  active: integer("active", { mode: "boolean" }).notNull().default(true),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [uniqueIndex("dkim_keys_domain_selector").on(t.domainId, t.selector)]);
export * from "./schema_transactional.ts";
export * from "./schema_federation.ts";
export * from "./schema_mail_access.ts";
export * from "./schema_sharp.ts";
export * from "./schema_jmap.ts";
export * from "./schema_sieve.ts";
export * from "./schema_retention.ts";
export * from "./schema_forwarding.ts";
export * from "./schema_reports.ts";
export * from "./schema_spam.ts";
export * from "./schema_crypt.ts";
