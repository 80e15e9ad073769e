/**
 * Reports (issue 21 item 4): DMARC aggregate reports (RFC 7489 section 7.2, appendix C) this
 * server owes the senders of the mail it received, kept as per-day counters until the daily
 * report is sent, and the reports it received for its own domains, parsed.
 *
 * Why counters and not one row per message: an MX records every DMARC evaluation, and the report
 * only needs "this many messages from this IP with these results" per day; one upsert per
 * message in the delivery's own write job keeps the cost flat and the write job one round trip.
 */
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** Inbound DMARC evaluations, counted per UTC day and per distinct report row. */
export const dmarcCounts = sqliteTable("dmarc_counts", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  /** Days since the Unix epoch (UTC): the report's interval. */
  day: integer("day").notNull(),
  /** The RFC 5322.From domain (the report goes to its published rua). */
  headerFrom: text("header_from").notNull(),
  /**
   * The row's identity as JSON: [source_ip, disposition, dkim_eval, spf_eval, spf_domain,
   * spf_result, [[dkim_domain, selector, result], …]] (appendix C `row` and `auth_results`).
   */
  rowKey: text("row_key").notNull(),
  count: integer("count").notNull().default(1),
}, (t) => [uniqueIndex("dmarc_counts_row").on(t.day, t.headerFrom, t.rowKey)]);

/** Outbound SMTP TLS results (RFC 8460), counted per UTC day and per recipient domain. */
export const tlsCounts = sqliteTable("tls_counts", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  day: integer("day").notNull(),
  /** The recipient (policy) domain: the report goes to its `_smtp._tls` rua. */
  policyDomain: text("policy_domain").notNull(),
  /** JSON: [policy_type, [policy strings], mx_host, result ("success" or a result type)]. */
  rowKey: text("row_key").notNull(),
  count: integer("count").notNull().default(1),
}, (t) => [uniqueIndex("tls_counts_row").on(t.day, t.policyDomain, t.rowKey)]);

/** Reports received for our domains (DMARC aggregate, TLS-RPT), parsed. */
export const receivedReports = sqliteTable("received_reports", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  kind: text("kind", { enum: ["dmarc", "tlsrpt"] }).notNull(),
  /** The policy domain the report is about (one of ours). */
  domain: text("domain").notNull(),
  orgName: text("org_name").notNull(),
  reportId: text("report_id").notNull(),
  /** The reporting interval, Unix ms. */
  begin: integer("begin").notNull(),
  end: integer("end").notNull(),
  /** The parsed report (policy published, rows or TLS policies with counts) as JSON. */
  data: text("data").notNull(),
  /** Messages (DMARC) or sessions (TLS) the report counts, and how many failed. */
  total: integer("total").notNull(),
  failed: integer("failed").notNull(),
  receivedAt: integer("received_at").notNull(),
}, (t) => [
  uniqueIndex("received_reports_id").on(t.kind, t.orgName, t.reportId),
  index("received_reports_domain").on(t.kind, t.domain, t.begin),
]);
