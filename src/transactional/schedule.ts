/**
 * Cancelling a scheduled message before it leaves. Its outbox rows carry `next_attempt_at =
 * sendAt`, so no transport claims them earlier, across restarts too; cancelling marks every
 * row `cancelled` in one write transaction, and only while none is leased or finished.
 */
import { and, eq, inArray } from "drizzle-orm";
import type { TxEmailView } from "../../schemas/tx_send.ts";
import type { AuthContext } from "../auth/auth_context.ts";
import type { Deps } from "../deps.ts";
import { conflict } from "../errors.ts";
import { schema } from "../store/store.ts";
import { emailView, getTxMessage, recordEvent } from "./timeline.ts";

export async function cancelEmail(
  deps: Deps,
  auth: AuthContext,
  emailId: string,
): Promise<TxEmailView> {
  const now = deps.clock.now();
  await deps.store.write(async (tx) => {
    const message = await getTxMessage(tx, auth.accountId, emailId);
    if (message.state !== "scheduled") {
      throw conflict(`email ${emailId} is ${message.state}: only scheduled mail can be cancelled`);
    }
    const recipients = await tx.select().from(schema.txRecipients)
      .where(eq(schema.txRecipients.messageId, emailId));
    const ids = recipients.flatMap((r) => (r.outboxId ? [r.outboxId] : []));
    const rows = ids.length
      ? await tx.select().from(schema.outbox).where(inArray(schema.outbox.id, ids))
      : [];
    const busy = rows.filter((r) =>
      r.state !== "queued" || (r.leaseUntil !== null && r.leaseUntil >= now)
    );
    if (busy.length > 0) throw conflict(`email ${emailId} is already being sent`);
    if (ids.length) {
      await tx.update(schema.outbox).set({ state: "cancelled", updatedAt: now })
        .where(and(inArray(schema.outbox.id, ids), eq(schema.outbox.state, "queued")));
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
