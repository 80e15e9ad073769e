/**
 * Worker thread that checkpoints a WAL database (copies committed WAL frames into the database
 * file: `PASSIVE` alongside the writer, then `TRUNCATE` to empty the WAL while the committing
 * process holds its writes, see cli/sqlite_client.ts), so that the checkpoint's writes and fsyncs
 * never block that process's event loop. In: `{ path, mode }`; out: `{ ok, frames?, error? }`.
 */
import Database from "libsql";
import { workerScope } from "./worker_scope.ts";

const scope = workerScope<{ path: string; mode: "PASSIVE" | "TRUNCATE" }>();
let db: Database.Database | undefined;

scope.onmessage = (event) => {
  try {
    // Readers finish within a statement; another process's writer may take longer.
    db ??= new Database(event.data.path, { timeout: 2000 });
    const mode = event.data.mode === "PASSIVE" ? "PASSIVE" : "TRUNCATE";
    const stmt = db.prepare(`PRAGMA wal_checkpoint(${mode})`);
    stmt.raw(true);
    const [row] = stmt.all() as number[][];
    scope.postMessage({ ok: true, frames: row?.[2] ?? 0 });
  } catch (error) {
    scope.postMessage({ ok: false, error: String((error as Error)?.message ?? error) });
  }
};
