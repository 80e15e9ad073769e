/**
 * A consistent read of the whole store for a backup, per engine. What each one promises:
 *
 * - embedded file (hosts/process/file_snapshot.ts): a connection of its own opens one read
 *   transaction (`BEGIN`, then the first SELECT fixes the snapshot); in WAL mode writers go on
 *   committing beside it and none of their commits is seen, so every table is read as of one
 *   instant. The server's own connections are untouched (its reader keeps serving requests).
 * - remote libSQL (`libsqlSnapshot`): one interactive `transaction("read")` on the server (one
 *   Hrana stream), every SELECT in it: the same one-snapshot guarantee, from sqld's WAL.
 * - D1 (`statementSnapshot`): D1 has no read transaction that spans requests, and one `batch()`
 *   cannot carry a whole database's rows out of a Worker. So each page is one statement, atomic
 *   on its own, and the backup is NOT a point-in-time image: a row committed during it may be
 *   in or out. The manifest says so (`consistency`), and restore checks references afterwards
 *   (`PRAGMA foreign_key_check`) and names any dangling row. For a point-in-time copy of D1, use
 *   D1 Time Travel (`wrangler d1 time-travel restore`) into a copy and back that up.
 */
import type { Client, InValue, Transaction } from "@libsql/client/web";

export type BackupEngine = "file" | "libsql" | "d1";

export interface SnapshotRows {
  columns: string[];
  rows: unknown[][];
}

/** Reads from one snapshot until `close`. */
export interface SnapshotReader {
  engine: BackupEngine;
  /** One sentence for the manifest: how consistency was obtained. */
  consistency: string;
  query(sql: string, args?: InValue[]): Promise<SnapshotRows>;
  close(): Promise<void>;
}

function rowsOf(rs: { columns: string[]; rows: ArrayLike<unknown>[] }): SnapshotRows {
  return {
    columns: rs.columns,
    rows: rs.rows.map((r) => Array.from({ length: rs.columns.length }, (_, i) => r[i])),
  };
}

/** One read transaction of a libSQL client (remote libSQL: one Hrana stream). */
export async function libsqlSnapshot(
  client: Client,
  engine: BackupEngine = "libsql",
): Promise<SnapshotReader> {
  const tx: Transaction = await client.transaction("read");
  return {
    engine,
    consistency: "one read transaction on the libSQL server: every table as of one instant",
    query: async (sql, args = []) => rowsOf(await tx.execute({ sql, args })),
    close: () => {
      if (!tx.closed) tx.close();
      return Promise.resolve();
    },
  };
}

/** Each page its own statement (D1, which has no read transaction across requests). */
export function statementSnapshot(client: Client, engine: BackupEngine = "d1"): SnapshotReader {
  return {
    engine,
    consistency: "per page: each page of rows is one statement; D1 offers no read transaction " +
      "across requests, so rows committed during the backup may be in or out",
    query: async (sql, args = []) => rowsOf(await client.execute({ sql, args })),
    close: () => Promise.resolve(),
  };
}
