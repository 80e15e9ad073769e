/**
 * The outbox's delivery side for many rows at once, for a transport that delivers several
 * messages in one exchange (the federation worker's batches, docs/federation.md section 6.4):
 * the held rows' message bytes in one read, and their `sent` results in one write job — one
 * commit instead of one per message — each exactly as outbox_delivery.ts's `recordResult`
 * records it: the row's lease re-checked in SQL, its `outbox.sent` and timeline events.
 */
import type { Deps } from "../deps.ts";
import { assertStep, isFailedAssertion, rawSql, schema, type Statement } from "../store/store.ts";
import { IN_JSON, jsonList } from "../store/in_list.ts";
import { tableSql } from "../store/table_sql.ts";
import { outboxEventStatements } from "../transactional/outbox_events.ts";
import { blobBytes } from "./blob_chunks.ts";
import type { OutboxRow } from "./outbox.ts";
import { heldSql, outboxEventRow, SENT_SET } from "./outbox_delivery.ts";

const outboxSql = tableSql(schema.outbox);

/**
 * The message bytes of the rows `worker` still holds among `ids`, by row id, in one read (a
 * row no longer held is absent: its lease went to another worker, which delivers it).
 */
export async function readLeasedRaws(
  deps: Deps,
  ids: number[],
  worker: string,
): Promise<Map<number, Uint8Array>> {
  const rows = await rawSql(deps.store.db).all<
    { id: number; sha256: string; size: number; data: unknown }
  >(
    `SELECT o.id, b.sha256, b.size, b.data FROM outbox o JOIN blobs b ON b.sha256 = o.blob_sha256
      WHERE o.id IN ${IN_JSON} AND o.state = 'sending' AND o.lease_owner = ?`,
    [jsonList(ids), worker],
  );
  const out = new Map<number, Uint8Array>();
  for (const row of rows) out.set(Number(row.id), await blobBytes(deps.store.db, row));
  return out;
}

export interface SentEntry {
  id: number;
  remoteMta: string;
  message: string;
  /** Statements of the same job (the federation worker's signed receipt). */
  also: Statement[];
}

/**
 * Records `sent` for many rows `worker` holds in one write job. Answers the updated rows in
 * order, or undefined when any row is no longer held: the job is then undone as a whole (or
 * never sent), and the caller records the rows one by one.
 */
export async function recordSentMany(
  deps: Deps,
  worker: string,
  entries: SentEntry[],
): Promise<OutboxRow[] | undefined> {
  if (entries.length === 0) return [];
  const now = deps.clock.now();
  const rows = (await rawSql(deps.store.db).all<Record<string, unknown>>(
    `SELECT ${outboxSql.columns} FROM outbox WHERE id IN ${IN_JSON}`,
    [jsonList(entries.map((e) => e.id))],
  )).map((r) => outboxSql.fromRow(r));
  const byId = new Map(rows.map((r) => [r.id, r]));
  const held = heldSql(worker);
  const statements: Statement[] = [];
  const updates: number[] = [];
  for (const e of entries) {
    const row = byId.get(e.id);
    if (!row || row.state !== "sending" || row.leaseOwner !== worker) return undefined;
    const data = { remoteMta: e.remoteMta, response: e.message.slice(0, 500) };
    updates.push(statements.length);
    statements.push(
      {
        sql: `UPDATE outbox SET ${SENT_SET} WHERE id = ? AND ${held.sql}
          RETURNING ${outboxSql.columns}`,
        args: [now, e.id, ...held.args],
      },
      assertStep("changes() = 1"),
      outboxEventRow(e.id, "outbox.sent", data),
      ...await outboxEventStatements(deps, row, "delivered", data),
      ...e.also,
    );
  }
  let results;
  try {
    results = await deps.store.batch(statements);
  } catch (e) {
    if (isFailedAssertion(e)) return undefined;
    throw e;
  }
  return updates.map((at, i) => {
    const row = outboxSql.fromRow(results[at].rows[0] as Record<string, unknown>);
    deps.logger.log("info", "outbox.sent", {
      id: row.id,
      domain: row.domain,
      remoteMta: entries[i].remoteMta,
    });
    return row;
  });
}
