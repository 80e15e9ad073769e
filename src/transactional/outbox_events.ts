/**
 * Delivery progress of the outbox as timeline events: statements of the write job of
 * services/outbox_delivery.ts that claims rows or records each result. Rows that were not sent through the
 * send API (no `tx_recipients` row points at them) are left alone. Messages with a signed VERP
 * return path get no DSN in the sender's Inbox: the `bounced` event (and webhook) reports it.
 *
 * `sent` and `delivered` differ as at the big sending services: `sent` is recorded once per
 * recipient when a transport (the bridge's SMTP or SHARP/1.3 worker, or federation) first takes
 * the message off the queue to transmit it; `delivered` when the next hop has taken
 * responsibility — SMTP 250 after DATA (RFC 5321 section 4.2.5), a signed federation receipt,
 * or local delivery (where both are recorded at once). A `sent` recipient may still be
 * `deferred` or `bounced`; a message that never leaves (cancelled, expired unsent) is never
 * `sent`. Analytics count `sent` events, so sent ≥ delivered + bounced-after-sending.
 */
import type { Deps } from "../deps.ts";
import type { OutboxRow } from "../services/outbox.ts";
import { recordStatements, type Statement } from "../store/store.ts";
import type { InValue } from "@libsql/client/web";
import type { TxEventType } from "../../schemas/tx_send.ts";
import { parseVerp } from "./signing.ts";
import { messageForOutbox, type NewTxEvent, recordEvent } from "./timeline.ts";
import { activeWebhooks, wantsArgs, wantsSql } from "./webhooks.ts";

/**
 * The statements of the timeline event of an outbox row sent through the send API (none for
 * others), for the row's own write job: what it needs is read now (the message, the account's
 * webhooks), and recordEvent's writes are recorded (`recordStatements`).
 */
export async function outboxEventStatements(
  deps: Deps,
  row: OutboxRow,
  type: TxEventType,
  data: Record<string, unknown>,
  suppress?: NewTxEvent["suppress"],
): Promise<Statement[]> {
  const found = await messageForOutbox(deps.store.db, row.id);
  if (!found) return [];
  const hooks = await activeWebhooks(deps.store.db, found.message.accountId);
  return await recordStatements((tx) =>
    recordEvent(tx, deps, {
      message: found.message,
      recipient: found.recipient,
      type,
      data,
      at: deps.clock.now(),
      suppress,
    }, hooks)
  );
}

/** True when the envelope sender is one of our signed return paths (no DSN to send). */
export async function isVerpSender(deps: Deps, mailFrom: string): Promise<boolean> {
  return mailFrom !== "" && (await parseVerp(deps, mailFrom)) !== undefined;
}

/**
 * The `sent` events of the rows a claim takes (`claimed`: SQL over the outbox row `o`, with its
 * arguments), as statements of the claim's own write job: a retry (attempts > 0) or a lapsed
 * lease taken over is not a new `sent`, and a recipient already past queued/scheduled is not
 * counted twice. What recordEvent writes for each, in three statements for the whole claim: the
 * timeline rows, one webhook delivery per active endpoint that wants `email.sent` (webhooks.ts
 * `wants`, in SQL), and the recipients' status last (the first two select on it).
 */
export function claimedEventStatements(
  deps: Deps,
  claimed: { sql: string; args: InValue[] },
  route: string,
): Statement[] {
  const at = deps.clock.now();
  const sent = `FROM outbox o JOIN tx_recipients r ON r.outbox_id = o.id
    JOIN tx_messages m ON m.id = r.message_id
    WHERE ${claimed.sql} AND o.attempts = 0 AND r.status IN ('queued', 'scheduled')`;
  return [
    {
      sql:
        `INSERT INTO tx_events (account_id, message_id, recipient, type, domain, data, created_at)
        SELECT m.account_id, m.id, r.address, 'sent', m.domain, json_object('route', ?), ?
        ${sent} ORDER BY r.id`,
      args: [route, at, ...claimed.args],
    },
    {
      // One event id per recipient, shared by its endpoints' deliveries (MATERIALIZED: drawn once).
      sql: `WITH ev AS MATERIALIZED (
          SELECT r.id AS rid, r.address, m.id AS email_id, m.account_id, m.message_id_header,
            m.from_address, m.subject, m.tags, m.metadata,
            'msg_' || lower(hex(randomblob(12))) AS event_id
          ${sent})
        INSERT INTO tx_webhook_deliveries (webhook_id, event_id, event_type, payload, state,
          next_attempt_at, created_at, updated_at)
        SELECT h.id, ev.event_id, 'email.sent', json_object('type', 'email.sent', 'timestamp', ?,
            'data', json_object('emailId', ev.email_id, 'messageId', ev.message_id_header,
              'from', ev.from_address, 'to', ev.address, 'subject', ev.subject,
              'tags', json(ev.tags), 'metadata', json(ev.metadata), 'route', ?)),
          'pending', ?, ?, ?
        FROM ev JOIN tx_webhooks h ON h.account_id = ev.account_id AND h.active = 1
          AND ${wantsSql()}
        ORDER BY ev.rid, h.id`,
      args: [
        ...claimed.args,
        new Date(at).toISOString(),
        route,
        at,
        at,
        at,
        ...wantsArgs("email.sent"),
      ],
    },
    {
      sql: `UPDATE tx_recipients SET status = 'sent', updated_at = ?
        WHERE status IN ('queued', 'scheduled')
        AND outbox_id IN (SELECT o.id FROM outbox o WHERE ${claimed.sql} AND o.attempts = 0)`,
      args: [at, ...claimed.args],
    },
  ];
}
