/**
 * A libSQL client for `file:` databases with the @libsql/client `Client` contract drizzle
 * expects, built directly on the `libsql` binding so that hot statements are prepared once:
 * @libsql/client re-prepares every statement and asks the binding for its columns twice per call,
 * which cost more than the statements themselves on the delivery path.
 *
 * Two connections: a writer, which every transaction and lone write uses (the Store already
 * serializes writers in this process; other processes wait on `busy_timeout`), and a reader for
 * statements outside a transaction, so a read never sees another job's uncommitted writes (WAL
 * gives it the last committed state). An in-memory database has one connection: each SQLite
 * connection to `:memory:` would be a separate database.
 */
import { Buffer } from "node:buffer";
import { type FileHandle, open } from "node:fs/promises";
import { setImmediate } from "node:timers";
import Database from "libsql";
import type {
  Client,
  InArgs,
  InStatement,
  ResultSet,
  Transaction,
  TransactionMode,
} from "@libsql/client";
import { LibsqlError } from "@libsql/client";
import { resultSet, toRow } from "../../src/store/result_set.ts";
import type { WireError, WireOutcome } from "./sqlite_writer_worker.ts";
import { idleRetire } from "./idle_retire.ts";
import { endReadSnapshots, ReadSnapshot } from "./read_snapshot.ts";

type Db = Database.Database;
type Statement = Database.Statement;
type Row = Record<string, unknown>;

interface Prepared {
  stmt: Statement;
  /** Column names when the statement returns rows; undefined for statements that do not. */
  columns?: string[];
}

/** Statements kept per connection; the schema has far fewer distinct ones than this. */
const CACHE_LIMIT = 1000;

/**
 * The reader's page cache, KiB (SQLite's default is 2,000). A mailbox read touches a message
 * row and a blob row per message, about two pages each: an IMAP FETCH of 1,000 bodies (or a
 * POP3 session's RETRs) is some 8 MB of pages, which the default cache dropped again on every
 * pass, each page then read anew from the OS (in-process FETCH 1000 BODY.PEEK[]: 21 → 14 ms of
 * CPU). SQLite fills the cache as pages are read, so an idle server holds no more than before.
 */
const READER_CACHE_KIB = 16_000;

export class Connection {
  private readonly cache = new Map<string, Prepared>();
  /** `first()`'s own statements (a map of their own: a key built per call is hashed per call). */
  private readonly firstCache = new Map<string, Prepared>();

  constructor(readonly db: Db) {}

  /**
   * `forFirst`: a statement of its own for `first()`. The binding's `get()` on a statement whose
   * last use was `all()` answers that call's first row again, whatever is bound now (a send's
   * job read back the account it created with `all()`, and the next `first()` of the same SQL
   * named that account for another address).
   */
  prepare(sql: string, forFirst = false): Prepared {
    const cache = forFirst ? this.firstCache : this.cache;
    let p = cache.get(sql);
    if (p) return p;
    const stmt = this.db.prepare(sql);
    let columns: string[] | undefined;
    try {
      stmt.raw(true);
      columns = stmt.columns().map((c: { name: string }) => c.name);
    } catch {
      columns = undefined; // raw() throws for statements that return no data
    }
    p = { stmt, columns };
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(sql, p);
    return p;
  }

  execute(input: InStatement | string, args?: InArgs): ResultSet {
    const { sql, values } = normalize(input, args);
    try {
      const p = this.prepare(sql);
      if (p.columns) {
        const rows = (p.stmt.all(values) as unknown[][]).map((raw) =>
          toRow(raw, p.columns!, plain)
        );
        return resultSet(p.columns, rows, 0, undefined);
      }
      const info = p.stmt.run(values) as { changes: number; lastInsertRowid: number | bigint };
      return resultSet([], [], info.changes, BigInt(info.lastInsertRowid));
    } catch (e) {
      throw mapError(e);
    }
  }

  /**
   * The first row only, as a plain object by column name (the Store's RawSql.get). The binding's
   * `get()` skips the row iterator `all()` builds: about 3 µs a call instead of 14.
   */
  first(sql: string, values: unknown[]): ResultSet {
    try {
      const p = this.prepare(sql, true);
      const args = values.map(toSql);
      if (!p.columns) {
        const info = p.stmt.run(args) as { changes: number; lastInsertRowid: number | bigint };
        return resultSet([], [], info.changes, BigInt(info.lastInsertRowid));
      }
      const raw = p.stmt.get(args) as unknown[] | undefined;
      if (!raw) return resultSet(p.columns, [], 0, undefined);
      const row: Row = {};
      for (let i = 0; i < raw.length; i++) row[p.columns[i]] ??= plain(raw[i]);
      return resultSet(p.columns, [row as unknown as ResultSet["rows"][number]], 0, undefined);
    } catch (e) {
      throw mapError(e);
    }
  }

