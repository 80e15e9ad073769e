/**
 * Optimistic reads for one request (issue 16: a job costs one round trip). On a remote engine
 * every read is a round trip, and a send used to make a dozen before its one write: the session,
 * the change counter before each cached answer, suppressions, tracking settings, webhook
 * endpoints, accounts, mailboxes. A request that opts in (`requireAuth(deps, { optimistic })`)
 * gets a `ReadScope`: a view of the store whose lookups take the read caches at their word, and
 * note, as SQL conditions, what they relied on — the change counter they were current with (it
 * covers domains, accounts, aliases, API keys and mailboxes: migration 0008), the session row,
 * the suppression rows, a fingerprint of the endpoint rows. The request's write job carries those
 * conditions as its first steps (`guardStep`), so the job commits only if every read it was built
 * on still holds when it runs, in the same round trip. When one no longer holds, nothing of the
 * job was written: the scope says `StaleReads`, the caches are emptied, and `withReads` runs the
 * request once more the ordinary way, with fresh reads (a revoked session then answers 401).
 *
 * A request that ends without a write job (a refusal, a replay) has its conditions checked by one
 * read before its answer leaves (`settle`), so a revoked session, key or account is refused at
 * once, in every process, as before. Writes a request would otherwise make on its own round trip
 * (an API key's last-used stamp) ride along in its job (`alsoWrite`).
 *
 * Off by default on the embedded file, whose `PRAGMA data_version` gate already makes the cache
 * check free and whose reads cost no round trip (`Store.optimisticReads`).
 */
import type { InValue, ResultSet } from "@libsql/client/web";
import {
  type Db,
  dbView,
  guardStep,
  isFailedGuard,
  localCache,
  type Queryable,
  rawSql,
  readCaches,
  type Statement,
  type Store,
  type Tx,
} from "./store.ts";
import { type ReadCache, type ReadCaches } from "./read_cache.ts";

/** A cached read no longer holds: nothing of the job was written; read again. */
export class StaleReads extends Error {
  constructor() {
    super("a read the request relied on changed before its write; run it again with fresh reads");
  }
}

/** An SQL condition that holds while a cached read is still true. */
export interface Guard {
  condition: string;
  args: InValue[];
}

const GENERATION_HOLDS = "(SELECT generation FROM cache_generation WHERE id = 1) = ?";

const scopes = new WeakMap<object, ReadScope>();

/** The scope a request's db view belongs to; undefined for a Store's own db or a transaction. */
export function scopeOf(q: Queryable): ReadScope | undefined {
  return scopes.get(q);
}

export class ReadScope {
  /** The store view to give the services: its `db` reads through this scope. */
  readonly store: Store;
  readonly db: Db;
  /** Conditions not yet checked by a committed job or `settle`, by what they re-check. */
  private readonly pending = new Map<string, Guard>();
  private readonly writes: Statement[] = [];
  private done = false;

