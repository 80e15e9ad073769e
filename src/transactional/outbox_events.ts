/**
 * Delivery results of the outbox as timeline events: called by services/outbox_delivery.ts in
 * the transaction that records each result. Rows that were not sent through the send API (no
 * `tx_recipients` row points at them) are left alone. Messages with a signed VERP return path
 * get no DSN in the sender's Inbox: the `bounced` event (and webhook) reports it instead.
 */
import type { Deps } from "../deps.ts";
import type { OutboxRow } from "../services/outbox.ts";
import type { Tx } from "../store/store.ts";
import type { TxEventType } from "../../schemas/tx_send.ts";
import { parseVerp } from "./signing.ts";
import { messageForOutbox, recordEvent } from "./timeline.ts";

export async function outboxEvent(
  tx: Tx,
  deps: Deps,
  row: OutboxRow,
  type: TxEventType,
  data: Record<string, unknown>,
  permanent?: boolean,
): Promise<void> {
  const found = await messageForOutbox(tx, row.id);
  if (!found) return;
  await recordEvent(tx, deps, {
    message: found.message,
    recipient: found.recipient,
    type,
    data,
    at: deps.clock.now(),
    permanent,
  });
}

/** True when the envelope sender is one of our signed return paths (no DSN to send). */
export async function isVerpSender(deps: Deps, mailFrom: string): Promise<boolean> {
  return mailFrom !== "" && (await parseVerp(deps, mailFrom)) !== undefined;
}
