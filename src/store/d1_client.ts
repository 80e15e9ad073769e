/**
 * Cloudflare D1 as the store's engine (issue 16, item 3): a D1Database binding presented as the
 * libSQL `Client` the Store is built on, so drizzle's libSQL driver, `rawSql`, the read caches
 * and the round-trip count work unchanged, and a Worker entry only has to hand its binding to
 * `openD1Store`.
 *
 * What maps to what:
 * - `execute` is one round trip: a read through `raw({ columnNames: true })`, which keeps
 *   libSQL's row shape exactly (columns in order, a repeated name kept by index); a write as a
 *   batch of itself and `SELECT changes(), last_insert_rowid()`, so `rowsAffected` counts what
 *   libSQL counts (its rows, for `RETURNING`, are keyed by name: D1 gives nothing that has both);
 * - `batch` (what `Store.batch` sends) is ONE `D1Database.batch()`: D1 runs it as one implicit
 *   transaction, all or nothing, in one round trip. Its `rowsAffected` are D1's `meta.changes`,
 *   which also count rows that triggers changed: a job tests them for zero, or uses RETURNING;
 * - `transaction()` is refused: D1 refuses `BEGIN` and `SAVEPOINT` outright, so an interactive
 *   `Store.write()` job cannot run here and fails before writing anything (store.ts names it).
 *
 * Values follow libSQL's mapping: integers come back as numbers (intMode "number"), blobs as
 * `Uint8Array` (D1 returns them as arrays of byte values; drizzle's libSQL driver would turn an
 * ArrayBuffer into text where Node's Buffer is missing). Bound booleans become 0/1, dates their
 * milliseconds, bigints numbers when exact.
 *
 * D1's limits are checked here, before a statement is sent, with an error that says which limit
 * (https://developers.cloudflare.com/d1/platform/limits/): at most 100 bound parameters per
 * statement, and no string or blob of 2,000,000 bytes or more (miniflare's local D1 does not
 * enforce the second; the service does). Store code keeps under both by design (table_sql.ts
 * chunks multi-row inserts, blob_chunks.ts cuts messages into 1 MiB rows).
 */
import type {
  Client,
  InArgs,
  InStatement,
  InValue,
  ResultSet,
  Transaction,
} from "@libsql/client/web";
import { LibsqlError } from "@libsql/client/web";
import { AppError } from "../errors.ts";
import { resultSet, toRow } from "./result_set.ts";
import { interactiveRefused, Store } from "./store.ts";
import { migrate } from "./migrate.ts";
import type { BlobObjects } from "./blob_objects.ts";
import { MIGRATIONS } from "./migrations/index.ts";

/** The part of the Workers `D1Database` binding the store uses (workers-types' shape). */
export interface D1Like {
  prepare(sql: string): D1StatementLike;
  batch(statements: D1StatementLike[]): Promise<D1ResultLike[]>;
}

export interface D1StatementLike {
  bind(...values: unknown[]): D1StatementLike;
  all(): Promise<D1ResultLike>;
  raw(options: { columnNames: true }): Promise<unknown[][]>;
}

export interface D1ResultLike {
  results?: Record<string, unknown>[];
  meta?: { changes?: number; last_row_id?: number };
}

/** D1's bound parameters per statement. */
export const D1_MAX_BOUND_PARAMETERS = 100;
/** D1's largest string, blob or row, in bytes. */
export const D1_MAX_VALUE_BYTES = 2_000_000;

/** Statements that change the database (anything else is read through `raw()`). */
const WRITE =
  /^\s*(?:insert|update|delete|replace|create|drop|alter|with\b[\s\S]*\b(?:insert|update|delete)\b)/i;

const encoder = new TextEncoder();

function argsOf(stmt: InStatement | string, args?: InArgs): { sql: string; args: InValue[] } {
  if (typeof stmt === "string") return { sql: stmt, args: listOf(args) };
  return { sql: stmt.sql, args: listOf(stmt.args) };
}

function listOf(args: InArgs | undefined): InValue[] {
  if (args === undefined) return [];
  if (Array.isArray(args)) return args;
  // D1 binds by position only (`?` and `?NNN`).
  throw new LibsqlError("D1 binds parameters by position only, not by name", "D1_NAMED_ARGS");
}

/** A bound value as D1 takes it, after checking D1's limits. */
function toD1(value: InValue, sql: string): unknown {
  if (value === null || typeof value === "number") return value;
  if (typeof value === "string") {
    // UTF-8 is at most 3 bytes per UTF-16 unit: only long strings need measuring.
    if (
      value.length * 3 >= D1_MAX_VALUE_BYTES &&
      encoder.encode(value).byteLength >= D1_MAX_VALUE_BYTES
    ) {
      throw tooLarge(encoder.encode(value).byteLength, sql);
    }
    return value;
  }
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "bigint") {
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new LibsqlError(`integer ${value} is out of D1's exact range`, "D1_RANGE");
    }
    return Number(value);
  }
  if (value instanceof Date) return value.valueOf();
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    const bytes = value instanceof ArrayBuffer
      ? new Uint8Array(value)
      : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    if (bytes.byteLength >= D1_MAX_VALUE_BYTES) throw tooLarge(bytes.byteLength, sql);
    return bytes;
  }
  throw new LibsqlError(`D1 cannot bind a value of type ${typeof value}`, "D1_TYPE");
}

function tooLarge(bytes: number, sql: string): LibsqlError {
  return new LibsqlError(
    `a value of ${bytes} bytes is over D1's limit of ${D1_MAX_VALUE_BYTES} bytes per string, ` +
      `blob or row (in: ${sql.slice(0, 80)})`,
    "D1_TOO_BIG",
  );
}

