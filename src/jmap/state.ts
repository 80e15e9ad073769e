/**
 * State strings and `/changes` (RFC 8620 section 5.2) from the change log that SQL triggers
 * keep (src/store/schema_jmap.ts): a type's state is the sequence number of the account's last
 * change of that type, so every write — IMAP, REST, SMTP delivery, JMAP, another process —
 * moves it. Changes since a state fold the log rows of each object into one of created,
 * updated or destroyed; at most `maxChanges` ids per answer, with an intermediate state when
 * more remain.
 */
import { sql } from "drizzle-orm";
import { type Queryable, rawSql } from "../store/store.ts";
import { MethodError } from "./protocol.ts";
import { FLOOR_SQL } from "./retention.ts";

export type DataType = "Email" | "Mailbox" | "Thread" | "EmailSubmission";

export async function currentState(db: Queryable, accountId: number, type: DataType) {
  const row = await db.get<{ seq: number | null }>(sql`SELECT max(seq) AS seq FROM jmap_changes
    WHERE account_id = ${accountId} AND type = ${type}`);
  return String(Number(row?.seq ?? 0));
}

export interface Changes {
  oldState: string;
  newState: string;
  hasMoreChanges: boolean;
  created: number[];
  updated: number[];
  destroyed: number[];
  /** True when every update only changed counts (Mailbox `updatedProperties`, section 2.2). */
  countsOnly: boolean;
}

/** Rows read per step: a long backlog is folded in slices, never loaded whole. */
const SLICE = 2_000;

/** The state as a sequence number; throws cannotCalculateChanges for one we never gave out. */
export async function parseState(db: Queryable, accountId: number, type: DataType, state: unknown) {
  if (typeof state !== "string" || !/^(0|[1-9][0-9]{0,15})$/.test(state)) {
    throw new MethodError("cannotCalculateChanges", "the state is not one this server issued");
  }
  const since = Number(state);
  const current = Number(await currentState(db, accountId, type));
  if (since > current) {
    throw new MethodError("cannotCalculateChanges", "the state is newer than the server's");
  }
  // Rows up to the watermark may have been pruned (retention.ts): a state below it can be
  // answered only when nothing changed since (the latest row of each type is always kept).
  if (since < current) {
    const floor = await rawSql(db).get<{ floor: number }>(FLOOR_SQL);
    if (since < Number(floor?.floor ?? 0)) {
      throw new MethodError("cannotCalculateChanges", "the state is older than the change log");
    }
  }
  return since;
}

export async function changesSince(
  db: Queryable,
  accountId: number,
  type: DataType,
  sinceState: unknown,
  maxChanges: number | undefined,
): Promise<Changes> {
  const since = await parseState(db, accountId, type, sinceState);
  const limit = maxChanges ?? Infinity;
  const objects = new Map<number, { first: number; last: number; updated: boolean }>();
  let cursor = since;
  let newState = since;
  let more = false;
  outer: for (;;) {
    const rows = await db.all<{ seq: number; objectId: number; op: number }>(sql`SELECT seq,
      object_id AS objectId, op FROM jmap_changes WHERE account_id = ${accountId}
      AND type = ${type} AND seq > ${cursor} ORDER BY seq LIMIT ${SLICE}`);
    for (const r of rows) {
      const seen = objects.get(r.objectId);
      if (!seen && objects.size >= limit) {
        // Stop before a new object: the state after the last row taken is exact.
        more = true;
        break outer;
      }
      if (seen) {
        seen.last = r.op;
        if (r.op === 1) seen.updated = true;
      } else objects.set(r.objectId, { first: r.op, last: r.op, updated: r.op === 1 });
      newState = r.seq;
    }
    if (rows.length < SLICE) break;
    cursor = rows[rows.length - 1].seq;
  }
  const created: number[] = [];
  const updated: number[] = [];
  const destroyed: number[] = [];
  let countsOnly = true;
  for (const [id, o] of objects) {
    // Section 5.2: created and destroyed in the window → not reported at all.
    if (o.first === 0) {
      if (o.last !== 2) created.push(id);
    } else if (o.last === 2) destroyed.push(id);
    else {
      updated.push(id);
      if (o.updated) countsOnly = false;
    }
  }
  return {
    oldState: String(since),
    newState: String(newState),
    hasMoreChanges: more,
    created,
    updated,
    destroyed,
    countsOnly,
  };
}
