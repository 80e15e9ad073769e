/**
 * Tables of transactional sending (issue 6): the record of each message sent through
 * `POST /v1/emails`, its per-recipient status and event timeline, idempotency keys, templates,
 * suppressions, per-domain tracking settings, webhook endpoints and their delivery log.
 * Times are Unix milliseconds; JSON columns hold text.
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

const now = sql`(cast(unixepoch('subsec') * 1000 as integer))`;

/** One message accepted by the send API. `id` is public (`em_…`), made before composing. */
export const txMessages = sqliteTable("tx_messages", {
  id: text("id").primaryKey(),
  accountId: integer("account_id").notNull(),
  /** The From domain: suppression, tracking settings and analytics are per domain. */
  domain: text("domain").notNull(),
  fromAddress: text("from_address").notNull(),
  subject: text("subject").notNull().default(""),
  /** Id of the Sent copy (the outbox's `message_ref`). */
  sentRef: integer("sent_ref"),
  messageIdHeader: text("message_id_header").notNull(),
  /** JSON array of tags, JSON object of metadata (echoed in webhooks). */
  tags: text("tags").notNull().default("[]"),
  metadata: text("metadata").notNull().default("{}"),
  /** When a scheduled message may first leave; null when sent at once. */
  sendAt: integer("send_at"),
  /** `test`: sent with a test API key, recorded and never delivered (transactional/test_mode.ts). */
  state: text("state", { enum: ["scheduled", "accepted", "cancelled", "test"] }).notNull(),
  template: text("template"),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [
  index("tx_messages_account").on(t.accountId, t.createdAt),
  index("tx_messages_sent_ref").on(t.sentRef),
]);

/** One recipient of a message: its latest status and, for remote ones, its outbox row. */
export const txRecipients = sqliteTable("tx_recipients", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  messageId: text("message_id").notNull(),
  address: text("address").notNull(),
  status: text("status").notNull(),
  outboxId: integer("outbox_id"),
  updatedAt: integer("updated_at").notNull(),
}, (t) => [
  uniqueIndex("tx_recipients_message_address").on(t.messageId, t.address),
  index("tx_recipients_outbox").on(t.outboxId),
]);

/** The status timeline: queued, delivered, deferred, bounced, failed, complained, opened… */
export const txEvents = sqliteTable("tx_events", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  accountId: integer("account_id").notNull(),
  messageId: text("message_id").notNull(),
  recipient: text("recipient"),
  type: text("type").notNull(),
  domain: text("domain").notNull(),
  data: text("data").notNull().default("{}"),
  createdAt: integer("created_at").notNull(),
}, (t) => [
  index("tx_events_message").on(t.messageId, t.id),
  index("tx_events_account_time").on(t.accountId, t.createdAt),
]);

/**
 * `Idempotency-Key`s: inserted in the same write transaction as the send, so of two concurrent
 * duplicates exactly one commits a send; the other finds this row and replays its response.
 */
export const txIdempotency = sqliteTable("tx_idempotency", {
  accountId: integer("account_id").notNull(),
  key: text("key").notNull(),
  /** Which endpoint the key was used on (`email` or `batch`). */
  scope: text("scope").notNull(),
  requestHash: text("request_hash").notNull(),
  status: integer("status").notNull(),
  response: text("response").notNull(),
  expiresAt: integer("expires_at").notNull(),
  createdAt: integer("created_at").notNull(),
}, (t) => [primaryKey({ columns: [t.accountId, t.scope, t.key] })]);

/** Templates by name, each save a new version; deleting removes every version. */
export const txTemplates = sqliteTable("tx_templates", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  accountId: integer("account_id").notNull(),
  name: text("name").notNull(),
  version: integer("version").notNull(),
  subject: text("subject").notNull().default(""),
  text: text("text"),
  html: text("html"),
  createdAt: integer("created_at").notNull(),
}, (t) => [uniqueIndex("tx_templates_name_version").on(t.accountId, t.name, t.version)]);

