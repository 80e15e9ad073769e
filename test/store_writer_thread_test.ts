/**
 * Issue 20 (SMTP ingest): `postern serve` runs the Store's write jobs on a worker thread's
 * connection (hosts/process/sqlite_client.ts `writerThread`, sqlite_writer_worker.ts), so that
 * SQLite's work leaves the event loop. The jobs must behave as on the main thread: a group is
 * one transaction with a SAVEPOINT per job, a job that fails rolls back alone and rejects with
 * the database's error, results read by column name and position, BLOBs (views of larger
 * buffers too) stored byte for byte, and interactive writes still serialized with them.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { openStore } from "../hosts/process/open_store.ts";
import { createFileClient } from "../hosts/process/sqlite_client.ts";
import { assertStep, isFailedAssertion, rawSql } from "../src/store/store.ts";

Deno.test("issue20: write jobs on the writer thread commit in groups, a failing job rolls back alone", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-writer-thread-" });
  const store = await openStore(`file:${dir}/postern.db`, { writerThread: true });
  try {
    assertEquals(
      typeof (store.client as unknown as { batchGroup?: unknown }).batchGroup,
      "function",
      "the embedded file's client runs groups on its writer thread",
    );
    await store.client.executeMultiple(
      "CREATE TABLE scratch (id INTEGER PRIMARY KEY, v TEXT NOT NULL, b BLOB);",
    );
    const backing = new Uint8Array(64 * 1024).fill(9);
    const job = (i: number) => {
      const bytes = backing.subarray(100 + 3 * i, 103 + 3 * i);
      bytes.set([i, 1, 2]);
      return store.batch([
        {
          sql: "INSERT INTO scratch (v, b) VALUES (?, ?) RETURNING id, v",
          args: [`v${i}`, bytes],
          single: true,
        },
        ...(i === 7 ? [assertStep("1 = 0")] : []),
        { sql: "SELECT count(*) AS n, max(v) AS top FROM scratch WHERE v = ?", args: [`v${i}`] },
      ]);
    };
    // Statement jobs alone: their groups run on the thread.
    const first = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => job(i)));
    for (const s of first) {
      // The thread's rows read by position too (the main thread's single-row reads do not).
      if (s.status === "fulfilled") assertEquals(s.value[0].rows[0][1], s.value[0].rows[0].v);
    }
    // An interactive write among them: serialized with the groups, never beside them.
    const later = Array.from({ length: 12 }, (_, i) => job(12 + i));
    const interactive = store.write(async (tx) => {
      await rawSql(tx).run("INSERT INTO scratch (v) VALUES ('interactive')");
    });
    const settled = [...first, ...await Promise.allSettled(later)];
    await interactive;
    settled.forEach((s, i) => {
      if (i === 7) {
        assert(s.status === "rejected" && isFailedAssertion(s.reason), String(s.status));
        return;
      }
      assert(s.status === "fulfilled", `job ${i}: ${(s as PromiseRejectedResult).reason}`);
      const [inserted, count] = s.value;
      assertEquals(inserted.rows[0].v, `v${i}`);
      assertEquals(Number(count.rows[0].n), 1, "a job sees its own rows");
      assertEquals(count.columns, ["n", "top"]);
    });
    const rows = await rawSql(store.db).all<{ v: string; b: ArrayBuffer | null }>(
      "SELECT v, b FROM scratch ORDER BY id",
    );
    assertEquals(rows.length, 24, "23 jobs and the interactive write; job 7 rolled back");
    assert(!rows.some((r) => r.v === "v7"));
    const v3 = rows.find((r) => r.v === "v3")!;
    assertEquals([...new Uint8Array(v3.b!)], [3, 1, 2], "only the view's bytes were stored");
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("issue20#1: with writerThread 'marked' only the jobs that ask (MX ingest's) run on the writer thread", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-writer-thread-" });
  const store = await openStore(`file:${dir}/postern.db`, { writerThread: "marked" });
  try {
    const client = store.client as unknown as {
      batchGroup: (jobs: unknown[][]) => Promise<unknown>;
    };
    const threaded = client.batchGroup;
    let groups = 0, jobs = 0;
    client.batchGroup = (group) => {
      groups++;
      jobs += group.length;
      return threaded(group);
    };
    await store.client.executeMultiple("CREATE TABLE scratch (id INTEGER PRIMARY KEY, v TEXT);");
    const insert = (v: string, offLoop?: boolean) =>
      store.batch([{ sql: "INSERT INTO scratch (v) VALUES (?) RETURNING id", args: [v] }], {
        offLoop,
      });
    // A send's job (not marked) stays on the event loop's connection.
    await Promise.all([insert("send-1"), insert("send-2")]);
    assertEquals(groups, 0, "unmarked jobs never reach the writer thread");
    // MX ingest's jobs go to the thread, in groups, and answer with their rows.
    const ingest = await Promise.all(Array.from({ length: 6 }, (_, i) => insert(`mx-${i}`, true)));
    assert(groups >= 1, "marked jobs ran on the writer thread");
    assertEquals(jobs, 6);
    assertEquals(new Set(ingest.map((r) => Number(r[0].rows[0].id))).size, 6);
    // A group that mixes both kinds runs on the event loop, all of it.
    const before = jobs;
    await Promise.all([insert("mx-mixed", true), insert("send-mixed")]);
    const rows = await rawSql(store.db).all<{ v: string }>("SELECT v FROM scratch ORDER BY id");
    assertEquals(rows.length, 10, "every job committed once");
    assert(jobs - before <= 1, "the unmarked job never ran on the thread");
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("issue20: statement texts reach the writer thread once, by number, also past the limit where both sides forget them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-writer-thread-" });
  const store = await openStore(`file:${dir}/postern.db`, { writerThread: true });
  try {
    await store.client.executeMultiple("CREATE TABLE scratch (id INTEGER PRIMARY KEY, v TEXT);");
    // More distinct texts than either side keeps (1,000), each used twice, with a repeated one
    // between them: a number the thread had forgotten, or mixed up, fails or inserts wrongly.
    const insert = (i: number) =>
      store.batch([
        { sql: `INSERT INTO scratch (v) VALUES (? || '-${i % 1200}')`, args: [`a${i}`] },
        { sql: "SELECT count(*) AS n FROM scratch WHERE v = ?", args: [`a${i}-${i % 1200}`] },
      ]);
    for (let round = 0; round < 2; round++) {
      for (let start = 0; start < 1200; start += 100) {
        const results = await Promise.all(
          Array.from({ length: 100 }, (_, k) => insert(start + k + round * 1200)),
        );
        for (const [, count] of results) assertEquals(Number(count.rows[0].n), 1);
      }
    }
    const wrong = await rawSql(store.db).get<{ n: number }>(
      "SELECT count(*) AS n FROM scratch WHERE v <> 'a' || (id - 1) || '-' || ((id - 1) % 1200)",
    );
    assertEquals(Number(wrong?.n), 0, "every row was written by its own statement text");
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("issue20: reads of one turn share a snapshot, and a commit of this process ends it at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-writer-thread-" });
  const file = createFileClient({ path: `${dir}/postern.db`, busyTimeoutMs: 5000 });
  const other = createFileClient({ path: `${dir}/postern.db`, busyTimeoutMs: 5000 });
  try {
    const client = file.client;
    await client.executeMultiple("CREATE TABLE scratch (id INTEGER PRIMARY KEY, v TEXT);");
    const count = async (c = client) =>
      Number((await c.execute("SELECT count(*) AS n FROM scratch")).rows[0].n);
    // No turn of the event loop passes between these: only the commits end the snapshot.
    assertEquals(await count(), 0);
    await client.execute({ sql: "INSERT INTO scratch (v) VALUES (?)", args: ["lone"] });
    assertEquals(await count(), 1, "a lone write is seen by the next read");
    await client.batch([{ sql: "INSERT INTO scratch (v) VALUES (?)", args: ["batch"] }]);
    assertEquals(await count(), 2, "a batch is seen by the next read");
    const tx = await client.transaction("write");
    await tx.execute({ sql: "INSERT INTO scratch (v) VALUES (?)", args: ["tx"] });
    assertEquals(await count(), 2, "an open transaction's row is not seen");
    await tx.commit();
    assertEquals(await count(), 3, "a committed transaction is seen by the next read");
    // Another client of this process (a second store on the file): its commit ends it too.
    await other.client.execute({ sql: "INSERT INTO scratch (v) VALUES (?)", args: ["other"] });
    assertEquals(await count(), 4, "another client's commit in this process is seen at once");
  } finally {
    file.client.close();
    other.client.close();
    await Deno.remove(dir, { recursive: true });
  }
});
