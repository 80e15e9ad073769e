/**
 * SHARP/1.3 state the gateway keeps for every bridge: the hashcash stamps already spent (each
 * stamp is accepted once, and a stamp is at most 24 hours old, so rows go after their expiry).
 * Shared through the database, a replay refused by one bridge is refused by all of them.
 */
import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const sharpStamps = sqliteTable("sharp_stamps", {
  stamp: text("stamp").primaryKey(),
  /** Epoch ms after which the stamp is stale anyway (its date + 24 h) and the row may go. */
  expiresAt: integer("expires_at").notNull(),
}, (t) => [index("sharp_stamps_expiry").on(t.expiresAt)]);
