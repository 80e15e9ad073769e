import { and, eq } from "drizzle-orm";
import { assert, assertEquals, assertMatch } from "./fixtures/assert.ts";
import { BOB } from "./fixtures/app.ts";
import { mailWorld, seedMessage } from "./fixtures/mail.ts";
import { schema } from "../src/store/store.ts";
import { listQuery } from "../src/services/messages.ts";
import { threadsQuery } from "../src/services/threads.ts";
import type { Queryable } from "../src/store/store.ts";
import { expireRecoverable } from "../src/services/recovery.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const T0 = Date.UTC(2024, 0, 1);

async function mailboxId(w: Awaited<ReturnType<typeof mailWorld>>, token: string, role: string) {
  const list = await w.json("GET", "/v1/mailboxes", { token });
  return list.items.find((m: Json) => m.role === role).id as number;
}

async function plan(db: Queryable, query: { toSQL(): { sql: string; params: unknown[] } }) {
  const { sql, params } = query.toSQL();
  const res = await (db as Json).$client.execute({
    sql: `EXPLAIN QUERY PLAN ${sql}`,
    args: params,
  });
  return res.rows.map((r: Json) => String(r.detail)).join(" | ");
}

Deno.test("messages: pagination walks every message exactly once, newest first", async () => {
  await using w = await mailWorld();
  const ids: number[] = [];
  // 23 messages, several sharing an arrival time, so the id tie-break matters.
  for (let i = 0; i < 23; i++) {
    ids.push(
      (await seedMessage(w.gw, { subject: `m${i}`, internalDate: T0 + Math.floor(i / 3) * 1000 }))
        .id,
    );
  }
  const seen: number[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const q: string = cursor ? `&cursor=${cursor}` : "";
    const page: Json = await w.json("GET", `/v1/messages?limit=5${q}`, { token: w.alice });
    assert(page.items.length <= 5);
    seen.push(...page.items.map((m: Json) => m.id));
    cursor = page.nextCursor;
    pages++;
  } while (cursor);
  assertEquals(pages, 5);
  assertEquals(seen, [...ids].reverse());

  // The same through a mailbox filter.
  const inbox = await mailboxId(w, w.alice, "inbox");
  const viaBox: number[] = [];
  cursor = null;
  do {
    const q: string = cursor ? `&cursor=${cursor}` : "";
    const page: Json = await w.json("GET", `/v1/messages?mailboxId=${inbox}&limit=7${q}`, {
      token: w.alice,
    });
    viaBox.push(...page.items.map((m: Json) => m.id));
    cursor = page.nextCursor;
  } while (cursor);
  assertEquals(viaBox, seen);

  const first = await w.json("GET", "/v1/messages", { token: w.alice });
  assertEquals(first.items.length, 23);
  assertEquals(first.nextCursor, null);
  const item = first.items[0];
  assertEquals(item.subject, "m22");
  assertEquals(item.receivedAt, new Date(T0 + 7000).toISOString());
  assertEquals(item.from, { name: "", address: "carol@example.org" });
  assertEquals(item.to, [{ name: "", address: "alice@postern.test" }]);
  assertEquals(item.flags, {
    seen: false,
    flagged: false,
    answered: false,
    draft: false,
    deleted: false,
  });
  assertEquals(item.keywords, []);
  assertEquals(item.preview, "Hello there.");

  for (const bad of ["nope", "Zm9v", "!!", "MTox" + "A".repeat(100)]) {
    const res = await w.call("GET", `/v1/messages?cursor=${bad}`, { token: w.alice });
    assert(res.status === 400 || res.status === 422, `${bad}: ${res.status}`);
  }
  const badCursor = await w.call("GET", "/v1/messages?cursor=Zm9v", { token: w.alice });
  assertEquals(badCursor.status, 400);
  assertEquals((await badCursor.json()).code, "bad_request");
  const badLimit = await w.call("GET", "/v1/messages?limit=201&flag=purple", { token: w.alice });
  assertEquals(badLimit.status, 422);
  const fields = (await badLimit.json()).errors.map((e: Json) => e.path).sort();
  assertEquals(fields, ["query.flag", "query.limit"]);
});

