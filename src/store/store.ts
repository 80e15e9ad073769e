/**
 * The store handle every service uses: drizzle over a libSQL client the entry point opened.
 * Writes that read before they write go through `write()`, which runs `BEGIN IMMEDIATE`
 * (libSQL's "write" transaction) behind an in-process queue, so writers in this process never
 * race each other for the lock and writers in other processes wait on `busy_timeout`.
 *
 * Group commit: jobs that queue up while a transaction runs are run together in the next one,
 * each inside its own SAVEPOINT (a failing job rolls back only itself), and all are answered
 * after the single COMMIT — so one fsync covers many acknowledged writes without weakening any.
 *
 * A write job that needs no answer from JavaScript in its middle goes through `batch()` instead:
 * a list of statements whose later ones depend on earlier ones in SQL (`RETURNING`,
 * `INSERT … SELECT`, guards in `WHERE`, unique constraints), sent as ONE round trip (DESIGN.md,
 * "Write jobs are single round trips"). On the embedded file it joins the group commit like any
 * job (its own SAVEPOINT inside the shared `BEGIN IMMEDIATE … COMMIT`); on any other libSQL
 * client it is one `client.batch(stmts, "write")` — one Hrana batch on a remote server — that
 * takes no in-process lock, because nothing it decides depends on this process's memory. On a
 * remote server the jobs that arrive while one batch is in flight go out together as the next
 * (`sendGroups`), so the server commits once for many, as the embedded file's group commit does.
 * `@libsql/client` does not expose Hrana's step conditions, so a step that must run only when an
 * earlier one did says so in SQL (`WHERE EXISTS …` over the row the earlier step wrote).
 *
 * Every job's round trips are counted (`roundTrips`, `onJob`): a `write()` job costs its BEGIN,
 * each statement and its COMMIT on a remote engine; a `batch()` job costs 1.
 *
 * Single write statements made outside `write()` (`store.db.insert(...)` and the like) take the
 * same in-process lock. Without it such a statement would meet this process's own open write
 * transaction, and libSQL's busy wait — synchronous — would freeze the whole event loop, the
 * open transaction included, for the full busy timeout.
 */
import type { Vault } from "../crypt/vault.ts";
import type { Client, InValue, ResultSet, Transaction } from "@libsql/client/web";
import { drizzle } from "drizzle-orm/libsql/web";
import type { LibSQLDatabase } from "drizzle-orm/libsql/driver-core";
import * as schema from "./schema.ts";
import { invalidateAll, newReadCaches, type ReadCaches } from "./read_cache.ts";
import { Appends, type ManyInserter } from "./appends.ts";
import { AppError } from "../errors.ts";
import type { BlobObjects } from "./blob_objects.ts";

export type Db = LibSQLDatabase<typeof schema>;
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];
/** Either the database or an open transaction: read helpers accept both. */
export type Queryable = Db | Tx;

/**
 * Plain SQL on the connection a `Queryable` stands for, without drizzle's query builder: for the
 * few statements every delivery runs, where building the query cost more than running it.
 * Rows come back keyed by column name; integers as numbers.
 */
export interface RawSql {
  /** The full result: every row, and `rowsAffected`. */
  execute(sql: string, args?: InValue[]): Promise<ResultSet>;
  run(sql: string, args?: InValue[]): Promise<ResultSet>;
  all<T>(sql: string, args?: InValue[]): Promise<T[]>;
  get<T>(sql: string, args?: InValue[]): Promise<T | undefined>;
}

const rawExecutors = new WeakMap<object, RawSql>();
const storeCaches = new WeakMap<object, ReadCaches>();
const txAppends = new WeakMap<object, Appends>();
/** Store `db`s whose `caches.local` may be used (the embedded file: see ReadCaches.local). */
const localDbs = new WeakSet<object>();

/** The object store for large bodies of the Store a `Queryable` belongs to (blob_objects.ts). */
const storeObjects = new WeakMap<object, BlobObjects>();

/** The object store that holds `q`'s large message bodies, when its host has one. */
export const blobObjectsOf = (q: Queryable): BlobObjects | undefined => storeObjects.get(q);

/** The key vault (crypt/vault.ts) of the Store a `Queryable` belongs to: encryption at rest. */
const storeVaults = new WeakMap<object, Vault>();

/** The key vault that opens `q`'s sealed rows, once the host gave its Store one. */
export const vaultOf = (q: Queryable): Vault | undefined => storeVaults.get(q);

/**
 * Inserts `values` into `table` when the write transaction ends, with the other rows appended
 * to it, many to a statement (store/appends.ts). For rows nothing reads back before the commit.
 */
export function appendLater<T extends Record<string, unknown>>(
  tx: Tx,
  table: { insertMany(sql: RawSql, rows: T[], options?: { ignoreConflicts?: boolean }): unknown },
  values: T,
  options: { ignoreConflicts?: boolean } = {},
): void {
  const appends = txAppends.get(tx);
  if (!appends) throw new Error("appendLater: not a write transaction");
  appends.add(table as unknown as ManyInserter, values, options.ignoreConflicts ?? false);
}

/** The RawSql of a Store's `db` or of a transaction `Store.write` handed out. */
export function rawSql(q: Queryable): RawSql {
  const raw = rawExecutors.get(q);
  if (!raw) throw new Error("rawSql: not a Store's db or write transaction");
  return raw;
}

/** The read caches (store/read_cache.ts) of the Store a `Queryable` belongs to. */
export function readCaches(q: Queryable): ReadCaches {
  const caches = storeCaches.get(q);
  if (!caches) throw new Error("readCaches: not a Store's db or write transaction");
  return caches;
}

