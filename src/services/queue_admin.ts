/**
 * The outbound queue as administrators see it (`/v1/queue`, `postern queue`): list with filters
 * and keyset paging (newest first, by id), retry now, cancel. A domain administrator sees only
 * the mail sent by accounts of its domains (services/admin_reach.ts); rows without a sending
 * account (DSNs, forwarded mail) are a server administrator's.
 *
 * Retry and cancel are one conditional UPDATE each, guarded in SQL by the row's state and lease,
 * so they cannot race a transport: a row a worker holds (`sending` with a live lease) is
 * refused with 409 and the worker's result stands; a finished row (sent, bounced, failed,
 * cancelled) is refused too — its outcome has been reported to the sender already. A cancelled
 * row of a transactional message gets a `cancelled` event (and webhook) in the same write.
 */
import { and, desc, eq, inArray, isNull, lt, or, type SQL, sql } from "drizzle-orm";
import type { QueueEntry } from "../../schemas/queue.ts";
import type { Deps } from "../deps.ts";
import { conflict, notFound } from "../errors.ts";
import type { Queryable } from "../store/store.ts";
import { assertStep, isFailedAssertion, schema } from "../store/store.ts";
import { outboxEventStatements } from "../transactional/outbox_events.ts";
import type { Reach } from "./admin_reach.ts";
import type { OutboxRow } from "./outbox.ts";

const o = schema.outbox;
const iso = (ms: number) => new Date(ms).toISOString();

export interface QueueFilter {
  state?: OutboxRow["state"];
  recipient?: string;
  domain?: string;
  cursor?: number;
  limit: number;
}

/** Rows the reach covers: a domain administrator's are those its domains' accounts sent. */
function within(reach: Reach): SQL | undefined {
  if (reach.all) return undefined;
  return inArray(
    o.accountId,
    sql`(SELECT id FROM accounts WHERE domain_id IN (${
      sql.join(reach.domains.map((d) => sql`${d.id}`), sql`, `)
    }))`,
  );
}

async function entries(db: Queryable, where: SQL | undefined, limit: number) {
  return await db.select({ row: o, sender: schema.accounts.address }).from(o)
    .leftJoin(schema.accounts, eq(schema.accounts.id, o.accountId))
    .where(where).orderBy(desc(o.id)).limit(limit);
}

function view(r: { row: OutboxRow; sender: string | null }): QueueEntry {
  const { row } = r;
  return {
    id: row.id,
    state: row.state,
    mailFrom: row.mailFrom,
    recipient: row.rcptTo,
    domain: row.domain,
    senderAccount: r.sender,
    messageId: row.messageIdHeader,
    attempts: row.attempts,
    nextAttemptAt: row.state === "queued" || row.state === "deferred"
      ? iso(row.nextAttemptAt)
      : null,
    lastError: row.lastError,
    expiresAt: iso(row.expiresAt),
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

export async function listQueue(
  db: Queryable,
  reach: Reach,
  f: QueueFilter,
): Promise<{ items: QueueEntry[]; nextCursor: string | null }> {
  const rows = await entries(
    db,
    and(
      within(reach),
      f.state ? eq(o.state, f.state) : undefined,
      f.recipient ? eq(sql`lower(${o.rcptTo})`, f.recipient.toLowerCase()) : undefined,
      f.domain ? eq(sql`lower(${o.domain})`, f.domain.toLowerCase()) : undefined,
      f.cursor ? lt(o.id, f.cursor) : undefined,
    ),
    f.limit + 1,
  );
  const items = rows.slice(0, f.limit).map(view);
  return {
    items,
    nextCursor: rows.length > f.limit ? String(items[items.length - 1].id) : null,
  };
}

/** One entry the reach covers; 404 for anything else, so other tenants' ids reveal nothing. */
export async function getQueueEntry(db: Queryable, reach: Reach, id: number): Promise<QueueEntry> {
  const [row] = await entries(db, and(eq(o.id, id), within(reach)), 1);
  if (!row) throw notFound(`queue entry ${id}`);
  return view(row);
}

/** Waiting and not held by a live lease: the only rows retry and cancel may touch. */
const waiting = (now: number) =>
  and(inArray(o.state, ["queued", "deferred"]), or(isNull(o.leaseUntil), lt(o.leaseUntil, now)));

async function refusal(db: Queryable, reach: Reach, id: number, verb: string): Promise<never> {
  const entry = await getQueueEntry(db, reach, id);
  throw conflict(
    entry.state === "sending"
      ? `queue entry ${id} is being delivered now; ${verb} it after this attempt`
      : `queue entry ${id} is ${entry.state}: only queued or deferred mail can be ${verb}`,
  );
}

/** Makes a waiting entry due now (its attempts and expiry stay as they are). */
export async function retryQueueEntry(
  deps: Deps,
  reach: Reach,
  id: number,
): Promise<QueueEntry> {
  await getQueueEntry(deps.store.db, reach, id);
  const now = deps.clock.now();
  const done = await deps.store.db.update(o).set({ nextAttemptAt: now, updatedAt: now })
    .where(and(eq(o.id, id), waiting(now))).returning({ id: o.id });
  if (done.length === 0) return await refusal(deps.store.db, reach, id, "retried");
  return await getQueueEntry(deps.store.db, reach, id);
}

/** Withdraws a waiting entry for good; a transactional message's recipient is `cancelled`. */
export async function cancelQueueEntry(
  deps: Deps,
  reach: Reach,
  id: number,
  actor: string,
): Promise<QueueEntry> {
  await getQueueEntry(deps.store.db, reach, id);
  const now = deps.clock.now();
  const [row] = await deps.store.db.select().from(o).where(eq(o.id, id));
  // One write job (one round trip): the guarded UPDATE, a check that it took, then the timeline
  // event (which also sets the recipient's status, transactional/timeline.ts) — so the event is
  // written only when the entry was still waiting when the job ran.
  const events = row ? await outboxEventStatements(deps, row, "cancelled", { by: actor }) : [];
  try {
    await deps.store.batch([
      {
        sql: `UPDATE outbox SET state = 'cancelled', last_error = ?, updated_at = ?
               WHERE id = ? AND state IN ('queued', 'deferred')
                 AND (lease_until IS NULL OR lease_until < ?)`,
        args: [`cancelled by ${actor}`, now, id, now],
      },
      assertStep("changes() = 1"),
      ...events,
    ]);
  } catch (e) {
    if (isFailedAssertion(e)) return await refusal(deps.store.db, reach, id, "cancelled");
    throw e;
  }
  return await getQueueEntry(deps.store.db, reach, id);
}