Deno.test("messages: listing queries walk the date indexes (no sort, no OFFSET)", async () => {
  await using w = await mailWorld();
  const { db } = w.gw.deps.store;
  const cursor = btoa(`${T0}:99`).replace(/=+$/, "");
  const byAccount = await plan(db, listQuery(db, 2, { limit: 50, cursor }));
  assertMatch(
    byAccount,
    /USING INDEX messages_account_date \(account_id=\? AND internal_date<\?\)/,
  );
  const byBox = await plan(db, listQuery(db, 2, { limit: 50, mailboxId: 7, flag: "unseen" }));
  assertMatch(byBox, /USING INDEX messages_mailbox_date/);
  const byThread = await plan(db, listQuery(db, 2, { limit: 50, threadId: 3 }));
  assertMatch(byThread, /USING INDEX messages_thread/);
  const threads = await plan(db, threadsQuery(db, 2, { limit: 50, mailboxId: 7, cursor }));
  assertMatch(threads, /USING INDEX threads_account_last/);
  for (const p of [byAccount, byBox, byThread, threads]) {
    assert(!/TEMP B-TREE/.test(p), `no sort step: ${p}`);
  }
});

Deno.test("messages: detail, raw bytes and the flag filter", async () => {
  await using w = await mailWorld();
  const { id, raw } = await seedMessage(w.gw, {
    subject: "Grüße aus Köln",
    fromName: "Carol Example",
    cc: [BOB.address],
    text: "plain body",
    html: "<p>html body</p>",
  });
  const m = await w.json("GET", `/v1/messages/${id}`, { token: w.alice });
  assertEquals(m.subject, "Grüße aus Köln");
  assertEquals(m.from, { name: "Carol Example", address: "carol@example.org" });
  assertEquals(m.cc, [{ name: "", address: BOB.address }]);
  assertEquals(m.text.trim(), "plain body");
  assertEquals(m.html, "<p>html body</p>");
  assert(m.headers.some((h: Json) => h.name === "Message-ID" && h.value === m.messageIdHeader));
  assertEquals(m.attachments, []);
  assertEquals(m.hasAttachments, false);

  const res = await w.call("GET", `/v1/messages/${id}/raw`, { token: w.alice });
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type"), "message/rfc822");
  assertEquals(new Uint8Array(await res.arrayBuffer()), raw);

  await w.json("PATCH", `/v1/messages/${id}`, { token: w.alice, body: { flags: { seen: true } } });
  await seedMessage(w.gw, { subject: "unread one" });
  const seen = await w.json("GET", "/v1/messages?flag=seen", { token: w.alice });
  assertEquals(seen.items.map((x: Json) => x.id), [id]);
  const unseen = await w.json("GET", "/v1/messages?flag=unseen", { token: w.alice });
  assertEquals(unseen.items.map((x: Json) => x.subject), ["unread one"]);
  assertEquals((await w.json("GET", "/v1/messages?flag=flagged", { token: w.alice })).items, []);

  assertEquals((await w.call("GET", "/v1/messages/999999", { token: w.alice })).status, 404);
  assertEquals((await w.call("GET", "/v1/messages/abc", { token: w.alice })).status, 422);
});

Deno.test("messages: flags and keywords round-trip; every change takes a higher modseq", async () => {
  await using w = await mailWorld();
  const { id } = await seedMessage(w.gw);
  const start = await w.json("GET", `/v1/messages/${id}`, { token: w.alice });

  const a = await w.json("PATCH", `/v1/messages/${id}`, {
    token: w.alice,
    body: { flags: { seen: true, flagged: true }, addKeywords: ["$Forwarded", "work"] },
  });
  assertEquals(a.flags, {
    seen: true,
    flagged: true,
    answered: false,
    draft: false,
    deleted: false,
  });
  assertEquals(a.keywords, ["$Forwarded", "work"]);
  assert(a.modseq > start.modseq);

  // Keywords compare case-insensitively (RFC 3501 section 2.3.2).
  const b = await w.json("PATCH", `/v1/messages/${id}`, {
    token: w.alice,
    body: {
      flags: { flagged: false, answered: true },
      addKeywords: ["WORK"],
      removeKeywords: ["$forwarded"],
    },
  });
  assertEquals(b.keywords, ["work"]);
  assertEquals(b.flags.flagged, false);
  assertEquals(b.flags.answered, true);
  assert(b.modseq > a.modseq);

  // No change, no new modseq.
  const c = await w.json("PATCH", `/v1/messages/${id}`, {
    token: w.alice,
    body: { flags: { seen: true } },
  });
  assertEquals(c.modseq, b.modseq);

  const box = await w.json("GET", `/v1/mailboxes/${b.mailboxId}`, { token: w.alice });
  assertEquals(box.highestModseq, b.modseq);
  const events = await w.gw.deps.store.db.select().from(schema.events).where(and(
    eq(schema.events.type, "message.updated"),
    eq(schema.events.messageId, id),
  ));
  assertEquals(events.length, 2);

  const bad = await w.call("PATCH", `/v1/messages/${id}`, {
    token: w.alice,
    body: {
      flags: { seen: "yes" },
      addKeywords: ["has space", "x".repeat(65), "\\Seen", "ok"],
      removeKeywords: ["(paren)"],
    },
  });
  assertEquals(bad.status, 422);
  const paths = (await bad.json()).errors.map((e: Json) => e.path).sort();
  assertEquals(paths, [
    "addKeywords.0",
    "addKeywords.1",
    "addKeywords.2",
    "flags.seen",
    "removeKeywords.0",
  ]);
});

