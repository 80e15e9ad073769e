/**
 * Spam filtering state (issue 21 item 1): thresholds per domain and per account, each account's
 * Bayesian token counts and the messages they were learned from, the queue of messages a user
 * moved into or out of Junk (trained by a bounded follow-up job), the addresses an account has
 * written to (a reputation bonus and a greylisting exemption), greylisting triplets and rate
 * counters.
 *
 * Why counters and greylisting live here and not in process memory: several gateways share one
 * store (DESIGN.md, "Storage and scale"), and a sender spread over them must meet one limit and
 * one greylist.
 */
import { index, integer, primaryKey, real, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * Thresholds set by an admin for a domain (`scope` = `d:<domain>`) or by a user for their own
 * account (`a:<account id>`); a null column keeps the next level's value (account → domain →
 * config).
 */
export const spamSettings = sqliteTable("spam_settings", {
  scope: text("scope").primaryKey(),
  /** Score at or above which mail goes to Junk. */
  junkScore: real("junk_score"),
  /** Score at or above which mail is refused at DATA (550 5.7.1). */
  rejectScore: real("reject_score"),
  /** 0: no spam verdict for this scope (mail is delivered with no score). */
  enabled: integer("enabled", { mode: "boolean" }),
  updatedAt: integer("updated_at").notNull(),
});

/** One account's Bayesian counts of a token: in how many spam and ham messages it was seen. */
export const spamTokens = sqliteTable("spam_tokens", {
  accountId: integer("account_id").notNull(),
  token: text("token").notNull(),
  spam: integer("spam").notNull().default(0),
  ham: integer("ham").notNull().default(0),
}, (t) => [primaryKey({ columns: [t.accountId, t.token] })]);

/** How many spam and ham messages the account's classifier has learned. */
export const spamStats = sqliteTable("spam_stats", {
  accountId: integer("account_id").primaryKey(),
  nspam: integer("nspam").notNull().default(0),
  nham: integer("nham").notNull().default(0),
});

/**
 * What each learned message was learned as (by its blob), so that moving it back out of Junk
 * unlearns the spam counts before learning it as ham, and a second move learns nothing twice.
 */
export const spamLearned = sqliteTable("spam_learned", {
  accountId: integer("account_id").notNull(),
  blobSha256: text("blob_sha256").notNull(),
  /** `spam` or `ham`. */
  label: text("label").notNull(),
}, (t) => [primaryKey({ columns: [t.accountId, t.blobSha256] })]);

/**
 * Messages a user moved into Junk (`spam`) or out of it (`ham`), written by the move's own job
 * (message_store.ts) and learned by services/spam_training.ts in a follow-up job.
 */
export const spamTraining = sqliteTable("spam_training", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  accountId: integer("account_id").notNull(),
  messageId: integer("message_id").notNull(),
  label: text("label").notNull(),
}, (t) => [index("spam_training_account").on(t.accountId, t.id)]);

/** Addresses (lower-cased) the account has sent mail to. */
export const spamCorrespondents = sqliteTable("spam_correspondents", {
  accountId: integer("account_id").notNull(),
  address: text("address").notNull(),
  lastAt: integer("last_at").notNull(),
}, (t) => [primaryKey({ columns: [t.accountId, t.address] })]);

/**
 * Greylisting (RFC 6647): `t:<network> <sender> <recipient>` triplets first seen at
 * `firstSeen`, passed at `passedAt`; `n:<network>` rows count the triplets a network passed
 * (auto-allow).
 */
export const spamGreylist = sqliteTable("spam_greylist", {
  key: text("key").primaryKey(),
  firstSeen: integer("first_seen").notNull(),
  passedAt: integer("passed_at"),
  passes: integer("passes").notNull().default(0),
  lastSeen: integer("last_seen").notNull(),
});

/** Rate counters: `s:<sender>` or `i:<client address>`, messages in the window starting at `windowStart`. */
export const spamRates = sqliteTable("spam_rates", {
  key: text("key").primaryKey(),
  windowStart: integer("window_start").notNull(),
  count: integer("count").notNull(),
});
