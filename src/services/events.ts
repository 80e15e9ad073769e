/**
 * Reading an account's change events (the `events` table) in order, for the SSE stream and any
 * client that syncs by polling.
 */
import { and, asc, desc, eq, gt } from "drizzle-orm";
import type { Queryable } from "../store/store.ts";
import { schema } from "../store/store.ts";

export interface EventView {
  id: number;
  type: string;
  mailboxId: number | null;
  messageId: number | null;
  data: Record<string, unknown>;
  createdAt: string;
}

export async function eventsAfter(
  db: Queryable,
  accountId: number,
  afterId: number,
  limit = 200,
): Promise<EventView[]> {
  const rows = await db.select().from(schema.events).where(and(
    eq(schema.events.accountId, accountId),
    gt(schema.events.id, afterId),
  )).orderBy(asc(schema.events.id)).limit(limit);
  return rows.map((r) => ({
    id: r.id,
    type: r.type,
    mailboxId: r.mailboxId,
    messageId: r.messageId,
    data: JSON.parse(r.data),
    createdAt: new Date(r.createdAt).toISOString(),
  }));
}

/** The id of the account's newest event (a stream that starts "now" begins after it). */
export async function latestEventId(db: Queryable, accountId: number): Promise<number> {
  const [row] = await db.select({ id: schema.events.id }).from(schema.events)
    .where(eq(schema.events.accountId, accountId)).orderBy(desc(schema.events.id)).limit(1);
  return row?.id ?? 0;
}