  exec(sql: string): void {
    try {
      this.db.exec(sql);
    } catch (e) {
      throw mapError(e);
    }
  }

  close(): void {
    this.cache.clear();
    this.firstCache.clear();
    if (this.db.open) this.db.close();
  }
}

function normalize(input: InStatement | string, args?: InArgs): { sql: string; values: unknown } {
  const stmt = typeof input === "string" ? { sql: input, args: args ?? [] } : input;
  const raw = "args" in stmt ? stmt.args ?? [] : [];
  if (Array.isArray(raw)) return { sql: stmt.sql, values: raw.map(toSql) };
  const named: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(raw)) {
    named[/^[@$:]/.test(name) ? name.slice(1) : name] = toSql(value);
  }
  return { sql: stmt.sql, values: named };
}

function toSql(value: unknown): unknown {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value instanceof Date) return value.valueOf();
  // The binding copies a Buffer's bytes in one go but a plain Uint8Array element by element:
  // 20 µs instead of 4 for a 4 KB message. A Buffer view over the same memory copies nothing.
  if (value instanceof Uint8Array) {
    return Buffer.isBuffer(value)
      ? value
      : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  if (value === undefined) throw new TypeError("undefined cannot be passed to the database");
  if (typeof value === "number" && !Number.isFinite(value)) {
    throw new RangeError("only finite numbers can be passed to the database");
  }
  return value;
}

/**
 * BLOBs come back as Buffers; @libsql/client hands out their ArrayBuffer. A Buffer that owns its
 * whole ArrayBuffer (each BLOB the binding returns) hands it over without a copy of the bytes;
 * only a view into a larger (pooled) buffer is copied out.
 */
function plain(value: unknown): unknown {
  if (!(value instanceof Uint8Array)) return value;
  const buffer = value.buffer as ArrayBuffer;
  return value.byteOffset === 0 && value.byteLength === buffer.byteLength
    ? buffer
    : buffer.slice(value.byteOffset, value.byteOffset + value.byteLength);
}

function mapError(e: unknown): unknown {
  if (e instanceof Database.SqliteError) {
    const err = e as Error & { code: string; rawCode?: number };
    const base = err.code.replace(/^(SQLITE_[A-Z]+).*$/, "$1");
    return new LibsqlError(err.message, base, err.code, err.rawCode, err);
  }
  return e;
}

const BEGIN: Record<TransactionMode, string> = {
  write: "BEGIN IMMEDIATE",
  read: "BEGIN TRANSACTION READONLY",
  deferred: "BEGIN DEFERRED",
};

export interface FileClientOptions {
  path: string;
  busyTimeoutMs: number;
  /**
   * One connection opened read-only (SQLite's `mode=ro`): no statement can write, and closing it
   * checkpoints nothing, so the files stay byte for byte as they were (`init`'s checks).
   */
  readOnly?: boolean;
  /** How long writes stay light before the checkpoint worker stops (default RETIRE_AFTER_MS). */
  checkpointRetireMs?: number;
  /**
   * Run the Store's groups of `batch()` jobs on a worker thread's connection (`batchGroup`,
   * sqlite_writer_worker.ts), so that their SQLite work leaves the event loop. Deno only (see
   * CHECKPOINT_THREAD), and not for `:memory:` or read-only databases.
   */
  writerThread?: boolean;
}

/** A connection with Postern's settings: WAL (unless `wal` is false), foreign keys on. */
export function openConnection(
  path: string,
  busyTimeoutMs: number,
  options: { wal?: boolean } = {},
): Connection {
  const conn = new Connection(new Database(path, { timeout: busyTimeoutMs }));
  conn.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
  if (options.wal !== false) {
    conn.exec("PRAGMA journal_mode = WAL");
    conn.exec("PRAGMA synchronous = NORMAL");
  }
  conn.exec("PRAGMA foreign_keys = ON");
  return conn;
}

/** A `file:` URI that opens `path` read-only (RFC 8089; `%`, `?` and `#` escaped). */
function readOnlyUri(path: string): string {
  return `file:${path.replace(/[%?#]/g, (c) => encodeURIComponent(c))}?mode=ro`;
}

