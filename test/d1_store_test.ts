/**
 * Issue 16, items 3, 4 and 6 on Cloudflare D1, in the real workerd runtime through miniflare
 * (test/fixtures/d1.ts): the store's D1 adapter (store/d1_client.ts) maps rows as libSQL does,
 * sends a `Store.batch` job as one `D1Database.batch()`, refuses interactive jobs before they
 * write, keeps within D1's limits (100 bound parameters, values under 2 MB), and the migrations
 * give the same schema on the embedded file, remote libSQL and D1.
 */
import { parsedOfRow } from "../src/crypt/sealed_rows.ts";
import { assert, assertEquals, assertRejects } from "./fixtures/assert.ts";
import {
  d1Test,
  ENGINE_NAMES,
  openTestStore,
  remoteDatabaseUrl,
  storeTest,
  testDatabaseUrl,
} from "./fixtures/store.ts";
import {
  d1Client,
  type D1Like,
  type D1StatementLike,
  openD1Store,
} from "../src/store/d1_client.ts";
import { assertStep, isFailedAssertion, rawSql, schema, type Store } from "../src/store/store.ts";
import { tableSql } from "../src/store/table_sql.ts";
import { inList } from "../src/store/in_list.ts";
import { migrate, planMigrations } from "../src/store/migrate.ts";
import { MIGRATIONS } from "../src/store/migrations/index.ts";
import {
  BLOB_CHUNK_BYTES,
  blobBytes,
  blobJob,
  blobStatements,
  blobStream,
} from "../src/services/blob_chunks.ts";
import { AppError } from "../src/errors.ts";
import { ALICE, createTestGateway } from "./fixtures/app.ts";
import { deliver } from "../src/services/delivery.ts";
import { cutUtf8, PARSED_ROW_BYTES } from "../src/services/parsed_row.ts";
import { deliverRaw } from "./fixtures/mail.ts";

/** What reached the binding: batches sent and the parameters each statement bound. */
interface Watch {
  batches: number;
  statements: number;
  boundCounts: number[];
}

/** `db`, counting what reaches it. */
function watched(db: D1Like): { db: D1Like; watch: Watch } {
  const watch: Watch = { batches: 0, statements: 0, boundCounts: [] };
  const real = new WeakMap<D1StatementLike, D1StatementLike>();
  const wrap = (statement: D1StatementLike): D1StatementLike => {
    const out: D1StatementLike = {
      bind: (...values) => {
        watch.boundCounts.push(values.length);
        return wrap(statement.bind(...values));
      },
      all: () => (watch.statements++, statement.all()),
      raw: (options) => (watch.statements++, statement.raw(options)),
    };
    real.set(out, statement);
    return out;
  };
  return {
    watch,
    db: {
      prepare: (sql) => wrap(db.prepare(sql)),
      batch: (statements) => {
        watch.batches++;
        watch.statements += statements.length;
        return db.batch(statements.map((s) => real.get(s) ?? s));
      },
    },
  };
}

const event = (type: string) => ({ sql: "INSERT INTO events (type) VALUES (?)", args: [type] });

d1Test(
  "issue16#3: D1 rows map as libSQL's: integers as numbers, blobs as bytes, columns by position and name",
  async ({ store: open }) => {
    const store = await open();
    const raw = new Uint8Array([0, 1, 2, 254, 255]);
    await store.batch(blobStatements(raw, "abc"));
    const [blob] = await store.db.select().from(schema.blobs);
    assert(blob.data instanceof Uint8Array, "a blob column comes back as bytes, without Buffer");
    assertEquals([...blob.data], [...raw]);
    assertEquals(typeof blob.size, "number");
    assertEquals(typeof blob.createdAt, "number");

    const result = await rawSql(store.db).execute(
      "SELECT 1 AS a, 2 AS a, x'00ff' AS b, NULL AS n, 1.5 AS f, 'text' AS t, 9007199254740991 AS big",
    );
    assertEquals(result.columns, ["a", "a", "b", "n", "f", "t", "big"]);
    const row = result.rows[0];
    assertEquals([row[0], row[1], row.a], [1, 2, 1], "by position, and the first of a name");
    assertEquals([...(row.b as unknown as Uint8Array)], [0, 255]);
    assertEquals([row.n, row.f, row.t, row.big], [null, 1.5, "text", Number.MAX_SAFE_INTEGER]);

    // A lone write through drizzle: booleans as 0/1, RETURNING rows, rowsAffected.
    const [domain] = await store.db.insert(schema.domains).values({ name: "d1.example" })
      .returning();
    assertEquals(domain.name, "d1.example");
    assertEquals(typeof domain.id, "number");
    const updated = await rawSql(store.db).run("UPDATE domains SET name = ? WHERE id = ?", [
      "d1b.example",
      domain.id,
    ]);
    assertEquals(updated.rowsAffected, 1);
    store.close();
  },
);