Deno.test("messages: move takes a new UID and leaves an expunged row", async () => {
  await using w = await mailWorld();
  const { id } = await seedMessage(w.gw);
  const archive = await mailboxId(w, w.alice, "archive");
  const before = await w.json("GET", `/v1/messages/${id}`, { token: w.alice });
  const moved = await w.json("POST", `/v1/messages/${id}/move`, {
    token: w.alice,
    body: { mailboxId: archive },
  });
  assertEquals(moved.mailboxId, archive);
  assertEquals(moved.uid, 1);
  assert(moved.modseq > 0);
  const gone = await w.gw.deps.store.db.select().from(schema.expunged).where(and(
    eq(schema.expunged.mailboxId, before.mailboxId),
    eq(schema.expunged.uid, before.uid),
  ));
  assertEquals(gone.length, 1);
  const again = await seedMessage(w.gw, { subject: "second" });
  const second = await w.json("POST", `/v1/messages/${again.id}/move`, {
    token: w.alice,
    body: { mailboxId: archive },
  });
  assertEquals(second.uid, 2);

  const nowhere = await w.call("POST", `/v1/messages/${id}/move`, {
    token: w.alice,
    body: { mailboxId: 987654 },
  });
  assertEquals(nowhere.status, 404);
  const box = await w.json("GET", `/v1/mailboxes/${archive}`, { token: w.alice });
  assertEquals(box.counts.total, 2);
});

Deno.test("messages: delete goes to Trash, then purges; quota and blob (after the recovery window) are freed", async () => {
  await using w = await mailWorld();
  const { id, raw } = await seedMessage(w.gw, { subject: "bye" });
  const me0 = await w.json("GET", "/v1/auth/me", { token: w.alice });
  assertEquals(me0.usedBytes, raw.byteLength);
  const trash = await mailboxId(w, w.alice, "trash");

  const first = await w.json("DELETE", `/v1/messages/${id}`, { token: w.alice });
  assertEquals(first, { id, result: "trashed", mailboxId: trash });
  assertEquals((await w.json("GET", `/v1/messages/${id}`, { token: w.alice })).mailboxId, trash);
  assertEquals((await w.json("GET", "/v1/auth/me", { token: w.alice })).usedBytes, raw.byteLength);

  const second = await w.json("DELETE", `/v1/messages/${id}`, { token: w.alice });
  assertEquals(second, { id, result: "purged", mailboxId: null });
  assertEquals((await w.call("GET", `/v1/messages/${id}`, { token: w.alice })).status, 404);
  assertEquals((await w.call("DELETE", `/v1/messages/${id}`, { token: w.alice })).status, 404);
  assertEquals((await w.json("GET", "/v1/auth/me", { token: w.alice })).usedBytes, 0);
  // The blob stays while the message is recoverable (issue 21, item 7), then goes.
  const blobs = () => w.gw.deps.store.db.select({ sha: schema.blobs.sha256 }).from(schema.blobs);
  assertEquals((await blobs()).length, 1);
  const windowEnd = Date.now() + (w.gw.deps.config.recoveryDays + 1) * 86_400_000;
  await expireRecoverable(w.gw.deps.store, w.gw.deps.config, windowEnd);
  assertEquals((await blobs()).length, 0);

  // The same bytes delivered to Alice and Bob share one blob: purging Alice's copy keeps it.
  const shared = await seedMessage(w.gw, { to: ["alice@postern.test", BOB.address] });
  const bobList = await w.json("GET", "/v1/messages", { token: w.bob });
  const bobsId = bobList.items[0].id;
  const purged = await w.json("DELETE", `/v1/messages/${shared.id}?purge=true`, { token: w.alice });
  assertEquals(purged.result, "purged");
  const bobRaw = await w.call("GET", `/v1/messages/${bobsId}/raw`, { token: w.bob });
  assertEquals(new Uint8Array(await bobRaw.arrayBuffer()), shared.raw);
  assertEquals((await w.gw.deps.store.db.select().from(schema.blobs)).length, 1);
  await w.json("DELETE", `/v1/messages/${bobsId}?purge=true`, { token: w.bob });
  await expireRecoverable(w.gw.deps.store, w.gw.deps.config, windowEnd + 86_400_000);
  assertEquals((await w.gw.deps.store.db.select().from(schema.blobs)).length, 0);
  assertEquals((await w.json("GET", "/v1/auth/me", { token: w.bob })).usedBytes, 0);
});

