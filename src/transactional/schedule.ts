/**
 * Cancelling a scheduled message before it leaves. Its outbox rows carry `next_attempt_at =
 * sendAt`, so no transport claims them earlier, across restarts too; cancelling marks every
 * row `cancelled` in one write transaction, and only while none is leased or finished.
 */
import { and, eq } from "drizzle-orm";
import type { TxEmailView } from "../../schemas/tx_send.ts";
import type { AuthContext } from "../auth/auth_context.ts";
import type { Deps } from "../deps.ts";
import { conflict } from "../errors.ts";
import { schema, type Tx } from "../store/store.ts";
import { emailView, getTxMessage, recordEvent } from "./timeline.ts";
import { inList } from "../store/in_list.ts";

/** The message, its recipients and outbox rows, while none of them has left the queue. */
async function stillScheduled(
  tx: Tx,
  auth: AuthContext,
  emailId: string,
  now: number,
  verb: string,
) {
  const message = await getTxMessage(tx, auth.accountId, emailId);
  if (message.state !== "scheduled") {
    throw conflict(`email ${emailId} is ${message.state}: only scheduled mail can be ${verb}`);
  }
  const recipients = await tx.select().from(schema.txRecipients)
    .where(eq(schema.txRecipients.messageId, emailId));
  const ids = recipients.flatMap((r) => (r.outboxId ? [r.outboxId] : []));
  const rows = ids.length
    ? await tx.select().from(schema.outbox).where(inList(schema.outbox.id, ids))
    : [];
  if (rows.some((r) => r.state !== "queued" || (r.leaseUntil !== null && r.leaseUntil >= now))) {
    throw conflict(`email ${emailId} is already being sent`);
  }
  return { message, recipients, ids };
}

export async function cancelEmail(
  deps: Deps,
  auth: AuthContext,
  emailId: string,
): Promise<TxEmailView> {
  const now = deps.clock.now();
  await deps.store.write(async (tx) => {
    const { message, recipients, ids } = await stillScheduled(tx, auth, emailId, now, "cancelled");
    if (ids.length) {
      await tx.update(schema.outbox).set({ state: "cancelled", updatedAt: now })
        .where(and(inList(schema.outbox.id, ids), eq(schema.outbox.state, "queued")));
    }
    await tx.update(schema.txMessages).set({ state: "cancelled" })
      .where(eq(schema.txMessages.id, emailId));
    for (const r of recipients) {
      await recordEvent(tx, deps, {
        message: { ...message, state: "cancelled" },
        recipient: r.address,
        type: "cancelled",
        at: now,
      });
    }
  });
  return await emailView(deps.store.db, auth.accountId, emailId);
}

/**
 * Moves a scheduled message to another time (Resend's `PATCH /emails/{id}`): its queued outbox
 * rows get the new `next_attempt_at` in the same transaction that records the new `sendAt`,
 * under the same rule as cancelling (nothing leased or finished yet).
 */
export async function rescheduleEmail(
  deps: Deps,
  auth: AuthContext,
  emailId: string,
  sendAt: number,
): Promise<TxEmailView> {
  const now = deps.clock.now();
  await deps.store.write(async (tx) => {
    const { message, recipients, ids } = await stillScheduled(tx, auth, emailId, now, "moved");
    if (ids.length) {
      await tx.update(schema.outbox).set({ nextAttemptAt: sendAt, updatedAt: now })
        .where(and(inList(schema.outbox.id, ids), eq(schema.outbox.state, "queued")));
    }
    await tx.update(schema.txMessages).set({ sendAt }).where(eq(schema.txMessages.id, emailId));
    for (const r of recipients) {
      await recordEvent(tx, deps, {
        message: { ...message, sendAt },
        recipient: r.address,
        type: "scheduled",
        data: { sendAt: new Date(sendAt).toISOString() },
        at: now,
      });
    }
  });
  return await emailView(deps.store.db, auth.accountId, emailId);
}
