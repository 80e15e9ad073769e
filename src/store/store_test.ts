import { assertEquals, assertRejects } from "../../test/fixtures/assert.ts";
import { openTestStore, storeTest, testDatabaseUrl } from "../../test/fixtures/store.ts";
import { migrate, planMigrations } from "./migrate.ts";
import { MIGRATIONS } from "./migrations/index.ts";
import { appendLater, rawSql, schema, Store } from "./store.ts";
import { tableSql } from "./table_sql.ts";
import { chunkSizes } from "./appends.ts";
import { eq } from "drizzle-orm";
import { findDomain } from "../services/accounts.ts";
import { ReadCache } from "./read_cache.ts";
import { createClient } from "@libsql/client";
import { createAccount, createDomain, findAccountByAddress } from "../services/accounts.ts";
import { servesRecipient } from "../services/delivery.ts";

storeTest("migrations apply once and the plan is then empty", async () => {
  const store = await openTestStore();
  const plan = await planMigrations(store.client, MIGRATIONS);
  assertEquals(plan.pending, []);
  assertEquals(plan.applied, MIGRATIONS.map((m) => m.tag));
  assertEquals(await migrate(store.client, MIGRATIONS), []);
  store.close();
});

storeTest("an edited migration that already ran is refused", async () => {
  const store = await openTestStore();
  const edited = MIGRATIONS.map((m, i) => i === 0 ? { ...m, statements: ["SELECT 1"] } : m);
  await assertRejects(() => planMigrations(store.client, edited), Error, "was changed");
  store.close();
});

storeTest("a failed write transaction leaves nothing behind", async () => {
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

storeTest(
  "a lone write during an open write transaction waits its turn without freezing the process",
  async () => {
    const store = await openTestStore();
    const order: string[] = [];
    let ticks = 0;
    const interval = setInterval(() => ticks++, 10);
    const holding = store.write(async (tx) => {
      await tx.insert(schema.domains).values({ name: "first.example" });
      // Hold the write transaction open across real event-loop turns.
      const seen = ticks;
      while (ticks < seen + 5) await new Promise((r) => setTimeout(r, 10));
      order.push("transaction");
    });
    await new Promise((r) => setTimeout(r, 0));
    const lone = store.db.insert(schema.domains).values({ name: "second.example" }).then(() =>
      order.push("lone write")
    );
    await Promise.all([holding, lone]);
    clearInterval(interval);
    assertEquals(order, ["transaction", "lone write"]);
    const names = (await store.db.select().from(schema.domains)).map((d) => d.name).sort();
    assertEquals(names, ["first.example", "second.example"]);
    store.close();
  },
  { d1: "Store.write() itself (group commit, SAVEPOINTs), which D1 cannot run by design" },
);

storeTest(
  "group commit: writes queued together share a commit, and a failing one undoes only itself",
  async () => {
    const store = await openTestStore();
    // Keep the store busy so that the next writes queue up and run as one group.
    const blocker = store.write(async (tx) => {
      await tx.insert(schema.domains).values({ name: "first.test" });
      await new Promise((r) => setTimeout(r, 50));
    });
    const results = await Promise.allSettled(
      ["a.test", "b.test", "fails.test", "c.test"].map((name) =>
        store.write(async (tx) => {
          await tx.insert(schema.domains).values({ name });
          if (name === "fails.test") throw new Error("this job fails");
          // A job sees its own writes and those of the jobs before it in the group.
          return (await tx.select().from(schema.domains)).map((d) => d.name).sort();
        })
      ),
    );
    await blocker;
    assertEquals(results.map((r) => r.status), ["fulfilled", "fulfilled", "rejected", "fulfilled"]);
    assertEquals(
      (results[3] as PromiseFulfilledResult<string[]>).value,
      ["a.test", "b.test", "c.test", "first.test"],
    );
    const names = (await store.db.select().from(schema.domains)).map((d) => d.name).sort();
    assertEquals(names, ["a.test", "b.test", "c.test", "first.test"]);
    store.close();
  },
  { d1: "Store.write() itself (group commit, SAVEPOINTs), which D1 cannot run by design" },
);

storeTest("the domain read cache: writes empty it, rolled-back rows never stay in it", async () => {
  const store = await openTestStore();
  assertEquals(await findDomain(store.db, "cached.example"), undefined, "a remembered miss");
  await store.db.insert(schema.domains).values({ name: "cached.example" }); // a lone write
  assertEquals((await findDomain(store.db, "Cached.Example"))?.name, "cached.example");

  // A read in the transaction sees its own row, and the cache is the store's: the rollback must
  // drop what that read remembered.
  let seenInside: string | undefined;
  await assertRejects(() =>
    store.write(async (tx) => {
      await tx.insert(schema.domains).values({ name: "ghost.example" });
      seenInside = (await findDomain(tx, "ghost.example"))?.name;
      throw new Error("roll back");
    })
  );
  assertEquals(seenInside, "ghost.example");
  assertEquals(await findDomain(store.db, "ghost.example"), undefined);

  await store.write((tx) =>
    tx.delete(schema.domains).where(eq(schema.domains.name, "cached.example"))
  );
  assertEquals(await findDomain(store.db, "cached.example"), undefined);
  store.close();
}, { d1: "the rollback of a Store.write() job, which D1 cannot run by design" });

/**
 * Two stores on one file stand for two processes: each has its own connections and caches, and
 * neither sees the other's writes but through the database. `remote` opens the second the way a
 * remote libSQL or D1 store is opened: no `PRAGMA data_version` gate, the counter read each time.
 */
async function twoStoresSeeEachOther(a: Store, b: Store): Promise<void> {
  try {
    assertEquals(await findDomain(b.db, "two.example"), undefined);
    assertEquals(await servesRecipient(b.db, "x@two.example"), false);
    await createDomain(a, "two.example");
    await createAccount(a, { address: "x@two.example", password: "x-password-1" }, {
      quotaBytes: 0,
      nowMs: Date.now(),
    });
    assertEquals((await findDomain(b.db, "two.example"))?.name, "two.example");
    assertEquals(await servesRecipient(b.db, "x@two.example"), true);

    // Deliveries' counter bumps (quota) do not move the counter: B's answers stay cached.
    const x = (await findAccountByAddress(a.db, "x@two.example"))!;
    const before = await rawSql(a.db).get<{ generation: number }>(
      "SELECT generation FROM cache_generation",
    );
    await rawSql(a.db).run("UPDATE accounts SET used_bytes = used_bytes + ? WHERE id = ?", [
      10,
      x.id,
    ]);
    assertEquals(
      await rawSql(a.db).get("SELECT generation FROM cache_generation"),
      before,
      "a quota bump is not a change of routing",
    );

    await a.batch([{ sql: "DELETE FROM accounts WHERE id = ?", args: [x.id] }]);
    assertEquals(await servesRecipient(b.db, "x@two.example"), false);
  } finally {
    a.close();
    b.close();
  }
}

for (const remote of [false, true]) {
  Deno.test(
    `issue15#18: another store's domain, account and deletion are seen at once (${
      remote ? "counter only" : "data_version gate"
    })`,
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "postern-two-stores-" });
      const url = `file:${dir}/postern.db`;
      const a = await openTestStore(url);
      const b = remote
        ? new Store(createClient({ url, timeout: 10_000 }))
        : await openTestStore(url);
      await twoStoresSeeEachOther(a, b);
    },
  );
}

