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
  blob_sha256: string;
  subject: string;
  from_address: string;
  from_name: string;
  to_json: string;
  cc_json: string;
  /** NULL for a row with a hint (not read back). */
  parsed: string | null;
}

/**
 * What a delivery hands the indexer of a message it has just stored: the row's parsed form in
 * clear (as sealed, when `sealed`), so that indexing it needs no read back and no opening of
 * the sealed column (issue 20: ~0.06 ms of the event loop per MX message). A hint is only a
 * shortcut: a row without one (another process wrote it, the server restarted, the hint was
 * evicted) is read back as before. It is trusted only for a row of the same account and blob
 * (the same bytes, so the same parse): a job that rolled back leaves its ids free for reuse by
 * other messages, whose rows the hint then does not match.
 */
export interface SearchText {
  accountId: number;
  blobSha256: string;
  parsedJson: string;
  sealed: boolean;
}

/** Bounds of each store's hints (in memory until indexed: plain text, like a delivery's own). */
const HINT_ENTRIES = 4_096;
const HINT_CHARS = 16 * 1024 * 1024;

class SearchHints {
  private readonly byId = new Map<number, SearchText>();
  private chars = 0;

  add(id: number, text: SearchText): void {
    this.drop(id);
    this.byId.set(id, text);
    this.chars += text.parsedJson.length;
    // The oldest go first: under a backlog beyond the bounds they are read back instead.
    for (const [old, t] of this.byId) {
      if (this.byId.size <= HINT_ENTRIES && this.chars <= HINT_CHARS) break;
      this.byId.delete(old);
      this.chars -= t.parsedJson.length;
    }
  }

  drop(id: number): void {
    const t = this.byId.get(id);
    if (!t) return;
    this.byId.delete(id);
    this.chars -= t.parsedJson.length;
  }

  /** The hints of ids above `from` (a snapshot); those at or below are indexed, and go. */
  above(from: number): Map<number, SearchText> {
    const out = new Map<number, SearchText>();
    for (const [id, t] of this.byId) {
      if (id > from) out.set(id, t);
      else this.drop(id);
    }
    return out;
  }
}

const hintsOf = new WeakMap<Store, SearchHints>();

/** Records what message `id`, just committed by a delivery, holds (see `SearchText`). */
export function hintSearchText(store: Store, id: number, text: SearchText): void {
  let hints = hintsOf.get(store);
  if (!hints) hintsOf.set(store, hints = new SearchHints());
  hints.add(id, text);
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

/** A pending row's parsed form in clear, from its hint or read back and opened. */
async function parsedTextOf(
  store: Store,
  row: PendingRow,
  hint: SearchText | undefined,
): Promise<{ json: string; sealed: boolean }> {
  const accountId = Number(row.account_id);
  if (hint && hint.accountId === accountId && hint.blobSha256 === row.blob_sha256) {
    return { json: hint.parsedJson, sealed: hint.sealed };
  }
  const stored = row.parsed ?? (await rawSql(store.db).get<{ parsed: string }>(
    "SELECT parsed FROM messages WHERE id = ?",
    [row.id],
  ))?.parsed ?? "";
  const json = await parsedJsonOf(store.db, accountId, stored);
  return { json, sealed: json !== stored };
}

/**
 * Indexes up to `BATCH` pending messages; returns how many it looked at (0: nothing pending).
 * The rows are read and tokenized-to-be before the write job; in it, a message purged in the
 * meantime is skipped, and the watermark moves only forward.
 */
export async function indexPendingMessages(store: Store): Promise<number> {
  const from = await watermark(store);
  const hinted = hintsOf.get(store)?.above(from) ?? new Map<number, SearchText>();
  const rows = await rawSql(store.db).all<PendingRow>(
    `SELECT id, account_id, blob_sha256, subject, from_address, from_name, to_json, cc_json,
     CASE WHEN id IN (SELECT value FROM json_each(?2)) THEN NULL ELSE parsed END AS parsed
     FROM messages WHERE id > ?1 ORDER BY id LIMIT ${BATCH}`,
    [from, JSON.stringify([...hinted.keys()])],
  );
  if (rows.length === 0) return 0;
  const docs = await Promise.all(rows.map(async (r) => {
    const id = Number(r.id);
    const accountId = Number(r.account_id);
    let body = "";
    try {
      const { json, sealed } = await parsedTextOf(store, r, hinted.get(id));
      body = searchableBody(JSON.parse(json) as ParsedMail);
      // A sealed body is indexed as keyed hashes of its words (crypt/search_tokens.ts).
      if (sealed && store.vault) {
        body = hashedBody(await store.vault.activeKey(accountId), body);
      }
    } catch { /* a parsed form that is not JSON indexes without its body */ }
    hintsOf.get(store)?.drop(id);
    const to = [...JSON.parse(r.to_json || "[]"), ...JSON.parse(r.cc_json || "[]")];
    return {
      id,
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
