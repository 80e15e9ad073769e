/**
 * Worker thread that runs groups of write jobs (the Store's `batch()` jobs: statement lists) on a
 * connection of its own to the same WAL database, so that SQLite's work for them — the inserts,
 * their indexes and triggers, the COMMIT's WAL writes — is done beside the event loop instead of
 * on it (hosts/process/sqlite_client.ts, `writerThread`). A group is one transaction, each job in
 * its own SAVEPOINT: a job that fails rolls back alone and the others commit, as in the Store's
 * own group commit. The Store's write lock is held for the whole group, so this connection and
 * the main thread's writer never write at the same time.
 *
 * In: `{ id, path, busyTimeoutMs, autocheckpoint, forgetTexts?, jobs: { sql?, text, args,
 * single? }[][] }` or `{ id, close: true }`. A statement's text comes once, with its number
 * (`text`); later statements of the same text bring the number alone (`forgetTexts`: the
 * numbering starts again with this group). Out: `{ id, outcomes }` (per job: `{ ok: true,
 * results }` or `{ ok: false, error }`), or `{ id, error }` when the transaction itself failed (nothing of the
 * group was committed). Results travel as `{ columns, rows (arrays), rowsAffected,
 * lastInsertRowid }`; errors as `{ message, code, extendedCode, rawCode }`.
 */
import type { ResultSet } from "@libsql/client";
import { LibsqlError } from "@libsql/client";
import { Connection, openConnection } from "./sqlite_client.ts";
import { workerScope } from "./worker_scope.ts";

export interface WireStatement {
  /** The text, the first time its number travels (else known by `text`). */
  sql?: string;
  text: number;
  args: unknown[];
  single?: boolean;
}

export interface WireResult {
  columns: string[];
  rows: unknown[][];
  rowsAffected: number;
  lastInsertRowid: bigint | undefined;
}

export interface WireError {
  message: string;
  code?: string;
  extendedCode?: string;
  rawCode?: number;
}

export type WireOutcome = { ok: true; results: WireResult[] } | { ok: false; error: WireError };

type In =
  | {
    id: number;
    path: string;
    busyTimeoutMs: number;
    autocheckpoint: number;
    forgetTexts?: boolean;
    jobs: WireStatement[][];
  }
  | { id: number; close: true };

const scope = workerScope<In>();
let conn: Connection | undefined;
let autocheckpoint = -1;
/** Statement texts by their number (see `WireStatement`). */
const texts = new Map<number, string>();

function textOf(s: WireStatement): string {
  if (s.sql !== undefined) {
    texts.set(s.text, s.sql);
    return s.sql;
  }
  const sql = texts.get(s.text);
  if (sql === undefined) throw new Error(`statement text ${s.text} was never sent`);
  return sql;
}

/** A result set as plain arrays (rows by column position, as `toRow` takes them back). */
function toWire(rs: ResultSet): WireResult {
  const columns = rs.columns;
  const rows = rs.rows.map((row) => {
    const r = row as unknown as Record<string | number, unknown>;
    return columns.map((c, i) => (i in r ? r[i] : r[c]));
  });
  return { columns, rows, rowsAffected: rs.rowsAffected, lastInsertRowid: rs.lastInsertRowid };
}

function wireError(e: unknown): WireError {
  if (e instanceof LibsqlError) {
    // LibsqlError puts "CODE: " before the message; the main thread's copy adds it again.
    const prefix = `${e.code}: `;
    const message = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
    return { message, code: e.code, extendedCode: e.extendedCode, rawCode: e.rawCode };
  }
  return { message: String((e as Error)?.message ?? e) };
}

function run(m: Extract<In, { jobs: unknown }>): unknown {
  if (m.forgetTexts) texts.clear();
  // Every text of the group is learnt before anything can fail and skip a statement.
  const jobs = m.jobs.map((job) => job.map((s) => ({ ...s, sql: textOf(s) })));
  conn ??= openConnection(m.path, m.busyTimeoutMs);
  if (m.autocheckpoint !== autocheckpoint) {
    conn.exec(`PRAGMA wal_autocheckpoint = ${m.autocheckpoint}`);
    autocheckpoint = m.autocheckpoint;
  }
  const c = conn;
  c.exec("BEGIN IMMEDIATE");
  try {
    const outcomes: WireOutcome[] = [];
    for (const job of jobs) {
      c.exec("SAVEPOINT job");
      try {
        const results = job.map((s) =>
          toWire(
            s.single ? c.first(s.sql, s.args) : c.execute({ sql: s.sql, args: s.args } as never),
          )
        );
        c.exec("RELEASE job");
        outcomes.push({ ok: true, results });
      } catch (error) {
        // If SQLite already ended the whole transaction, this throws and the group fails.
        c.exec("ROLLBACK TO job");
        c.exec("RELEASE job");
        outcomes.push({ ok: false, error: wireError(error) });
      }
    }
    c.exec("COMMIT");
    return { id: m.id, outcomes };
  } catch (error) {
    try {
      if (c.db.inTransaction) c.exec("ROLLBACK");
    } catch { /* the transaction is gone already */ }
    throw error;
  }
}

scope.onmessage = (event) => {
  const m = event.data;
  if ("close" in m) {
    conn?.close();
    conn = undefined;
    scope.postMessage({ id: m.id, outcomes: [] });
    return;
  }
  try {
    scope.postMessage(run(m));
  } catch (error) {
    scope.postMessage({ id: m.id, error: wireError(error) });
  }
};