/** Addresses a domain no longer sends to (hard bounce, complaint, unsubscribe, by hand). */
export const txSuppressions = sqliteTable("tx_suppressions", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  domain: text("domain").notNull(),
  /** Lower-cased address. */
  address: text("address").notNull(),
  reason: text("reason", { enum: ["bounce", "complaint", "unsubscribe", "manual"] }).notNull(),
  detail: text("detail").notNull().default(""),
  /** Bounces: the reply or DSN status that caused it ("550 5.1.1", "5.1.1"); complaints: the type. */
  code: text("code"),
  /** Bounces: where it was answered (rcpt, dsn: src/transactional/bounce_class.ts). */
  stage: text("stage"),
  messageId: text("message_id"),
  createdAt: integer("created_at").notNull(),
}, (t) => [uniqueIndex("tx_suppressions_domain_address").on(t.domain, t.address)]);

/** Per-domain defaults for open and click tracking (a message may override them) and VERP. */
export const txDomainSettings = sqliteTable("tx_domain_settings", {
  domain: text("domain").primaryKey(),
  trackOpens: integer("track_opens", { mode: "boolean" }).notNull().default(false),
  trackClicks: integer("track_clicks", { mode: "boolean" }).notNull().default(false),
  /** Send with a signed VERP return path: bounces become events instead of DSNs to the sender. */
  verp: integer("verp", { mode: "boolean" }).notNull().default(false),
  updatedAt: integer("updated_at").notNull(),
});

/** Webhook endpoints (Standard Webhooks). Secrets are sealed with the master key. */
export const txWebhooks = sqliteTable("tx_webhooks", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  accountId: integer("account_id").notNull(),
  url: text("url").notNull(),
  /** JSON array of event types; empty means all. */
  events: text("events").notNull().default("[]"),
  secret: text("secret").notNull(),
  /** After a rotation the old secret also signs until `previous_until`. */
  previousSecret: text("previous_secret"),
  previousUntil: integer("previous_until"),
  includeRaw: integer("include_raw", { mode: "boolean" }).notNull().default(false),
  active: integer("active", { mode: "boolean" }).notNull().default(true),
  /** Inbound mail: the last `events` row (message.created) already turned into a delivery. */
  inboundCursor: integer("inbound_cursor").notNull().default(0),
  createdAt: integer("created_at").notNull(),
}, (t) => [index("tx_webhooks_account").on(t.accountId)]);

/** One event for one endpoint: retried with backoff for up to 3 days, then `failed`. */
export const txWebhookDeliveries = sqliteTable("tx_webhook_deliveries", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  webhookId: integer("webhook_id").notNull(),
  /** The `webhook-id` header: the same for every retry of this event. */
  eventId: text("event_id").notNull(),
  eventType: text("event_type").notNull(),
  payload: text("payload").notNull(),
  state: text("state", { enum: ["pending", "delivering", "succeeded", "failed"] }).notNull(),
  attempts: integer("attempts").notNull().default(0),
  nextAttemptAt: integer("next_attempt_at").notNull(),
  leaseUntil: integer("lease_until"),
  lastStatus: integer("last_status"),
  lastError: text("last_error"),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
  /**
   * For an endpoint that wants the raw message: the blob whose bytes go into `data.raw` when
   * the event is posted (webhook_dispatcher.ts), instead of a copy in `payload` (D1 refuses
   * rows of 2 MB or more). The blob is kept while the delivery may still be posted.
   */
  rawSha256: text("raw_sha256"),
}, (t) => [
  index("tx_webhook_deliveries_due").on(t.state, t.nextAttemptAt),
  index("tx_webhook_deliveries_hook").on(t.webhookId, t.id),
  index("tx_webhook_deliveries_raw").on(t.rawSha256).where(sql`${t.rawSha256} IS NOT NULL`),
]);