Deno.test("messages: attachments download with a safe Content-Disposition", async () => {
  await using w = await mailWorld();
  const pdf = new Uint8Array([0x25, 0x50, 0x44, 0x46, 0, 1, 2, 255]);
  const { id } = await seedMessage(w.gw, {
    subject: "files",
    attachments: [
      { filename: "../../etc/passwd", contentType: "text/plain", content: "root:x:0:0\n" },
      { filename: 'a"\r\nX: y.txt', contentType: "text/html", content: "<script>1</script>" },
      { filename: "Bericht März.pdf", contentType: "application/pdf", content: pdf },
      { filename: "..\\..\\win.ini", content: "[x]" },
    ],
  });
  const m = await w.json("GET", `/v1/messages/${id}`, { token: w.alice });
  assertEquals(m.hasAttachments, true);
  assertEquals(m.attachments.length, 4);
  // The hostile names reach the JSON form intact; only the download header is sanitised.
  assertEquals(m.attachments.map((a: Json) => a.filename).slice(0, 2), [
    "../../etc/passwd",
    'a"\r\nX: y.txt',
  ]);

  const get = (i: number) =>
    w.call("GET", `/v1/messages/${id}/attachments/${i}`, { token: w.alice });

  const passwd = await get(0);
  assertEquals(passwd.status, 200);
  assertEquals(
    passwd.headers.get("content-disposition"),
    `attachment; filename="passwd"; filename*=UTF-8''passwd`,
  );
  assertEquals(passwd.headers.get("x-content-type-options"), "nosniff");
  assertEquals(passwd.headers.get("content-type"), "text/plain");
  assertEquals(await passwd.text(), "root:x:0:0\n");

  const hostile = await get(1);
  const cd = hostile.headers.get("content-disposition")!;
  assert(!/[\r\n]/.test(cd), cd);
  assertMatch(cd, /^attachment; filename="[^"\\]*"; filename\*=UTF-8''[A-Za-z0-9%._~-]+$/);
  assertEquals(cd, `attachment; filename="aX_ y.txt"; filename*=UTF-8''aX_%20y.txt`);
  assertEquals(hostile.headers.get("x-y"), null);
  assertEquals(hostile.headers.get("content-type"), "text/html");
  assertMatch(hostile.headers.get("content-security-policy")!, /sandbox/);
  assertEquals(await hostile.text(), "<script>1</script>");

  const report = await get(2);
  assertEquals(
    report.headers.get("content-disposition"),
    `attachment; filename="Bericht M_rz.pdf"; filename*=UTF-8''Bericht%20M%C3%A4rz.pdf`,
  );
  assertEquals(new Uint8Array(await report.arrayBuffer()), pdf);

  const win = await get(3);
  assertMatch(win.headers.get("content-disposition")!, /filename="win.ini"/);
  await win.body?.cancel();

  assertEquals((await get(4)).status, 404);
  assertEquals(
    (await w.call("GET", `/v1/messages/${id}/attachments/-1`, { token: w.alice })).status,
    422,
  );
});

