/**
 * The store handle every service uses: drizzle over a libSQL client the entry point opened.
 * Writes that read before they write go through `write()`, which runs `BEGIN IMMEDIATE`
 * (libSQL's "write" transaction) behind an in-process queue, so writers in this process never
 * race each other for the lock and writers in other processes wait on `busy_timeout`.
 *
 * Group commit: jobs that queue up while a transaction runs are run together in the next one,
 * each inside its own SAVEPOINT (a failing job rolls back only itself), and all are answered
 * after the single COMMIT — so one fsync covers many acknowledged writes without weakening any.
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

export class Store {
  readonly db: Db;
  private readonly queue: WriteJob[] = [];
  private draining = false;

  constructor(readonly client: Client) {
    this.db = drizzle(client, { schema });
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
          await this.db.transaction(job.fn).then(job.resolve, job.reject);
          continue;
        }
        const outcomes: { ok: boolean; value: unknown }[] = [];
        try {
          await this.db.transaction(async (tx) => {
            for (const job of group) {
              try {
                outcomes.push({ ok: true, value: await tx.transaction((sp) => job.fn(sp as Tx)) });
              } catch (error) {
                outcomes.push({ ok: false, value: error });
              }
            }
          });
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
    this.client.close();
  }
}

export { schema };