/**
 * The cache of reads a request without a scope may take unchecked (ReadCaches.local), for a
 * Store's own `db` on the embedded file; undefined for a transaction, a scoped view or any
 * other engine, which read as before.
 */
export function localCache(q: Queryable): ReadCaches["local"] | undefined {
  return localDbs.has(q) ? storeCaches.get(q)?.local : undefined;
}

/**
 * A second handle on `store`'s database with its own read caches (`caches`): what a request
 * whose reads are re-checked by its write job (read_scope.ts) hands to the services. It shares
 * everything else with `store.db` (it inherits from it), so the same helpers take it.
 */
export function dbView(store: Store, caches: ReadCaches): Db {
  const view = Object.create(store.db) as Db;
  rawExecutors.set(view, rawSql(store.db));
  storeCaches.set(view, caches);
  if (store.objects) storeObjects.set(view, store.objects);
  if (store.vault) storeVaults.set(view, store.vault);
  return view;
}

/** What RawSql runs on: a libSQL client or transaction, maybe with the file client's fast path. */
interface Executor {
  execute(stmt: { sql: string; args: InValue[] }): Promise<ResultSet>;
  /** The file client's (hosts/process/sqlite_client.ts): the first row only, without a row iterator. */
  executeFirst?(stmt: { sql: string; args: InValue[] }): Promise<ResultSet>;
}

function rawOver(target: Executor): RawSql {
  const first = target.executeFirst?.bind(target) ?? target.execute.bind(target);
  return {
    execute: (sql, args = []) => target.execute({ sql, args }),
    run: (sql, args = []) => first({ sql, args }),
    all: async <T>(sql: string, args: InValue[] = []) =>
      (await target.execute({ sql, args })).rows as unknown as T[],
    get: async <T>(sql: string, args: InValue[] = []) =>
      (await first({ sql, args })).rows[0] as unknown as T | undefined,
  };
}

/** One statement of a write job (`Store.batch`). */
export interface Statement {
  sql: string;
  args?: InValue[];
  /**
   * The statement yields one row at most (an INSERT … RETURNING of one row, a lookup by key):
   * the embedded engine then reads it as its first row, without the row iterator a result set
   * of any length needs, which cost about as much as the statement itself on the delivery path.
   */
  single?: boolean;
}

/** What `Store.onJob` hears of every write job once it has ended. */
export interface JobReport {
  /** `batch`: one batch of statements; `transaction`: an interactive `write()`. */
  kind: "batch" | "transaction";
  /**
   * Statements the job ran (BEGIN, SAVEPOINT and COMMIT not counted, nor the rows `appendLater`
   * adds, which are flushed once per commit for the whole group).
   */
  statements: number;
  /**
   * Round trips the job costs a remote engine: 1 for a batch (shared with the jobs that went in
   * the same one, `sendGroups`), statements + 2 for a transaction.
   */
  roundTrips: number;
}

/**
 * Runs a job's statements in order on `q` (a Store's db or an open write transaction), for
 * callers already inside `write()`: the same SQL `Store.batch` sends in one round trip.
 */
export async function runStatements(q: Queryable, stmts: Statement[]): Promise<ResultSet[]> {
  const raw = rawSql(q);
  const out: ResultSet[] = [];
  // `run` answers a statement's first row (Executor.executeFirst): enough for a `single` one.
  for (const s of stmts) out.push(await (s.single ? raw.run : raw.execute)(s.sql, s.args ?? []));
  return out;
}

/**
 * A step that fails its whole job unless `condition` (SQL, with `args`) holds when it runs: how
 * a batch says "stop if what I read before no longer holds" without Hrana's step conditions.
 * It fails on a NOT NULL constraint (`isFailedAssertion` tells it apart).
 */
export function assertStep(condition: string, args: InValue[] = []): Statement {
  return { sql: `INSERT INTO events (type) SELECT NULL WHERE NOT (${condition})`, args };
}

/** True for the error an `assertStep` raised. */
export function isFailedAssertion(error: unknown): boolean {
  return /NOT NULL constraint failed: events\.type/.test(String((error as Error)?.message ?? ""));
}

/**
 * `assertStep` for what a request read from a cache rather than from the store (read_scope.ts):
 * fails on another constraint, so that `isFailedGuard` tells "the cache was stale, read again"
 * apart from a job's own assertions, which its caller answers (a full quota, say).
 */
export function guardStep(condition: string, args: InValue[] = []): Statement {
  return {
    sql: `INSERT INTO cache_generation (id, generation) SELECT NULL, NULL WHERE NOT (${condition})`,
    args,
  };
}

/** True for the error a `guardStep` raised. */
export function isFailedGuard(error: unknown): boolean {
  return /NOT NULL constraint failed: cache_generation\.generation/.test(
    String((error as Error)?.message ?? ""),
  );
}

/** What a recording executor answers every statement: no rows, nothing changed. */
const NOTHING: ResultSet = {
  columns: [],
  columnTypes: [],
  rows: [],
  rowsAffected: 0,
  lastInsertRowid: undefined,
  toJSON: () => ({}),
};

/**
 * The statements `fn` would write, recorded instead of run, so that write helpers made for
 * `write()` (drizzle inserts, `rawSql`, `appendLater`) can add their rows to a batch. Reads
 * answer nothing: `fn` must only write, with everything it needs read before.
 */