export interface FileClient {
  client: Client;
  /**
   * Makes every commit so far durable: an fdatasync of the WAL on a worker thread. The writer
   * commits with `synchronous = NORMAL` (the WAL is written at COMMIT but not synced, so the
   * event loop is not blocked by the disk), and the Store calls this before it acknowledges a
   * write — group commit with the fsync off the event loop. SQLite still syncs the WAL itself
   * before every checkpoint. Undefined for in-memory databases.
   */
  sync?: () => Promise<void>;
  /**
   * True when another connection — another process, most often — has committed to the database
   * since the last call (always true on the first): SQLite's `PRAGMA data_version` on the writer,
   * whose own commits never change it, asked at most once per turn of the event loop. The Store
   * asks before it trusts a cached answer and reads its change counter only when this says yes.
   */
  changedElsewhere: () => boolean;
  /** Whether the checkpoint worker thread is running now (started by write load). */
  checkpointThread: () => boolean;
}

export function createFileClient(options: FileClientOptions): FileClient {
  const memory = options.path === ":memory:" || options.path.startsWith("file::memory:");
  const readOnly = options.readOnly === true && !memory;
  const open = () =>
    openConnection(readOnly ? readOnlyUri(options.path) : options.path, options.busyTimeoutMs, {
      wal: !memory && !readOnly,
    });
  const writer = open();
  const reader = memory || readOnly ? writer : open();
  if (reader !== writer) reader.exec(`PRAGMA cache_size = -${READER_CACHE_KIB}`);
  // With one connection, reads and transactions share it: no snapshot of its own there.
  const snapshot = reader === writer ? undefined : new ReadSnapshot(reader);
  /** Reads outside a transaction: this turn's snapshot (read_snapshot.ts); pragmas outside it. */
  const read = (sql: string): Connection => {
    if (PRAGMA.test(sql)) snapshot?.end();
    else snapshot?.enter();
    return reader;
  };
  /** After a write of this process: later reads see it. */
  const committed = <T>(value: T): T => {
    endReadSnapshots();
    return value;
  };
  let inTx = false;
  let closed = false;
  const checkpointer = memory || readOnly || !CHECKPOINT_THREAD
    ? undefined
    : walCheckpointer(options.path, () => !inTx, () => {
      // Under write load checkpoints move to the worker thread; SQLite's own (on this thread)
      // stays only as the safety net, at about 64 MB of WAL.
      writer.exec(`PRAGMA wal_autocheckpoint = ${SAFETY_CHECKPOINT_PAGES}`);
    }, () => {
      if (!closed) writer.exec(`PRAGMA wal_autocheckpoint = ${DEFAULT_CHECKPOINT_PAGES}`);
    }, options.checkpointRetireMs ?? RETIRE_AFTER_MS);
  /** Writes wait while a checkpoint runs, so that it copies the whole WAL and SQLite restarts it. */
  const writesAllowed = async () => {
    for (let gate = checkpointer?.running(); gate; gate = checkpointer?.running()) await gate;
  };
  const syncWal = memory || readOnly ? undefined : walSyncer(`${options.path}-wal`);
  const writerThread = options.writerThread && CHECKPOINT_THREAD && !memory && !readOnly
    ? sqliteWriterThread(options.path, options.busyTimeoutMs)
    : undefined;

  const check = () => {
    if (closed) throw new LibsqlError("The client is closed", "CLIENT_CLOSED");
  };
  const refuseNested = () => {
    if (inTx) {
      throw new LibsqlError(
        "a transaction is already open on this client (Store.write serializes them)",
        "TRANSACTION_BUSY",
      );
    }
  };
  const inTransaction = (fn: () => ResultSet[]): ResultSet[] => {
    writer.exec("BEGIN DEFERRED");
    try {
      const out = fn();
      writer.exec("COMMIT");
      return committed(out);
    } catch (e) {
      if (writer.db.inTransaction) writer.exec("ROLLBACK");
      throw e;
    }
  };

  // The binding is synchronous; async methods turn its exceptions into rejected promises.
  const client = {
    protocol: "file",
    /** The database file (backups open a snapshot connection of their own on it). */
    filePath: memory ? undefined : options.path,
    get closed() {
      return closed;
    },
    async execute(input: InStatement | string, args?: InArgs): Promise<ResultSet> {
      check();
      // Transactions run on their own Transaction object. Here, writes go to the writer (the
      // Store holds its lock, so no transaction is open there) and reads to the reader, which
      // sees the last commit and never an open transaction's writes.
      if (isReadOnly(input)) return read(sqlOf(input)).execute(input, args);
      await writesAllowed();
      return committed(writer.execute(input, args));
    },
    /** Like `execute`, answering the first row only (see Connection.first). */
    async executeFirst(stmt: { sql: string; args: unknown[] }): Promise<ResultSet> {
      check();
      if (isReadOnly(stmt.sql)) return read(stmt.sql).first(stmt.sql, stmt.args);
      await writesAllowed();
      return committed(writer.first(stmt.sql, stmt.args));
    },
    async batch(stmts: (InStatement | [string, InArgs?])[]): Promise<ResultSet[]> {
      check();
      await writesAllowed();
      return inTransaction(() =>
        stmts.map((s) => Array.isArray(s) ? writer.execute(s[0], s[1]) : writer.execute(s))
      );
    },
    /** Present with `writerThread`: jobs run in one transaction on the writer thread. */
    batchGroup: writerThread &&
      (async (jobs: GroupStatement[][]): Promise<GroupOutcome[]> => {
        check();
        await writesAllowed();
        refuseNested();
        inTx = true;
        try {
          // Under load the checkpoint thread checkpoints; SQLite's own stays the safety net.
          const pages = checkpointer?.threadRunning()
            ? SAFETY_CHECKPOINT_PAGES
            : DEFAULT_CHECKPOINT_PAGES;
          return committed(await writerThread.run(jobs, pages));
        } finally {
          inTx = false;
          checkpointer?.writerIdle();
        }
      }),
    async migrate(stmts: InStatement[]): Promise<ResultSet[]> {
      check();
      await writesAllowed();
      writer.exec("PRAGMA foreign_keys = OFF");
      try {
        return inTransaction(() => stmts.map((s) => writer.execute(s)));
      } finally {
        writer.exec("PRAGMA foreign_keys = ON");
      }
    },
    async executeMultiple(sql: string): Promise<void> {
      check();
      await writesAllowed();
      writer.exec(sql);
      endReadSnapshots();
    },
    async transaction(mode: TransactionMode = "write"): Promise<Transaction> {
      check();
      await writesAllowed();
      refuseNested();
      writer.exec(BEGIN[mode]);
      inTx = true;
      return transaction(writer, () => {
        endReadSnapshots();
        inTx = false;
        checkpointer?.writerIdle();
      });
    },
    sync: () => Promise.resolve(undefined),
    reconnect: () => Promise.resolve(),
    close() {
      if (closed) return;
      closed = true;
      snapshot?.end();
      checkpointer?.close();
      writerThread?.close();
      syncWal?.close();
      writer.close();
      if (reader !== writer) reader.close();
    },
  };
  // The writer, not the reader: this process's own commits go through the writer and so do not
  // count, and the Store invalidates for those itself, at once.
  let dataVersion: unknown;
  // The pragma costs a read transaction (about 10 µs, as much as the lookup a cache saves), so
  // one answer serves the rest of this turn of the event loop: news of another process's commit
  // (a request, a reply, a finished child) can only reach this process as an event of a later
  // turn, by which time the pragma is asked again.
  let askedThisTurn = false;
  const nextTurn = () => {
    askedThisTurn = false;
  };
  const changedElsewhere = () => {
    if (closed) return true;
    if (askedThisTurn) return false;
    askedThisTurn = true;
    setImmediate(nextTurn);
    const now = writer.first("PRAGMA data_version", []).rows[0]?.data_version;
    const changed = now !== dataVersion;
    dataVersion = now;
    return changed;
  };
  return {
    client: client as unknown as Client,
    changedElsewhere,
    checkpointThread: () => checkpointer?.threadRunning() ?? false,
    sync: syncWal && (async () => {
      await syncWal();
      checkpointer?.poke();
    }),
  };
}

