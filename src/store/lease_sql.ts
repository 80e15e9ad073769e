/**
 * The statement that takes or renews a named lease (src/store/leases.ts), alone in a module
 * without imports so that a worker thread with a bare SQLite connection (the WAL checkpointer,
 * hosts/process/wal_checkpoint_worker.ts) can share it. The upsert's WHERE lets the row change hands only
 * when it is the holder's already or has lapsed; RETURNING yields a row only to the winner.
 * Parameters: name, holder, expiry (ms since the epoch), now (ms).
 */
export const TAKE_LEASE_SQL = `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
  ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
  WHERE leases.holder = excluded.holder OR leases.expires_at < ?
  RETURNING holder`;