d1Test(
  "issue16#1: a Store.batch job on D1 is one D1Database.batch(): later steps see earlier ones, a failing one undoes all",
  async ({ binding }) => {
    const { db, watch } = watched(await binding());
    const store = await openD1Store(db);
    watch.batches = 0;
    const [, , counted] = await store.batch([
      event("x1"),
      event("x2"),
      { sql: "SELECT count(*) AS n FROM events WHERE type LIKE 'x%'" },
    ]);
    assertEquals(counted.rows[0].n, 2);
    assertEquals(watch.batches, 1);
    assertEquals(store.roundTrips, 1);

    await assertRejects(() =>
      store.batch([event("y1"), { sql: "INSERT INTO blobs (sha256) VALUES ('x')" }]) // NOT NULL
    );
    const error = await store.batch([event("z1"), assertStep("1 = 0")]).catch((e) => e);
    assert(isFailedAssertion(error), `an assertStep's failure is told apart on D1: ${error}`);
    const types = await rawSql(store.db).all<{ type: string }>(
      "SELECT type FROM events ORDER BY id",
    );
    assertEquals(types.map((t) => t.type), ["x1", "x2"]);
    assertEquals(watch.batches, 3);
    store.close();
  },
);

d1Test(
  "issue16#3: an interactive write() job is refused on D1, naming the job, before anything is written",
  async ({ store: open }) => {
    const store = await open();
    async function addDomainInteractively(s: Store) {
      return await s.write(async (tx) => {
        await tx.insert(schema.domains).values({ name: "half.example" });
      });
    }
    const error = await addDomainInteractively(store).catch((e) => e);
    assert(error instanceof AppError, String(error));
    assertEquals(error.status, 501);
    assert(error.message.includes("addDomainInteractively"), error.message);
    assert(error.message.includes("test/d1_store_test.ts:"), error.message);
    await assertRejects(
      () => store.db.transaction(async (tx) => void await tx.select().from(schema.domains)),
      AppError,
      "interactive transaction",
    );
    assertEquals(await store.db.select().from(schema.domains), []);
    store.close();
  },
);

d1Test(
  "issue16#4: D1 refuses a statement binding more than 100 parameters; multi-row inserts stay within it",
  async ({ binding }) => {
    const plain = await binding();
    // The limit is D1's own, not only the adapter's: workerd's D1 refuses the 101st parameter.
    const many = Array.from({ length: 101 }, (_, i) => i);
    const placeholders = many.map(() => "?").join(", ");
    await assertRejects(
      () => plain.prepare(`SELECT ${placeholders}`).bind(...many).all(),
      Error,
      "too many SQL variables",
    );

    const { db, watch } = watched(plain);
    const store = await openD1Store(db);
    await assertRejects(
      () => rawSql(store.db).execute(`SELECT ${placeholders}`, many),
      Error,
      "over D1's limit of 100",
    );
    // 300 events of six values each: 1,800 values, cut into statements of at most 100.
    watch.boundCounts.length = 0;
    const events = tableSql(schema.events);
    const rows = Array.from({ length: 300 }, (_, i) => ({
      accountId: 1,
      type: `e${i}`,
      mailboxId: 2,
      messageId: i,
      data: "{}",
      createdAt: i,
    }));
    await events.insertMany(rawSql(store.db), rows);
    assertEquals(
      (await rawSql(store.db).get<{ n: number }>("SELECT count(*) AS n FROM events"))?.n,
      300,
    );
    assert(watch.boundCounts.length > 1);
    assert(Math.max(...watch.boundCounts) <= 100, `bound: ${watch.boundCounts}`);
    // An IN-list of any length is one parameter (store/in_list.ts).
    const ids = (await store.db.select({ id: schema.events.id }).from(schema.events))
      .map((r) => r.id);
    const found = await store.db.select({ id: schema.events.id }).from(schema.events)
      .where(inList(schema.events.id, ids));
    assertEquals(found.length, 300);
    const none = await store.db.select().from(schema.events).where(inList(schema.events.id, []));
    assertEquals(none.length, 0);
    store.close();
  },
);