/**
 * Checkpoints on a worker thread: on Deno. On Bun, a second libsql connection on a worker thread
 * crashed the native module once in testing, so Bun keeps SQLite's own checkpoints.
 */
const CHECKPOINT_THREAD = !(globalThis as { Bun?: unknown }).Bun;

/** WAL pages after which a connection checkpoints by itself (SQLite's default is 1000). */
const SAFETY_CHECKPOINT_PAGES = 16_000;
const DEFAULT_CHECKPOINT_PAGES = 1_000;

/**
 * Writes light this long after the WAL was truncated (fewer than LOAD_SYNCS_PER_SECOND synced
 * commits in all: an idle server's timers claim work every few seconds): the checkpoint worker
 * stops.
 */
const RETIRE_AFTER_MS = 10_000;

/** Synced commits within a second that make the checkpointer take over from SQLite's own. */
const LOAD_SYNCS_PER_SECOND = 50;

/**
 * The WAL restarts (writes held for the remainder of the copy) at most this often, unless it
 * has grown past RESTART_FRAMES.
 */
const RESTART_INTERVAL_MS = 2_000;

/**
 * WAL frames after which it restarts however recently it last did: at 1,000 messages a second
 * (about 10 frames each) the WAL reached SAFETY_CHECKPOINT_PAGES within the interval, and
 * SQLite's own checkpoint then stalled a COMMIT for 30–50 ms on the event loop.
 */
