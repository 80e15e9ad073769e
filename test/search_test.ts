import { assert, assertEquals, assertMatch } from "./fixtures/assert.ts";
import { BOB } from "./fixtures/app.ts";
import { mailWorld, seedMessage } from "./fixtures/mail.ts";
import { buildMatch, ftsTerms, searchQuery } from "../src/services/search.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const DAY = 86_400_000;
const T0 = Date.UTC(2024, 2, 1);

type World = Awaited<ReturnType<typeof mailWorld>>;

async function seedCorpus(w: World) {
  const invoice = await seedMessage(w.gw, {
    subject: "Invoice 2024-03 for ACME",
    from: "billing@acme.example",
    fromName: "ACME Billing",
    text: "Please find the invoice attached. Total: 42 EUR.",
    attachments: [{ filename: "invoice.pdf", contentType: "application/pdf", content: "%PDF-1" }],
    internalDate: T0,
  });
  const lunch = await seedMessage(w.gw, {
    subject: "Lunch on Friday?",
    from: "dave@example.net",
    fromName: "Dave",
    text: "Shall we try the new ramen place near the station?",
    internalDate: T0 + 2 * DAY,
  });
  const notes = await seedMessage(w.gw, {
    subject: "Meeting notes",
    from: "erin@example.net",
    text: "We agreed on the ramen budget and the invoice workflow. Café crème for everyone.",
    internalDate: T0 + 5 * DAY,
  });
  // Bob's mail, full of the same words: never in Alice's results.
  await seedMessage(w.gw, {
    to: [BOB.address],
    subject: "Invoice for Bob",
    from: "billing@acme.example",
    text: "ramen invoice secret for bob",
    attachments: [{ filename: "bob.pdf", content: "%PDF-2" }],
    internalDate: T0 + DAY,
  });
  return { invoice: invoice.id, lunch: lunch.id, notes: notes.id };
}

const ids = (page: Json) => page.items.map((m: Json) => m.id);

Deno.test("search: by words, subject, from, to; newest first; prefix and diacritics", async () => {
  await using w = await mailWorld();
  const c = await seedCorpus(w);
  const q = (query: string) => w.json("GET", `/v1/search?${query}`, { token: w.alice });

  assertEquals(ids(await q("q=ramen")), [c.notes, c.lunch]);
  assertEquals(ids(await q("q=invoice")), [c.notes, c.invoice]);
  assertEquals(ids(await q("q=ramen+invoice")), [c.notes]);
  assertEquals(ids(await q("subject=invoice")), [c.invoice]);
  assertEquals(ids(await q("from=acme")), [c.invoice]);
  assertEquals(ids(await q("from=billing%40acme.example")), [c.invoice]);
  assertEquals(ids(await q("from=Dave&q=station")), [c.lunch]);
  assertEquals(ids(await q("to=alice%40postern.test")).length, 3);
  // A prefix finds subjects and addresses; body words, sealed at rest (the default), are indexed
  // as keyed hashes and match whole (crypt/search_tokens.ts).
  assertEquals(ids(await q("q=invo*")), [c.invoice]);
  assertEquals(ids(await q("q=ram*")), []);
  assertEquals(ids(await q("q=cafe+creme")), [c.notes]);
  assertEquals(ids(await q("q=INVOICE&subject=meeting")), [c.notes]);
  assertEquals(ids(await q("q=nothing-like-this")), []);

  const first = (await q("q=ramen")).items[0];
  assertEquals(first.subject, "Meeting notes");
  assertEquals(first.from.address, "erin@example.net");
});