function prepare(db: D1Like, sql: string, args: InValue[]): D1StatementLike {
  if (args.length > D1_MAX_BOUND_PARAMETERS) {
    throw new LibsqlError(
      `a statement binds ${args.length} parameters, over D1's limit of ` +
        `${D1_MAX_BOUND_PARAMETERS} (in: ${sql.slice(0, 80)})`,
      "D1_TOO_MANY_PARAMETERS",
    );
  }
  const statement = db.prepare(sql);
  return args.length === 0 ? statement : statement.bind(...args.map((a) => toD1(a, sql)));
}

/** A result value as libSQL gives it: blobs (arrays of byte values on D1) as Uint8Array. */
function fromD1(value: unknown): unknown {
  if (Array.isArray(value)) return Uint8Array.from(value as number[]);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value) && !(value instanceof Uint8Array)) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  return value;
}

/** A D1 result (rows keyed by name) as a ResultSet. */
function fromResult(result: D1ResultLike): ResultSet {
  const objects = result.results ?? [];
  const columns = objects.length > 0 ? Object.keys(objects[0]) : [];
  const rows = objects.map((o) => toRow(columns.map((c) => o[c]), columns, fromD1));
  const meta = result.meta ?? {};
  const rowid = meta.last_row_id;
  return resultSet(
    columns,
    rows,
    meta.changes ?? 0,
    rowid === undefined ? undefined : BigInt(rowid),
  );
}

/** D1's errors as libSQL's, with SQLite's code (`D1_ERROR: … SQLITE_CONSTRAINT (extended: …)`). */
function mapError(e: unknown): unknown {
  if (!(e instanceof Error) || e instanceof LibsqlError || e instanceof AppError) return e;
  const message = e.message.replace(/^D1_(?:EXEC_)?ERROR:\s*/, "");
  const code = message.match(/\b(SQLITE_[A-Z]+)\b/)?.[1];
  if (!code) return e;
  const extended = message.match(/\(extended: (SQLITE_[A-Z_]+)\)/)?.[1];
  return new LibsqlError(message, code, extended, undefined, e);
}

async function run<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw mapError(e);
  }
}

/**
 * Asked after a lone write, in the same D1 batch: SQLite's own counts. D1's `meta.changes` is
 * the change in `total_changes()`, which counts the rows triggers changed as well (the
 * cache-generation triggers on domains, accounts, …), where libSQL's `rowsAffected` does not.
 */
const AFTER_WRITE = "SELECT changes() AS changes, last_insert_rowid() AS rowid";

/** One statement on D1, as libSQL's `execute` answers it. */
async function execute(db: D1Like, sql: string, args: InValue[]): Promise<ResultSet> {
  const statement = prepare(db, sql, args);
  if (WRITE.test(sql)) {
    const [result, after] = await db.batch([statement, db.prepare(AFTER_WRITE)]);
    const counts = after.results?.[0] ?? {};
    return fromResult({
      results: result.results,
      meta: { changes: Number(counts.changes ?? 0), last_row_id: Number(counts.rowid ?? 0) },
    });
  }
  const [columns = [], ...rows] = await statement.raw({ columnNames: true });
  const names = columns as string[];
  return resultSet(names, rows.map((r) => toRow(r, names, fromD1)), 0, undefined);
}

/**
 * `db` as a libSQL client. `protocol` is "d1": the Store sends `batch()` jobs as one
 * `client.batch` (no group commit, no in-process lock) and refuses `write()` jobs.
 */
export function d1Client(db: D1Like): Client {
  let closed = false;
  const client = {
    protocol: "d1",
    get closed() {
      return closed;
    },
    execute(stmt: InStatement | string, args?: InArgs): Promise<ResultSet> {
      return run(() => {
        const s = argsOf(stmt, args);
        return execute(db, s.sql, s.args);
      });
    },
    batch(stmts: Array<InStatement | [string, InArgs?]>): Promise<ResultSet[]> {
      return run(async () => {
        const prepared = stmts.map((s) => {
          const { sql, args } = Array.isArray(s) ? argsOf(s[0], s[1]) : argsOf(s);
          return prepare(db, sql, args);
        });
        if (prepared.length === 0) return [];
        return (await db.batch(prepared)).map(fromResult);
      });
    },
    migrate(stmts: InStatement[]): Promise<ResultSet[]> {
      return client.batch(stmts);
    },
    transaction(): Promise<Transaction> {
      return Promise.reject(interactiveRefused("(a libSQL transaction)"));
    },
    executeMultiple(sql: string): Promise<void> {
      return Promise.reject(
        new LibsqlError(`D1 runs one statement at a time (got: ${sql.slice(0, 80)})`, "D1_MULTI"),
      );
    },
    sync(): Promise<undefined> {
      return Promise.resolve(undefined);
    },
    reconnect(): void {},
    close(): void {
      closed = true; // the binding belongs to the Worker: nothing to release
    },
  };
  return client as unknown as Client;
}

/**
 * The Store over a D1 binding: `batch()` jobs as one `D1Database.batch()` each, `write()` jobs
 * refused. `migrate` (the default) applies pending migrations first, as batches (migrate.ts); a
 * Worker whose migrations wrangler applied at deploy time passes `false` and saves the check.
 * `objects`: the object store that takes bodies above the inline threshold (R2 in a Worker).
 */
export async function openD1Store(
  db: D1Like,
  options: { migrate?: boolean; objects?: BlobObjects } = {},
): Promise<Store> {
  const client = d1Client(db);
  if (options.migrate !== false) await migrate(client, MIGRATIONS);
  return new Store(client, {
    batchMode: "client",
    interactiveWrites: false,
    objects: options.objects,
  });
}
