/**
 * Named leases in the store (`leases`: name, holder, expiry): of several processes sharing one
 * store, the one holding a job's lease runs it and the others defer, with nothing kept in
 * process memory (DESIGN.md). A holder renews by taking the lease again before it lapses; one
 * that dies stops renewing, and another takes the lease once it has lapsed. Taking is one
 * statement (src/store/lease_sql.ts), so it is one round trip and atomic on every engine.
 */
import type { Store } from "./store.ts";
import { TAKE_LEASE_SQL } from "./lease_sql.ts";

/** Takes or renews lease `name` for `ttlMs`; false while another holder's lease runs. */
export async function takeLease(
  store: Store,
  name: string,
  holder: string,
  ttlMs: number,
  now = Date.now(),
): Promise<boolean> {
  // A write job of one statement: one round trip, no transaction held open on any engine.
  const [taken] = await store.batch([{
    sql: TAKE_LEASE_SQL,
    args: [name, holder, now + ttlMs, now],
  }]);
  return taken.rows[0]?.holder === holder;
}

/** Gives the lease up at once (a clean stop), so that another process need not wait it out. */
export async function releaseLease(store: Store, name: string, holder: string): Promise<void> {
  await store.batch([{
    sql: "DELETE FROM leases WHERE name = ? AND holder = ?",
    args: [name, holder],
  }]);
}
