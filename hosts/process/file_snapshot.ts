/**
 * The embedded file's backup snapshot (src/backup/snapshot.ts): a connection of its own, one
 * read transaction (`BEGIN`; the first SELECT fixes the snapshot). In WAL mode the server's
 * writers keep committing beside it and none of their commits is seen, and the server's own
 * reader connection is untouched, so requests never see a backup's open transaction. Each page
 * is read synchronously by the binding, a few hundred rows (or 8 blob rows) at a time.
 */
import type { SnapshotReader } from "../../src/backup/snapshot.ts";
import type { Store } from "../../src/store/store.ts";
import { BUSY_TIMEOUT_MS } from "./open_store.ts";
import { openConnection } from "./sqlite_client.ts";

export function fileSnapshot(path: string): SnapshotReader {
  const conn = openConnection(path, BUSY_TIMEOUT_MS);
  conn.exec("BEGIN");
  let open = true;
  return {
    engine: "file",
    consistency: "one read transaction on a connection of its own (SQLite WAL snapshot): " +
      "every table as of one instant, while the server kept committing",
    query: (sql, args = []) => {
      try {
        const rs = conn.execute({ sql, args });
        return Promise.resolve({
          columns: rs.columns,
          rows: rs.rows.map((r) => rs.columns.map((_, i) => r[i])),
        });
      } catch (e) {
        return Promise.reject(e);
      }
    },
    close: () => {
      if (open) {
        open = false;
        conn.exec("COMMIT");
        conn.close();
      }
      return Promise.resolve();
    },
  };
}

/**
 * The backup snapshot of a store on the embedded file: a connection of its own on the file.
 * Undefined elsewhere (remote libSQL, D1): the gateway's default then reads in the engine's own
 * read transaction (src/routes/backup.ts).
 */
export function fileSnapshotOf(store: Store): (() => Promise<SnapshotReader>) | undefined {
  const path = (store.unserializedClient as { filePath?: string }).filePath;
  return path ? () => Promise.resolve(fileSnapshot(path)) : undefined;
}
