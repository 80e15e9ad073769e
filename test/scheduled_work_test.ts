/**
 * One bounded pass of the background work (src/services/scheduled.ts), as `Deno.cron` and a
 * Worker's `scheduled()` run it: webhooks go out, the full-text index catches up, expired
 * Idempotency-Keys go; a step that fails is logged and the others still run; a spent budget
 * starts nothing; two passes at once deliver each webhook once.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, BOB, createTestGateway, TEST_MASTER_KEY } from "./fixtures/app.ts";
import { Vault } from "../src/crypt/vault.ts";
import { runScheduledWork } from "../src/services/scheduled.ts";
import { rawSql, Store } from "../src/store/store.ts";
import { migrate } from "../src/store/migrate.ts";
import { MIGRATIONS } from "../src/store/migrations/index.ts";
import { createClient } from "@libsql/client";
import type { LogLevel } from "../src/ports.ts";

function receiver() {
  const ids: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.text();
    ids.push(req.headers.get("webhook-id") ?? "");
    return new Response("ok");
  });
  return { ids, url: `http://127.0.0.1:${server.addr.port}/hook`, server };
}

Deno.test("issue17#3: one scheduled pass delivers webhooks, indexes new mail and survives a failing step", async () => {
  const gw = await createTestGateway({ webhookAllowPrivate: true });
  const rx = receiver();
  const logged: { level: LogLevel; event: string; fields?: Record<string, unknown> }[] = [];
  gw.deps.logger = { log: (level, event, fields) => void logged.push({ level, event, fields }) };
  try {
    const token = await gw.login(ALICE);
    const hook = await gw.call("POST", "/v1/webhooks", { token, body: { url: rx.url } });
    assertEquals(hook.status, 201, await hook.clone().text());
    const sent = await gw.call("POST", "/v1/emails", {
      token,
      body: { from: ALICE.address, to: [BOB.address], subject: "nightly", text: "quokka" },
    });
    assertEquals(sent.status, 201);

    // Nothing runs with no budget left.
    const idle = await runScheduledWork(gw.deps, { budgetMs: -1 });
    assertEquals([idle.webhooks, idle.indexed, rx.ids.length], [0, 0, 0]);

    // A step that throws (the change log's table is gone) leaves the others to run.
    await rawSql(gw.deps.store.db).run("ALTER TABLE jmap_changes RENAME TO jmap_changes_away");
    const [a, b] = await Promise.all([
      runScheduledWork(gw.deps, { worker: "a" }),
      runScheduledWork(gw.deps, { worker: "b" }),
    ]);
    await rawSql(gw.deps.store.db).run("ALTER TABLE jmap_changes_away RENAME TO jmap_changes");
    assert(a.webhooks + b.webhooks >= 1, JSON.stringify([a, b]));
    assertEquals(new Set(rx.ids).size, rx.ids.length, "each delivery once, two passes at once");
    assert(rx.ids.length >= 1, "the webhook endpoint was called");
    assert(a.indexed + b.indexed >= 1, "the full-text index caught up");
    // Bodies are sealed at rest: the index holds keyed hashes of their words, not the words
    // (crypt/search_tokens.ts), so the word is found through search, which hashes it the same way.
    const found = await gw.call("GET", "/v1/search?q=quokka", { token });
    assertEquals(found.status, 200);
    assert((await found.json()).items.length >= 1, "search finds the newly indexed word");
    const clear = await rawSql(gw.deps.store.db).get<{ n: number }>(
      "SELECT count(*) AS n FROM messages_fts WHERE messages_fts MATCH 'quokka'",
    );
    assertEquals(Number(clear?.n), 0, "the body's words are not indexed in clear");
    assert([...a.failed, ...b.failed].includes("jmap_retention"), JSON.stringify([a, b]));
    assert(logged.some((l) => l.event === "scheduled.step_failed" && l.level === "error"));
    assert(logged.some((l) => l.event === "scheduled.pass"));
  } finally {
    await rx.server.shutdown();
    gw.close();
  }
});

Deno.test("issue17#3: the whole pass runs on a store that takes batches only, as D1's does", async () => {
  const gw = await createTestGateway({ webhookAllowPrivate: true });
  const dir = await Deno.makeTempDir({ prefix: "postern-scheduled-" });
  const client = createClient({ url: `file:${dir}/d1-like.db` });
  const rx = receiver();
  try {
    await migrate(client, MIGRATIONS);
    // The store D1's adapter builds (src/store/d1_client.ts): no interactive write job runs.
    const store = new Store(client, { batchMode: "client", interactiveWrites: false });
    // As the Worker's host does (hosts/worker/gateway.ts): the key vault that opens sealed rows,
    // under the same master key as the gateway that wrote them.
    store.useVault(new Vault(store, TEST_MASTER_KEY, true));
    const other = await createTestGateway({ webhookAllowPrivate: true }, `file:${dir}/d1-like.db`);
    try {
      const token = await other.login(ALICE);
      await other.call("POST", "/v1/webhooks", { token, body: { url: rx.url } });
      await other.call("POST", "/v1/emails", {
        token,
        body: { from: ALICE.address, to: [BOB.address], subject: "d1", text: "wombat" },
      });
    } finally {
      other.close();
    }
    const report = await runScheduledWork({ ...gw.deps, store });
    assertEquals(report.failed, []);
    assert(report.webhooks >= 1 && report.indexed >= 1, JSON.stringify(report));
    assert(rx.ids.length >= 1);
  } finally {
    await rx.server.shutdown();
    client.close();
    gw.close();
    await Deno.remove(dir, { recursive: true });
  }
});