Deno.test("messages: batch flag, move, delete and purge; unknown ids are listed", async () => {
  await using w = await mailWorld();
  const ids: number[] = [];
  for (let i = 0; i < 4; i++) ids.push((await seedMessage(w.gw, { subject: `b${i}` })).id);
  const archive = await mailboxId(w, w.alice, "archive");
  const trash = await mailboxId(w, w.alice, "trash");

  const flagged = await w.json("POST", "/v1/messages/batch", {
    token: w.alice,
    body: { ids: [...ids, 999999], action: "flag", flags: { seen: true }, addKeywords: ["done"] },
  });
  assertEquals(flagged, { done: ids, notFound: [999999] });
  const all = await w.json("GET", "/v1/messages?flag=seen", { token: w.alice });
  assertEquals(all.items.length, 4);
  assert(all.items.every((m: Json) => m.keywords[0] === "done"));

  await w.json("POST", "/v1/messages/batch", {
    token: w.alice,
    body: { ids: ids.slice(0, 2), action: "move", mailboxId: archive },
  });
  assertEquals(
    (await w.json("GET", `/v1/messages?mailboxId=${archive}`, { token: w.alice })).items.length,
    2,
  );

  await w.json("POST", "/v1/messages/batch", {
    token: w.alice,
    body: { ids: [ids[0]], action: "delete" },
  });
  assertEquals(
    (await w.json("GET", `/v1/messages/${ids[0]}`, { token: w.alice })).mailboxId,
    trash,
  );
  await w.json("POST", "/v1/messages/batch", { token: w.alice, body: { ids, action: "purge" } });
  assertEquals((await w.json("GET", "/v1/messages", { token: w.alice })).items, []);
  assertEquals((await w.json("GET", "/v1/auth/me", { token: w.alice })).usedBytes, 0);

  const noTarget = await w.call("POST", "/v1/messages/batch", {
    token: w.alice,
    body: { ids: [1], action: "move" },
  });
  assertEquals(noTarget.status, 422);
  assertEquals((await noTarget.json()).errors[0].path, "mailboxId");
  const tooMany = await w.call("POST", "/v1/messages/batch", {
    token: w.alice,
    body: { ids: Array.from({ length: 1001 }, (_, i) => i + 1), action: "purge" },
  });
  assertEquals(tooMany.status, 422);
});

Deno.test("threads: replies join their thread; list newest first; detail oldest first", async () => {
  await using w = await mailWorld();
  const root = await seedMessage(w.gw, {
    subject: "Plans",
    messageId: "<root@example.org>",
    internalDate: T0,
  });
  await seedMessage(w.gw, { subject: "Other", internalDate: T0 + 1000 });
  const reply = await seedMessage(w.gw, {
    subject: "Re: Plans",
    messageId: "<reply@example.org>",
    inReplyTo: "<root@example.org>",
    references: ["<root@example.org>"],
    internalDate: T0 + 2000,
  });
  const threads = await w.json("GET", "/v1/threads", { token: w.alice });
  assertEquals(threads.items.map((t: Json) => [t.subject, t.messageCount]), [["Plans", 2], [
    "Other",
    1,
  ]]);
  assertEquals(threads.items[0].lastDate, new Date(T0 + 2000).toISOString());

  const page1 = await w.json("GET", "/v1/threads?limit=1", { token: w.alice });
  const page2 = await w.json("GET", `/v1/threads?limit=1&cursor=${page1.nextCursor}`, {
    token: w.alice,
  });
  assertEquals([page1.items[0].subject, page2.items[0].subject], ["Plans", "Other"]);
  assertEquals(page2.nextCursor, null);

  const t = await w.json("GET", `/v1/threads/${threads.items[0].id}`, { token: w.alice });
  assertEquals(t.messages.map((m: Json) => m.id), [root.id, reply.id]);
  const inThread = await w.json("GET", `/v1/messages?threadId=${t.id}`, { token: w.alice });
  assertEquals(inThread.items.map((m: Json) => m.id), [reply.id, root.id]);

  // Filter by mailbox: only threads with a message there.
  const archive = await mailboxId(w, w.alice, "archive");
  await w.json("POST", `/v1/messages/${root.id}/move`, {
    token: w.alice,
    body: { mailboxId: archive },
  });
  const inArchive = await w.json("GET", `/v1/threads?mailboxId=${archive}`, { token: w.alice });
  assertEquals(inArchive.items.map((x: Json) => x.subject), ["Plans"]);
  assertEquals((await w.call("GET", "/v1/threads/999999", { token: w.alice })).status, 404);
  assertEquals((await w.call("GET", "/v1/threads?cursor=%%%", { token: w.alice })).status, 400);
});