d1Test(
  "issue16#4: no value of 2 MB reaches D1; a message over 2 MB is stored in 1 MiB rows and read back whole",
  async ({ store: open }) => {
    const store = await open();
    const raw = new Uint8Array(BLOB_CHUNK_BYTES * 2 + 1000).map((_, i) => (i * 7) % 256);
    await store.batch(blobStatements(raw, "big"));
    const sizes = await rawSql(store.db).all<{ n: number }>(
      "SELECT length(data) AS n FROM blobs UNION ALL SELECT length(data) FROM blob_chunks",
    );
    assertEquals(sizes.map((s) => s.n).sort((a, b) => b - a), [
      BLOB_CHUNK_BYTES,
      BLOB_CHUNK_BYTES,
      1000,
    ]);
    const [row] = await store.db.select().from(schema.blobs);
    const back = await blobBytes(store.db, row);
    assertEquals(back.byteLength, raw.byteLength);
    assert(back.every((b, i) => b === raw[i]), "the same bytes");

    // Local D1 would take it; the D1 service refuses values of 2,000,000 bytes or more.
    await assertRejects(
      () =>
        store.batch([{
          sql: "INSERT INTO blobs (sha256, size, data) VALUES ('x', 1, ?)",
          args: [new Uint8Array(2_000_000)],
        }]),
      Error,
      "over D1's limit of 2000000 bytes",
    );
    await assertRejects(
      () =>
        rawSql(store.db).run("INSERT INTO events (type, data) VALUES ('big', ?)", [
          "é".repeat(1_000_000),
        ]),
      Error,
      "over D1's limit",
    );
    store.close();
  },
);

d1Test(
  "issue17#5: a large blob's chunks are staged one batch each, appear in one commit, and leave nothing when dropped",
  async ({ store: open }) => {
    const store = await open();
    const raw = new Uint8Array(BLOB_CHUNK_BYTES * 2 + 1000).map((_, i) => (i * 11) % 256);
    const staged = async () =>
      await rawSql(store.db).all("SELECT sha256 FROM blobs WHERE sha256 LIKE 'staging-%'");
    // Dropped before its job: nothing stays, not even a staging row.
    const dropped = await blobJob(store, raw, "dropped");
    await dropped.discard();
    assertEquals(await staged(), []);
    // Written twice (the second finds the blob whole and adds nothing).
    for (let i = 0; i < 2; i++) {
      const job = await blobJob(store, raw, "big");
      await store.batch(job.statements);
    }
    assertEquals(await staged(), []);
    const chunks = await rawSql(store.db).all<{ seq: number; n: number }>(
      "SELECT seq, length(data) AS n FROM blob_chunks WHERE sha256 = 'big' ORDER BY seq",
    );
    assertEquals(chunks, [{ seq: 1, n: BLOB_CHUNK_BYTES }, { seq: 2, n: 1000 }]);
    const [row] = await store.db.select().from(schema.blobs);
    const back = await blobBytes(store.db, row);
    assert(back.byteLength === raw.byteLength && back.every((b, i) => b === raw[i]));
    const streamed = new Uint8Array(await new Response(blobStream(store.db, row)).arrayBuffer());
    assert(streamed.byteLength === raw.byteLength && streamed.every((b, i) => b === raw[i]));
    store.close();
  },
);

d1Test(
  "issue16#6: migrate --dry-run on D1 lists every migration and changes nothing",
  async ({ binding }) => {
    const db = await binding();
    const client = d1Client(db);
    const plan = await planMigrations(client, MIGRATIONS);
    assertEquals(plan.applied, []);
    assertEquals(plan.pending.map((p) => p.tag), MIGRATIONS.map((m) => m.tag));
    const objects = await client.execute(
      "SELECT name FROM sqlite_master WHERE name NOT LIKE '_cf_%' AND name NOT LIKE 'sqlite_%'",
    );
    assertEquals(objects.rows.length, 0, "nothing created");
    assertEquals((await migrate(client, MIGRATIONS)).length, MIGRATIONS.length);
    assertEquals((await planMigrations(client, MIGRATIONS)).pending, []);
  },
);

/** The schema as SQLite keeps it, without the engine's own objects. */
async function schemaOf(store: Store): Promise<string[]> {
  const rows = await rawSql(store.db).all<{ type: string; name: string; tbl: string; sql: string }>(
    `SELECT type, name, tbl_name AS tbl, sql FROM sqlite_master
     WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY type, name`,
  );
  return rows.map((r) => `${r.type} ${r.name} ON ${r.tbl}: ${r.sql}`);
}

d1Test(
  "issue16#6: the same migrations give the same schema on the embedded file, remote libSQL and D1",
  async ({ store: openD1 }) => {
    const file = await openTestStore(`file:${await Deno.makeTempDir()}/postern.db`);
    const remote = await openTestStore(remoteDatabaseUrl());
    const d1 = await openD1();
    const schemas = await Promise.all([file, remote, d1].map(schemaOf));
    assert(schemas[0].length > 50, `a whole schema: ${schemas[0].length} objects`);
    assertEquals(schemas[1], schemas[0], `${ENGINE_NAMES.remote} differs`);
    assertEquals(schemas[2], schemas[0], `${ENGINE_NAMES.d1} differs`);
    const tags = await Promise.all(
      [file, remote, d1].map(async (s) =>
        (await rawSql(s.db).all<{ tag: string }>("SELECT tag FROM postern_migrations ORDER BY tag"))
          .map((r) => r.tag)
      ),
    );
    assertEquals(tags, [0, 1, 2].map(() => MIGRATIONS.map((m) => m.tag)));
    for (const s of [file, remote, d1]) s.close();
  },
);

