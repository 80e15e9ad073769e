import { assertEquals, assertRejects } from "../../test/fixtures/assert.ts";
import { openTestStore } from "../../test/fixtures/store.ts";
import { migrate, planMigrations } from "./migrate.ts";
import { MIGRATIONS } from "./migrations/index.ts";
import { schema } from "./store.ts";

Deno.test("migrations apply once and the plan is then empty", async () => {
  const store = await openTestStore();
  const plan = await planMigrations(store.client, MIGRATIONS);
  assertEquals(plan.pending, []);
  assertEquals(plan.applied, MIGRATIONS.map((m) => m.tag));
  assertEquals(await migrate(store.client, MIGRATIONS), []);
  store.close();
});

Deno.test("an edited migration that already ran is refused", async () => {
  const store = await openTestStore();
  const edited = MIGRATIONS.map((m, i) => i === 0 ? { ...m, statements: ["SELECT 1"] } : m);
  await assertRejects(() => planMigrations(store.client, edited), Error, "was changed");
  store.close();
});

Deno.test("a failed write transaction leaves nothing behind", async () => {
  const store = await openTestStore();
  await assertRejects(() =>
    store.write(async (tx) => {
      await tx.insert(schema.domains).values({ name: "rolled.back" });
      throw new Error("boom");
    })
  );
  const rows = await store.db.select().from(schema.domains);
  assertEquals(rows.length, 0);
  store.close();
});

Deno.test("the file store runs in WAL mode with a busy timeout", async () => {
  const dir = await Deno.makeTempDir();
  const store = await openTestStore(`file:${dir}/t.db`);
  const mode = await store.client.execute("PRAGMA journal_mode");
  assertEquals(String(mode.rows[0][0]).toLowerCase(), "wal");
  const timeout = await store.client.execute("PRAGMA busy_timeout");
  assertEquals(Number(timeout.rows[0][0]) > 0, true);
  store.close();
  await Deno.remove(dir, { recursive: true });
});
