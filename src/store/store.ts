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
 * Single write statements made outside `write()` (`store.db.insert(...)` and the like) take the
 * same in-process lock. Without it such a statement would meet this process's own open write
 * transaction, and libSQL's busy wait — synchronous — would freeze the whole event loop, the
 * open transaction included, for the full busy timeout.
 */
import type { Client } from "@libsql/client/web";
import { drizzle } from "drizzle-orm/libsql/web";
import type { LibSQLDatabase } from "drizzle-orm/libsql/driver-core";
import * as schema from "./schema.ts";

export type Db = LibSQLDatabase<typeof schema>;
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];
/** Either the database or an open transaction: read helpers accept both. */
export type Queryable = Db | Tx;

interface WriteJob {
  fn: (tx: Tx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** Most jobs one commit may carry (bounds the latency a batch adds to its first job). */
const MAX_GROUP = 64;

/** Statements that write (or take the write lock), as opposed to reads WAL lets run alongside. */
const WRITE_SQL =
  /^\s*(insert|update|delete|replace|create|drop|alter|begin|with\b[\s\S]*\b(insert|update|delete)\b)/i;
const isWrite = (stmt: unknown) =>
  WRITE_SQL.test(typeof stmt === "string" ? stmt : (stmt as { sql: string }).sql);

/** How long a lone write statement waits for this process's write lock before failing. */
const LOCK_WAIT_MS = 10_000;

export class Store {
  readonly db: Db;
  /** The client every query goes through (lone writes serialized with transactions). */
  readonly client: Client;
  private readonly queue: WriteJob[] = [];
  private draining = false;
  private lockTail: Promise<unknown> = Promise.resolve();

  constructor(private readonly raw: Client) {
    this.client = this.serialized(raw);
    this.db = drizzle(this.client, { schema });
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
      return Promise.race([this.withLock(fn), timeout]).finally(() => clearTimeout(timer));
    };
    return new Proxy(raw, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (prop === "execute") {
          return (stmt: Parameters<Client["execute"]>[0], args?: unknown) =>
            isWrite(stmt)
              ? lockedWrite(() => target.execute(stmt as never, args as never))
              : target.execute(stmt as never, args as never);
        }
        if (prop === "batch" || prop === "executeMultiple" || prop === "migrate") {
          return (...a: unknown[]) =>
            lockedWrite(() => (value as (...x: unknown[]) => Promise<unknown>).apply(target, a));
        }
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  }

  /** Runs `fn` in a write transaction (BEGIN IMMEDIATE); resolves only after the COMMIT. */
  write<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const group = this.queue.splice(0, MAX_GROUP);
        if (group.length === 1) {
          const [job] = group;
          await this.withLock(() => this.db.transaction(job.fn)).then(job.resolve, job.reject);
          continue;
        }
        const outcomes: { ok: boolean; value: unknown }[] = [];
        try {
          await this.withLock(() =>
            this.db.transaction(async (tx) => {
              for (const job of group) {
                try {
                  outcomes.push({
                    ok: true,
                    value: await tx.transaction((sp) => job.fn(sp as Tx)),
                  });
                } catch (error) {
                  outcomes.push({ ok: false, value: error });
                }
              }
            })
          );
        } catch (error) {
          for (const job of group) job.reject(error);
          continue;
        }
        group.forEach((job, i) =>
          outcomes[i].ok ? job.resolve(outcomes[i].value) : job.reject(outcomes[i].value)
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
