/**
 * Delivery progress of the outbox as timeline events: called by services/outbox_delivery.ts in
 * the transaction that claims rows or records each result. Rows that were not sent through the
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
import { and, eq, inArray } from "drizzle-orm";
import type { Deps } from "../deps.ts";
import { schema } from "../store/store.ts";
import type { OutboxRow } from "../services/outbox.ts";
import type { Tx } from "../store/store.ts";
import type { TxEventType } from "../../schemas/tx_send.ts";
import { parseVerp } from "./signing.ts";
import { messageForOutbox, type NewTxEvent, recordEvent } from "./timeline.ts";
import type { WebhookRow } from "./webhooks.ts";

export async function outboxEvent(
  tx: Tx,
  deps: Deps,
  row: OutboxRow,
  type: TxEventType,
  data: Record<string, unknown>,
  suppress?: NewTxEvent["suppress"],
): Promise<void> {
  const found = await messageForOutbox(tx, row.id);
  if (!found) return;
  await recordEvent(tx, deps, {
    message: found.message,
    recipient: found.recipient,
    type,
    data,
    at: deps.clock.now(),
    suppress,
  });
}

/** True when the envelope sender is one of our signed return paths (no DSN to send). */
export async function isVerpSender(deps: Deps, mailFrom: string): Promise<boolean> {
  return mailFrom !== "" && (await parseVerp(deps, mailFrom)) !== undefined;
}

/** Rows just leased to a transport: their first hand-over is the recipient's `sent` event. */
export async function outboxClaimed(
  tx: Tx,
  deps: Deps,
  rows: OutboxRow[],
  route: string,
): Promise<void> {
  // A retry (attempts > 0) or a lapsed lease taken over is not a new `sent`.
  const ids = rows.filter((r) => r.attempts === 0).map((r) => r.id);
  if (ids.length === 0) return;
  const found = await tx.select({ message: schema.txMessages, recipient: schema.txRecipients })
    .from(schema.txRecipients)
    .innerJoin(schema.txMessages, eq(schema.txMessages.id, schema.txRecipients.messageId))
    .where(and(
      inArray(schema.txRecipients.outboxId, ids),
      inArray(schema.txRecipients.status, ["queued", "scheduled"]),
    ));
  const at = deps.clock.now();
  const hooks = new Map<number, WebhookRow[]>();
  const plain: typeof found = [];
  for (const f of found) {
    const accountId = f.message.accountId;
    if (!hooks.has(accountId)) {
      hooks.set(
        accountId,
        await tx.select().from(schema.txWebhooks).where(and(
          eq(schema.txWebhooks.accountId, accountId),
          eq(schema.txWebhooks.active, true),
        )),
      );
    }
    const endpoints = hooks.get(accountId)!;
    if (endpoints.length === 0) plain.push(f);
    else {
      await recordEvent(tx, deps, {
        message: f.message,
        recipient: f.recipient.address,
        type: "sent",
        data: { route },
        at,
      }, endpoints);
    }
  }
  if (plain.length === 0) return;
  // No webhooks to enqueue and nothing to suppress: what recordEvent writes, in two statements
  // for the whole claim (the claim holds the write lock; a row at a time slows every worker).
  await tx.insert(schema.txEvents).values(plain.map((f) => ({
    accountId: f.message.accountId,
    messageId: f.message.id,
    recipient: f.recipient.address,
    type: "sent",
    domain: f.message.domain,
    data: JSON.stringify({ route }),
    createdAt: at,
  })));
  await tx.update(schema.txRecipients).set({ status: "sent", updatedAt: at })
    .where(inArray(schema.txRecipients.id, plain.map((f) => f.recipient.id)));
}
