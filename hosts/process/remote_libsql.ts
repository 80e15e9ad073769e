/**
 * Remote libSQL for the host entry points: a libSQL server (sqld, Turso) reached over Hrana —
 * HTTP for `libsql://`, `https://` and `http://` URLs, a WebSocket for `wss://` and `ws://` —
 * through @libsql/client, with the auth token sent as a Bearer token.
 *
 * Opening asks the server one `SELECT 1` first, so that a refused token or an unreachable host
 * is reported as such when the process starts, in words an operator can act on, instead of as
 * the first failed query of a migration or a request. Nothing of the token is ever put in a
 * message (cli/context.ts redacts the URL as well).
 *
 * Unlike the embedded file (hosts/process/sqlite_client.ts) the client has no `PRAGMA data_version` gate
 * and no WAL to sync: the Store reads its change counter before it trusts a cached answer, and
 * a commit is durable when the server has answered it.
 */
import { type Client, createClient } from "@libsql/client";
import { explainRemoteError as explain } from "../../src/store/remote_errors.ts";

/** URL schemes served by a remote libSQL server rather than the embedded engine. */
const REMOTE = /^(libsql|https?|wss?):/i;

export function isRemoteDatabaseUrl(url: string): boolean {
  return REMOTE.test(url);
}

/** A client of the remote database at `url`, after the server answered a first query. */
export async function openRemoteClient(url: string, authToken?: string): Promise<Client> {
  const client = createClient({ url, authToken: authToken || undefined, intMode: "number" });
  try {
    await client.execute("SELECT 1");
  } catch (e) {
    client.close();
    throw new Error(explain(e));
  }
  return client;
}
