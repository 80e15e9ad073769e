/**
 * Account isolation over the mail API: Bob, holding a valid token, aims at every id of Alice's
 * (mailboxes, messages, attachments, threads) and at her words in search. Each attempt must be a
 * 404 indistinguishable from a missing id, or an empty result, and must change nothing.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { eq } from "drizzle-orm";
import { ALICE, BOB } from "./fixtures/app.ts";
import { sha256Hex } from "../src/crypto.ts";
import { schema } from "../src/store/store.ts";
import { mailWorld, seedMessage } from "./fixtures/mail.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

Deno.test("isolation: Bob gets 404 or nothing for every one of Alice's ids", async () => {
  await using w = await mailWorld();
  const secret = await seedMessage(w.gw, {
    subject: "alice private zanzibar",
    text: "the vault code is zanzibar",
    attachments: [{ filename: "vault.txt", content: "zanzibar" }],
    messageId: "<alice-root@example.org>",
  });
  await seedMessage(w.gw, {
    subject: "Re: alice private zanzibar",
    inReplyTo: "<alice-root@example.org>",
    references: ["<alice-root@example.org>"],
  });
  await seedMessage(w.gw, { to: [BOB.address], subject: "bob's own" });
  const aliceBox = await w.json("POST", "/v1/mailboxes", {
    token: w.alice,
    body: { name: "Secret" },
  }, 201);
  const aliceBoxes = (await w.json("GET", "/v1/mailboxes", { token: w.alice })).items;
  const aliceThreads = (await w.json("GET", "/v1/threads", { token: w.alice })).items;
  const aliceMsg = await w.json("GET", `/v1/messages/${secret.id}`, { token: w.alice });
  const bobBoxes = (await w.json("GET", "/v1/mailboxes", { token: w.bob })).items;
  const bobInbox = bobBoxes.find((m: Json) => m.role === "inbox");
  const bobMsg = (await w.json("GET", "/v1/messages", { token: w.bob })).items[0];

  const expect404 = async (method: string, path: string, body?: unknown) => {
    const res = await w.call(method, path, { token: w.bob, body });
    const text = await res.text();
    assertEquals(res.status, 404, `${method} ${path} gave ${res.status}: ${text}`);
    const problem = JSON.parse(text);
    assertEquals(problem.code, "not_found");
    assert(!/zanzibar|alice/i.test(text), `${method} ${path} leaks: ${text}`);
  };

  for (const box of aliceBoxes) {
    await expect404("GET", `/v1/mailboxes/${box.id}`);
    await expect404("PATCH", `/v1/mailboxes/${box.id}`, { name: "Stolen" });
    await expect404("PATCH", `/v1/mailboxes/${box.id}`, { subscribed: false });
    await expect404("DELETE", `/v1/mailboxes/${box.id}?force=true`);
    await expect404("GET", `/v1/messages?mailboxId=${box.id}`);
    await expect404("GET", `/v1/threads?mailboxId=${box.id}`);
    await expect404("GET", `/v1/search?mailboxId=${box.id}`);
    await expect404("GET", `/v1/search?q=zanzibar&mailboxId=${box.id}`);
    // Bob's own message into Alice's mailbox.
    await expect404("POST", `/v1/messages/${bobMsg.id}/move`, { mailboxId: box.id });
  }

  const m = secret.id;
  await expect404("GET", `/v1/messages/${m}`);
  await expect404("GET", `/v1/messages/${m}/raw`);
  await expect404("GET", `/v1/messages/${m}/attachments/0`);
  await expect404("PATCH", `/v1/messages/${m}`, { flags: { seen: true }, addKeywords: ["x"] });
  await expect404("POST", `/v1/messages/${m}/move`, { mailboxId: bobInbox.id });
  await expect404("POST", `/v1/messages/${m}/move`, { mailboxId: aliceBox.id });
  await expect404("DELETE", `/v1/messages/${m}`);
  await expect404("DELETE", `/v1/messages/${m}?purge=true`);
  for (const t of aliceThreads) {
    await expect404("GET", `/v1/threads/${t.id}`);
    await expect404("GET", `/v1/messages?threadId=${t.id}`);
  }

  // Batches touch nothing of Alice's and say so.
  for (
    const body of [
      { ids: [m], action: "flag", flags: { seen: true } },
      { ids: [m], action: "move", mailboxId: bobInbox.id },
      { ids: [m], action: "delete" },
      { ids: [m], action: "purge" },
    ]
  ) {
    const res = await w.json("POST", "/v1/messages/batch", { token: w.bob, body });
    assertEquals(res, { done: [], notFound: [m] });
  }
  const batchMove = await w.call("POST", "/v1/messages/batch", {
    token: w.bob,
    body: { ids: [bobMsg.id], action: "move", mailboxId: aliceBox.id },
  });
  assertEquals(batchMove.status, 404);

  // Search, listings and threads: only Bob's own mail.
  for (
    const query of [
      "q=zanzibar",
      "subject=zanzibar",
      "q=vault",
      "from=carol",
      "to=alice",
      "hasAttachment=true",
      "after=2000-01-01",
    ]
  ) {
    const page = await w.json("GET", `/v1/search?${query}`, { token: w.bob });
    assert(page.items.every((x: Json) => x.id === bobMsg.id), `${query}: ${JSON.stringify(page)}`);
  }
  assertEquals((await w.json("GET", "/v1/search?q=zanzibar", { token: w.bob })).items, []);
  const bobList = await w.json("GET", "/v1/messages", { token: w.bob });
  assertEquals(bobList.items.map((x: Json) => x.id), [bobMsg.id]);
  const bobThreads = await w.json("GET", "/v1/threads", { token: w.bob });
  assertEquals(bobThreads.items.map((t: Json) => t.subject), ["bob's own"]);

  // Nothing of Alice's changed.
  const after = await w.json("GET", `/v1/messages/${m}`, { token: w.alice });
  assertEquals(after, aliceMsg);
  const boxesAfter = (await w.json("GET", "/v1/mailboxes", { token: w.alice })).items;
  assertEquals(boxesAfter, aliceBoxes);
  assertEquals(
    (await w.json("GET", `/v1/messages/${bobMsg.id}`, { token: w.bob })).mailboxId,
    bobInbox.id,
  );
});

Deno.test("isolation: a key without the read scope is refused on every mail route", async () => {
  await using w = await mailWorld();
  const { id } = await seedMessage(w.gw);
  const token = "pst_send_only_test_key_0123456789";
  const [alice] = await w.gw.deps.store.db.select().from(schema.accounts)
    .where(eq(schema.accounts.address, ALICE.address));
  await w.gw.deps.store.db.insert(schema.apiKeys).values({
    accountId: alice.id,
    name: "sender",
    prefix: token.slice(0, 8),
    keyHash: await sha256Hex(token),
    scopes: JSON.stringify(["send"]),
  });
  for (
    const [method, path] of [
      ["GET", "/v1/mailboxes"],
      ["GET", "/v1/messages"],
      ["GET", `/v1/messages/${id}`],
      ["GET", `/v1/messages/${id}/raw`],
      ["DELETE", `/v1/messages/${id}`],
      ["GET", "/v1/threads"],
      ["GET", "/v1/search?q=hello"],
    ]
  ) {
    const res = await w.call(method, path, { token });
    assertEquals(res.status, 403, `${method} ${path}`);
    assertEquals((await res.json()).code, "insufficient_scope");
  }
  assertEquals((await w.call("GET", "/v1/messages", { token: "pst_unknown" })).status, 401);
  assertEquals((await w.json("GET", `/v1/messages/${id}`, { token: w.alice })).id, id);
});
