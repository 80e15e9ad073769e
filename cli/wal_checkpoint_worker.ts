/**
 * Worker thread that checkpoints a WAL database (copies committed WAL frames into the database
 * file: `PASSIVE` alongside the writer, then `RESTART` — or `TRUNCATE` once writes have stopped —
 * so that the WAL starts over while the committing process holds its writes; see
 * cli/sqlite_client.ts), so that the checkpoint's writes and fsyncs never block that process's
 * event loop. In: `{ path, mode }`; out: `{ ok, frames?, left?, error? }` (`frames`: frames in
 * the WAL; `left`: those the checkpoint could not copy, committed while it ran).
 */
import Database from "libsql";
import { workerScope } from "./worker_scope.ts";

const MODES = new Set(["PASSIVE", "RESTART", "TRUNCATE"]);
const scope = workerScope<{ path: string; mode: "PASSIVE" | "RESTART" | "TRUNCATE" }>();
let db: Database.Database | undefined;

scope.onmessage = (event) => {
  try {
    // Readers finish within a statement; another process's writer may take longer.
    db ??= new Database(event.data.path, { timeout: 2000 });
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
