/**
 * The write job of a returned report (returns.ts) as ONE batch, and the report's only round trip
 * (DESIGN.md, "Write jobs are single round trips"): the message it is about, and for each event
 * it names — a DSN's `bounced`/`deferred`/`delivered`, an ARF `complained` — the recipient's
 * status, the suppression it implies, one webhook delivery per endpoint that subscribes, and the
 * timeline row, which is also what the analytics count. Nothing is read before the job: which
 * message the report is about, whether the address is one of its recipients and which endpoints
 * get the event are decided by the statements themselves when they run.
 *
 * The message is the first of the report's signed VERP return paths that names one (their MACs
 * are checked before, in JavaScript), or else the one whose id and Message-ID the returned
 * original carries, both matching. Every statement of an event runs only while its guard holds:
 * that message exists, the address is one of its recipients (a report cannot suppress an address
 * the message was not sent to), and no event of that type for that recipient from the same report
 * is on its timeline yet. The timeline row is written last, so the same report arriving twice — a
 * retried SMTP transaction, a second copy, or two gateways handling it at once — records each
 * event once: a write job runs alone on every engine (BEGIN IMMEDIATE, a Hrana batch, a D1 batch),
 * and the second finds the first's rows.
 */
import type { TxEventType } from "../../schemas/tx_send.ts";
import type { Statement } from "../store/store.ts";
import { jsonList } from "../store/in_list.ts";
import { randomToken } from "../crypto.ts";
import { classifyBounce } from "./bounce_class.ts";
import { wantsArgs, wantsSql } from "./webhooks.ts";

/** One event a report names, its recipient lower-cased. */
export interface ReturnEvent {
  recipient: string;
  type: TxEventType;
  status?: string;
  diagnostic?: string;
}

/** How the report names its message: verified VERP ids, or the returned original's headers. */
export interface ReturnedMessage {
  verpIds: string[];
  emailId?: string;
  messageId?: string;
}

/**
 * Every statement binds the same first parameters: ?1 the VERP ids (JSON), ?2 and ?3 the
 * original's email id and Message-ID, ?4 the report's id; then its own from ?5 on.
 */
const MESSAGE_ID = `coalesce(
  (SELECT t.id FROM json_each(?1) v JOIN tx_messages t ON t.id = v.value ORDER BY v.key LIMIT 1),
  (SELECT t.id FROM tx_messages t WHERE t.id = ?2 AND t.message_id_header = ?3))`;

/** The message row `m`, the event's recipient ?5 and type ?6: the guard every step shares. */
const GUARD = `m.id = ${MESSAGE_ID}
  AND EXISTS (SELECT 1 FROM tx_recipients WHERE message_id = m.id AND address = ?5)
  AND NOT EXISTS (SELECT 1 FROM tx_events WHERE message_id = m.id AND recipient = ?5
    AND type = ?6 AND json_extract(data, '$.report') = ?4)`;

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
 * The statements of the job. The last one answers the message's id (`email_id`, null when the
 * report names none of ours) and which of the reported addresses are its recipients (`own`, a
 * JSON array), whether or not their events were new.
 */
export function returnEventStatements(
  found: ReturnedMessage,
  events: ReturnEvent[],
  reportId: string,
  at: number,
): Statement[] {
  const head = [
    jsonList(found.verpIds),
    found.emailId ?? null,
    found.messageId ?? null,
    reportId,
  ];
  const stmts: Statement[] = [];
  for (const e of events) {
    const { data, suppress } = effects(e, reportId);
    const own = [...head, e.recipient, e.type];
    stmts.push({
      sql: `UPDATE tx_recipients SET status = ?6, updated_at = ?7 WHERE address = ?5
        AND message_id = (SELECT m.id FROM tx_messages m WHERE ${GUARD})`,
      args: [...own, at],
    });
    if (suppress) {
      // The first reason recorded stays (suppression.ts `suppressInTx`).
      stmts.push({
        sql: `INSERT INTO tx_suppressions (domain, address, reason, detail, code, stage,
          message_id, created_at) SELECT lower(m.domain), ?5, ?7, ?8, ?9, ?10, m.id, ?11
          FROM tx_messages m WHERE ${GUARD} ON CONFLICT DO NOTHING`,
        args: [
          ...own,
          suppress.reason,
          suppress.detail.slice(0, 500),
          suppress.code?.slice(0, 32) ?? null,
          suppress.stage,
          at,
        ],
      });
    }
    // The event's data over the message's own fields, as timeline.ts `recordEvent` posts it.
    const type = `email.${e.type}`;
    stmts.push({
      sql: `INSERT INTO tx_webhook_deliveries (webhook_id, event_id, event_type, payload, state,
          next_attempt_at, created_at, updated_at)
        SELECT h.id, ?7, ?8, json_object('type', ?8, 'timestamp', ?9,
            'data', json_patch(json_object('emailId', m.id, 'messageId', m.message_id_header,
              'from', m.from_address, 'to', ?5, 'subject', m.subject, 'tags', json(m.tags),
              'metadata', json(m.metadata)), ?10)),
          'pending', ?11, ?11, ?11
        FROM tx_messages m JOIN tx_webhooks h ON h.account_id = m.account_id AND h.active = 1
        WHERE ${GUARD} AND ${wantsSql("?8", "?12")} ORDER BY h.id`,
      args: [
        ...own,
        `msg_${randomToken(18)}`,
        type,
        new Date(at).toISOString(),
        JSON.stringify(data),
        at,
        wantsArgs(type)[1],
      ],
    });
    stmts.push({
      sql: `INSERT INTO tx_events (account_id, message_id, recipient, type, domain, data,
          created_at) SELECT m.account_id, m.id, ?5, ?6, m.domain, ?7, ?8
        FROM tx_messages m WHERE ${GUARD}`,
      args: [...own, JSON.stringify(data), at],
    });
  }
  stmts.push({
    sql: `SELECT ${MESSAGE_ID} AS email_id, (SELECT json_group_array(address)
      FROM tx_recipients WHERE message_id = ${MESSAGE_ID}
        AND address IN (SELECT value FROM json_each(?5))) AS own`,
    args: [...head, jsonList([...new Set(events.map((e) => e.recipient))])],
  });
  return stmts;
}
