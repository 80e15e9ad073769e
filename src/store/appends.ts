/**
 * Rows a write transaction inserts at its end, many to a statement: for the log-like rows every
 * send or delivery adds (events, timeline entries) that nothing reads back in the same
 * transaction. A group commit (store.ts) carries dozens of jobs; one multi-row INSERT per table
 * costs SQLite and the binding a fraction of dozens of single-row ones.
 *
 * The Store flushes before COMMIT, so the rows commit with the job that added them, or not at
 * all: a job that fails drops what it appended (its SAVEPOINT is rolled back too), and a flush
 * that fails fails the whole transaction. Reads in the same transaction do not see appended rows
 * yet — use a plain insert for rows that are read or updated before the commit.
 */
import type { RawSql } from "./store.ts";

type Row = Record<string, unknown>;

/** A table that can insert many rows in one statement (store/table_sql.ts). */
export interface ManyInserter {
  insertMany(sql: RawSql, rows: Row[], options?: { ignoreConflicts?: boolean }): Promise<void>;
}

interface Appended {
  table: ManyInserter;
  values: Row;
  ignoreConflicts: boolean;
}

export class Appends {
  private rows: Appended[] = [];

  get size(): number {
    return this.rows.length;
  }

  add(table: ManyInserter, values: Row, ignoreConflicts: boolean): void {
    this.rows.push({ table, values, ignoreConflicts });
  }

  /** Forgets what was appended after the first `size` rows (a job rolled back). */
  truncate(size: number): void {
    this.rows.length = size;
  }

  /** Inserts everything appended, in order within each table. */
  async flush(sql: RawSql): Promise<void> {
    const rows = this.rows;
    this.rows = [];
    const byTable = new Map<ManyInserter, Map<boolean, Row[]>>();
    for (const r of rows) {
      let modes = byTable.get(r.table);
      if (!modes) byTable.set(r.table, modes = new Map());
      let list = modes.get(r.ignoreConflicts);
      if (!list) modes.set(r.ignoreConflicts, list = []);
      list.push(r.values);
    }
    for (const [table, modes] of byTable) {
      for (const [ignoreConflicts, list] of modes) {
        await table.insertMany(sql, list, { ignoreConflicts });
      }
    }
  }
}

/**
 * Statement sizes a multi-row insert is cut into: a few prepared statements per table serve any
 * number of rows (64 + 16 + 4 + 1 for 85), instead of one statement text per count. The small
 * sizes are all there because small counts are the common case: a local send appends three
 * timeline rows (queued, sent, delivered), one statement rather than three.
 */
const CHUNKS = [64, 16, 8, 4, 3, 2, 1];

/**
 * Bound parameters one statement may carry on every engine: Cloudflare D1 refuses more than 100
 * (https://developers.cloudflare.com/d1/platform/limits/), so a multi-row insert of rows `width`
 * values wide takes fewer rows per statement — by design, on every engine, so that what passes
 * the embedded suite runs on D1.
 */
export const MAX_BOUND_PARAMETERS = 100;

/** Splits `count` rows of `width` bound values each into CHUNKS-sized runs within the limit. */
export function chunkSizes(count: number, width = 1): number[] {
  const sizes = CHUNKS.filter((size) => size * width <= MAX_BOUND_PARAMETERS);
  if (sizes.length === 0) {
    throw new RangeError(`a row of ${width} values is over ${MAX_BOUND_PARAMETERS} parameters`);
  }
  const out: number[] = [];
  let left = count;
  for (const size of sizes) {
    while (left >= size) {
      out.push(size);
      left -= size;
    }
  }
  return out;
}

/**
 * Runs `insert` over `rows` in slices whose values stay within MAX_BOUND_PARAMETERS, for a
 * drizzle multi-row `insert(...).values(slice)` whose row count is not bounded by design.
 */
export async function insertInSlices<T extends object>(
  rows: readonly T[],
  insert: (slice: T[]) => Promise<unknown>,
): Promise<void> {
  const width = Math.max(1, ...rows.map((r) => Object.keys(r).length));
  const per = Math.max(1, Math.floor(MAX_BOUND_PARAMETERS / width));
  for (let at = 0; at < rows.length; at += per) await insert(rows.slice(at, at + per));
}
