/**
 * The status timeline of transactional messages: every event (queued, delivered, deferred,
 * bounced, failed, complained, opened, clicked, unsubscribed…) is one `tx_events` row written in
 * the transaction that caused it, together with the recipient's latest status, the suppression
 * it implies (a bounce about the recipient's mailbox, a complaint, an unsubscribe) and one
 * webhook delivery per subscribed endpoint. Reading: per message, with each recipient's own
 * timeline.
 */
import { and, asc, eq } from "drizzle-orm";
import { TX_EVENT_TYPES, type TxEmailView, type TxEventType } from "../../schemas/tx_send.ts";
import type { EmailEventData } from "../../schemas/tx_webhooks.ts";
import type { Deps } from "../deps.ts";
import { notFound } from "../errors.ts";
import type { Queryable, Tx } from "../store/store.ts";
import { appendLater, rawSql, schema } from "../store/store.ts";
import { tableSql } from "../store/table_sql.ts";
import { suppressInTx } from "./suppression.ts";
import { enqueueWebhookEvent, type WebhookRow } from "./webhooks.ts";

export type TxMessageRow = typeof schema.txMessages.$inferSelect;

// One row per event of every message: plain SQL (store/table_sql.ts).
const txEventsSql = tableSql(schema.txEvents);
const txMessagesSql = tableSql(schema.txMessages);
/** The message and recipient of an outbox row sent through the send API (none for others). */
const MESSAGE_FOR_OUTBOX_SQL = `WITH r AS (
    SELECT message_id, address FROM tx_recipients WHERE outbox_id = ? LIMIT 1
  )
  SELECT ${txMessagesSql.columns}, r.address AS "__recipient"
  FROM r JOIN tx_messages ON tx_messages.id = r.message_id`;

const iso = (ms: number) => new Date(ms).toISOString();

/** Types that change a recipient's status (opens and clicks do not hide a delivery). */
const STATUS_TYPES = new Set<TxEventType>(
  TX_EVENT_TYPES.filter((t) => t !== "opened" && t !== "clicked"),
);

export interface NewTxEvent {
  message: TxMessageRow;
  recipient?: string | null;
  type: TxEventType;
  data?: Record<string, unknown>;
  at: number;
  /**
   * `bounced` only: set when the bounce is about the recipient's mailbox (bounce_class.ts), and
   * what the suppression records of it; any other bounce fails the message and suppresses nothing.
   */
  suppress?: { code?: string; stage?: string; detail: string };
  /** The recipient row already holds this status (written with it at accept time). */
  statusWritten?: boolean;
}

/** Writes the event and what follows from it; `hooks`: the account's endpoints, when known. */
export async function recordEvent(
  tx: Tx,
  deps: Deps,
  e: NewTxEvent,
  hooks?: WebhookRow[],
): Promise<void> {
  const data = e.data ?? {};
  // Addresses are kept lower-cased here: reports and links name them in any case.
  const recipient = e.recipient ? e.recipient.toLowerCase() : null;
  const sql = rawSql(tx);
  // Nothing reads the timeline back before the commit: many rows to a statement.
  appendLater(tx, txEventsSql, {
    accountId: e.message.accountId,
    messageId: e.message.id,
    recipient,
    type: e.type,
    domain: e.message.domain,
    data: JSON.stringify(data),
    createdAt: e.at,
  });
  if (recipient && STATUS_TYPES.has(e.type) && !e.statusWritten) {
    await sql.run(
      "UPDATE tx_recipients SET status = ?, updated_at = ? WHERE message_id = ? AND address = ?",
      [e.type, e.at, e.message.id, recipient],
    );
  }
  const reason = e.type === "complained"
    ? "complaint" as const
    : e.type === "unsubscribed"
    ? "unsubscribe" as const
    : e.type === "bounced" && e.suppress
    ? "bounce" as const
    : undefined;
  if (reason && recipient) {
    await suppressInTx(tx, {
      domain: e.message.domain,
      address: recipient,
      reason,
      detail: e.suppress?.detail ?? String(data.reason ?? data.status ?? ""),
      code: e.suppress?.code ??
        (reason === "complaint" ? String(data.feedbackType ?? "") : undefined),
      stage: e.suppress?.stage,
      messageId: e.message.id,
      at: e.at,
    });
  }
  await enqueueWebhookEvent(
    tx,
    deps,
    e.message.accountId,
    `email.${e.type}`,
    (): EmailEventData => ({
      emailId: e.message.id,
      messageId: e.message.messageIdHeader,
      from: e.message.fromAddress,
      to: recipient,
      subject: e.message.subject,
      tags: JSON.parse(e.message.tags),
      metadata: JSON.parse(e.message.metadata),
      ...data,
    }),
    e.at,
    hooks,
  );
}

/** The message and recipient behind an outbox row, when it was sent through the send API. */
export async function messageForOutbox(
  db: Queryable,
  outboxId: number,
): Promise<{ message: TxMessageRow; recipient: string } | undefined> {
  // Fixed SQL text: every federated or relayed result records its event through here, and the
  // query builder's join cost more than the read (bench/run.ts section (f)).
  const row = await rawSql(db).get<Record<string, unknown>>(MESSAGE_FOR_OUTBOX_SQL, [outboxId]);
  return row
    ? { message: txMessagesSql.fromRow(row), recipient: String(row.__recipient) }
    : undefined;
}

export async function getTxMessage(
  db: Queryable,
  accountId: number,
  emailId: string,
): Promise<TxMessageRow> {
  const [row] = await db.select().from(schema.txMessages).where(and(
    eq(schema.txMessages.id, emailId),
    eq(schema.txMessages.accountId, accountId),
  ));
  if (!row) throw notFound("email");
  return row;
}

export async function emailView(
  db: Queryable,
  accountId: number,
  emailId: string,
): Promise<TxEmailView> {
  const m = await getTxMessage(db, accountId, emailId);
  const recipients = await db.select().from(schema.txRecipients)
    .where(eq(schema.txRecipients.messageId, m.id)).orderBy(asc(schema.txRecipients.id));
  const rows = await db.select().from(schema.txEvents)
    .where(eq(schema.txEvents.messageId, m.id)).orderBy(asc(schema.txEvents.id));
  const events = rows.map((r) => ({
    id: r.id,
    type: r.type as TxEventType,
    recipient: r.recipient,
    data: JSON.parse(r.data) as Record<string, unknown>,
    createdAt: iso(r.createdAt),
  }));
  return {
    emailId: m.id,
    messageId: m.messageIdHeader,
    from: m.fromAddress,
    subject: m.subject,
    state: m.state,
    sendAt: m.sendAt === null ? null : iso(m.sendAt),
    tags: JSON.parse(m.tags),
    metadata: JSON.parse(m.metadata),
    createdAt: iso(m.createdAt),
    recipients: recipients.map((r) => ({
      address: r.address,
      status: r.status,
      updatedAt: iso(r.updatedAt),
      events: events.filter((e) => e.recipient === r.address || e.recipient === null),
    })),
    events,
  };
}
