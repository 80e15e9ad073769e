/**
 * Forward-only migrations. Each migration runs as one batch of statements and is recorded in
 * `postern_migrations` with a hash of its SQL, so an edited migration that already ran is
 * reported rather than silently skipped. `dryRun` lists what would run and changes nothing.
 */
import type { Client } from "@libsql/client/web";
import { toHex } from "../crypto.ts";

export interface Migration {
  tag: string;
  statements: string[];
}

export interface MigrationPlan {
  applied: string[];
  pending: { tag: string; statements: number }[];
}

export const BOOKKEEPING = `CREATE TABLE IF NOT EXISTS postern_migrations (
  tag text PRIMARY KEY NOT NULL, hash text NOT NULL, applied_at integer NOT NULL)`;

/**
 * SHA-256 of a migration's SQL, through WebCrypto: not on any hot path, and it runs where
 * hash-wasm's WebAssembly is refused (workerd, for migrations applied on D1).
 */
export async function hashOf(m: Migration): Promise<string> {
  const sql = new TextEncoder().encode(m.statements.join("\n;\n"));
  return toHex(await crypto.subtle.digest("SHA-256", sql));
}

export async function planMigrations(client: Client, all: Migration[]): Promise<MigrationPlan> {
  const exists = await client.execute(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'postern_migrations'",
  );
  const done = new Map<string, string>();
  if (exists.rows.length > 0) {
    const rows = await client.execute("SELECT tag, hash FROM postern_migrations");
    for (const row of rows.rows) done.set(String(row.tag), String(row.hash));
  }
  const plan: MigrationPlan = { applied: [], pending: [] };
  for (const m of all) {
    const recorded = done.get(m.tag);
    if (recorded === undefined) {
      plan.pending.push({ tag: m.tag, statements: m.statements.length });
    } else if (recorded !== await hashOf(m)) {
      throw new Error(`migration ${m.tag} was changed after it was applied; add a new one instead`);
    } else {
      plan.applied.push(m.tag);
    }
  }
  return plan;
}

/**
 * Applies every pending migration in order; returns the tags applied.
 *
 * Each migration is ONE batch, the same on every engine (BEGIN … COMMIT on the embedded file, a
 * Hrana batch on remote libSQL, one `D1Database.batch()` on D1, which refuses BEGIN): its row in
 * `postern_migrations` first, then its statements. The row's primary key is the guard: when
 * another process applied the migration meanwhile, the insert fails, the batch rolls back whole,
 * and the plan read again finds it applied (or edited, which is refused as ever).
 */
export async function migrate(client: Client, all: Migration[]): Promise<string[]> {
  await client.execute(BOOKKEEPING);
  const plan = await planMigrations(client, all);
  const applied: string[] = [];
  for (const pending of plan.pending) {
    const m = all.find((x) => x.tag === pending.tag)!;
    try {
      await client.batch([
        {
          sql: "INSERT INTO postern_migrations (tag, hash, applied_at) VALUES (?, ?, ?)",
          args: [m.tag, await hashOf(m), Date.now()],
        },
        ...m.statements.map((sql) => ({ sql, args: [] })),
      ], "write");
      applied.push(m.tag);
    } catch (error) {
      const again = await planMigrations(client, all);
      if (!again.applied.includes(m.tag)) throw error;
    }
  }
  return applied;
}
