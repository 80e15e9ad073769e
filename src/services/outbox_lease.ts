/**
 * Lease renewal for outbox rows a worker has claimed (services/outbox_delivery.ts claims them).
 * With several bridges on one store, a lease is the only thing that keeps a second bridge off a
 * message the first is still delivering: a lapse mid-delivery means the message goes out twice.
 * So a worker renews while it works, and the lease itself can be short — what matters after a
 * crash, when nobody renews and the rows come back to the queue once it lapses.
 */
import type { Deps } from "../deps.ts";

export interface RenewInput {
  worker: string;
  ids: number[];
  leaseSeconds: number;
}

/**
 * Extends the lease of the rows among `ids` still leased to `worker` (state `sending`, lease
 * owner unchanged: not taken over after a lapse, not finished). One statement; the ids travel as
 * one JSON parameter (D1 allows 100 bound parameters).
 */
export async function renewOutboxLease(
  deps: Deps,
  input: RenewInput,
): Promise<{ leaseUntil: number; ids: number[] }> {
  const now = deps.clock.now();
  const leaseUntil = now + input.leaseSeconds * 1000;
  const [renewed] = await deps.store.batch([{
    sql: `UPDATE outbox SET lease_until = ?, updated_at = ?
       WHERE id IN (SELECT value FROM json_each(?)) AND state = 'sending' AND lease_owner = ?
       RETURNING id`,
    args: [leaseUntil, now, JSON.stringify(input.ids), input.worker],
  }]);
  return { leaseUntil, ids: renewed.rows.map((r) => Number(r.id)).sort((a, b) => a - b) };
}