storeTest(
  "issue16#6: two processes migrating one database at once apply each migration once",
  async () => {
    const url = testDatabaseUrl() ?? `file:${await Deno.makeTempDir()}/postern.db`;
    const [a, b] = await Promise.all([openTestStore(url), openTestStore(url)]);
    const rows = await rawSql(a.db).all<{ tag: string }>("SELECT tag FROM postern_migrations");
    assertEquals(rows.map((r) => r.tag).sort(), MIGRATIONS.map((m) => m.tag).sort());
    assertEquals((await planMigrations(b.client, MIGRATIONS)).pending, []);
    a.close();
    b.close();
  },
);

storeTest(
  "issue16#4: a message whose text is over the row budget keeps a cut body in its row, and reads back whole",
  async () => {
    const gw = await createTestGateway();
    try {
      // 1.5 million characters of two-byte UTF-8: 3 MB of text, over D1's 2 MB row limit.
      const body = "é".repeat(1_500_000);
      const raw = new TextEncoder().encode(
        `From: a@remote.example\r\nTo: ${ALICE.address}\r\nSubject: long\r\n` +
          `Message-ID: <long@remote.example>\r\nContent-Type: text/plain; charset=utf-8\r\n` +
          `Content-Transfer-Encoding: 8bit\r\n\r\n${body}\r\n`,
      );
      const [result] = await deliver(gw.deps, {
        raw,
        mailFrom: "a@remote.example",
        recipients: [ALICE.address],
        source: "smtp",
      });
      assertEquals(result.status, "delivered");
      const row = await rawSql(gw.deps.store.db).get<{ n: number; parsed: string; a: number }>(
        "SELECT length(CAST(parsed AS BLOB)) AS n, parsed, account_id AS a FROM messages WHERE id = ?",
        [result.messageId!],
      );
      assert(row!.n <= PARSED_ROW_BYTES, `the row keeps ${row!.n} bytes`);
      const form = await parsedOfRow(gw.deps.store.db, Number(row!.a), row!.parsed);
      assertEquals(form.bodyTruncated, true); // in the sealed part (crypt/sealed_rows.ts)
      const token = await gw.login(ALICE);
      const res = await gw.call("GET", `/v1/messages/${result.messageId}`, { token });
      const message = await res.json();
      assertEquals(res.status, 200);
      assertEquals(message.text.trimEnd().length, body.length, "the whole text, from the raw");
    } finally {
      gw.close();
    }
  },
);

storeTest(
  "issue16#4: a message whose header list alone is over the row budget keeps a cut list, and reads back whole",
  async () => {
    const gw = await createTestGateway();
    try {
      // 200,000 control characters in one field: 200 KB on the wire, 1.2 MB as JSON (\u0001).
      const noise = "\x01".repeat(200_000);
      const raw = new TextEncoder().encode(
        `From: a@remote.example\r\nTo: ${ALICE.address}\r\nSubject: many\r\n` +
          `Message-ID: <many@remote.example>\r\nX-Noise: ${noise}\r\n\r\nbody\r\n`,
      );
      const id = await deliverRaw(gw, raw);
      const row = await rawSql(gw.deps.store.db).get<{ n: number; parsed: string; a: number }>(
        "SELECT length(CAST(parsed AS BLOB)) AS n, parsed, account_id AS a FROM messages WHERE id = ?",
        [id],
      );
      assert(row!.n <= PARSED_ROW_BYTES, `the row keeps ${row!.n} bytes`);
      const form = await parsedOfRow(gw.deps.store.db, Number(row!.a), row!.parsed);
      assertEquals(form.listsTruncated, true); // in the sealed part (crypt/sealed_rows.ts)
      const token = await gw.login(ALICE);
      const res = await gw.call("GET", `/v1/messages/${id}`, { token });
      const message = await res.json();
      assertEquals(res.status, 200);
      const field = message.headers.find((h: { name: string }) => h.name === "X-Noise");
      assertEquals(field?.value, noise, "every header field whole, from the raw");
      assertEquals(message.text.trim(), "body");
    } finally {
      gw.close();
    }
  },
);

Deno.test("issue16#4: cutUtf8 cuts at a whole character within the byte budget", () => {
  assertEquals(cutUtf8("abc", 2), "ab");
  assertEquals(cutUtf8("éé", 3), "é", "never half of a two-byte character");
  assertEquals(cutUtf8("a😀b", 4), "a", "nor of a surrogate pair");
  assertEquals(cutUtf8("short", 100), "short");
});