Deno.test("search: date range, attachments, mailbox and pagination", async () => {
  await using w = await mailWorld();
  const c = await seedCorpus(w);
  const q = (query: string) => w.json("GET", `/v1/search?${query}`, { token: w.alice });

  assertEquals(ids(await q("q=invoice&after=2024-03-02")), [c.notes]);
  assertEquals(ids(await q("q=invoice&before=2024-03-02")), [c.invoice]);
  assertEquals(ids(await q("after=2024-03-02&before=2024-03-04")), [c.lunch]);
  assertEquals(
    ids(await q(`before=${encodeURIComponent(new Date(T0 + 2 * DAY).toISOString())}`)),
    [c.invoice],
  );
  assertEquals(ids(await q("hasAttachment=true")), [c.invoice]);
  assertEquals(ids(await q("hasAttachment=false&q=ramen")), [c.notes, c.lunch]);

  const list = await w.json("GET", "/v1/mailboxes", { token: w.alice });
  const archive = list.items.find((m: Json) => m.role === "archive").id;
  await w.json("POST", `/v1/messages/${c.lunch}/move`, {
    token: w.alice,
    body: { mailboxId: archive },
  });
  assertEquals(ids(await q(`mailboxId=${archive}&q=ramen`)), [c.lunch]);
  assertEquals(ids(await q(`mailboxId=${archive}`)), [c.lunch]);

  // Pages, with words (id order) and without (date order), each message once.
  for (const query of ["to=alice", "after=2024-01-01"]) {
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const page: Json = await q(`${query}&limit=1${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...ids(page));
      cursor = page.nextCursor;
    } while (cursor);
    assertEquals(seen, [c.notes, c.lunch, c.invoice], query);
  }

  // A purged message leaves the index with it.
  await w.json("DELETE", `/v1/messages/${c.notes}?purge=true`, { token: w.alice });
  assertEquals(ids(await q("q=ramen")), [c.lunch]);
});

Deno.test("search: needs a criterion; bad dates and cursors are client errors", async () => {
  await using w = await mailWorld();
  const none = await w.call("GET", "/v1/search", { token: w.alice });
  assertEquals(none.status, 422);
  assertEquals((await none.json()).code, "validation_failed");
  assertEquals((await w.call("GET", "/v1/search?q=+++", { token: w.alice })).status, 422);
  const bad = await w.call("GET", "/v1/search?q=x&after=yesterday&limit=0", { token: w.alice });
  assertEquals(bad.status, 422);
  const paths = (await bad.json()).errors.map((e: Json) => e.path).sort();
  assertEquals(paths, ["query.after", "query.limit"]);
  assertEquals((await w.call("GET", "/v1/search?q=x&cursor=Zm9v", { token: w.alice })).status, 400);
  assertEquals(
    (await w.call("GET", "/v1/search?q=x&mailboxId=999999", { token: w.alice })).status,
    404,
  );
  assertEquals((await w.call("GET", "/v1/search?q=x")).status, 401);
});

Deno.test("search: FTS syntax in user text is searched literally, never a 500", async () => {
  await using w = await mailWorld();
  const c = await seedCorpus(w);
  const hostile = [
    '"',
    '""',
    '"ramen',
    "*",
    "ramen*",
    "**ramen",
    "NEAR(",
    "NEAR(ramen invoice, 2)",
    "ramen OR bob",
    "ramen AND NOT invoice",
    "-ramen",
    "ramen -invoice",
    "subject:ramen",
    "body : secret",
    "{subject body}: x",
    "^ramen",
    "ramen + invoice",
    "(",
    ")",
    "'",
    "\\",
    "rowid = 1",
    "ramen; DROP TABLE messages",
    "\u0000",
    "🍜",
    "a".repeat(500),
  ];
  for (const text of hostile) {
    for (const field of ["q", "subject", "from", "to"]) {
      const res = await w.call("GET", `/v1/search?${field}=${encodeURIComponent(text)}`, {
        token: w.alice,
      });
      assert(res.status === 200 || res.status === 422, `${field}=${text}: ${res.status}`);
      if (res.status === 200) {
        const page = await res.json();
        assert(page.items.every((m: Json) => [c.invoice, c.lunch, c.notes].includes(m.id)));
      } else await res.body?.cancel();
    }
  }
  // "OR" is a word here, not an operator: nothing holds "ramen", "or" and "bob" together.
  assertEquals(ids(await w.json("GET", "/v1/search?q=ramen+OR+bob", { token: w.alice })), []);
  assertEquals(ids(await w.json("GET", "/v1/search?q=-ramen", { token: w.alice })), [
    c.notes,
    c.lunch,
  ]);

  // The expressions themselves: every word one FTS5 string.
  assertEquals(ftsTerms('a"b NEAR( * ram* -x'), ['"a""b"', '"NEAR("', '"ram"*', '"-x"']);
  assertEquals(
    buildMatch({ q: "x OR y", subject: 'say "hi"', from: "a@b" }),
    '"x" AND "OR" AND "y" AND subject : "say" AND subject : """hi""" AND from_text : "a@b"',
  );
});

Deno.test("search: the text query walks FTS in rowid order; the account filter is applied", async () => {
  await using w = await mailWorld();
  const { db } = w.gw.deps.store;
  const { rows } = searchQuery(db, 2, { q: "ramen", limit: 50 });
  const { sql, params } = rows.toSQL();
  assertMatch(sql, /"messages"\."account_id" = \?/);
  assert(params.includes(2));
  // deno-lint-ignore no-explicit-any
  const plan = await (db as any).$client.execute({
    sql: `EXPLAIN QUERY PLAN ${sql}`,
    args: params,
  });
  const detail = plan.rows.map((r: Json) => String(r.detail)).join(" | ");
  assertMatch(detail, /VIRTUAL TABLE/);
  assert(!/TEMP B-TREE/.test(detail), detail);
});

Deno.test("search: the full-text index follows deliveries in batches and never misses or keeps a message", async () => {
  await using w = await mailWorld();
  const { indexPendingMessages } = await import("../src/services/search_index.ts");
  const { rawSql } = await import("../src/store/store.ts");
  const watermark = async () =>
    Number(
      (await rawSql(w.gw.deps.store.db).get<{ n: number }>(
        "SELECT indexed_through AS n FROM search_index_state WHERE id = 1",
      ))!.n,
    );
  const ftsRows = async () =>
    Number(
      (await rawSql(w.gw.deps.store.db).get<{ n: number }>(
        "SELECT count(*) AS n FROM messages_fts",
      ))!.n,
    );
  const first = await seedMessage(w.gw, { subject: "Quokka census", text: "quokkas counted" });
  const gone = await seedMessage(w.gw, { subject: "Quokka rumour", text: "to be purged" });
  // Stored, not indexed yet: the delivery path writes no FTS row.
  assertEquals(await ftsRows(), 0);
  assert(await watermark() < first.id);
  // Purged before the indexer saw it: nothing of it may reach the index.
  await w.json("DELETE", `/v1/messages/${gone.id}?purge=true`, { token: w.alice });
  // A search catches the index up first, so the new message is found at once.
  assertEquals(ids(await w.json("GET", "/v1/search?q=quokka", { token: w.alice })), [first.id]);
  assertEquals(await ftsRows(), 1);
  assertEquals(await watermark(), first.id);
  // Nothing pending: the indexer finds no work and the watermark stays.
  assertEquals(await indexPendingMessages(w.gw.deps.store), 0);
  // A moved message keeps its id; its words are still found.
  const archive = (await w.json("GET", "/v1/mailboxes", { token: w.alice })).items
    .find((b: Json) => b.role === "archive");
  await w.json("POST", `/v1/messages/${first.id}/move`, {
    token: w.alice,
    body: { mailboxId: archive.id },
  });
  assertEquals(ids(await w.json("GET", "/v1/search?q=census", { token: w.alice })), [first.id]);
  // Bob's search never sees Alice's message, indexed or not.
  const later = await seedMessage(w.gw, { subject: "Quokka sequel" });
  assertEquals(ids(await w.json("GET", "/v1/search?q=quokka", { token: w.bob })), []);
  assertEquals(ids(await w.json("GET", "/v1/search?q=quokka", { token: w.alice })), [
    later.id,
    first.id,
  ]);
});

Deno.test("issue15#14: a message already in the FTS index above the watermark never fails the indexer", async () => {
  await using w = await mailWorld();
  const { startSearchIndexer } = await import("../src/services/search_index.ts");
  const { rawSql } = await import("../src/store/store.ts");
  const store = w.gw.deps.store;
  const a = await seedMessage(w.gw, { subject: "Wombat one", text: "burrow" });
  const b = await seedMessage(w.gw, { subject: "Wombat two", text: "burrow" });
  // What bench/seed.ts (and any bulk loader or older indexer) did: write the FTS row with the
  // message, leaving search_index_state behind. The indexer then inserted the same rowid again
  // and failed with SQLITE_CONSTRAINT on every batch, forever, and searches with it.
  await rawSql(store.db).run(
    "INSERT INTO messages_fts (rowid, subject, from_text, to_text, body) VALUES (?, ?, '', '', ?)",
    [a.id, "Wombat one", "burrow"],
  );
  const logged: string[] = [];
  const indexer = startSearchIndexer(store, {
    log: (_level, event, fields) => logged.push(`${event} ${JSON.stringify(fields ?? {})}`),
  }, 5);
  try {
    const watermark = async () =>
      Number(
        (await rawSql(store.db).get<{ n: number }>(
          "SELECT indexed_through AS n FROM search_index_state WHERE id = 1",
        ))!.n,
      );
    for (let i = 0; i < 400 && await watermark() < b.id; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    await indexer.close();
  }
  assertEquals(logged.filter((l) => l.startsWith("search_index.failed")), []);
  assertEquals(ids(await w.json("GET", "/v1/search?q=wombat", { token: w.alice })), [b.id, a.id]);
  assertEquals(ids(await w.json("GET", "/v1/search?q=burrow", { token: w.alice })), [b.id, a.id]);
});

Deno.test("issue15#11: NUL and control characters in search text are separators, never a 500", async () => {
  await using w = await mailWorld();
  const c = await seedCorpus(w);
  for (const text of ["ramen\u0000station", "a\u0000b", "ramen\u0001", '"\u0000"', "x\u007fy"]) {
    for (const field of ["q", "subject", "from", "to"]) {
      const res = await w.call("GET", `/v1/search?${field}=${encodeURIComponent(text)}`, {
        token: w.alice,
      });
      assertEquals(res.status, 200, `${field}=${JSON.stringify(text)}`);
      await res.body?.cancel();
    }
  }
  assertEquals(
    ids(await w.json("GET", "/v1/search?q=ramen%00station", { token: w.alice })),
    [c.lunch],
  );
});

Deno.test("issue 20: the indexer takes a delivered message's text from the delivery's hint, exactly as it would read it back, and never another blob's", async () => {
  await using w = await mailWorld();
  const { indexPendingMessages, hintSearchText } = await import(
    "../src/services/search_index.ts"
  );
  const { rawSql } = await import("../src/store/store.ts");
  const store = w.gw.deps.store;
  const sql = rawSql(store.db);
  const ftsRow = (id: number) =>
    sql.get<{ body: string }>(
      "SELECT subject, from_text, to_text, body FROM messages_fts WHERE rowid = ?",
      [id],
    );
  const unindex = async (id: number) => {
    await sql.run("DELETE FROM messages_fts WHERE rowid = ?", [id]);
    await sql.run("UPDATE search_index_state SET indexed_through = ? WHERE id = 1", [id - 1]);
  };
  await indexPendingMessages(store); // the seeded mail, if any

  // Indexed from the hint, then again read back (the hint is used up): the same FTS row.
  const a = await seedMessage(w.gw, { subject: "Wombat survey", text: "wombats burrow déjà" });
  assertEquals(await indexPendingMessages(store), 1);
  const hinted = await ftsRow(a.id);
  assert(hinted && String(hinted.body) !== "", "the body is indexed");
  await unindex(a.id);
  assertEquals(await indexPendingMessages(store), 1);
  assertEquals(await ftsRow(a.id), hinted);

  // The hint, not the row, is what was indexed: a row emptied after its delivery still indexes
  // the delivered text (and, read back, would index none).
  const b = await seedMessage(w.gw, { subject: "Numbat", text: "termites for dinner" });
  await sql.run(`UPDATE messages SET parsed = '{}' WHERE id = ?`, [b.id]);
  assertEquals(await indexPendingMessages(store), 1);
  assert(String((await ftsRow(b.id))!.body) !== "", "indexed from the hint");
  await unindex(b.id);
  assertEquals(await indexPendingMessages(store), 1);
  assertEquals(String((await ftsRow(b.id))!.body), "", "read back: the emptied row");

  // A hint whose blob is not the row's (an id a rolled-back job had taken) is ignored.
  const c = await seedMessage(w.gw, { subject: "Quoll", text: "spotted quolls" });
  const { account_id } = (await sql.get<{ account_id: number }>(
    "SELECT account_id FROM messages WHERE id = ?",
    [c.id],
  ))!;
  hintSearchText(store, c.id, {
    accountId: Number(account_id),
    blobSha256: "0".repeat(64),
    parsedJson: JSON.stringify({ text: "echidna" }),
    sealed: false,
  });
  assertEquals(await indexPendingMessages(store), 1);
  assertEquals(ids(await w.json("GET", "/v1/search?q=quolls", { token: w.alice })), [c.id]);
  assertEquals(ids(await w.json("GET", "/v1/search?q=echidna", { token: w.alice })), []);
});
