/**
 * The store handle every service uses: drizzle over a libSQL client the entry point opened.
 * Writes that read before they write go through `write()`, which runs `BEGIN IMMEDIATE`
 * (libSQL's "write" transaction) behind an in-process queue, so writers in this process never
 * race each other for the lock and writers in other processes wait on `busy_timeout`.
 */
import type { Client } from "@libsql/client/web";
import { drizzle } from "drizzle-orm/libsql/web";
import type { LibSQLDatabase } from "drizzle-orm/libsql/driver-core";
import * as schema from "./schema.ts";

export type Db = LibSQLDatabase<typeof schema>;
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];
/** Either the database or an open transaction: read helpers accept both. */
export type Queryable = Db | Tx;

export class Store {
  readonly db: Db;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(readonly client: Client) {
    this.db = drizzle(client, { schema });
  }

  /** Runs `fn` in one write transaction (BEGIN IMMEDIATE); commits when it resolves. */
  write<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const run = this.tail.then(() => this.db.transaction(fn));
    this.tail = run.catch(() => undefined);
    return run;
  }

  close(): void {
    this.client.close();
  }
}

export { schema };
