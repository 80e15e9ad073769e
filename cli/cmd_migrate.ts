/**
 * `postern migrate`: applies the bundled drizzle-kit migrations (forward only), or with
 * `--dry-run` lists what would run and changes nothing (src/store/migrate.ts).
 */
import { migrate, planMigrations } from "../src/store/migrate.ts";
import { MIGRATIONS } from "../src/store/migrations/index.ts";
import { flag, type Invocation } from "./args.ts";
import { loadConfig, openConfiguredStore, paths, printJson } from "./context.ts";

export async function migrateCommand({ values }: Invocation) {
  const config = await loadConfig(values);
  const { databaseLabel } = paths(config);
  const store = await openConfiguredStore(config, { migrate: false });
  try {
    const plan = await planMigrations(store.client, MIGRATIONS);
    const json = flag(values, "json");
    if (flag(values, "dry-run")) {
      if (json) return printJson({ database: databaseLabel, ...plan });
      console.log(`database: ${databaseLabel}`);
      console.log(`applied:  ${plan.applied.length}`);
      if (plan.pending.length === 0) return console.log("pending:  none (up to date)");
      console.log(`pending:  ${plan.pending.length}`);
      for (const p of plan.pending) console.log(`  ${p.tag} (${p.statements} statements)`);
      return;
    }
    const applied = await migrate(store.client, MIGRATIONS);
    if (json) return printJson({ database: databaseLabel, applied });
    console.log(
      applied.length
        ? `applied ${applied.length} migration(s) to ${databaseLabel}: ${applied.join(", ")}`
        : `${databaseLabel} is up to date`,
    );
  } finally {
    store.close();
  }
}
