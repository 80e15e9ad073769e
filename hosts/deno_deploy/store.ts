/**
 * The store on Deno Deploy: a remote libSQL server (Turso, sqld) over Hrana — HTTP for
 * `libsql://`, `https://` and `http://` URLs, a WebSocket for `wss://` and `ws://` — through
 * `@libsql/client/web`, which runs on fetch and WebSocket alone (the default entry of
 * @libsql/client also loads the native `libsql` engine, which needs `--allow-ffi`). A `file:`
 * URL is refused: a Deno Deploy isolate has no disk that outlives it. The first query is asked
 * at once so that a refused token or an unreachable server is reported in an operator's words,
 * then the bundled migrations are applied (forward only; several isolates starting together
 * are serialised by the migrations table, src/store/migrate.ts).
 */
import { createClient } from "@libsql/client/web";
import { migrate } from "../../src/store/migrate.ts";
import { MIGRATIONS } from "../../src/store/migrations/index.ts";
import { explainRemoteError } from "../../src/store/remote_errors.ts";
import { Store } from "../../src/store/store.ts";

const REMOTE = /^(libsql|https?|wss?):/i;

export async function openRemoteStore(url: string, authToken?: string): Promise<Store> {
  if (!REMOTE.test(url)) {
    throw new Error(
      "POSTERN_DATABASE_URL must name a remote libSQL database (libsql://, https://, wss://): " +
        "Deno Deploy keeps no files",
    );
  }
  const client = createClient({ url, authToken: authToken || undefined, intMode: "number" });
  try {
    await client.execute("SELECT 1");
  } catch (e) {
    client.close();
    throw new Error(explainRemoteError(e));
  }
  await migrate(client, MIGRATIONS);
  return new Store(client);
}
