/**
 * The durable outbox: one row per remote recipient, written in the same transaction that accepted
 * the message, so an acknowledged message is never lost. Transports (SMTP and federation, later
 * issues) claim rows with leases; this module only enqueues and lists.
 */
import { and, desc, eq, lt } from "drizzle-orm";
import { parseAddress } from "../../schemas/address.ts";
import type { Deps } from "../deps.ts";
import type { Queryable, Statement, Tx } from "../store/store.ts";
import { appendLater, rawSql, schema } from "../store/store.ts";
import { tableSql } from "../store/table_sql.ts";
import type { InValue } from "@libsql/client/web";

// Every accepted remote recipient is one outbox row and one event: plain SQL (store/table_sql.ts).
const outboxSql = tableSql(schema.outbox);
const eventsSql = tableSql(schema.events);

export type OutboxRow = typeof schema.outbox.$inferSelect;

export interface OutboundInput {
  accountId: number | null;
  blobSha256: string;
  messageIdHeader?: string;
  /** Our message id of the Sent copy, when there is one. */
  messageRef?: number;
  mailFrom: string;
  recipients: string[];
  now: number;
  /** No transport may take the rows before this time (a scheduled send); default `now`. */
  notBefore?: number;
}

/** The outbox rows of `input`, one per recipient. */
function outboxRows(deps: Deps, input: OutboundInput) {
  const start = Math.max(input.now, input.notBefore ?? input.now);
  const expiresAt = start + deps.config.outboxExpiryHours * 3_600_000;
  return input.recipients.map((rcpt) => {
    const parsed = parseAddress(rcpt);
    if (!parsed.ok) throw new Error(`unroutable recipient reached the outbox: ${rcpt}`);
    return {
      accountId: input.accountId,
      blobSha256: input.blobSha256,
      messageRef: input.messageRef,
      messageIdHeader: input.messageIdHeader,
      mailFrom: input.mailFrom,
      rcptTo: parsed.value.address,
      domain: parsed.value.domain,
      state: "queued" as const,
      nextAttemptAt: start,
      expiresAt,
      createdAt: input.now,
      updatedAt: input.now,
    };
  });
}

/** A SQL expression (a scalar subquery) and its arguments. */
export interface SqlValue {
  sql: string;
  args: InValue[];
}

/**
 * `enqueueOutbound` as statements of a write job (`Store.batch`): each row, then its
 * `outbox.queued` event, which names the row by `last_insert_rowid()` (a batch runs its
 * statements in order on one connection). `messageRef`, when given, is the Sent copy's id as SQL
 * (the copy is stored by an earlier step of the same job).
 */
export function enqueueStatements(
  deps: Deps,
  input: OutboundInput,
  messageRef?: SqlValue,
): Statement[] {
  const ref = messageRef ?? { sql: "?", args: [input.messageRef ?? null] };
  return outboxRows(deps, input).flatMap((row) => [
    {
      sql: `INSERT INTO outbox (account_id, blob_sha256, message_ref, message_id_header, mail_from,
          rcpt_to, domain, state, next_attempt_at, expires_at, created_at, updated_at)
        VALUES (?, ?, ${ref.sql}, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)`,
      args: [
        row.accountId,
        row.blobSha256,
        ...ref.args,
        row.messageIdHeader ?? null,
        row.mailFrom,
        row.rcptTo,
        row.domain,
        row.nextAttemptAt,
        row.expiresAt,
        row.createdAt,
        row.updatedAt,
      ],
    },
    {
      sql: `INSERT INTO events (account_id, type, message_id, data)
        SELECT account_id, 'outbox.queued', message_ref,
          json_object('outboxId', id, 'recipient', rcpt_to)
        FROM outbox WHERE id = last_insert_rowid()`,
    },
  ]);
}

export async function enqueueOutbound(
  tx: Tx,
  deps: Deps,
  input: OutboundInput,
): Promise<OutboxRow[]> {
  const rows = outboxRows(deps, input);
  if (rows.length === 0) return [];
  const sql = rawSql(tx);
  const inserted: OutboxRow[] = [];
  for (const values of rows) {
    const row = await outboxSql.insertReturning(sql, values);
    appendLater(tx, eventsSql, {
      accountId: row.accountId,
      type: "outbox.queued",
      messageId: row.messageRef,
      data: JSON.stringify({ outboxId: row.id, recipient: row.rcptTo }),
    });
    inserted.push(row);
  }
  return inserted;
}

export interface OutboxQuery {
  accountId?: number;
  state?: OutboxRow["state"];
  beforeId?: number;
  limit: number;
}

export async function listOutbox(db: Queryable, q: OutboxQuery): Promise<OutboxRow[]> {
  const conditions = [];
  if (q.accountId !== undefined) conditions.push(eq(schema.outbox.accountId, q.accountId));
  if (q.state) conditions.push(eq(schema.outbox.state, q.state));
  if (q.beforeId) conditions.push(lt(schema.outbox.id, q.beforeId));
  return await db.select().from(schema.outbox).where(and(...conditions))
    .orderBy(desc(schema.outbox.id)).limit(q.limit);
}
