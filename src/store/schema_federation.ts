/**
 * Tables of signed JSON federation (docs/federation.md): each local domain's Ed25519 keys with
 * their validity windows, the discovery cache (positive and negative) that routes outbox rows,
 * the nonces seen from each sender domain (replay defence), per-sender-domain counters (rate
 * limit, known senders for proof-of-work), and the signed receipts peers handed back.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { domains } from "./schema.ts";

const now = sql`(cast(unixepoch('subsec') * 1000 as integer))`;

export const federationKeys = sqliteTable("federation_keys", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  domainId: integer("domain_id").notNull().references(() => domains.id, { onDelete: "cascade" }),
  kid: text("kid").notNull().unique(),
  /** The private JWK (JSON) sealed with the master key. */
  privateJwk: text("private_jwk").notNull(),
  /** The public JWK (JSON), as published. */
  publicJwk: text("public_jwk").notNull(),
  /** When the key stopped signing (a newer key took over); null while it is the current key. */
  retiredAt: integer("retired_at"),
  /** When it leaves the JWKS (end of the overlap window); null while current. */
  expiresAt: integer("expires_at"),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [index("federation_keys_domain").on(t.domainId)]);

export const federationPeers = sqliteTable("federation_peers", {
  domain: text("domain").primaryKey(),
  /** peer: a valid discovery document; none: no federation (SMTP); error: lookup failed. */
  status: text("status", { enum: ["peer", "none", "error"] }).notNull(),
  /** The discovery document (JSON) when status is peer. */
  document: text("document"),
  detail: text("detail"),
  fetchedAt: integer("fetched_at").notNull(),
  expiresAt: integer("expires_at").notNull(),
});

export const federationNonces = sqliteTable("federation_nonces", {
  issuer: text("issuer").notNull(),
  nonce: text("nonce").notNull(),
  /** The envelope's expiry: after it the envelope is stale anyway and the nonce may go. */
  expiresAt: integer("expires_at").notNull(),
}, (t) => [
  primaryKey({ columns: [t.issuer, t.nonce] }),
  index("federation_nonces_expiry").on(t.expiresAt),
]);

export const federationSenders = sqliteTable("federation_senders", {
  domain: text("domain").primaryKey(),
  windowStart: integer("window_start").notNull(),
  windowCount: integer("window_count").notNull(),
  /** Deliveries accepted from this domain: a domain with none is "unknown" (proof-of-work). */
  accepted: integer("accepted").notNull().default(0),
  firstSeen: integer("first_seen").notNull(),
  lastSeen: integer("last_seen").notNull(),
});

export const federationReceipts = sqliteTable("federation_receipts", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  /** The recipient domain that signed. */
  domain: text("domain").notNull(),
  blobSha256: text("blob_sha256").notNull(),
  messageIdHeader: text("message_id_header"),
  /** JSON array of the outbox rows the delivery carried. */
  outboxIds: text("outbox_ids").notNull(),
  /** The receipt JWS exactly as received (verified against the peer's JWKS). */
  receipt: text("receipt").notNull(),
  /** JSON of its per-recipient results. */
  results: text("results").notNull(),
  createdAt: integer("created_at").notNull().default(now),
}, (t) => [index("federation_receipts_blob").on(t.blobSha256)]);