storeTest(
  "issue16#3: two gateways on one database see each other's domain, account and deletion",
  async () => {
    const url = testDatabaseUrl() ?? `file:${await Deno.makeTempDir()}/postern.db`;
    await twoStoresSeeEachOther(await openTestStore(url), await openTestStore(url));
  },
);

Deno.test("ReadCache: remembers for its TTL; a load that overlaps an invalidation is not kept", async () => {
  let now = 0;
  const cache = new ReadCache<number>(undefined, 1_000, () => now);
  let loads = 0;
  const load = () => Promise.resolve(++loads);
  assertEquals(await cache.get("k", load), 1);
  assertEquals(await cache.get("k", load), 1);
  now = 1_000;
  assertEquals(await cache.get("k", load), 2, "expired");
  let release!: () => void;
  const slow = cache.get("k2", () => new Promise<number>((r) => release = () => r(10)));
  cache.invalidate();
  release();
  assertEquals(await slow, 10);
  assertEquals(await cache.get("k2", load), 3, "the overlapping load was not remembered");
});

storeTest(
  "appended rows commit with their jobs, in order, many to a statement; a failed job's are dropped",
  async () => {
    const store = await openTestStore();
    const events = tableSql(schema.events);
    const blocker = store.write(async () => {
      await new Promise((r) => setTimeout(r, 50));
    });
    // 85 rows per job (chunks of 64 + 16 + 4 + 1), with two field sets interleaved.
    const job = (tag: string, fail = false) =>
      store.write(async (tx) => {
        for (let i = 0; i < 85; i++) {
          appendLater(tx, events, {
            type: `${tag}.${i}`,
            ...(i % 10 === 0 ? { data: JSON.stringify({ i }) } : {}),
          });
        }
        if (fail) throw new Error("this job fails");
        // Not inserted yet: appended rows are written when the transaction ends.
        return (await rawSql(tx).get<{ n: number }>("SELECT count(*) AS n FROM events"))!.n;
      });
    const results = await Promise.allSettled([job("a"), job("b", true), job("c")]);
    await blocker;
    assertEquals(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
    assertEquals((results[0] as PromiseFulfilledResult<number>).value, 0);
    const rows = await rawSql(store.db).all<{ type: string; data: string }>(
      "SELECT type, data FROM events ORDER BY id",
    );
    const expected = ["a", "c"].flatMap((t) => Array.from({ length: 85 }, (_, i) => `${t}.${i}`));
    assertEquals(rows.map((r) => r.type), expected);
    assertEquals(rows[10].data, JSON.stringify({ i: 10 }));
    assertEquals(rows[11].data, "{}", "the column default where no value was given");
    store.close();
  },
  { d1: "appendLater() in Store.write() jobs (batches record theirs with recordStatements)" },
);

Deno.test("chunkSizes cuts any count into a few statement sizes", () => {
  assertEquals(chunkSizes(0), []);
  assertEquals(chunkSizes(1), [1]);
  assertEquals(chunkSizes(85), [64, 16, 4, 1]);
  assertEquals(chunkSizes(3), [3], "a local send's three timeline rows: one statement");
  assertEquals(chunkSizes(13, 7), [8, 4, 1], "no more than 100 parameters");
  assertEquals(chunkSizes(200).reduce((a, b) => a + b, 0), 200);
  // D1's 100 bound parameters (issue16#4): 7-value rows go 8 to a statement at most.
  assertEquals(chunkSizes(85, 7), [...Array(10).fill(8), 4, 1]);
  assertEquals(chunkSizes(85, 1), [64, 16, 4, 1]);
});