export async function recordStatements(fn: (tx: Tx) => Promise<void>): Promise<Statement[]> {
  const recorded: Statement[] = [];
  const recorder = {
    execute: (stmt: { sql: string; args?: InValue[] }) => {
      recorded.push({ sql: stmt.sql, args: [...(stmt.args ?? [])] });
      return Promise.resolve(NOTHING);
    },
  };
  // No schema: helpers use the query builder only, and the relational setup costs per call.
  const db = drizzle(recorder as unknown as Client);
  const raw = rawOver(recorder as unknown as Executor);
  const appends = new Appends();
  rawExecutors.set(db, raw);
  txAppends.set(db, appends);
  await fn(db as unknown as Tx);
  await appends.flush(raw);
  return recorded;
}

interface WriteJob {
  fn: (tx: Tx) => Promise<unknown>;
  /** Set for `batch()` jobs: counted as one round trip. */
  statements?: number;
  /** A `batch()` job's statements (what a client's `batchGroup` runs). */
  stmts?: Statement[];
  /** The job asked for the client's writer thread (BatchOptions.offLoop). */
  offLoop?: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * A client that runs groups of statement jobs itself, each job in a SAVEPOINT of one transaction
 * (the embedded file's writer thread: hosts/process/sqlite_client.ts `writerThread`).
 */
interface GroupClient {
  batchGroup(
    jobs: Statement[][],
  ): Promise<({ ok: true; results: ResultSet[] } | { ok: false; error: unknown })[]>;
}

/** Most jobs one commit may carry (bounds the latency a batch adds to its first job). */
const MAX_GROUP = 64;

/** Most statements of one grouped remote batch (a request body of a few hundred kilobytes). */
const MAX_GROUP_STATEMENTS = 600;

/**
 * An error a statement of a batch raised (SQLite's, as the server reports it): the batch was
 * rolled back. Anything else (the network, the server) leaves open whether it committed.
 */
function isStatementError(error: unknown): boolean {
  return /^SQLITE_/.test(String((error as { code?: unknown })?.code ?? ""));
}

/** Statements that write (or take the write lock), as opposed to reads WAL lets run alongside. */
const WRITE_SQL =
  /^\s*(insert|update|delete|replace|create|drop|alter|begin|with\b[\s\S]*\b(insert|update|delete)\b)/i;
const sqlOf = (stmt: unknown) => typeof stmt === "string" ? stmt : (stmt as { sql: string }).sql;
const isWrite = (stmt: unknown) => WRITE_SQL.test(sqlOf(stmt));

/** A statement that changes `domains`, whose rows `caches.domains` keeps (store/read_cache.ts). */
const DOMAINS_WRITE =
  /^\s*(?:insert\s+(?:or\s+\w+\s+)?into|replace\s+into|update|delete\s+from)\s+["`]?domains["`]?[\s(]/i;

/**
 * A statement that may change a row `caches.recipients` or `caches.mailboxes` depends on:
 * accounts, aliases, domains (catch-alls) and mailboxes, except the counter bumps of every
 * stored message (COUNTER_BUMPS).
 */
const CACHED_ROWS_WRITE =
  /^\s*(?:insert\s+(?:or\s+\w+\s+)?into|replace\s+into|update|delete\s+from)\s+["`]?(?:accounts|aliases|domains|mailboxes)["`]?[\s(]/i;

/**
 * A statement that may change a row only requests that re-check their reads cache (sessions,
 * suppressions, tracking settings, webhook endpoints, account forwarding: store/read_scope.ts);
 * the write job of such a request re-checks them in SQL anyway, so this only spares it a failed
 * first attempt.
 */
const SCOPED_ROWS_WRITE =
  /^\s*(?:insert\s+(?:or\s+\w+\s+)?into|replace\s+into|update|delete\s+from)\s+["`]?(?:sessions|tx_suppressions|tx_domain_settings|tx_webhooks|account_forwarding)["`]?[\s(]/i;

/** A statement that may change what a verified API key may do: its row or its account's. */
const API_KEYS_WRITE =
  /^\s*(?:insert\s+(?:or\s+\w+\s+)?into|replace\s+into|update|delete\s+from)\s+["`]?(?:api_keys|accounts)["`]?[\s(]/i;

/** The quota bump of every stored message. */
export const QUOTA_BUMP_SQL = "UPDATE accounts SET used_bytes = used_bytes + ? WHERE id = ?";
/** A mailbox's next UID and modification sequence (RFC 3501 2.3.1.1, RFC 7162 3.1). */
export const UID_BUMP_SQL = "UPDATE mailboxes SET uid_next = uid_next + 1, " +
  "highest_modseq = highest_modseq + 1 WHERE id = ? RETURNING uid_next - 1 AS uid, " +
  "highest_modseq AS modseq";
/** A mailbox's next modification sequence (flag changes, expunges). */
export const MODSEQ_BUMP_SQL =
  "UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = ? " +
  "RETURNING highest_modseq AS modseq";
/** Writes that change no cached row, however often they run. */
const COUNTER_BUMPS = new Set([QUOTA_BUMP_SQL, UID_BUMP_SQL, MODSEQ_BUMP_SQL]);

/**
 * Declares `sql` a counter bump (a statement over `accounts` or `mailboxes` that changes no row a
 * read cache keeps, such as a batch's guarded quota or UID step), and returns it.
 */
export function counterBump(sql: string): string {
  COUNTER_BUMPS.add(sql);
  return sql;
}

/** A commit this recent means writers are busy: wait one turn of the event loop for company. */
const BUSY_WINDOW_MS = 20;

/**
 * How long a group waits at most for the write jobs announced to come (Store.expectWrite). A
 * send is bound by the event loop's CPU (2–3 ms of it), so eight concurrent sends reached the
 * queue a few at a time (3.7 jobs per commit, in-process) and each group paid its own BEGIN and
 * COMMIT (0.5 ms of the event loop: the WAL pages written) and bookkeeping; waiting for the sends
 * already under way lets them share one (7.5 jobs per commit).
 */
const GATHER_MS = 8;

/** How long a lone write statement waits for this process's write lock before failing. */
const LOCK_WAIT_MS = 10_000;

export interface StoreOptions {
  sync?: () => Promise<void>;
  /**
   * True when another connection may have committed since the last call (the file client's
   * `PRAGMA data_version`). Without it, as on remote libSQL or D1, the change counter itself is
   * read before a cached answer is trusted.
   */
  changedElsewhere?: () => boolean;
  /**
   * How `batch()` runs: `group` (the default for `file:` clients) joins the group commit of
   * `write()`; `client` sends one `client.batch(stmts, "write")` (the default elsewhere).
   */
  batchMode?: "group" | "client";
  /**
   * False for an engine without interactive transactions (Cloudflare D1, store/d1_client.ts):
   * `write()` jobs are refused with an error naming the job, before anything is written.
   */
  interactiveWrites?: boolean;
  /**
   * Let requests that opt in (store/read_scope.ts) trust the read caches without reading the
   * change counter first, their write job re-checking in SQL what they relied on. The default:
   * on wherever no `changedElsewhere` gate makes that check free (remote libSQL, D1).
   */
  optimisticReads?: boolean;
  /** Where bodies above the inline threshold go (blob_objects.ts; R2 in a Worker). */
  objects?: BlobObjects;
  /**
   * With a client that has a writer thread (`batchGroup`): `all` (the default) runs every group
   * of `batch()` jobs there; `marked` only groups whose jobs all asked for it (`offLoop`), so
   * that MX ingest's SQLite work leaves the event loop while the rest (sends, whose read caches
   * the thread's commits would empty) stays on it (issue 20).
   */
  writerThreadJobs?: "all" | "marked";
}

/** How a `batch()` job runs. */
export interface BatchOptions {
  /**
   * On the client's writer thread, when it has one and the Store runs only marked jobs there
   * (StoreOptions.writerThreadJobs): the job's SQLite work then leaves the event loop.
   */
  offLoop?: boolean;
}

/**
 * The error an interactive job meets on an engine that refuses BEGIN and SAVEPOINT (D1), naming
 * the job by its caller so the log says which job still needs to become a batch.
 */
export function interactiveRefused(job: string): AppError {
  return new AppError(
    501,
    "internal",
    `write job ${job} is an interactive transaction, which this store's engine (Cloudflare D1) ` +
      "cannot run: D1 refuses BEGIN and SAVEPOINT, so the job must become one Store.batch() " +
      'of statements (DESIGN.md, "Write jobs are single round trips"); nothing was written',
  );
}

/** Who called `Store.write()`: the first stack frame outside this file, shortened. */
function callerOfWrite(): string {
  const frames = (new Error().stack ?? "").split("\n").slice(1).map((l) => l.trim());
  const frame = frames.find((f) => f.startsWith("at ") && !/\/store\/store\.ts:/.test(f));
  if (!frame) return "(unnamed)";
  return frame.replace(/^at\s+(?:async\s+)?/, "").replace(
    /\(?(?:file|https?):\/\/\S*?\/((?:src|cli|test)\/)/,
    "($1",
  )
    .replace(/:(\d+):\d+\)?$/, ":$1)").replace(/^\((.*)\)$/, "$1");
}

/** The change counter the triggers of migration 0008_cache_generation bump. */
const CACHE_GENERATION_SQL = "SELECT generation FROM cache_generation WHERE id = 1";

export class Store {
  readonly db: Db;
  /** The client every query goes through (lone writes serialized with transactions). */
  readonly client: Client;
  private readonly queue: WriteJob[] = [];
  private draining = false;
  private lockTail: Promise<unknown> = Promise.resolve();
  private lastCommit = -Infinity;
  /** The sync the last group's answers wait for, until it is done (see drain). */
  private syncing: Promise<void> | undefined;
  /** Write jobs announced but not queued yet (expectWrite), and the group waiting for them. */
  private expected = 0;
  private gathered: (() => void) | undefined;
  private commitCount = 0;
  /** The open transaction wrote a row a read cache keeps: invalidate again when it ends. */
  private cacheDirty = false;
  /** The open transaction wrote a row only `caches.local` keeps: empty it when it ends. */
  private localDirty = false;
  /** Rows nearly every delivery reads (store/read_cache.ts); writers of them invalidate. */
  readonly caches: ReadCaches = newReadCaches(() => this.checkCaches());
  /** The change counter as last read; undefined before the first read or after a failed one. */
  private seenGeneration: number | undefined;
  /** The counter read under way. */
  private generationRead: Promise<void> | undefined;
  /** Without a data_version gate: the read that begins when `generationRead` ends. */
  private nextGenerationRead: Promise<void> | undefined;
  /** The libSQL transaction open right now (writes are serialized, so there is at most one). */
  private activeTx: Transaction | undefined;
  /** Statements of the job running now (jobs of a group run one after the other). */
  private jobStatements = 0;
  private tripCount = 0;
  /** Remote jobs waiting for the batch in flight to end (see `sendGroups`). */
  private readonly clientQueue: {
    stmts: Statement[];
    resolve: (results: ResultSet[]) => void;
    reject: (error: unknown) => void;
  }[] = [];
  private clientSending = false;
  /** Told of every write job when it ends (the gateway logs it at debug level). */
  onJob: ((report: JobReport) => void) | undefined;
  /**
   * Told how long each write job took a caller, in seconds, from `write()`/`batch()` to its
   * commit or failure: waiting for the group commit included, as a request feels it (the
   * gateway's /metrics store latency histogram).
   */
  onJobTime: ((seconds: number) => void) | undefined;
  /** See `StoreOptions.optimisticReads`. */
  readonly optimisticReads: boolean;

  /**
   * `options.sync`, when given, makes committed writes durable (e.g. an fsync of the WAL run off
   * the event loop, for a database that commits without syncing). Every write resolves only after
   * a sync that began after its COMMIT, so one sync covers all the commits before it.
   */
  constructor(private readonly raw: Client, private readonly options: StoreOptions = {}) {
    this.optimisticReads = options.optimisticReads ?? !options.changedElsewhere;
    this.client = this.serialized(raw);
    this.db = drizzle(this.client, { schema });
    rawExecutors.set(this.db, rawOver(this.client as unknown as Executor));
    storeCaches.set(this.db, this.caches);
    if (options.changedElsewhere) localDbs.add(this.db);
    if (options.objects) storeObjects.set(this.db, options.objects);
  }

  /**
   * The engine's client without the write serialization: for a backup's own read transaction,
   * which must not become the Store's open write transaction (src/backup/snapshot.ts).
   */
  get unserializedClient(): Client {
    return this.raw;
  }

  /** Seals and opens rows at rest (crypt/vault.ts), once the host gave one (`useVault`). */
  vault: Vault | undefined;

  /** Gives this store its key vault: the entry point does, with the master key in hand. */
  useVault(vault: Vault): void {
    this.vault = vault;
    storeVaults.set(this.db, vault);
  }

  /** The object store for large bodies, when the host gave one. */
  get objects(): BlobObjects | undefined {
    return this.options.objects;
  }

  /**
   * Makes the read caches current with changes other processes committed (DESIGN.md: every cache
   * of a routing or auth answer is checked across processes before it is trusted). Undefined:
   * nothing to wait for.
   *
   * On the embedded file a `PRAGMA data_version` says whether anyone else committed at all, so
   * the counter is read only after another process's commit (and that read, which completes
   * within the turn of the event loop, serves every lookup of the turn). Elsewhere the counter
   * is read for every lookup, by a read that begins after the lookup did: lookups that arrive
   * while one read is under way share the next, so there is at most one read per round trip.
   */
  checkCaches(): Promise<void> | undefined {
    const changedElsewhere = this.options.changedElsewhere;
    if (changedElsewhere) {
      if (this.generationRead) return this.generationRead;
      if (!changedElsewhere()) return undefined;
      // Another connection committed something: the rows no counter covers may have changed.
      this.caches.local.invalidate();
      return this.startGenerationRead();
    }
    if (!this.generationRead) return this.startGenerationRead();
    return this.nextGenerationRead ??= this.generationRead.then(() => {
      this.nextGenerationRead = undefined;
      return this.startGenerationRead();
    });
  }

  /**
   * The change counter the caches were last made current with; undefined before the first read,
   * after a failed one, or after this process changed a cached row (the counter moved then).
   */
  get knownGeneration(): number | undefined {
    return this.seenGeneration;
  }

  /** Forgets every cached read: a write job found one stale (read_scope.ts). */
  forgetReads(): void {
    this.seenGeneration = undefined;
    invalidateAll(this.caches);
  }

  private startGenerationRead(): Promise<void> {
    const read = this.readGeneration().finally(() => {
      if (this.generationRead === read) this.generationRead = undefined;
    });
    return this.generationRead = read;
  }

  private async readGeneration(): Promise<void> {
    let generation: number | undefined;
    try {
      const row = await rawSql(this.db).get<{ generation: number }>(CACHE_GENERATION_SQL);
      generation = row === undefined ? undefined : Number(row.generation);
    } catch {
      generation = undefined; // not migrated yet (`migrate --dry-run`): trust nothing
    }
    if (generation === undefined || generation !== this.seenGeneration) {
      invalidateAll(this.caches);
    }
    this.seenGeneration = generation;
  }

  /** Gives `tx` (a transaction or savepoint of the open write) its RawSql. */
  private withRaw<T>(fn: (tx: Tx) => Promise<T>): (tx: Tx) => Promise<T> {
    return (tx) => {
      const open = this.activeTx;
      if (!open) throw new Error("no libSQL transaction is open");
      const raw = rawOver(open as unknown as Executor);
      rawExecutors.set(tx, raw);
      storeCaches.set(tx, this.caches);
      if (this.options.objects) storeObjects.set(tx, this.options.objects);
      if (this.vault) storeVaults.set(tx, this.vault);
      const appends = new Appends();
      txAppends.set(tx, appends);
      return fn(tx).then(async (value) => {
        await appends.flush(raw); // before drizzle's COMMIT: the rows commit with their jobs
        return value;
      });
    };
  }

  private durable(): Promise<void> {
    return this.options.sync ? this.options.sync() : Promise.resolve();
  }

  /** Runs `fn` alone among this process's writers. */
  private withLock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lockTail.then(fn);
    this.lockTail = run.catch(() => undefined);
    return run;
  }

  private serialized(raw: Client): Client {
    const lockedWrite = <T>(fn: () => Promise<T>): Promise<T> => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error("timed out waiting for the store's write lock (a write inside write()?)"),
            ),
          LOCK_WAIT_MS,
        );
      });
      return Promise.race([this.withLock(fn), timeout]).finally(() => clearTimeout(timer))
        .then(async (value) => {
          await this.durable();
          return value;
        });
    };
    // deno-lint-ignore no-this-alias
    const store = this;
    return new Proxy(raw, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if ((prop === "execute" || prop === "executeFirst") && typeof value === "function") {
          return (stmt: Parameters<Client["execute"]>[0], args?: unknown) => {
            const call = () =>
              (value as (s: unknown, a?: unknown) => Promise<ResultSet>).call(target, stmt, args);
            store.tripCount++;
            if (!isWrite(stmt)) return call();
            store.noteWrite(stmt, false);
            return lockedWrite(call);
          };
        }
        if (prop === "transaction") {
          return async (...a: unknown[]) => {
            const tx = await (value as (...x: unknown[]) => Promise<Transaction>).apply(target, a);
            store.activeTx = store.watched(tx);
            return tx;
          };
        }
        if (prop === "batch" || prop === "executeMultiple" || prop === "migrate") {
          return (...a: unknown[]) =>
            lockedWrite(() => (value as (...x: unknown[]) => Promise<unknown>).apply(target, a));
        }
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  }

  /** Empties the read caches a write statement may make stale (inTx: again when it ends). */
  private noteWrite(stmt: unknown, inTx: boolean): void {
    const sql = sqlOf(stmt);
    if (COUNTER_BUMPS.has(sql)) return;
    if (SCOPED_ROWS_WRITE.test(sql)) {
      this.caches.scoped.invalidate();
      this.caches.local.invalidate();
      // A read that runs while the transaction is open sees the row as it was before: again.
      if (inTx) this.localDirty = true;
    }
    if (API_KEYS_WRITE.test(sql)) {
      this.caches.apiKeys.invalidate();
      this.caches.scoped.invalidate();
      this.caches.local.invalidate();
      // Our own write moved the change counter: the next request reads it again.
      this.seenGeneration = undefined;
      if (inTx) this.cacheDirty = true;
    }
    if (!CACHED_ROWS_WRITE.test(sql)) return;
    this.caches.recipients.invalidate();
    this.caches.mailboxes.invalidate();
    this.caches.scoped.invalidate();
    this.caches.local.invalidate();
    this.seenGeneration = undefined;
    if (DOMAINS_WRITE.test(sql)) this.caches.domains.invalidate();
    if (inTx) this.cacheDirty = true;
  }

  /** Makes a transaction's statements report their writes to `noteWrite`. */
  private watched(tx: Transaction): Transaction {
    for (const name of ["execute", "executeFirst"] as const) {
      const method = (tx as unknown as Record<string, unknown>)[name];
      if (typeof method !== "function") continue;
      (tx as unknown as Record<string, unknown>)[name] = (stmt: unknown, ...rest: unknown[]) => {
        this.noteWrite(stmt, true);
        this.jobStatements++;
        return (method as (...a: unknown[]) => unknown).call(tx, stmt, ...rest);
      };
    }
    this.cacheDirty = false;
    this.localDirty = false;
    return tx;
  }

  /** Write transactions this process has ended (committed or not). */
  get commits(): number {
    return this.commitCount;
  }

  /**
   * Round trips this Store's write jobs have cost (see JobReport), plus one per lone statement
   * sent outside a job: a debug counter, the measure of issue 16's "one round trip per job".
   */
  get roundTrips(): number {
    return this.tripCount;
  }

  /** Milliseconds since this process's last commit; 0 while writes are queued. */
  idleMs(): number {
    return this.queue.length > 0 || this.draining ? 0 : performance.now() - this.lastCommit;
  }

  /** `job` timed for `onJobTime`, when someone listens. */
  private timed<T>(job: Promise<T>): Promise<T> {
    const listener = this.onJobTime;
    if (!listener) return job;
    const started = performance.now();
    const done = () => listener((performance.now() - started) / 1000);
    job.then(done, done);
    return job;
  }

  /**
   * Announces a write job that will reach the queue soon (a send composing its message): until
   * the returned function is called (once the job is queued, or the caller gave up), a group
   * about to commit waits for it, at most GATHER_MS, so that concurrent jobs share one commit.
   * Only the embedded file groups jobs this way; elsewhere this does nothing.
   */
  expectWrite(): () => void {
    if (this.batchMode() !== "group") return () => {};
    let pending = true;
    this.expected++;
    return () => {
      if (!pending) return;
      pending = false;
      this.expected--;
      if (this.expected === 0) this.gathered?.();
    };
  }

  /** Waits (at most GATHER_MS) until no announced write job is still to come. */
  private gather(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, GATHER_MS);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.gathered = () => {
        this.gathered = undefined;
        done();
      };
    }).finally(() => {
      this.gathered = undefined;
    });
  }

  /** Runs `fn` in a write transaction (BEGIN IMMEDIATE); resolves only after the COMMIT. */
  write<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    if (this.options.interactiveWrites === false) {
      return Promise.reject(interactiveRefused(callerOfWrite()));
    }
    return this.timed(this.queueWrite(fn));
  }

  private queueWrite<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.draining) void this.drain();
    });
  }

  /**
   * Runs one write job given as statements, in one round trip; resolves with each statement's
   * result once committed. A statement that fails rolls back the whole job (and only it: in a
   * group commit, the other jobs keep their SAVEPOINTs). Later statements see earlier ones'
   * rows, so a step that depends on another names that row in SQL.
   */
  batch(stmts: Statement[], options: BatchOptions = {}): Promise<ResultSet[]> {
    const mode = this.batchMode();
    return this.timed(
      mode === "client" ? this.clientBatch(stmts) : this.queueBatch(stmts, options.offLoop),
    );
  }

  private batchMode(): "group" | "client" {
    return this.options.batchMode ?? (this.raw.protocol === "file" ? "group" : "client");
  }

  private queueBatch(stmts: Statement[], offLoop?: boolean): Promise<ResultSet[]> {
    return new Promise<ResultSet[]>((resolve, reject) => {
      this.queue.push({
        fn: async () => {
          const open = this.activeTx;
          if (!open) throw new Error("no libSQL transaction is open");
          const first = (open as Partial<Executor>).executeFirst?.bind(open);
          const out: ResultSet[] = [];
          for (const s of stmts) {
            const stmt = { sql: s.sql, args: s.args ?? [] };
            out.push(await (s.single && first ? first(stmt) : open.execute(stmt)));
          }
          return out;
        },
        statements: stmts.length,
        stmts,
        offLoop,
        resolve: resolve as (v: unknown) => void,
        reject,
      });
      if (!this.draining) void this.drain();
    });
  }

  /**
   * Runs read statements in one round trip (one `client.batch(stmts, "read")` on a remote
   * engine), outside the write queue: reads a request could not take from a cache, or the
   * re-check of cached ones when the request writes nothing (read_scope.ts).
   */
  async readBatch(stmts: Statement[]): Promise<ResultSet[]> {
    const args = stmts.map((s) => ({ sql: s.sql, args: s.args ?? [] }));
    try {
      if (this.raw.protocol !== "file") return await this.raw.batch(args, "read");
      // The embedded file: no round trips to save; its reads run beside the writer (WAL).
      const out: ResultSet[] = [];
      for (const s of args) out.push(await this.raw.execute(s));
      return out;
    } finally {
      this.tripCount++;
    }
  }

  /**
   * `batch()` as one `client.batch`: no in-process lock off the embedded file. On a remote
   * libSQL server, jobs that arrive while one is in flight go out together as the next batch
   * (`sendGroups`): group commit on the client's side, for the same reason the embedded file
   * has it — the server commits once for many jobs. On D1 (and a `file:` client told to use
   * this mode) each job is its own batch.
   */
  private clientBatch(stmts: Statement[]): Promise<ResultSet[]> {
    const protocol = this.raw.protocol;
    if (protocol === "file" || protocol === "d1") return this.clientBatchAlone(stmts);
    return new Promise<ResultSet[]>((resolve, reject) => {
      this.clientQueue.push({ stmts, resolve, reject });
      if (!this.clientSending) void this.sendGroups();
    });
  }

  private async clientBatchAlone(stmts: Statement[]): Promise<ResultSet[]> {
    const args = stmts.map((s) => ({ sql: s.sql, args: s.args ?? [] }));
    for (const s of args) this.noteWrite(s, false);
    const target = this.raw.protocol === "file" ? this.client : this.raw;
    try {
      const results = await target.batch(args, "write");
      if (target === this.raw) await this.durable();
      return results;
    } finally {
      this.report({ kind: "batch", statements: stmts.length, roundTrips: 1 });
    }
  }

  /**
   * Sends the queued remote jobs, one batch in flight at a time: a lone job goes at once (no
   * wait added), the jobs that queue meanwhile go together in the next one — each job's
   * statements in order, as in the embedded group commit, so what a step names in SQL
   * (`last_insert_rowid()`, `changes()`, the rows it wrote) is still its own job's. Measured on
   * bench r (remote libSQL, +5 ms per round trip, 8 clients): one transaction per send wrote
   * 62 WAL pages on the server (each table and index touched commits a page), one per group of
   * 8 about 16. A batch rolls back whole when any statement fails; then, and only then (a
   * statement's error, so nothing was committed), each job of it runs again alone, and the
   * job that failed fails by itself as it would have. Correctness never rests on this queue:
   * a Store per request, or several processes, simply group less.
   */
  private async sendGroups(): Promise<void> {
    this.clientSending = true;
    try {
      while (this.clientQueue.length > 0) {
        const group = [this.clientQueue.shift()!];
        let statements = group[0].stmts.length;
        while (
          this.clientQueue.length > 0 && group.length < MAX_GROUP &&
          statements + this.clientQueue[0].stmts.length <= MAX_GROUP_STATEMENTS
        ) {
          statements += this.clientQueue[0].stmts.length;
          group.push(this.clientQueue.shift()!);
        }
        if (group.length === 1) {
          await this.clientBatchAlone(group[0].stmts).then(group[0].resolve, group[0].reject);
          continue;
        }
        let results: ResultSet[];
        try {
          results = await this.groupBatch(group.map((job) => job.stmts));
        } catch (error) {
          if (!isStatementError(error)) {
            for (const job of group) job.reject(error);
          } else {
            for (const job of group) {
              void this.clientBatchAlone(job.stmts).then(job.resolve, job.reject);
            }
          }
          continue;
        }
        let at = 0;
        for (const job of group) {
          job.resolve(results.slice(at, at + job.stmts.length));
          at += job.stmts.length;
        }
      }
    } finally {
      this.clientSending = false;
    }
  }

  /** Several jobs' statements as one `client.batch`: one round trip, each job counted once. */
  private async groupBatch(jobs: Statement[][]): Promise<ResultSet[]> {
    const args = jobs.flat().map((s) => ({ sql: s.sql, args: s.args ?? [] }));
    for (const s of args) this.noteWrite(s, false);
    let ok = false;
    try {
      const results = await this.raw.batch(args, "write");
      await this.durable();
      ok = true;
      return results;
    } finally {
      this.tripCount++;
      // A group that failed is run again job by job, and those runs report the jobs.
      if (ok) {
        for (const job of jobs) {
          this.onJob?.({ kind: "batch", statements: job.length, roundTrips: 1 });
        }
      }
    }
  }

  private report(job: JobReport): void {
    this.tripCount += job.roundTrips;
    this.onJob?.(job);
  }

  /** Runs one job of a group, counting what it costs (see JobReport). */
  private async runJob(job: WriteJob, tx: Tx): Promise<unknown> {
    this.jobStatements = 0;
    try {
      return await job.fn(tx);
    } finally {
      const statements = job.statements ?? this.jobStatements;
      this.report(
        job.statements === undefined
          ? { kind: "transaction", statements, roundTrips: statements + 2 }
          : { kind: "batch", statements, roundTrips: 1 },
      );
    }
  }

  /**
   * A group of `batch()` jobs through the client's `batchGroup` (the embedded file's writer
   * thread, hosts/process/sqlite_client.ts): one transaction there, each job in a SAVEPOINT,
   * under this Store's lock like any other write. The statements' cache effects are noted as
   * for a transaction (again when it ends).
   */
  private async runOnWriterThread(
    batchGroup: GroupClient["batchGroup"],
    group: WriteJob[],
    outcomes: { ok: boolean; value: unknown }[],
  ): Promise<void> {
    this.cacheDirty = false;
    for (const job of group) for (const s of job.stmts!) this.noteWrite(s, true);
    const ended = await this.withLock(() => batchGroup(group.map((job) => job.stmts!)));
    ended.forEach((o, i) => {
      this.report({ kind: "batch", statements: group[i].stmts!.length, roundTrips: 1 });
      outcomes.push(o.ok ? { ok: true, value: o.results } : { ok: false, value: o.error });
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        // Under load (a commit just ended), let the event loop run once so that writers whose
        // requests are already in flight join this commit instead of paying for their own.
        if (this.queue.length < MAX_GROUP && performance.now() - this.lastCommit < BUSY_WINDOW_MS) {
          await new Promise((r) => setTimeout(r, 0));
        }
        // While the last group's sync is under way, a commit now would be answered only after
        // the sync that follows it anyway (the syncer runs one at a time): wait for it, and the
        // jobs that arrive meanwhile share this commit. Fewer, larger commits cost the event loop
        // less per job (each COMMIT writes the shared index and counter pages once).
        if (this.syncing && this.queue.length < MAX_GROUP) {
          await this.syncing.catch(() => {});
        }
        // Write jobs under way (expectWrite) join this group rather than wait for the next one.
        if (this.expected > 0 && this.queue.length < MAX_GROUP) await this.gather();
        const group = this.queue.splice(0, MAX_GROUP);
        const outcomes: { ok: boolean; value: unknown }[] = [];
        const threaded = (this.raw as Partial<GroupClient>).batchGroup;
        try {
          const marked = this.options.writerThreadJobs === "marked";
          if (threaded && group.every((job) => job.stmts && (!marked || job.offLoop))) {
            await this.runOnWriterThread(threaded.bind(this.raw), group, outcomes);
          } else if (group.length === 1) {
            outcomes.push({
              ok: true,
              value: await this.withLock(() =>
                this.db.transaction(this.withRaw((tx) => this.runJob(group[0], tx)))
              ),
            });
          } else {
            await this.withLock(() =>
              this.db.transaction(this.withRaw(async (tx) => {
                // Each job in its own SAVEPOINT, written directly: drizzle's nested transaction
                // builds a new database object per job, which showed in profiles.
                const raw = rawSql(tx);
                const appends = txAppends.get(tx)!;
                for (const job of group) {
                  const appended = appends.size;
                  await raw.run("SAVEPOINT job");
                  try {
                    const value = await this.runJob(job, tx);
                    await raw.run("RELEASE job");
                    outcomes.push({ ok: true, value });
                  } catch (error) {
                    // If SQLite already ended the whole transaction, this throws and the group
                    // fails as one (nothing of it was committed).
                    appends.truncate(appended); // its appended rows go with it
                    await raw.run("ROLLBACK TO job");
                    await raw.run("RELEASE job");
                    outcomes.push({ ok: false, value: error });
                  }
                }
              }))
            );
          }
        } catch (error) {
          for (const job of group) job.reject(error);
          continue;
        } finally {
          this.lastCommit = performance.now();
          this.commitCount++;
          if (this.cacheDirty) {
            // Readers may have seen the transaction's own rows before it ended (one connection).
            this.cacheDirty = false;
            invalidateAll(this.caches);
          }
          if (this.localDirty) {
            this.localDirty = false;
            this.caches.local.invalidate();
          }
        }
        // Answer once the commit is on disk; the next group may gather meanwhile.
        const synced = this.durable();
        if (this.options.sync) {
          this.syncing = synced;
          const done = () => {
            if (this.syncing === synced) this.syncing = undefined;
          };
          synced.then(done, done);
        }
        synced.then(
          () =>
            group.forEach((job, i) =>
              outcomes[i].ok ? job.resolve(outcomes[i].value) : job.reject(outcomes[i].value)
            ),
          (error) => group.forEach((job) => job.reject(error)),
        );
      }
    } finally {
      this.draining = false;
    }
  }

  close(): void {
    this.raw.close();
  }
}

export { schema };
