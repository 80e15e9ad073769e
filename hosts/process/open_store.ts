/**
 * Opens the libSQL store for Deno and Bun — the embedded file through hosts/process/sqlite_client.ts (WAL,
 * a busy timeout on every connection) or a remote libSQL server through hosts/process/remote_libsql.ts —
 * then applies the bundled migrations, the same on both.
 */
import { createClient } from "@libsql/client";
import { createFileClient } from "./sqlite_client.ts";
import { isRemoteDatabaseUrl, openRemoteClient } from "./remote_libsql.ts";
import { migrate } from "../../src/store/migrate.ts";
import { MIGRATIONS } from "../../src/store/migrations/index.ts";
import { Store } from "../../src/store/store.ts";

export const BUSY_TIMEOUT_MS = 10_000;

export interface OpenStoreOptions {
  /** Apply pending migrations (the default); `false` for `migrate --dry-run`. */
  migrate?: boolean;
  /**
   * Only look: no migrations, no folder made, and a `file:` database opened read-only (nothing
   * written, not even a checkpoint). A missing file is an error rather than a new database.
   */
  readOnly?: boolean;
  authToken?: string;
  /**
   * The embedded file's write jobs run on a worker thread (hosts/process/sqlite_client.ts
   * `writerThread`): `postern serve`, whose event loop also speaks SMTP, IMAP and HTTP.
   * `marked`: only the jobs that ask for it (StoreOptions.writerThreadJobs), MX ingest's.
   */
  writerThread?: boolean | "marked";
}

export async function ensureDirFor(url: string): Promise<void> {
  if (!url.startsWith("file:")) return;
  const path = url.slice("file:".length);
  const slash = path.lastIndexOf("/");
  if (slash > 0) {
    const { mkdir } = await import("node:fs/promises");
    // The folder holds the database: private to its owner when created here.
    await mkdir(path.slice(0, slash), { recursive: true, mode: 0o700 });
  }
}

/**
 * The store at `url`: the embedded engine for `file:` URLs (the default, `file:<dataDir>/
 * postern.db`), a remote libSQL server for `libsql:`, `http(s):` and `ws(s):` ones
 * (hosts/process/remote_libsql.ts). Anything else is still handed to @libsql/client, which names what it
 * supports.
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  if (!options.readOnly) await ensureDirFor(url);
  // file: databases use our client (prepared statements, fsync off the event loop);
  // remote ones @libsql/client.
  const file = url.startsWith("file:")
    ? createFileClient({
      path: url.slice("file:".length),
      busyTimeoutMs: BUSY_TIMEOUT_MS,
      readOnly: options.readOnly,
      writerThread: !!options.writerThread,
    })
    : undefined;
  const client = file?.client ??
    (isRemoteDatabaseUrl(url)
      ? await openRemoteClient(url, options.authToken)
      : createClient({ url, authToken: options.authToken, timeout: BUSY_TIMEOUT_MS }));
  if (options.migrate !== false && !options.readOnly) {
    await migrate(client, MIGRATIONS);
    await file?.sync?.();
  }
  return new Store(client, {
    sync: file?.sync,
    changedElsewhere: file?.changedElsewhere,
    writerThreadJobs: options.writerThread === "marked" ? "marked" : "all",
  });
}
