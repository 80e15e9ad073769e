/**
 * The Hrana test peer (test/fixtures/hrana_server.ts) speaks the protocol as libsql's
 * HRANA_3_SPEC.md says: raw pipeline requests for what @libsql/client does not exercise (step
 * conditions, stored SQL, describe, batons), and @libsql/client itself for transactions.
 */
import { assert, assertEquals, assertRejects } from "./fixtures/assert.ts";
import { startHranaServer } from "./fixtures/hrana_server.ts";
import { createClient } from "@libsql/client";

const TOKEN = "peer-token";

async function withServer(fn: (url: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "postern-hrana-" });
  const server = startHranaServer({ db: `${dir}/h.db`, authToken: TOKEN });
  try {
    await fn(server.url);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function pipeline(url: string, body: unknown, token = TOKEN) {
  const res = await fetch(`${url}/v3/pipeline`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => undefined) };
}

const stmt = (sql: string, args: unknown[] = []) => ({ sql, args, want_rows: true });

Deno.test("issue16#3: Hrana peer: batch steps run by their conditions (ok, error, not, and, or, is_autocommit)", async () => {
  await withServer(async (url) => {
    const steps = [
      { stmt: stmt("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT UNIQUE)") }, // 0 ok
      { stmt: stmt("INSERT INTO t (b) VALUES ('x')") }, // 1 ok
      { stmt: stmt("INSERT INTO t (b) VALUES ('x')") }, // 2 fails (unique)
      { condition: { type: "ok", step: 2 }, stmt: stmt("INSERT INTO t (b) VALUES ('ok2')") }, // 3 skipped
      { condition: { type: "error", step: 2 }, stmt: stmt("INSERT INTO t (b) VALUES ('err2')") }, // 4
      { condition: { type: "not", cond: { type: "ok", step: 1 } }, stmt: stmt("SELECT 1") }, // 5 skipped
      {
        condition: { type: "and", conds: [{ type: "ok", step: 1 }, { type: "error", step: 2 }] },
        stmt: stmt("SELECT 'and'"),
      }, // 6
      {
        condition: { type: "or", conds: [{ type: "ok", step: 3 }, { type: "ok", step: 5 }] },
        stmt: stmt("SELECT 'or'"),
      }, // 7 skipped
      { condition: { type: "is_autocommit" }, stmt: stmt("SELECT count(*) FROM t") }, // 8
    ];
    const { status, body } = await pipeline(url, {
      baton: null,
      requests: [{ type: "batch", batch: { steps } }, { type: "close" }],
    });
    assertEquals(status, 200);
    const result = body.results[0].response.result;
    const ran = result.step_results.map((r: unknown) => r !== null);
    assertEquals(ran, [true, true, false, false, true, false, true, false, true]);
    assertEquals(result.step_errors[2].code, "SQLITE_CONSTRAINT_UNIQUE");
    assertEquals(result.step_results[1].last_insert_rowid, "1");
    assertEquals(result.step_results[8].rows, [[{ type: "integer", value: "2" }]]);
    assertEquals(body.baton, null, "closed");
  });
});

