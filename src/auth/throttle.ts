/**
 * Login throttling, kept in the store so every gateway process shares it: failures are counted
 * per account and per client IP within a window; past the limit the key is locked until the
 * window ends. A success clears the account's counter (not the IP's).
 */
import { eq, sql } from "drizzle-orm";
import { AppError } from "../errors.ts";
import type { Store } from "../store/store.ts";
import { schema } from "../store/store.ts";

export interface ThrottleLimits {
  perAccount: number;
  perIp: number;
  windowMs: number;
}

export const accountKey = (address: string) => `account:${address.toLowerCase()}`;
export const ipKey = (ip: string) => `ip:${ip}`;

/** Throws 429 when any of the keys is locked. */
export async function assertNotLocked(store: Store, keys: string[], now: number): Promise<void> {
  for (const key of keys) {
    const [row] = await store.db.select().from(schema.loginFailures).where(
      eq(schema.loginFailures.key, key),
    );
    if (row && row.lockedUntil > now) {
      const retry = Math.ceil((row.lockedUntil - now) / 1000);
      throw new AppError(
        429,
        "too_many_requests",
        "too many failed sign-ins; try again later",
        undefined,
        {
          "Retry-After": String(retry),
        },
      );
    }
  }
}

export async function recordFailure(
  store: Store,
  key: string,
  limit: number,
  windowMs: number,
  now: number,
): Promise<void> {
  await store.write(async (tx) => {
    const [row] = await tx.select().from(schema.loginFailures).where(
      eq(schema.loginFailures.key, key),
    );
    if (!row || now - row.windowStart > windowMs) {
      await tx.insert(schema.loginFailures).values({
        key,
        count: 1,
        windowStart: now,
        lockedUntil: 0,
      })
        .onConflictDoUpdate({
          target: schema.loginFailures.key,
          set: { count: 1, windowStart: now, lockedUntil: 0 },
        });
      return;
    }
    const count = row.count + 1;
    await tx.update(schema.loginFailures).set({
      count,
      lockedUntil: count >= limit ? now + windowMs : row.lockedUntil,
    }).where(eq(schema.loginFailures.key, key));
  });
}

export async function clearFailures(store: Store, key: string): Promise<void> {
  await store.db.delete(schema.loginFailures).where(eq(schema.loginFailures.key, key));
}

/** Drops counters whose window has long passed. */
export async function pruneFailures(store: Store, now: number, windowMs: number): Promise<void> {
  await store.db.delete(schema.loginFailures).where(
    sql`${schema.loginFailures.windowStart} < ${
      now - 2 * windowMs
    } AND ${schema.loginFailures.lockedUntil} < ${now}`,
  );
}
