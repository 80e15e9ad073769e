/**
 * The full-text index (SQLite FTS5 `messages_fts`, rowid = messages.id) is filled in batches
 * rather than by each delivery: one transaction that indexes hundreds of messages costs FTS5 a
 * fraction of what hundreds of one-message commits do, and the delivery path stays short.
 *
 * `search_index_state.indexed_through` is the watermark. Message ids only grow (AUTOINCREMENT)
 * and writers are serialized, so every committed message above the watermark is pending and none
 * at or below it is. A search first indexes what is pending (`catchUpSearchIndex`), so it never
 * misses a stored message; the server also runs `startSearchIndexer` so that searches rarely wait.
 * Several processes may write and index one store: ids are still allocated inside serialized
 * write transactions (SQLite's write lock spans processes), so the watermark argument holds;
 * each batch re-reads the watermark inside its write, and only the holder of the
 * `search_index` lease indexes in the background (searches catch up themselves, lease or not).
 */
import type { ParsedMail } from "../../schemas/mail.ts";
import type { Logger } from "../ports.ts";
import { rawSql, type Store } from "../store/store.ts";
import { releaseLease, takeLease } from "../store/leases.ts";
import { cutUtf8 } from "./parsed_row.ts";
import { parsedJsonOf } from "../crypt/sealed_rows.ts";
import { hashedBody } from "../crypt/search_tokens.ts";

/** Messages indexed per transaction: bounds how long one batch holds the write lock. */
const BATCH = 200;

/**
 * Text bodies beyond this many UTF-8 bytes are not indexed (a search still finds the start):
 * the FTS row must stay under D1's 2 MB, and a million characters could be three million bytes.
 */
const MAX_BODY_BYTES = 1_000_000;

interface PendingRow {
  id: number;
  account_id: number;
  subject: string;
  from_address: string;
  from_name: string;
  to_json: string;
  cc_json: string;
  parsed: string;
}

const addressText = (list: { name: string; address: string }[]) =>
  list.map((a) => `${a.name} ${a.address}`).join(" ");

/** What FTS5 indexes of a message: the decoded text, or the HTML without its tags. */
export function searchableBody(parsed: Pick<ParsedMail, "text" | "html">): string {
  return cutUtf8(parsed.text ?? (parsed.html ?? "").replace(/<[^>]*>/g, " "), MAX_BODY_BYTES);
}

async function watermark(store: Store): Promise<number> {
  const row = await rawSql(store.db).get<{ indexed_through: number }>(
    "SELECT indexed_through FROM search_index_state WHERE id = 1",
  );
  return Number(row?.indexed_through ?? 0);
}

/**
 * Indexes up to `BATCH` pending messages; returns how many it looked at (0: nothing pending).
 * The rows are read and tokenized-to-be before the write job; in it, a message purged in the
 * meantime is skipped, and the watermark moves only forward.
 */
export async function indexPendingMessages(store: Store): Promise<number> {
  const from = await watermark(store);
  const rows = await rawSql(store.db).all<PendingRow>(
    `SELECT id, account_id, subject, from_address, from_name, to_json, cc_json, parsed FROM messages
     WHERE id > ? ORDER BY id LIMIT ${BATCH}`,
    [from],
  );
  if (rows.length === 0) return 0;
  const docs = await Promise.all(rows.map(async (r) => {
    let body = "";
    try {
      const json = await parsedJsonOf(store.db, Number(r.account_id), r.parsed);
      body = searchableBody(JSON.parse(json) as ParsedMail);
      // A sealed body is indexed as keyed hashes of its words (crypt/search_tokens.ts).
      if (json !== r.parsed && store.vault) {
        body = hashedBody(await store.vault.activeKey(Number(r.account_id)), body);
      }
    } catch { /* a parsed form that is not JSON indexes without its body */ }
    const to = [...JSON.parse(r.to_json || "[]"), ...JSON.parse(r.cc_json || "[]")];
    return {
      id: Number(r.id),
      subject: r.subject,
      from: r.from_address ? `${r.from_name} ${r.from_address}` : "",
      to: addressText(to),
      body,
    };
  }));
  const last = docs[docs.length - 1].id;
  // One write job (one round trip on a remote store, instead of a statement each while holding
  // the write lock). Another indexer (a search's catch-up, another process) may have done this
  // batch already: each row is written only above the watermark as the job finds it, which the
  // last step moves, and only for a message not purged meanwhile. FTS5's tokenizing and b-tree
  // work for the batch runs on the store's writer thread where it has one (`offLoop`), like MX
  // ingest's deliveries: after a burst it was the event loop's largest SQLite cost.
  await store.batch([
    ...docs.map((d) => ({
      // OR REPLACE: a row may already be there above the watermark (a bulk loader such as
      // bench/seed.ts, an import, an older indexer). A plain INSERT then failed with
      // SQLITE_CONSTRAINT, rolled the batch back, and the watermark never moved again: every
      // later batch (and every search's catch-up) failed on the same row.
      sql: `INSERT OR REPLACE INTO messages_fts (rowid, subject, from_text, to_text, body)
         SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM messages WHERE id = ?1)
         AND ?1 > coalesce((SELECT indexed_through FROM search_index_state WHERE id = 1), 0)`,
      args: [d.id, d.subject, d.from, d.to, d.body],
    })),
    {
      sql: `INSERT INTO search_index_state (id, indexed_through) VALUES (1, ?)
         ON CONFLICT (id) DO UPDATE SET indexed_through = max(indexed_through, excluded.indexed_through)`,
      args: [last],
    },
  ], { offLoop: true });
  return rows.length;
}

