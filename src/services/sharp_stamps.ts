/**
 * The spent-hashcash table of SHARP/1.3 (each stamp is accepted once, for at most 24 hours),
 * kept in the database so that every bridge of one Postern shares it. A claim is one insert that
 * either spends the stamp or finds it spent, committed before the bridge answers; expired rows
 * are removed as claims go by. Nothing gives a stamp back (bridge/sharp/session.ts says why).
 */
import { and, eq, lte, sql } from "drizzle-orm";
import type { Store } from "../store/store.ts";
import { schema } from "../store/store.ts";

/** Spends `stamp` until `expiresAt`; false when it was already spent (a replay). */
export async function claimStamp(
  store: Store,
  stamp: string,
  expiresAt: number,
  now: number,
): Promise<boolean> {
  return await store.write(async (tx) => {
    // An expired row may be taken over; expired rows of other stamps go now and then.
    await tx.delete(schema.sharpStamps).where(
      and(eq(schema.sharpStamps.stamp, stamp), lte(schema.sharpStamps.expiresAt, now)),
    );
    const spent = await tx.insert(schema.sharpStamps).values({ stamp, expiresAt })
      .onConflictDoNothing().returning({ stamp: schema.sharpStamps.stamp });
    if (Math.random() < 0.01) {
      await tx.delete(schema.sharpStamps).where(lte(schema.sharpStamps.expiresAt, now));
    }
    return spent.length === 1;
  });
}

/** Spent stamps still live (tests, metrics). */
export async function countStamps(store: Store, now: number): Promise<number> {
  const [row] = await store.db.select({ n: sql<number>`count(*)` }).from(schema.sharpStamps)
    .where(sql`${schema.sharpStamps.expiresAt} > ${now}`);
  return Number(row?.n ?? 0);
}
