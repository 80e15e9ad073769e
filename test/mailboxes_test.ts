import { assert, assertEquals } from "./fixtures/assert.ts";
import { mailWorld, seedMessage } from "./fixtures/mail.ts";
import { schema } from "../src/store/store.ts";
import { eq } from "drizzle-orm";

// deno-lint-ignore no-explicit-any
type Json = any;

Deno.test("mailboxes: list shows the special-use set with counts; INBOX first", async () => {
  await using w = await mailWorld();
  await seedMessage(w.gw, { subject: "one" });
  const { id } = await seedMessage(w.gw, { subject: "two" });
  await w.json("PATCH", `/v1/messages/${id}`, { token: w.alice, body: { flags: { seen: true } } });

  const list = await w.json("GET", "/v1/mailboxes", { token: w.alice });
  assertEquals(list.items.map((m: Json) => m.name), [
    "INBOX",
    "Archive",
    "Drafts",
    "Junk",
    "Sent",
    "Trash",
  ]);
  const inbox = list.items[0];
  assertEquals(inbox.role, "inbox");
  assertEquals(inbox.counts.total, 2);
  assertEquals(inbox.counts.unread, 1);
  assert(inbox.counts.sizeBytes > 100);
  assert(inbox.uidNext === 3 && inbox.uidValidity > 0 && inbox.highestModseq > 1);
  assertEquals(list.items[1].counts, { total: 0, unread: 0, sizeBytes: 0 });

  // Bob's list is his own: empty INBOX.
  const bobs = await w.json("GET", "/v1/mailboxes", { token: w.bob });
  assertEquals(bobs.items[0].counts.total, 0);
  assert(bobs.items.every((m: Json) => !list.items.some((a: Json) => a.id === m.id)));
});

Deno.test("mailboxes: create validates names, reserves INBOX, creates parents, 409 on duplicates", async () => {
  await using w = await mailWorld();
  const created = await w.json(
    "POST",
    "/v1/mailboxes",
    { token: w.alice, body: { name: "Projects/2024" } },
    201,
  );
  assertEquals(created.name, "Projects/2024");
  assertEquals(created.role, null);
  assertEquals(created.subscribed, true);
  const names = (await w.json("GET", "/v1/mailboxes", { token: w.alice })).items.map((
    m: Json,
  ) => m.name);
  assert(names.includes("Projects"), "the parent is created");

  const dup = await w.call("POST", "/v1/mailboxes", {
    token: w.alice,
    body: { name: "Projects/2024" },
  });
  assertEquals(dup.status, 409);
  assertEquals((await dup.json()).code, "already_exists");

  for (const name of ["INBOX", "inbox", "Inbox"]) {
    const res = await w.call("POST", "/v1/mailboxes", { token: w.alice, body: { name } });
    assertEquals(res.status, 409, name);
  }
  // INBOX's children are ordinary names, INBOX spelled canonically.
  const sub = await w.json("POST", "/v1/mailboxes", {
    token: w.alice,
    body: { name: "inbox/Receipts" },
  }, 201);
  assertEquals(sub.name, "INBOX/Receipts");

  for (
    const name of ["", "/a", "a/", "a//b", "a\u0000b", "tab\there", "x".repeat(201), "a*", " a"]
  ) {
    const res = await w.call("POST", "/v1/mailboxes", { token: w.alice, body: { name } });
    assertEquals(res.status, 422, JSON.stringify(name));
    const body = await res.json();
    assertEquals(body.code, "validation_failed");
    assertEquals(body.errors[0].path, "name");
  }
  // Every bad field is listed.
  const many = await w.call("POST", "/v1/mailboxes", { token: w.alice, body: { nome: 1 } });
  assertEquals(many.status, 422);

  // Bob can reuse Alice's names: names are per account.
  await w.json("POST", "/v1/mailboxes", { token: w.bob, body: { name: "Projects/2024" } }, 201);

  const events = await w.gw.deps.store.db.select().from(schema.events)
    .where(eq(schema.events.type, "mailbox.created"));
  assert(events.some((e) => JSON.parse(e.data).name === "Projects/2024"));
});

Deno.test("mailboxes: rename moves children, protects roles, subscribe toggles", async () => {
  await using w = await mailWorld();
  const a = await w.json("POST", "/v1/mailboxes", { token: w.alice, body: { name: "a/b/c" } }, 201);
  const list = (await w.json("GET", "/v1/mailboxes", { token: w.alice })).items;
  const top = list.find((m: Json) => m.name === "a");

  const renamed = await w.json("PATCH", `/v1/mailboxes/${top.id}`, {
    token: w.alice,
    body: { name: "x" },
  });
  assertEquals(renamed.name, "x");
  const after = (await w.json("GET", "/v1/mailboxes", { token: w.alice })).items
    .map((m: Json) => m.name);
  assert(after.includes("x/b") && after.includes("x/b/c") && !after.includes("a/b"));
  const leaf = await w.json("GET", `/v1/mailboxes/${a.id}`, { token: w.alice });
  assertEquals(leaf.name, "x/b/c");
  assertEquals(leaf.uidValidity, a.uidValidity);

  // Not below itself, not onto an existing name.
  const below = await w.call("PATCH", `/v1/mailboxes/${top.id}`, {
    token: w.alice,
    body: { name: "x/b/c/d" },
  });
  assertEquals(below.status, 409);
  const onto = await w.call("PATCH", `/v1/mailboxes/${top.id}`, {
    token: w.alice,
    body: { name: "Archive" },
  });
  assertEquals(onto.status, 409);
  assertEquals((await onto.json()).code, "already_exists");

  for (const m of list.filter((m: Json) => m.role)) {
    const res = await w.call("PATCH", `/v1/mailboxes/${m.id}`, {
      token: w.alice,
      body: { name: `Renamed ${m.name}` },
    });
    assertEquals(res.status, 409, m.name);
    assertEquals((await res.json()).code, "mailbox_protected");
  }
  const inbox = list.find((m: Json) => m.role === "inbox");
  const toInbox = await w.call("PATCH", `/v1/mailboxes/${top.id}`, {
    token: w.alice,
    body: { name: "INBOX" },
  });
  assertEquals(toInbox.status, 409);

  const unsub = await w.json("PATCH", `/v1/mailboxes/${inbox.id}`, {
    token: w.alice,
    body: { subscribed: false },
  });
  assertEquals(unsub.subscribed, false);
  assertEquals(unsub.name, "INBOX");
});

