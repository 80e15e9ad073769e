/**
 * The write job of a returned report (returns.ts) as ONE batch (DESIGN.md, "Write jobs are single
 * round trips"): for each event the report names — a DSN's `bounced`/`deferred`/`delivered`, an
 * ARF `complained` — the recipient's status, the suppression it implies, one webhook delivery per
 * endpoint that subscribes, and the timeline row, which is also what the analytics count. Nothing
 * is read before the job but the message: which addresses are the message's own recipients, and
 * which endpoints get the event, are decided by the statements themselves when they run.
 *
 * Every statement of an event runs only while its guard holds: the address is a recipient of the
 * message (a report cannot suppress an address the message was not sent to), and no event of the
 * same type for that recipient from the same report is on the timeline yet. The timeline row is
 * written last, so the same report arriving twice — a retried SMTP transaction, a second copy,
 * or two gateways handling it at once — records each event once: a write job runs alone on every
 * engine (BEGIN IMMEDIATE, a Hrana batch, a D1 batch), and the second finds the first's rows.
 */
import type { InValue } from "@libsql/client/web";
import type { TxEventType } from "../../schemas/tx_send.ts";
import type { EmailEventData } from "../../schemas/tx_webhooks.ts";
import type { Statement } from "../store/store.ts";
import { IN_JSON, jsonList } from "../store/in_list.ts";
import { randomToken } from "../crypto.ts";
import { classifyBounce } from "./bounce_class.ts";
import type { TxMessageRow } from "./timeline.ts";
import { WANTS_SQL, wantsArgs } from "./webhooks.ts";

/** One event a report names, its recipient lower-cased. */
export interface ReturnEvent {
  recipient: string;
  type: TxEventType;
  status?: string;
  diagnostic?: string;
}

/** A recipient of the message, with no event of this type from this report recorded yet. */
const GUARD = `EXISTS (SELECT 1 FROM tx_recipients WHERE message_id = ? AND address = ?)
  AND NOT EXISTS (SELECT 1 FROM tx_events WHERE message_id = ? AND recipient = ? AND type = ?
    AND json_extract(data, '$.report') = ?)`;

/** What an event records: its timeline data and, for a mailbox bounce or complaint, the entry. */
function effects(e: ReturnEvent, reportId: string) {
  if (e.type === "complained") {
    return {
      data: { feedbackType: e.status, source: "arf", report: reportId },
      suppress: { reason: "complaint", detail: "", code: e.status ?? "", stage: null },
    };
  }
  // A failed recipient's Status field (RFC 3464 section 2.3.4) decides, as a reply to RCPT
  // would: 5.1.1 suppresses, 5.2.2 (full) or 5.7.1 (policy) fails the message only.
  const klass = e.type === "bounced"
    ? classifyBounce({ stage: "dsn", enhanced: e.status })
    : undefined;
  const reason = (e.diagnostic ?? e.status ?? "").slice(0, 500);
  return {
    data: {
      status: e.status,
      source: "dsn",
      reason,
      report: reportId,
      ...(klass ? { stage: "dsn", category: klass.category, suppressed: klass.suppress } : {}),
    },
    suppress: klass?.suppress
      ? { reason: "bounce", detail: reason, code: e.status ?? null, stage: "dsn" }
      : undefined,
  };
}

/**
 * The statements of the job; the last one answers which of the reported addresses are the
 * message's recipients (`address` per row), whether or not their events were new.
 */
export function returnEventStatements(
  message: TxMessageRow,
  events: ReturnEvent[],
  reportId: string,
  at: number,
): Statement[] {
  const stmts: Statement[] = [];
  for (const e of events) {
    const guard: InValue[] = [
      message.id,
      e.recipient,
      message.id,
      e.recipient,
      e.type,
      reportId,
    ];
    const { data, suppress } = effects(e, reportId);
    stmts.push({
      sql: `UPDATE tx_recipients SET status = ?, updated_at = ? WHERE message_id = ?
        AND address = ? AND ${GUARD}`,
      args: [e.type, at, message.id, e.recipient, ...guard],
    });
    if (suppress) {
      // The first reason recorded stays (suppression.ts `suppressInTx`).
      stmts.push({
        sql: `INSERT INTO tx_suppressions (domain, address, reason, detail, code, stage,
          message_id, created_at) SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE ${GUARD}
          ON CONFLICT DO NOTHING`,
        args: [
          message.domain.toLowerCase(),
          e.recipient,
          suppress.reason,
          suppress.detail.slice(0, 500),
          suppress.code?.slice(0, 32) ?? null,
          suppress.stage,
          message.id,
          at,
          ...guard,
        ],
      });
    }
    const type = `email.${e.type}`;
    const payload: { type: string; timestamp: string; data: EmailEventData } = {
      type,
      timestamp: new Date(at).toISOString(),
      data: {
        emailId: message.id,
        messageId: message.messageIdHeader,
        from: message.fromAddress,
        to: e.recipient,
        subject: message.subject,
        tags: JSON.parse(message.tags),
        metadata: JSON.parse(message.metadata),
        ...data,
      },
    };
    stmts.push({
      sql: `INSERT INTO tx_webhook_deliveries (webhook_id, event_id, event_type, payload, state,
          next_attempt_at, created_at, updated_at)
        SELECT h.id, ?, ?, ?, 'pending', ?, ?, ? FROM tx_webhooks h
        WHERE h.account_id = ? AND h.active = 1 AND ${WANTS_SQL} AND ${GUARD} ORDER BY h.id`,
      args: [
        `msg_${randomToken(18)}`,
        type,
        JSON.stringify(payload),
        at,
        at,
        at,
        message.accountId,
        ...wantsArgs(type),
        ...guard,
      ],
    });
    stmts.push({
      sql: `INSERT INTO tx_events (account_id, message_id, recipient, type, domain, data,
          created_at) SELECT ?, ?, ?, ?, ?, ?, ? WHERE ${GUARD}`,
      args: [
        message.accountId,
        message.id,
        e.recipient,
        e.type,
        message.domain,
        JSON.stringify(data),
        at,
        ...guard,
      ],
    });
  }
  stmts.push({
    sql: `SELECT address FROM tx_recipients WHERE message_id = ? AND address IN ${IN_JSON}`,
    args: [message.id, jsonList([...new Set(events.map((e) => e.recipient))])],
  });
  return stmts;
}
