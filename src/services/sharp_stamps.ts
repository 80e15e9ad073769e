/**
 * The spent-hashcash table of SHARP/1.3 (each stamp is accepted once, for at most 24 hours),
 * kept in the database so that every bridge of one Postern shares it. A claim is one insert that
 * either spends the stamp or finds it spent, committed before the bridge answers (one round
 * trip); expired rows
 * are removed as claims go by. Nothing gives a stamp back (bridge/sharp/session.ts says why).
 */
import { sql } from "drizzle-orm";
import type { Store } from "../store/store.ts";
import { schema } from "../store/store.ts";

/** Spends `stamp` until `expiresAt`; false when it was already spent (a replay). */
export async function claimStamp(
  store: Store,
  stamp: string,
  expiresAt: number,
  now: number,
): Promise<boolean> {
  // One write job: an expired row of the stamp may be taken over; the insert either spends
  // the stamp or finds it spent (the primary key decides, whichever bridge asks), and expired
  // rows of other stamps go now and then.
  const statements = [
    { sql: "DELETE FROM sharp_stamps WHERE stamp = ? AND expires_at <= ?", args: [stamp, now] },
    {
      sql: `INSERT INTO sharp_stamps (stamp, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING
        RETURNING stamp`,
      args: [stamp, expiresAt],
    },
  ];
  if (Math.random() < 0.01) {
    statements.push({ sql: "DELETE FROM sharp_stamps WHERE expires_at <= ?", args: [now] });
  }
  const results = await store.batch(statements);
  return results[1].rows.length === 1;
}

/** Spent stamps still live (tests, metrics). */
export async function countStamps(store: Store, now: number): Promise<number> {
  const [row] = await store.db.select({ n: sql<number>`count(*)` }).from(schema.sharpStamps)
    .where(sql`${schema.sharpStamps.expiresAt} > ${now}`);
  return Number(row?.n ?? 0);
}