const RESTART_FRAMES = SAFETY_CHECKPOINT_PAGES / 2;

/** After a PASSIVE copy: empty the WAL now (holding writes), or only copy again later? */
export function walRestartDue(msSinceLastRestart: number, walFrames: number): boolean {
  return msSinceLastRestart >= RESTART_INTERVAL_MS || walFrames >= RESTART_FRAMES;
}

/** Writes stopped this long: the WAL file, kept at its size under load, is truncated. */
const QUIET_TRUNCATE_MS = 1_000;

/**
 * Before writes are held for the RESTART, PASSIVE copies run again (up to MAX_COPY_ROUNDS)
 * while more than this many WAL frames (4 KiB pages) are left, so that the held phase has little
 * to copy besides its sync.
 */
const HELD_COPY_FRAMES = 64;
const MAX_COPY_ROUNDS = 4;

/**
 * The checkpoint lease's term: renewed at every step under load (CHECKPOINT_INTERVAL_MS), so it
 * lapses only when its holder stops writing or dies, and another writer then takes over.
 */
const CHECKPOINT_LEASE_MS = 5_000;

/** Checkpoints at most this often while commits keep coming. */
const CHECKPOINT_INTERVAL_MS = 200;

/**
 * Checkpoints the WAL on a worker thread, started when writes become frequent (an idle or lightly
 * used server keeps SQLite's own checkpoints and no worker; the worker stops once writes have
 * been light for RETIRE_AFTER_MS). Then every `poke()` (a synced
 * commit) asks for one; at most one runs per CHECKPOINT_INTERVAL_MS. Its last phase runs while no
 * write transaction is open and writes wait for it (`running()`), so the WAL restarts from its
 * beginning, the way SQLite's own checkpoint on the committing connection would — which blocked
 * the event loop for about 10 ms (page copies, two fsyncs) once every 30 commits.
 *
 * Under load that held phase is a RESTART: the WAL file keeps its size and is written over.
 * Truncating it there held writes for 30–55 ms (the file system freeing tens of MB); the file is
 * truncated instead once writes have stopped for QUIET_TRUNCATE_MS.
 */
