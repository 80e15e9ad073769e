/**
 * Cancelling a scheduled message before it leaves. Its outbox rows carry `next_attempt_at =
 * sendAt`, so no transport claims them earlier, across restarts too; cancelling marks every
 * row `cancelled` in one write job, and only while none is leased or finished.
 */
import { and, eq } from "drizzle-orm";
import type { TxEmailView } from "../../schemas/tx_send.ts";
import type { AuthContext } from "../auth/auth_context.ts";
import type { Deps } from "../deps.ts";
import { conflict } from "../errors.ts";
import {
  assertStep,
  isFailedAssertion,
  type Queryable,
  recordStatements,
  schema,
  type Tx,
} from "../store/store.ts";
import { emailView, getTxMessage, recordEvent } from "./timeline.ts";
import { inList } from "../store/in_list.ts";
import { activeWebhooks, type WebhookRow } from "./webhooks.ts";

/** The message, its recipients and outbox rows, while none of them has left the queue. */
async function stillScheduled(
  tx: Queryable,
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

/**
 * One change to a scheduled message as one write job: the reads decide (stillScheduled), and the
 * job's first step finds the message still scheduled and none of its rows leased or finished.
 */
async function changeScheduled(
  deps: Deps,
  auth: AuthContext,
  emailId: string,
  now: number,
  verb: string,
  write: (
    tx: Tx,
    found: Awaited<ReturnType<typeof stillScheduled>>,
    hooks: WebhookRow[],
  ) => Promise<void>,
): Promise<TxEmailView> {
  const found = await stillScheduled(deps.store.db, auth, emailId, now, verb);
  const hooks = await activeWebhooks(deps.store.db, auth.accountId);
  const steps = await recordStatements((tx) => write(tx, found, hooks));
  const ids = found.ids;
  try {
    await deps.store.batch([
      assertStep(
        "(SELECT state FROM tx_messages WHERE id = ?) = 'scheduled' AND NOT EXISTS (SELECT 1 " +
          `FROM outbox WHERE id IN (${ids.map(() => "?").join(", ")}) AND (state <> 'queued' ` +
          "OR (lease_until IS NOT NULL AND lease_until >= ?)))",
        [emailId, ...ids, now],
      ),
      ...steps,
    ]);
  } catch (e) {
    if (isFailedAssertion(e)) throw conflict(`email ${emailId} is already being sent`);
    throw e;
  }
  return await emailView(deps.store.db, auth.accountId, emailId);
}

export async function cancelEmail(
  deps: Deps,
  auth: AuthContext,
  emailId: string,
): Promise<TxEmailView> {
  const now = deps.clock.now();
  return await changeScheduled(deps, auth, emailId, now, "cancelled", async (tx, found, hooks) => {
    const { message, recipients, ids } = found;
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
      }, hooks);
    }
  });
}

/**
 * Moves a scheduled message to another time (Resend's `PATCH /emails/{id}`): its queued outbox
 * rows get the new `next_attempt_at` in the same write job that records the new `sendAt`,
 * under the same rule as cancelling (nothing leased or finished yet).
 */
export async function rescheduleEmail(
  deps: Deps,
  auth: AuthContext,
  emailId: string,
  sendAt: number,
): Promise<TxEmailView> {
  const now = deps.clock.now();
  return await changeScheduled(deps, auth, emailId, now, "moved", async (tx, found, hooks) => {
    const { message, recipients, ids } = found;
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
      }, hooks);
    }
  });
}