Deno.test("issue16#3: Hrana peer: batons carry a stream across requests; a used or unknown baton is refused; the token is required", async () => {
  await withServer(async (url) => {
    const first = await pipeline(url, {
      baton: null,
      requests: [
        { type: "store_sql", sql_id: 1, sql: "SELECT ? + 1 AS n" },
        { type: "execute", stmt: { sql_id: 1, args: [{ type: "integer", value: "41" }] } },
        { type: "sequence", sql: "CREATE TABLE s (x); BEGIN; INSERT INTO s VALUES (1);" },
        { type: "get_autocommit" },
        { type: "describe", sql: "SELECT x FROM s WHERE x = :v AND x > ?" },
      ],
    });
    assertEquals(first.status, 200);
    const r = first.body.results.map((x: { response: unknown }) => x.response);
    assertEquals(r[1].result.rows, [[{ type: "integer", value: "42" }]]);
    assertEquals(r[1].result.cols[0].name, "n");
    assertEquals(r[3].is_autocommit, false, "inside the BEGIN the sequence opened");
    assertEquals(r[4].result.params, [{ name: ":v" }, { name: null }]);
    assertEquals(r[4].result.is_readonly, true);
    const baton = first.body.baton as string;
    assert(baton);

    // Another stream sees nothing of the open transaction.
    const other = await pipeline(url, {
      baton: null,
      requests: [{ type: "execute", stmt: stmt("SELECT count(*) FROM s") }, { type: "close" }],
    });
    assertEquals(other.body.results[0].response.result.rows, [[{ type: "integer", value: "0" }]]);

    const second = await pipeline(url, {
      baton,
      requests: [{ type: "close_sql", sql_id: 1 }, { type: "execute", stmt: stmt("COMMIT") }],
    });
    assertEquals(second.status, 200);
    assert(second.body.baton && second.body.baton !== baton, "a new baton every request");
    assertEquals((await pipeline(url, { baton, requests: [] })).status, 400, "a used baton");
    const gone = await pipeline(url, {
      baton: second.body.baton,
      requests: [{ type: "execute", stmt: { sql_id: 1, args: [] } }],
    });
    assertEquals(gone.status, 400, "closed SQL ids are forgotten");
    assertEquals((await pipeline(url, { baton: null, requests: [] }, "wrong")).status, 401);
  });
});

Deno.test("issue16#3: Hrana peer: @libsql/client's interactive transactions and batches, unmodified", async () => {
  await withServer(async (url) => {
    await assertRejects(() => createClient({ url }).execute("SELECT 1"), Error, "401");
    const client = createClient({ url, authToken: TOKEN });
    await client.batch(["CREATE TABLE m (id INTEGER PRIMARY KEY, body BLOB, n REAL)"], "write");
    const tx = await client.transaction("write");
    await tx.execute({
      sql: "INSERT INTO m (body, n) VALUES (?, ?)",
      args: [new Uint8Array([1, 2]), 1.5],
    });
    const inside = await tx.execute("SELECT count(*) AS c FROM m");
    assertEquals(inside.rows[0].c, 1);
    await tx.rollback();
    assertEquals((await client.execute("SELECT count(*) AS c FROM m")).rows[0].c, 0);
    const [ins] = await client.batch([
      {
        sql: "INSERT INTO m (body, n) VALUES (?, ?) RETURNING id",
        args: [new Uint8Array([7]), 2.5],
      },
    ], "write");
    assertEquals(ins.rows[0].id, 1);
    assertEquals(ins.rowsAffected, 1);
    const row = (await client.execute("SELECT body, n FROM m")).rows[0];
    assertEquals(new Uint8Array(row.body as ArrayBuffer), new Uint8Array([7]));
    assertEquals(row.n, 2.5);
    await assertRejects(
      () => client.batch(["INSERT INTO m (id) VALUES (1)"], "write"),
      Error,
      "UNIQUE",
    );
    client.close();
  });
});

Deno.test("issue16#3: Hrana peer over a WebSocket (ws://, hrana2): transactions, batches and a refused token", async () => {
  await withServer(async (url) => {
    const wsUrl = url.replace(/^http/, "ws");
    const bad = createClient({ url: wsUrl, authToken: "wrong" });
    await assertRejects(() => bad.execute("SELECT 1"));
    bad.close();
    const client = createClient({ url: wsUrl, authToken: TOKEN });
    await client.batch(["CREATE TABLE w (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"], "write");
    const tx = await client.transaction("write");
    await tx.execute({ sql: "INSERT INTO w (v) VALUES (?)", args: ["in tx"] });
    // Another stream on the same socket does not see it before the commit.
    assertEquals((await client.execute("SELECT count(*) AS c FROM w")).rows[0].c, 0);
    await tx.commit();
    assertEquals((await client.execute("SELECT v FROM w")).rows[0].v, "in tx");
    await assertRejects(
      () => client.batch([{ sql: "INSERT INTO w (v) VALUES (?)", args: ["in tx"] }], "write"),
      Error,
      "UNIQUE",
    );
    client.close();
  });
});