  constructor(readonly base: Store) {
    const shared = base.caches;
    const view = <V>(cache: ReadCache<V>): ReadCache<V> => {
      const scoped = Object.create(cache) as ReadCache<V>;
      scoped.get = (key, load, keep) => cache.get(key, load, keep, () => this.current());
      return scoped;
    };
    const caches = Object.fromEntries(
      Object.entries(shared).map(([name, cache]) => [name, view(cache)]),
    ) as unknown as ReadCaches;
    this.db = dbView(base, caches);
    scopes.set(this.db, this);
    // deno-lint-ignore no-this-alias
    const scope = this;
    this.store = new Proxy(base, {
      get(target, prop) {
        if (prop === "db") return scope.db;
        if (prop === "batch") return (stmts: Statement[]) => scope.batch(stmts);
        if (prop === "write") return <T>(fn: (tx: Tx) => Promise<T>) => scope.write(fn);
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  }

  /** `deps` with this scope's store view in it (made once per request). */
  deps<D extends { store: Store }>(deps: D): D {
    return (this.scopedDeps ??= { ...deps, store: this.store }) as D;
  }
  private scopedDeps: unknown;

  /** True once every condition the request noted has been checked (or there were none). */
  get settled(): boolean {
    return this.done || (this.pending.size === 0 && this.writes.length === 0);
  }

  /**
   * Instead of reading the change counter before a cached answer is trusted: note that the job
   * must find it unchanged. Before the first read of it (or after this process changed a cached
   * row) it is read as usual, and noted all the same.
   */
  private current(): Promise<void> | undefined {
    const known = this.base.knownGeneration;
    if (known !== undefined) {
      this.require("generation", { condition: GENERATION_HOLDS, args: [known] });
      return undefined;
    }
    const read = this.base.checkCaches();
    const note = () => {
      const now = this.base.knownGeneration;
      if (now !== undefined) {
        this.require("generation", { condition: GENERATION_HOLDS, args: [now] });
      }
    };
    if (!read) return note(), undefined;
    return read.then(note);
  }

  /** Notes a condition the request's job must find true (once per `key`). */
  require(key: string, guard: Guard): void {
    if (this.done) this.done = false;
    if (!this.pending.has(key)) this.pending.set(key, guard);
  }

  /** A write that needs no answer, carried by the request's job instead of its own round trip. */
  alsoWrite(stmt: Statement): void {
    this.done = false;
    this.writes.push(stmt);
  }

  /** The steps that go first in the job; they count as checked once it commits. */
  private take(): { steps: Statement[]; release: () => void } {
    const guards = [...this.pending];
    const writes = this.writes.splice(0);
    this.pending.clear();
    return {
      steps: [...guards.map(([, g]) => guardStep(g.condition, g.args)), ...writes],
      // The job failed: its conditions are still to be checked, its writes still to be made.
      release: () => {
        for (const [key, g] of guards) this.pending.set(key, g);
        this.writes.unshift(...writes);
      },
    };
  }

  private async batch(stmts: Statement[]): Promise<ResultSet[]> {
    const { steps, release } = this.take();
    try {
      const results = await this.base.batch([...steps, ...stmts]);
      if (this.settled) this.done = true;
      return results.slice(steps.length);
    } catch (e) {
      if (isFailedGuard(e)) throw new StaleReads();
      release();
      throw e;
    }
  }

  private async write<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const { steps, release } = this.take();
    try {
      return await this.base.write(async (tx) => {
        for (const s of steps) await rawSql(tx).run(s.sql, s.args ?? []);
        return await fn(tx);
      });
    } catch (e) {
      if (isFailedGuard(e)) throw new StaleReads();
      release();
      throw e;
    }
  }

  /**
   * Checks what no job has checked yet: one read (or, with writes riding along, one write job).
   * Throws `StaleReads` when something the request relied on no longer holds.
   */
  async settle(): Promise<void> {
    if (this.settled) return void (this.done = true);
    if (this.writes.length > 0) return void await this.batch([]);
    const guards = [...this.pending.values()];
    this.pending.clear();
    const [row] = (await this.base.readBatch([{
      sql: `SELECT ${guards.map((g) => `(${g.condition})`).join(" AND ")} AS ok`,
      args: guards.flatMap((g) => g.args),
    }]))[0].rows;
    if (!row || !Number(row.ok)) throw new StaleReads();
    this.done = true;
  }

  /** The request gave up on this scope (it runs again without one): nothing left to check. */
  abandon(): void {
    this.pending.clear();
    this.writes.length = 0;
    this.done = true;
  }
}

/**
 * A read a scoped request caches: `load` on a miss; on a hit, `check(value)` is the condition the
 * request's job re-checks. Entries are also dropped when the change counter moves and when this
 * process writes their table. Outside a scope: on the embedded file from `ReadCaches.local` (no
 * re-check needed there), elsewhere `load()` every time.
 */
export async function remember<V>(
  q: Queryable,
  key: string,
  load: () => Promise<V>,
  check: (value: V) => Guard | undefined | null | false,
  keep?: (value: V) => boolean,
): Promise<V> {
  const scope = scopeOf(q);
  if (!scope) {
    // The embedded file: the same entries, trusted while nothing else committed (ReadCaches.local).
    const local = localCache(q);
    return local ? await local.get(key, load, keep as (v: unknown) => boolean) as V : await load();
  }
  const value = await readCaches(q).scoped.get(key, load, keep as (v: unknown) => boolean) as V;
  const guard = check(value);
  if (guard) scope.require(key, guard);
  return value;
}
