/**
 * Background work that one process of several on one store should do at a time (issue 16 item
 * 5): leases in the store (src/store/leases.ts), the search indexer that defers to the holder
 * (src/services/search_index.ts) and the WAL checkpoint worker that does the same
 * (hosts/process/wal_checkpoint_worker.ts). Each "process" here is a store opened on its own connections
 * to one temporary database file, as a second process would open it.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { buildDeps } from "../hosts/process/deps_node.ts";
import { openStore } from "../hosts/process/open_store.ts";
import { parseConfig } from "../src/config.ts";
import type { Logger } from "../src/ports.ts";
import { silentLogger } from "../src/ports.ts";
import { createAccount, createDomain } from "../src/services/accounts.ts";
import { deliver } from "../src/services/delivery.ts";
import { startSearchIndexer } from "../src/services/search_index.ts";
import { releaseLease, takeLease } from "../src/store/leases.ts";
import { rawSql, type Store } from "../src/store/store.ts";

const ADDRESS = "carol@postern.test";

async function twoProcesses(): Promise<{ dir: string; path: string; a: Store; b: Store }> {
  const dir = await Deno.makeTempDir({ prefix: "postern-leases-" });
  const path = `${dir}/postern.db`;
  const a = await openStore(`file:${path}`);
  const b = await openStore(`file:${path}`);
  return { dir, path, a, b };
}

Deno.test("issue16#5: a lease has one holder among processes, and passes on when it lapses or is released", async () => {
  const { dir, a, b } = await twoProcesses();
  try {
    const t = 1_000_000;
    assert(await takeLease(a, "job", "A", 1000, t), "free: A takes it");
    assert(!await takeLease(b, "job", "B", 1000, t + 10), "B defers while A's lease runs");
    assert(await takeLease(a, "job", "A", 1000, t + 900), "A renews");
    assert(!await takeLease(b, "job", "B", 1000, t + 1800), "renewed: still A's");
    assert(await takeLease(b, "job", "B", 1000, t + 2000), "A stopped renewing (died): B takes it");
    assert(!await takeLease(a, "job", "A", 1000, t + 2100), "and A, back, defers to B");
    await releaseLease(b, "job", "B");
    assert(await takeLease(a, "job", "A", 1000, t + 2200), "released: A at once");
    assert(await takeLease(b, "other", "B", 1000, t + 2200), "leases are per name");
  } finally {
    a.close();
    b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** A logger that keeps the events it is given. */
function recorder(): Logger & { events: string[] } {
  const events: string[] = [];
  return { events, log: (_level, event) => void events.push(event) };
}

Deno.test("issue16#5: search indexers of several processes defer to the lease holder, and take over when its lease lapses", async () => {
  const { dir, a, b } = await twoProcesses();
  const parsed = parseConfig({});
  if (!parsed.ok) throw new Error(parsed.problems.join("; "));
  const key = "leases-test-master-key-0123456789abcdef";
  const depsA = await buildDeps(parsed.config, a, key, silentLogger);
  const depsB = await buildDeps(parsed.config, b, key, silentLogger);
  await createDomain(a, "postern.test");
  await createAccount(a, { address: ADDRESS, password: "carol-password-1" }, {
    quotaBytes: parsed.config.defaultQuotaBytes,
    nowMs: Date.now(),
  });
  // A third process holds the lease (and will die without giving it back).
  assert(await takeLease(a, "search_index", "process-c", 600_000));
  const logA = recorder(), logB = recorder();
  const indexers = [startSearchIndexer(a, logA, 10), startSearchIndexer(b, logB, 10)];
  const sql = rawSql(a.db);
  const progress = async () => {
    const row = await sql.get<{ w: number; top: number }>(
      "SELECT (SELECT indexed_through FROM search_index_state) AS w, max(id) AS top FROM messages",
    );
    return { indexed: Number(row?.w), top: Number(row?.top) };
  };
  try {
    // Both processes deliver, interleaved, while both indexers run.
    for (let i = 0; i < 40; i++) {
      const raw = new TextEncoder().encode(
        `From: zed@client.example\r\nTo: ${ADDRESS}\r\nSubject: kangaroo ${i}\r\n` +
          `Message-ID: <k${i}@client.example>\r\n\r\nhopping number ${i}\r\n`,
      );
      const [r] = await deliver(i % 2 ? depsA : depsB, {
        raw,
        mailFrom: "zed@client.example",
        recipients: [ADDRESS],
        source: "smtp",
      });
      assertEquals(r.status, "delivered");
    }
    // Many indexer turns later, nobody has indexed: the lease is another's.
    await new Promise((r) => setTimeout(r, 300));
    assertEquals((await progress()).indexed, 0, "both deferred to the holder");

    // Its holder dead, the lease lapses; one of the two takes it and indexes everything.
    await sql.run("UPDATE leases SET expires_at = 0 WHERE name = 'search_index'");
    for (let i = 0; i < 500; i++) {
      const p = await progress();
      if (p.indexed >= p.top) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const i of indexers.splice(0)) await i.close(); // their last batch logged
    const batches = [logA, logB].map((l) =>
      l.events.filter((e) => e === "search_index.batch").length
    );
    assertEquals(batches.sort(), [0, 1], "one batch, by the one new holder");
    const fts = await sql.get<{ n: number }>(
      "SELECT count(*) AS n FROM messages_fts WHERE messages_fts MATCH 'kangaroo'",
    );
    assertEquals(Number(fts?.n), 40, "each message is in the index once");
  } finally {
    for (const i of indexers) await i.close();
    a.close();
    b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** One step of a checkpoint worker thread. */
function checkpointStep(
  worker: Worker,
  message: Record<string, unknown>,
): Promise<{ ok: boolean; deferred?: boolean; error?: string }> {
  return new Promise((resolve) => {
    worker.onmessage = (event) => resolve(event.data);
    worker.postMessage(message);
  });
}

Deno.test("issue16#5: the WAL checkpoint runs in the process holding its lease; the others defer until it lapses", async () => {
  const { dir, path, a, b } = await twoProcesses();
  const url = new URL("../hosts/process/wal_checkpoint_worker.ts", import.meta.url).href;
  const workers = [new Worker(url, { type: "module" }), new Worker(url, { type: "module" })];
  try {
    await rawSql(a.db).run("CREATE TABLE filler (x)");
    await rawSql(b.db).run("INSERT INTO filler VALUES (randomblob(100000))");
    const step = (i: number, holder: string, leaseMs: number, mode = "PASSIVE") =>
      checkpointStep(workers[i], { path, mode, holder, leaseMs });
    // Leases of 2 s: a loaded machine's slow step must not outlive one by accident (300 ms did).
    const first = await step(0, "A", 2_000);
    assert(first.ok && !first.deferred, JSON.stringify(first));
    const deferred = await step(1, "B", 2_000, "RESTART");
    assertEquals(deferred.deferred, true, JSON.stringify(deferred));
    assertEquals((await step(0, "A", 2_000, "RESTART")).deferred, undefined, "A renews");
    await new Promise((r) => setTimeout(r, 2_300)); // A stops (dies): its lease lapses
    assertEquals((await step(1, "B", 2_000)).deferred, undefined, "B took over");
    assertEquals((await step(0, "A", 2_000)).deferred, true);
  } finally {
    for (const w of workers) w.terminate();
    a.close();
    b.close();
    await Deno.remove(dir, { recursive: true });
  }
});