/** Indexes everything pending now; a search calls this before it asks FTS5. */
export async function catchUpSearchIndex(store: Store): Promise<void> {
  while (await indexPendingMessages(store) === BATCH) { /* more pending */ }
}

/** How long the store must have been without commits before background indexing runs. */
const QUIET_MS = 200;
/**
 * Pending messages beyond which the indexer runs even while deliveries keep the store busy, one
 * batch per interval (back to back only once the store is quiet). At 5,000 a 10,000-message
 * burst spent a twentieth of the event loop on indexing while it was still arriving.
 */
const MAX_DEFERRED = 20_000;

/** The lease of background indexing (src/store/leases.ts), and its term in indexer intervals. */
const LEASE = "search_index";
const LEASE_INTERVALS = 10;

/** Messages stored but not yet indexed (an estimate: purged ids count until indexed past). */
async function pendingCount(store: Store): Promise<number> {
  const row = await rawSql(store.db).get<{ top: number | null }>(
    "SELECT max(id) AS top FROM messages",
  );
  return Math.max(0, Number(row?.top ?? 0) - await watermark(store));
}

/**
 * Keeps the index behind the deliveries without competing with them: a batch every `intervalMs`
 * once the store has been quiet for `QUIET_MS`, or while more than `MAX_DEFERRED` messages wait
 * (so a search under sustained load has a smaller backlog to catch up; one batch per interval
 * then), back to back while a backlog lasts and the store is quiet. Dovecot's FTS indexes only
 * when searched; this indexes when the server is idle.
 */
export function startSearchIndexer(
  store: Store,
  logger: Logger,
  intervalMs = 500,
): { close(): Promise<void> } {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  let ownCommit = -1; // the store's commit count right after this indexer's last batch
  // Of several processes on one store, the holder of this lease indexes and the others defer:
  // N indexers would read and tokenize every batch N times for one to win the write.
  const holder = `search-index-${crypto.randomUUID()}`;
  let held = false;
  const tick = () => {
    running = (async () => {
      let n = 0;
      let busy = false;
      try {
        busy = store.commits !== ownCommit && store.idleMs() < QUIET_MS;
        // Nothing pending (the idle case): no lease is taken, so an idle server never writes.
        const pending = await pendingCount(store);
        if (pending > 0 && (!busy || pending > MAX_DEFERRED)) {
          held = await takeLease(store, LEASE, holder, intervalMs * LEASE_INTERVALS);
          if (held) {
            n = await indexPendingMessages(store);
            ownCommit = store.commits;
            logger.log("debug", "search_index.batch", { messages: n, pending });
          }
        }
      } catch (error) {
        logger.log("warn", "search_index.failed", { error: String((error as Error)?.message) });
      }
      if (!stopped) timer = setTimeout(tick, n === BATCH && !busy ? 0 : intervalMs);
    })();
  };
  timer = setTimeout(tick, intervalMs);
  return {
    async close() {
      stopped = true;
      clearTimeout(timer);
      await running;
      if (held) await releaseLease(store, LEASE, holder).catch(() => {});
    },
  };
}
