/**
 * Issue 20 (a): a write job announced to the store (`Store.expectWrite`, what a send does when it
 * starts composing) is waited for by the group about to commit on the embedded file, so that
 * concurrent sends share one commit instead of reaching the queue one at a time and paying for a
 * commit each; a writer that gives up without a job lets the group go.
 */
import { assertEquals } from "./fixtures/assert.ts";
import { openStore } from "../hosts/process/open_store.ts";
import type { Store } from "../src/store/store.ts";

async function scratchStore(): Promise<Store> {
  const dir = await Deno.makeTempDir({ prefix: "postern-gather-" });
  const store = await openStore(`file:${dir}/postern.db`);
  await store.client.executeMultiple("CREATE TABLE scratch (id INTEGER PRIMARY KEY, v TEXT);");
  return store;
}

const insert = (store: Store, v: string) =>
  store.batch([{ sql: "INSERT INTO scratch (v) VALUES (?)", args: [v] }]);

Deno.test("issue20: a job announced before the group commits joins that group's commit", async () => {
  const store = await scratchStore();
  try {
    const before = store.commits;
    const announced = store.expectWrite();
    const first = insert(store, "first");
    // The announced job arrives a few turns later (its message being composed meanwhile).
    for (let i = 0; i < 5; i++) await Promise.resolve();
    const second = insert(store, "second");
    announced();
    await Promise.all([first, second]);
    assertEquals(store.commits - before, 1, "both jobs in one commit");
    const rows = await store.client.execute("SELECT v FROM scratch ORDER BY id");
    assertEquals(rows.rows.map((r) => r.v), ["first", "second"]);
  } finally {
    store.close();
  }
});

Deno.test("issue20: a writer that gives up is no longer waited for, however often it says so", async () => {
  const store = await scratchStore();
  try {
    const gaveUp = store.expectWrite();
    const first = insert(store, "first");
    gaveUp(); // refused before it wrote anything (say, a 422): the group goes
    gaveUp(); // a second call changes nothing
    await first;
    // Counted once: the next announcement is waited for as the first test's.
    const before = store.commits;
    const announced = store.expectWrite();
    const second = insert(store, "second");
    // Later than the one turn a group waits for company anyway (BUSY_WINDOW_MS).
    await new Promise((r) => setTimeout(r, 1));
    const third = insert(store, "third");
    announced();
    await Promise.all([second, third]);
    assertEquals(store.commits - before, 1, "both jobs in one commit");
    const rows = await store.client.execute("SELECT count(*) AS n FROM scratch");
    assertEquals(Number(rows.rows[0].n), 3);
  } finally {
    store.close();
  }
});
