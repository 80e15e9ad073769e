/**
 * Conversations (threads built at delivery from References/In-Reply-To, RFC 5322 section 3.6.4):
 * one account's threads newest first with keyset pagination on `(last_date, id)`, and one thread
 * with its messages oldest first.
 */
import { openPreviews } from "../crypt/sealed_rows.ts";
import { and, desc, eq, type SQL, sql } from "drizzle-orm";
import type { MessageSummary } from "../../schemas/api_mail.ts";
import type { Queryable } from "../store/store.ts";
import { schema } from "../store/store.ts";
import { requireMailbox } from "./mailboxes.ts";
import { pageCursor, requireThread, summaryColumns, toPage, toSummary } from "./messages.ts";

const t = schema.threads;
const m = schema.messages;

/** Messages shown with one thread; longer threads show their newest this many. */
export const MAX_THREAD_MESSAGES = 1000;

type ThreadRow = typeof t.$inferSelect;

const toThread = (row: ThreadRow) => ({
  id: row.id,
  subject: row.subject,
  messageCount: row.messageCount,
  lastDate: new Date(row.lastDate).toISOString(),
});

export interface ThreadQuery {
  mailboxId?: number;
  cursor?: string;
  limit: number;
}

export function threadsQuery(db: Queryable, accountId: number, q: ThreadQuery) {
  const cursor = pageCursor(q.cursor);
  const where: (SQL | undefined)[] = [eq(t.accountId, accountId)];
  if (cursor) where.push(sql`(${t.lastDate}, ${t.id}) < (${cursor.key}, ${cursor.id})`);
  if (q.mailboxId !== undefined) {
    // Threads with at least one message in the mailbox (found through messages_thread).
    where.push(sql`EXISTS (SELECT 1 FROM ${m} WHERE ${m.threadId} = ${t.id}
      AND ${m.mailboxId} = ${q.mailboxId} AND ${m.accountId} = ${accountId})`);
  }
  return db.select().from(t).where(and(...where)).orderBy(desc(t.lastDate), desc(t.id))
    .limit(q.limit + 1);
}

export async function listThreads(db: Queryable, accountId: number, q: ThreadQuery) {
  pageCursor(q.cursor);
  if (q.mailboxId !== undefined) await requireMailbox(db, accountId, q.mailboxId);
  const rows = await threadsQuery(db, accountId, q);
  return toPage(rows, q.limit, (r) => r.lastDate, toThread);
}

export async function getThread(db: Queryable, accountId: number, id: number) {
  const thread = await requireThread(db, accountId, id);
  const newest = await db.select(summaryColumns).from(m)
    .where(and(eq(m.threadId, id), sql`+${m.accountId} = ${accountId}`))
    .orderBy(desc(m.internalDate), desc(m.id)).limit(MAX_THREAD_MESSAGES);
  await openPreviews(db, newest); // sealed at rest (crypt/sealed_rows.ts)
  const messages: MessageSummary[] = newest.reverse().map(toSummary);
  return { ...toThread(thread), messages };
}