function walCheckpointer(
  path: string,
  writerIsIdle: () => boolean,
  /** Called when write load starts the worker. */
  onActivate: () => void,
  /** Called when the worker stops after writes went quiet (`retireMs`). */
  onDeactivate: () => void,
  retireMs: number,
): {
  poke(): void;
  writerIdle(): void;
  running(): Promise<void> | undefined;
  threadRunning(): boolean;
  close(): void;
} {
  let worker: Worker | undefined;
  let active = false;
  let windowStart = 0;
  let syncsInWindow = 0;
  /** Writes wait on this while the held phase runs. */
  let gate: { promise: Promise<void>; done: () => void } | undefined;
  let phase: "idle" | "passive" | "waiting" | "held" = "idle";
  /** What the held phase does: RESTART under load, TRUNCATE once writes have stopped. */
  let heldMode: "RESTART" | "TRUNCATE" = "RESTART";
  let lastPoke = 0;
  let quietTimer: ReturnType<typeof setTimeout> | undefined;
  let wanted = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let last = 0;
  const release = () => {
    const g = gate;
    gate = undefined;
    g?.done();
  };
  const holdWritesWhenIdle = () => {
    if (phase !== "waiting" || !writerIsIdle()) return; // writerIdle() calls back
    phase = "held";
    let done = () => {};
    const promise = new Promise<void>((resolve) => (done = resolve));
    gate = { promise, done };
    post(heldMode);
  };
  /** Once writes have stopped, empties the WAL file (it kept the size the load gave it). */
  const truncateWhenQuiet = () => {
    quietTimer = undefined;
    const quietFor = performance.now() - lastPoke;
    if (quietFor < QUIET_TRUNCATE_MS || phase !== "idle") {
      quietTimer = setTimeout(truncateWhenQuiet, Math.max(50, QUIET_TRUNCATE_MS - quietFor));
      return;
    }
    heldMode = "TRUNCATE";
    phase = "waiting";
    holdWritesWhenIdle();
  };
  // Of several processes on one file, the holder of the store's `wal_checkpoint` lease
  // checkpoints (the worker takes or renews it before each step) and the others defer: their
  // RESTARTs would each hold their own writes while waiting on the others' writers and readers.
  const holder = `wal-checkpoint-${crypto.randomUUID()}`;
  const post = (mode: "PASSIVE" | "RESTART" | "TRUNCATE") =>
    worker!.postMessage({ path, mode, holder, leaseMs: CHECKPOINT_LEASE_MS });
  let lastRestart = -Infinity;
  let rounds = 0;
  const onReply = (
    { data }: MessageEvent<{ ok: boolean; frames?: number; left?: number; deferred?: boolean }>,
  ) => {
    if (data.deferred) {
      // Another process holds the checkpoint lease and checkpoints the shared WAL for us all.
      phase = "idle";
      release();
      heldMode = "RESTART";
      return;
    }
    if (phase === "passive" && !walRestartDue(performance.now() - lastRestart, data.frames ?? 0)) {
      // Only copied: the WAL is emptied (and writes held) once per interval, or when large.
      phase = "idle";
      if (wanted) schedule();
      return;
    }
    if (phase === "passive") {
      // Copy again (writes going on) until what the held writes must wait for is small.
      if ((data.left ?? 0) > HELD_COPY_FRAMES && ++rounds < MAX_COPY_ROUNDS) {
        post("PASSIVE");
        return;
      }
      rounds = 0;
      phase = "waiting";
      holdWritesWhenIdle();
      return;
    }
    lastRestart = performance.now();
    phase = "idle";
    release();
    // After the quiet TRUNCATE: if writes stay light, the worker (an isolate of its own) goes.
    if (heldMode === "TRUNCATE" && !retireTimer) {
      recentPokes = 0;
      retireTimer = setTimeout(retireWhenQuiet, retireMs);
    }
    heldMode = "RESTART";
    if (wanted) schedule();
  };
  /**
   * Writes have stayed light since the WAL was truncated: the worker stops and SQLite's own
   * checkpoints take over again until write load returns (issue 20: the worker's isolate kept
   * 10–20 MB resident after every burst).
   */
  let retireTimer: ReturnType<typeof setTimeout> | undefined;
  /** Synced commits since the last look. */
  let recentPokes = 0;
  const retireWhenQuiet = () => {
    retireTimer = undefined;
    if (!worker || phase !== "idle") return;
    if (recentPokes >= LOAD_SYNCS_PER_SECOND) {
      recentPokes = 0;
      retireTimer = setTimeout(retireWhenQuiet, retireMs);
      return;
    }
    // Steps already asked for would start it again: SQLite's own checkpoints do them now.
    clearTimeout(timer);
    clearTimeout(quietTimer);
    timer = quietTimer = undefined;
    wanted = false;
    worker.terminate();
    worker = undefined;
    active = false;
    onDeactivate();
  };
  const startWorker = () => {
    const w = new Worker(new URL("./wal_checkpoint_worker.ts", import.meta.url).href, {
      type: "module",
    });
    w.onmessage = onReply;
    w.onerror = (event) => {
      // The connection's own automatic checkpoint (SAFETY_CHECKPOINT_PAGES) still bounds the WAL.
      event.preventDefault?.();
      phase = "idle";
      release();
    };
    return w;
  };
  // Two phases: PASSIVE copies the bulk of the WAL while writes go on; then, between two write
  // transactions, RESTART copies the little committed meanwhile and lets the WAL start over while
  // writes wait — a short stall instead of one as long as the whole copy.
  const run = () => {
    timer = undefined;
    if (phase !== "idle" || !wanted) return;
    wanted = false;
    last = performance.now();
    phase = "passive";
    worker ??= startWorker();
    post("PASSIVE");
  };
  const schedule = () => {
    timer ??= setTimeout(run, Math.max(0, last + CHECKPOINT_INTERVAL_MS - performance.now()));
  };
  return {
    poke() {
      lastPoke = performance.now();
      recentPokes++;
      if (!active) {
        // Light use keeps SQLite's own checkpoints and no worker (nor its memory).
        const now = performance.now();
        if (now - windowStart > 1000) {
          windowStart = now;
          syncsInWindow = 0;
        }
        if (++syncsInWindow < LOAD_SYNCS_PER_SECOND) return;
        active = true;
        onActivate();
      }
      wanted = true;
      schedule();
      // Whenever the writes stop, the WAL file goes back to empty.
      quietTimer ??= setTimeout(truncateWhenQuiet, QUIET_TRUNCATE_MS);
    },
    writerIdle() {
      if (phase === "waiting") holdWritesWhenIdle();
      else if (wanted && !timer && performance.now() - last >= CHECKPOINT_INTERVAL_MS) run();
    },
    running: () => gate?.promise,
    threadRunning: () => worker !== undefined,
    close() {
      clearTimeout(timer);
      clearTimeout(quietTimer);
      clearTimeout(retireTimer);
      retireTimer = undefined;
      timer = undefined;
      quietTimer = undefined;
      worker?.terminate();
      worker = undefined;
      phase = "idle";
      release();
    },
  };
}

