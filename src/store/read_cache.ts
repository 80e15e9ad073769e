/**
 * Short-lived memories of rows that every delivery reads and almost nothing writes (the local
 * domains, which addresses are served here, the Inbox and Junk ids), one set per Store so that
 * two stores in one process never share entries.
 *
 * The Store invalidates a cache when a statement writes its table, and again when that
 * statement's transaction ends (committed or rolled back), so this process sees a change at once.
 * A read that began before an invalidation does not store what it read (the generation check),
 * so a value read while a write was open on the same connection never outlives that write.
 * Other processes sharing the database (`postern domain add` beside a running server) see a
 * change within `READ_CACHE_MS`.
 */

export const READ_CACHE_MS = 5_000;
/** Entries per cache; negative answers for remote domains are kept too, so the size is bounded. */
const LIMIT = 10_000;

export class ReadCache<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();
  private generation = 0;

  constructor(private readonly ttlMs = READ_CACHE_MS, private readonly now = () => Date.now()) {}

  /**
   * The cached value, or `load()`'s, remembered unless an invalidation happened meanwhile or
   * `keep` turns it down.
   */
  async get(key: string, load: () => Promise<V>, keep?: (value: V) => boolean): Promise<V> {
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
}

export function newReadCaches(): ReadCaches {
  return { domains: new ReadCache(), recipients: new ReadCache(), mailboxes: new ReadCache() };
}

/** Forgets everything every cache of the set holds. */
export function invalidateAll(caches: ReadCaches): void {
  for (const cache of Object.values(caches)) cache.invalidate();
}
