/**
 * Worker thread that checkpoints a WAL database (copies committed WAL frames into the database
 * file: `PASSIVE` alongside the writer, then `RESTART` — or `TRUNCATE` once writes have stopped —
 * so that the WAL starts over while the committing process holds its writes; see
 * hosts/process/sqlite_client.ts), so that the checkpoint's writes and fsyncs never block that process's
 * event loop. In: `{ path, mode, holder?, leaseMs? }`; out: `{ ok, frames?, left?, deferred?,
 * error? }` (`frames`: frames in the WAL; `left`: those the checkpoint could not copy, committed
 * while it ran; `deferred`: another process holds the checkpoint lease, nothing was done).
 *
 * With `holder`, the checkpoint runs only while this holder has the store's `wal_checkpoint`
 * lease (src/store/leases.ts). Several processes share one WAL: one checkpoints it for all, and
 * the others do not hold their writes for RESTARTs that would wait on each other's writers and
 * readers.
 */
import Database from "libsql";
import { TAKE_LEASE_SQL } from "../../src/store/lease_sql.ts";
import { workerScope } from "./worker_scope.ts";

const MODES = new Set(["PASSIVE", "RESTART", "TRUNCATE"]);
const LEASE = "wal_checkpoint";
const scope = workerScope<{
  path: string;
  mode: "PASSIVE" | "RESTART" | "TRUNCATE";
  holder?: string;
  leaseMs?: number;
}>();
let db: Database.Database | undefined;

/** Until when (ms since the epoch) `heldBy` last took the lease. */
let heldUntil = 0;
let heldBy = "";

/**
 * Takes or renews the lease; true also for a database without a `leases` table (not migrated).
 * A lease taken less than half its term ago is not written again: under load the checkpointer
 * steps every 200 ms, and each renewal was a write transaction of its own (with its fsync)
 * that the serving process's next commit had to wait for. The lease still lapses only after a
 * whole term without a step; the processes sharing the file share its clock.
 */
function leaseHeld(db: Database.Database, holder: string, leaseMs: number): boolean {
  const now = Date.now();
  if (holder === heldBy && now < heldUntil - leaseMs / 2) return true;
  try {
    const won = db.prepare(TAKE_LEASE_SQL).get(LEASE, holder, now + leaseMs, now) !== undefined;
    heldUntil = won ? now + leaseMs : 0;
    heldBy = holder;
    return won;
  } catch (error) {
    heldUntil = 0;
    // Busy with another process's writes: that process's checkpointer is the one to run.
    return /no such table/.test(String((error as Error)?.message));
  }
}

scope.onmessage = (event) => {
  try {
    // Readers finish within a statement; another process's writer may take longer.
    db ??= new Database(event.data.path, { timeout: 2000 });
    const { holder, leaseMs } = event.data;
    if (holder && !leaseHeld(db, holder, leaseMs ?? 5000)) {
      scope.postMessage({ ok: true, deferred: true, frames: 0, left: 0 });
      return;
    }
    const mode = MODES.has(event.data.mode) ? event.data.mode : "PASSIVE";
    const stmt = db.prepare(`PRAGMA wal_checkpoint(${mode})`);
    stmt.raw(true);
    const [row] = stmt.all() as number[][];
    // [busy, frames in the WAL, frames copied]: what is left tells the writer whether to copy more.
    const frames = row?.[1] ?? 0;
    scope.postMessage({ ok: true, frames, left: Math.max(0, frames - (row?.[2] ?? 0)) });
  } catch (error) {
    scope.postMessage({ ok: false, error: String((error as Error)?.message ?? error) });
  }
};