/** Coalescing fdatasync of one file: callers share a sync that starts after their call. */
function walSyncer(path: string): { (): Promise<void>; close(): void } {
  let handle: FileHandle | undefined;
  let running: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  const run = async () => {
    try {
      handle ??= await open(path, "r");
      await handle.datasync();
    } catch (e) {
      // A handle to a WAL that was deleted (the last connection closed) is reopened next time.
      await handle?.close().catch(() => {});
      handle = undefined;
      throw e;
    }
  };
  const start = (): Promise<void> => {
    const p = run().finally(() => {
      if (running === p) running = undefined;
    });
    running = p;
    return p;
  };
  const sync = () => {
    if (!running) return start();
    // A sync already under way may have begun before our commit: wait for the one after it.
    next ??= running.catch(() => {}).then(() => {
      next = undefined;
      return start();
    });
    return next;
  };
  return Object.assign(sync, {
    /** Closes the WAL's handle once no sync is under way (a FileHandle must not be left to GC). */
    close() {
      void Promise.resolve(next ?? running).catch(() => {}).finally(() => {
        const h = handle;
        handle = undefined;
        h?.close().catch(() => {});
      });
    },
  });
}

function transaction(conn: Connection, done: () => void): Transaction {
  let open = true;
  const settle = () => {
    if (open) {
      open = false;
      done();
    }
  };
  const guard = () => {
    if (!open) throw new LibsqlError("The transaction is closed", "TRANSACTION_CLOSED");
  };
  /** Rolls back what is still open (SQLite may have done so itself after an error). */
  const abandon = () => {
    try {
      if (open && conn.db.inTransaction) conn.exec("ROLLBACK");
    } finally {
      settle();
    }
  };
  const run = <T>(fn: () => T): Promise<T> => {
    try {
      guard();
      return Promise.resolve(fn());
    } catch (e) {
      return Promise.reject(e);
    }
  };
  const tx = {
    execute: (input: InStatement | string, args?: InArgs) => run(() => conn.execute(input, args)),
    executeFirst: (stmt: { sql: string; args: unknown[] }) =>
      run(() => conn.first(stmt.sql, stmt.args)),
    batch: (stmts: InStatement[]) => run(() => stmts.map((s) => conn.execute(s))),
    executeMultiple: (sql: string) => run(() => conn.exec(sql)),
    commit: () =>
      run(() => {
        try {
          conn.exec("COMMIT");
        } finally {
          settle();
        }
      }),
    // deno-lint-ignore require-await
    rollback: async () => abandon(),
    close: abandon,
    get closed() {
      return !open;
    },
  };
  return tx as unknown as Transaction;
}

const READ_ONLY =
  /^\s*(select|pragma\s+\w+\s*$|explain|with\b(?![\s\S]*\b(insert|update|delete)\b))/i;

const PRAGMA = /^\s*pragma\b/i;

const sqlOf = (input: InStatement | string) => typeof input === "string" ? input : input.sql;

function isReadOnly(input: InStatement | string): boolean {
  return READ_ONLY.test(sqlOf(input));
}

/** A statement of a job `batchGroup` runs (the Store's Statement). */
export interface GroupStatement {
  sql: string;
  args?: unknown[];
  single?: boolean;
}

/** How one job of a group ended: its statements' results, or the error that rolled it back. */
export type GroupOutcome = { ok: true; results: ResultSet[] } | { ok: false; error: unknown };

