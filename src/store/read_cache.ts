/**
 * Short-lived memories of rows that every delivery or request reads and almost nothing writes
 * (the local domains, which addresses are served here, the Inbox and Junk ids, verified API
 * keys), one set per Store so that two stores never share entries.
 *
 * This process: the Store invalidates a cache when a statement writes its table, and again when
 * that statement's transaction ends (committed or rolled back). A read that began before an
 * invalidation does not store what it read (the generation check), so a value read while a write
 * was open on the same connection never outlives that write.
 *
 * Other processes sharing the database (`postern domain add` beside a running server, a second
 * `postern serve`, another node): before any entry is trusted, `current()` (the Store's
 * `checkCaches`) compares the store's change counter, which SQL triggers bump in the same
 * statement as every change to these rows (migration 0008_cache_generation), with the one seen
 * last, and empties every cache when it moved. Without that, a domain added elsewhere stayed
 * "remote" here for up to `READ_CACHE_MS` and its mail was queued for outbound delivery.
 */

export const READ_CACHE_MS = 5_000;
/** Entries per cache; negative answers for remote domains are kept too, so the size is bounded. */
const LIMIT = 10_000;

/** Settles once every cache is current with the store; undefined when it already is. */
export type CacheCheck = () => Promise<void> | undefined;

export class ReadCache<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();
  private generation = 0;

  constructor(
    private readonly current: CacheCheck = () => undefined,
    private readonly ttlMs = READ_CACHE_MS,
    private readonly now = () => Date.now(),
  ) {}

  /**
   * The cached value, or `load()`'s, remembered unless an invalidation happened meanwhile or
   * `keep` turns it down.
   */
  async get(
    key: string,
    load: () => Promise<V>,
    keep?: (value: V) => boolean,
    current: CacheCheck = this.current,
  ): Promise<V> {
    const pending = current();
    if (pending) await pending;
    const hit = this.entries.get(key);
    const now = this.now();
    if (hit && hit.until > now) return hit.value;
    const generation = this.generation;
    const value = await load();
    if (generation === this.generation && (!keep || keep(value))) {
      if (this.entries.size >= LIMIT) this.entries.clear();
      this.entries.set(key, { value, until: now + this.ttlMs });
    }
    return value;
  }

  invalidate(): void {
    this.generation++;
    this.entries.clear();
  }
}

/** An API key this process has verified; `lastUsedAt` is what it last recorded. */
export interface VerifiedApiKey<A> {
  auth: A;
  lastUsedAt: number;
}

/** The caches one Store keeps; see `readCaches()` in store.ts. */
export interface ReadCaches {
  /** Local domains by lower-cased name; `null` when the name is not a local domain. */
  domains: ReadCache<unknown>;
  /**
   * Addresses a RCPT check found served here (accounts, aliases, catch-alls; positive answers
   * only), by canonical address: every MX message asks once more.
   */
  recipients: ReadCache<boolean>;
  /** The id of an account's mailbox of a role, by "accountId role" (delivery's target). */
  mailboxes: ReadCache<number | null>;
  /**
   * Live API keys by SHA-256 of the key (positive answers only): the bridge's key is presented
   * twice per received message. Emptied when keys or accounts change.
   */
  apiKeys: ReadCache<VerifiedApiKey<unknown> | null>;
  /**
   * Used only by requests whose write job re-checks what they read (store/read_scope.ts): the
   * live sessions behind access tokens, accounts by address key, and rows whose changes the
   * change counter does not cover (suppressions, tracking settings, webhook endpoints), each
   * entry paired with the SQL that re-checks it.
   */
  scoped: ReadCache<unknown>;
  /**
   * The same reads as `scoped` (sessions, accounts by address, suppressions, tracking settings,
   * webhook endpoints) for requests without a scope on the embedded file, taken without a
   * re-check: this process empties it when it writes those tables, and the Store empties it
   * whenever `PRAGMA data_version` says another connection committed anything at all (the
   * change counter does not cover these rows), so an entry is only ever as old as this
   * process's own last write to its table. Used only there (`localCache` in store.ts).
   */
  local: ReadCache<unknown>;
}

export function newReadCaches(current?: CacheCheck): ReadCaches {
  return {
    domains: new ReadCache(current),
    recipients: new ReadCache(current),
    mailboxes: new ReadCache(current),
    apiKeys: new ReadCache(current),
    scoped: new ReadCache(current),
    local: new ReadCache(current),
  };
}

/** Forgets everything every cache of the set holds. */
export function invalidateAll(caches: ReadCaches): void {
  for (const cache of Object.values(caches)) cache.invalidate();
}
