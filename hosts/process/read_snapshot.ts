/**
 * The reads of one turn of the event loop share one read transaction on a file client's reader
 * connection (sqlite_client.ts). In WAL mode every statement outside a transaction begins and
 * ends a read transaction of its own: a lock on a read mark of the shared-memory index (file
 * locking calls) and a look at the WAL header, about 7 µs of the 10–20 µs a delivery's lookups
 * cost each (issue 20: a received message makes a dozen such reads on the event loop). Within
 * one transaction they cost the statement alone.
 *
 * What a read sees stays what it would have seen:
 * - this process's commits (the writer, the writer thread, any other client in the process) end
 *   every open snapshot (`endReadSnapshots`), so a read after a commit sees it, as before;
 * - another process's commit is seen from the next turn on. Its news (a request, a reply, a
 *   finished child) reaches this process as an event of a later turn: the same bound the
 *   `PRAGMA data_version` gate of the read caches relies on (`changedElsewhere`).
 * A snapshot is held for one turn at most, so checkpoints wait for it no longer than that.
 */
import { setImmediate } from "node:timers";

/** What a snapshot needs of its connection (sqlite_client.ts `Connection`). */
export interface SnapshotConnection {
  readonly db: { readonly inTransaction: boolean };
  exec(sql: string): void;
}

/** Snapshots open in this process now. */
const open = new Set<ReadSnapshot>();

/** Ends every open snapshot: called after each commit this process makes. */
export function endReadSnapshots(): void {
  for (const snapshot of open) snapshot.end();
}

export class ReadSnapshot {
  private endScheduled = false;

  constructor(private readonly conn: SnapshotConnection) {}

  /** Before a read: opens this turn's transaction unless one is open (SQLite's BEGIN defers the
   * snapshot to the first read). */
  enter(): void {
    if (open.has(this)) return;
    if (this.conn.db.inTransaction) return; // not ours: leave it alone, read as before
    this.conn.exec("BEGIN");
    open.add(this);
    if (!this.endScheduled) {
      this.endScheduled = true;
      setImmediate(this.turnEnded);
    }
  }

  /** Ends the snapshot (nothing to do when none is open). */
  end(): void {
    if (!open.delete(this)) return;
    if (!this.conn.db.inTransaction) return; // SQLite ended it after an error
    try {
      this.conn.exec("COMMIT");
    } catch {
      this.conn.exec("ROLLBACK");
    }
  }

  private readonly turnEnded = () => {
    this.endScheduled = false;
    this.end();
  };
}
