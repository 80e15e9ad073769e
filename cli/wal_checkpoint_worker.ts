/**
 * Worker thread that checkpoints a WAL database (copies committed WAL frames into the database
 * file and truncates the WAL, `PRAGMA wal_checkpoint(TRUNCATE)`), so that the checkpoint's
 * writes and fsyncs never block the event loop of the process that commits. The committing
 * process holds its writes meanwhile (cli/sqlite_client.ts). In: `{ path }`; out: `{ ok, ... }`.
 */
import Database from "libsql";

// The worker's global scope (the type-check sees a window's).
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<{ path: string }>) => void) | null;
  postMessage(message: unknown): void;
};
let db: Database.Database | undefined;

scope.onmessage = (event) => {
  try {
    // Readers finish within a statement; another process's writer may take longer.
    db ??= new Database(event.data.path, { timeout: 2000 });
    const stmt = db.prepare("PRAGMA wal_checkpoint(TRUNCATE)");
    stmt.raw(true);
    const [row] = stmt.all() as number[][];
    scope.postMessage({ ok: true, frames: row?.[2] ?? 0 });
  } catch (error) {
    scope.postMessage({ ok: false, error: String((error as Error)?.message ?? error) });
  }
};