const fromWireError = (e: WireError) =>
  e.code === undefined
    ? new Error(e.message)
    : new LibsqlError(e.message, e.code, e.extendedCode, e.rawCode);

/**
 * Structured cloning copies a view's whole buffer (a message's bytes are often a view into the
 * request body or a socket read): a view of part of one travels as a copy of just its bytes.
 */
const ownBytes = (v: unknown) =>
  v instanceof Uint8Array && (v.byteOffset !== 0 || v.byteLength !== v.buffer.byteLength)
    ? v.slice()
    : v;

/**
 * The writer thread (sqlite_writer_worker.ts), started by the first group: one group at a time
 * (the Store's lock sees to that), answered in order. If the thread dies, every call fails (a
 * temporary error to the caller) until the next one starts it again. After RETIRE_AFTER_MS
 * without a group it closes its connection and ends (an isolate of its own, some 10 MB resident
 * that an SMTP burst would otherwise leave behind: issue 20); the next group starts it again.
 */
function sqliteWriterThread(path: string, busyTimeoutMs: number) {
  let worker: Worker | undefined;
  let nextId = 1;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  // Stops the thread after RETIRE_AFTER_MS without a group (hosts/process/idle_retire.ts).
  const idle = idleRetire(
    RETIRE_AFTER_MS,
    () => pending.size > 0,
    () => {
      if (worker) thread.close();
    },
  );
  /**
   * Statement texts the thread knows by number: a delivery's job is some twenty statements of
   * up to a few hundred characters each, the same every time, and structured cloning copied them
   * all for every group (the event loop's share of a received message, issue 20). Each text
   * travels once per thread; a new thread starts with none.
   */
  const texts = new Map<string, number>();
  const wireSql = (sql: string): { sql?: string; text: number } => {
    const known = texts.get(sql);
    if (known !== undefined) return { text: known };
    const text = texts.size;
    texts.set(sql, text);
    return { sql, text };
  };
  const start = () => {
    texts.clear();
    const w = new Worker(new URL("./sqlite_writer_worker.ts", import.meta.url).href, {
      type: "module",
    });
    w.onmessage = (event: MessageEvent) => {
      const reply = event.data as { id: number; outcomes?: WireOutcome[]; error?: WireError };
      const call = pending.get(reply.id);
      pending.delete(reply.id);
      if (!call) return;
      if (reply.error) call.reject(fromWireError(reply.error));
      else call.resolve(reply.outcomes);
    };
    w.onerror = (event) => {
      event.preventDefault?.();
      const error = new Error(`the SQLite writer thread failed: ${event.message}`);
      for (const call of pending.values()) call.reject(error);
      pending.clear();
      w.terminate();
      if (worker === w) worker = undefined;
    };
    return w;
  };
  const call = (message: Record<string, unknown>) =>
    new Promise<unknown>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      (worker ??= start()).postMessage({ ...message, id });
    });
  const thread = {
    async run(jobs: GroupStatement[][], autocheckpoint: number): Promise<GroupOutcome[]> {
      idle.touch();
      if (!worker) worker = start();
      // Bounded like the prepared statements: the thread forgets its texts too, first.
      const forgetTexts = texts.size + jobs.reduce((n, job) => n + job.length, 0) > CACHE_LIMIT;
      if (forgetTexts) texts.clear();
      const wire = jobs.map((job) =>
        job.map((s) => ({
          ...wireSql(s.sql),
          args: (s.args ?? []).map(ownBytes),
          single: s.single,
        }))
      );
      const outcomes = await call({
        path,
        busyTimeoutMs,
        autocheckpoint,
        forgetTexts,
        jobs: wire,
      }) as WireOutcome[];
      return outcomes.map((o) =>
        o.ok
          ? {
            ok: true as const,
            results: o.results.map((r) =>
              resultSet(
                r.columns,
                r.rows.map((row) => toRow(row, r.columns)),
                r.rowsAffected,
                r.lastInsertRowid,
              )
            ),
          }
          : { ok: false as const, error: fromWireError(o.error) }
      );
    },
    close() {
      idle.cancel();
      const w = worker;
      worker = undefined;
      if (!w) return;
      // The thread closes its connection (a checkpoint, as SQLite does on close) and ends.
      const id = nextId++;
      pending.set(id, { resolve: () => w.terminate(), reject: () => w.terminate() });
      w.postMessage({ id, close: true });
    },
  };
  return thread;
}