Deno.test("mailboxes: delete refuses roles and non-empty ones unless force, which purges", async () => {
  await using w = await mailWorld();
  const box = await w.json("POST", "/v1/mailboxes", { token: w.alice, body: { name: "Old" } }, 201);
  const { id } = await seedMessage(w.gw, { subject: "to be purged" });
  await w.json("POST", `/v1/messages/${id}/move`, {
    token: w.alice,
    body: { mailboxId: box.id },
  });
  const before = (await w.json("GET", "/v1/auth/me", { token: w.alice })).usedBytes;
  assert(before > 0);

  const refused = await w.call("DELETE", `/v1/mailboxes/${box.id}`, { token: w.alice });
  assertEquals(refused.status, 409);
  assertEquals((await refused.json()).code, "mailbox_not_empty");

  const list = (await w.json("GET", "/v1/mailboxes", { token: w.alice })).items;
  for (const m of list.filter((m: Json) => m.role)) {
    const res = await w.call("DELETE", `/v1/mailboxes/${m.id}?force=true`, { token: w.alice });
    assertEquals(res.status, 409, m.name);
    assertEquals((await res.json()).code, "mailbox_protected");
  }

  assertEquals(
    (await w.call("DELETE", `/v1/mailboxes/${box.id}?force=true`, { token: w.alice })).status,
    204,
  );
  assertEquals((await w.call("GET", `/v1/mailboxes/${box.id}`, { token: w.alice })).status, 404);
  assertEquals((await w.call("GET", `/v1/messages/${id}`, { token: w.alice })).status, 404);
  assertEquals((await w.json("GET", "/v1/auth/me", { token: w.alice })).usedBytes, 0);

  // An empty one goes without force; one with sub-mailboxes needs it.
  const empty = await w.json("POST", "/v1/mailboxes", { token: w.alice, body: { name: "E" } }, 201);
  assertEquals(
    (await w.call("DELETE", `/v1/mailboxes/${empty.id}`, { token: w.alice })).status,
    204,
  );
  await w.json("POST", "/v1/mailboxes", { token: w.alice, body: { name: "P/Q" } }, 201);
  const p = (await w.json("GET", "/v1/mailboxes", { token: w.alice })).items
    .find((m: Json) => m.name === "P");
  const withChild = await w.call("DELETE", `/v1/mailboxes/${p.id}`, { token: w.alice });
  assertEquals(withChild.status, 409);
  assertEquals(
    (await w.call("DELETE", `/v1/mailboxes/${p.id}?force=true`, { token: w.alice })).status,
    204,
  );
  const names = (await w.json("GET", "/v1/mailboxes", { token: w.alice })).items
    .map((m: Json) => m.name);
  assert(!names.includes("P/Q"));

  const deleted = await w.gw.deps.store.db.select().from(schema.events)
    .where(eq(schema.events.type, "mailbox.deleted"));
  assertEquals(deleted.length, 4);
});

Deno.test("mailboxes: routes need a token and a read scope, and appear in /openapi.json", async () => {
  await using w = await mailWorld();
  const res = await w.call("GET", "/v1/mailboxes");
  assertEquals(res.status, 401);
  assertEquals(res.headers.get("content-type"), "application/problem+json");

  const doc = await w.json("GET", "/openapi.json", {});
  for (
    const path of [
      "/v1/mailboxes",
      "/v1/mailboxes/{id}",
      "/v1/messages",
      "/v1/messages/{id}",
      "/v1/messages/{id}/raw",
      "/v1/messages/{id}/attachments/{index}",
      "/v1/messages/{id}/move",
      "/v1/messages/batch",
      "/v1/threads",
      "/v1/threads/{id}",
      "/v1/search",
    ]
  ) {
    assert(doc.paths[path], `${path} is documented`);
  }
  for (
    const id of ["Mailbox", "MessageSummary", "MessageDetail", "MessagePage", "ThreadDetail"]
  ) {
    assert(doc.components.schemas[id], `${id} is a component`);
  }
  const ok = doc.paths["/v1/messages"].get.responses["200"].content["application/json"].schema;
  assertEquals(ok.$ref, "#/components/schemas/MessagePage");
});
